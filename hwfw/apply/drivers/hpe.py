"""HPE iLO 5/6 quirks.

Default method `hpe-form`: the iLO upload form at `HttpPushUri` (/cgi-bin/uploadFile, or
`Oem.Hpe.PushUpdateUri`), multipart parts `sessionKey` (the session token),
`parameters` (JSON: UpdateRepository, UpdateTarget, ETag, TPMOverride) and `file`,
plus `Cookie: sessionKey=...` and `X-Auth-Token` (as HPE's ilorest UploadComponentCommand
sends them). iLO 5 uses no Task: progress is `UpdateService.Oem.Hpe.State` /
`FlashProgressPercent` / `Result.MessageId`, judged with proliantutils' rule (a busy
state was seen, or Idle before and Complete/Error now). Successes arrive as HTTP 200
inside an error-shaped envelope, so answers are judged by status + MessageId, never by
the `error` key.

- iLO-flashable images (iLO itself, System ROM, CPLD) flash at once with
  UpdateTarget=true; `SystemResetRequired` = FLASH_PENDING until the host reboot
  (System ROM) or AC/aux cycle (CPLD). iLO resets itself after its own flash.
- Other components (UEFI-flashable, type C) go to the ComponentRepository and a
  `UpdatableBy: ["Uefi"]` UpdateTaskQueue item that runs during the next POST.
- Images above one upload section (32 MiB) are pulled with SimpleUpdate from hwfw's
  image server when one runs (iLO's own section protocol is not implemented).
- AC cycle: `HpeComputerSystemExt.SystemReset AuxCycle`, else a Redfish PowerCycle, else IPMI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

import httpx

from hwfw.apply.driver import FLASH_PENDING, FlashRequest, FlashResult, InFlight, PreflightReport, Progress
from hwfw.apply.drivers.activation import ResetRequest
from hwfw.apply.drivers.base import RedfishDriver
from hwfw.apply.drivers.context import FlashContext
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.drivers.methods import HttpPush, MultipartPush, image_url
from hwfw.apply.drivers.quirks import Quirks, method_table
from hwfw.apply.drivers.settings import DmtfSettings
from hwfw.apply.upload import FormField
from hwfw.errors import ApplyError, BmcError
from hwfw.redfish.errors import RedfishMessage, extended_info, message_id_matches
from hwfw.redfish.tasks import FollowPolicy, Observation, TaskOutcome, TaskRef, TaskTimeout, follow_task, json_object
from hwfw.redfish.taskstate import SKIPPED_OTHER, judge_messages
from hwfw.vendors.base import BmcFacts, action_targets, link

__all__ = ["HpeDriver", "HpeQuirks", "IloVerdict", "ilo_view"]

SECTION = 32 * 1024 * 1024
_BUSY = frozenset({"Uploading", "Verifying", "Writing", "Updating", "Progressing", "BackingUp"})
_DONE = frozenset({"Complete", "Error"})
_ILO_FLASHABLE = frozenset({"bmc", "bios", "cpld", "me"})
_QUEUE_PENDING = frozenset({"Pending", "InProgress", "Exception", "Expired"})


def _hpe(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    oem = (doc or {}).get("Oem")
    hpe = oem.get("Hpe") or oem.get("Hp") if isinstance(oem, Mapping) else None
    return hpe if isinstance(hpe, Mapping) else {}


def _state_of(us: Mapping[str, Any] | None) -> tuple[str | None, int | None, str | None]:
    """(State, FlashProgressPercent, Result.MessageId) of UpdateService.Oem.Hpe."""
    hpe = _hpe(us)
    result = hpe.get("Result")
    mid = result.get("MessageId") if isinstance(result, Mapping) else None
    pct = hpe.get("FlashProgressPercent")
    return (str(hpe["State"]) if hpe.get("State") else None, int(pct) if isinstance(pct, (int, float)) else None,
            str(mid) if mid else None)


def ilo_view(body: Mapping[str, Any]) -> tuple[str | None, int | None, tuple[RedfishMessage, ...]]:
    """An iLO flash as the task follower sees it: Oem.Hpe State, percent, Result."""
    state, pct, mid = _state_of(body)
    return state, pct, (RedfishMessage(message_id=mid),) if mid else ()


@dataclass(frozen=True, slots=True)
class IloVerdict:
    """proliantutils' rule: the flash ended when a busy state was seen (or the iLO was
    Idle before it started) and the state is Complete or Error now. An iLO that reset
    (its own flash) and came back Idle has vanished: verify the version."""

    previous: str | None

    def __call__(self, obs: Observation, policy: FollowPolicy) -> TaskOutcome | None:
        state = obs.state
        seen_busy = any(s in _BUSY for s in obs.history)
        if state in _DONE and (seen_busy or self.previous in (None, "Idle")):
            mid = obs.messages[0].message_id if obs.messages else None
            if state == "Error":
                return TaskOutcome("failed", state, obs.uri, obs.messages, mid,
                                   f"iLO flash ended in Error ({mid or 'no result'})", obs.outage)
            return judge_messages(obs.messages, "Completed", obs.uri, obs.outage)
        if state == "Idle" and (seen_busy or obs.outage):
            return TaskOutcome("vanished", state, obs.uri, outage=obs.outage,
                               detail="the iLO went back to Idle (it reset) before reporting the result")
        return None


async def await_ilo_flash(kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> TaskOutcome:
    """Poll UpdateService.Oem.Hpe until the flash ends (see IloVerdict)."""
    def report(obs: Observation) -> None:
        mid = obs.messages[0].message_id if obs.messages else None
        progress(float(obs.percent) if obs.percent is not None else None,
                 f"iLO {obs.state or '?'}" + (f" ({mid})" if mid and obs.state in _DONE else ""))

    policy = kit.policy(request, ctx, observe=ilo_view, verdict=IloVerdict(_state_of(ctx.update_service)[0]),
                        tolerate_errors=True, outage_statuses=frozenset(range(500, 600)))
    try:
        return await follow_task(kit.session, TaskRef(task=kit.bmc.update_service_uri()), clock=kit.clock,
                                 policy=policy, on_progress=report)
    except TaskTimeout as exc:
        raise ApplyError(f"{kit.host}: {request.step.component}: the iLO flash did not finish within "
                         f"{kit.timing.deadline_for(request.kind):g}s (state {exc.last_state or 'unknown'})",
                         hint="check UpdateService.Oem.Hpe.State on the iLO before retrying") from exc


def _check_envelope(kit: Flasher, request: FlashRequest, response: httpx.Response, method: str) -> None:
    """2xx + any success/reset-required MessageId = accepted, whatever the envelope's shape."""
    if response.status_code >= 400:
        raise kit.refused(request, response, method)
    msgs = extended_info(json_object(response))
    bad = next((m for m in msgs if (m.severity or "").lower() == "critical"
                or any(k in m.message_id for k in ("Failed", "NotFound", "Busy", "Unauthorized"))), None)
    if bad:
        raise ApplyError(f"{kit.host}: {request.step.component}: the iLO refused {request.entry.id}: "
                         f"{bad.message or bad.message_id} [{bad.message_id}]")


@dataclass(frozen=True)
class HpeSimpleUpdate:
    """The iLO pulls the image; no Task on iLO 5 (the Oem.Hpe state tells the progress),
    a task monitor on iLO 6."""

    name: str = "simple-update"
    push: bool = False

    def available(self, ctx: FlashContext) -> bool:
        return "SimpleUpdate" in action_targets(ctx.update_service)

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        action = action_targets(ctx.update_service).get("SimpleUpdate")
        if not action:
            raise ApplyError(f"{kit.host}: the iLO offers no SimpleUpdate")
        url = await image_url(kit, request, ctx)
        response = await kit.post_action(str(action["target"]), {"ImageURI": url}, ctx)
        if response.status_code in (202,) and response.headers.get("location"):
            return await kit.after_push(request, ctx, progress, response, self.name)  # iLO 6 task monitor
        _check_envelope(kit, request, response, self.name)
        kit.accepted(kit.bmc.update_service_uri(), progress, self.name)
        outcome = await await_ilo_flash(kit, request, ctx, progress)
        return await kit.result_of(request, ctx, outcome, self.name, progress)


def _push_uri(us: Mapping[str, Any]) -> str | None:
    uri = _hpe(us).get("PushUpdateUri") or us.get("HttpPushUri")
    return str(uri) if uri else None


@dataclass(frozen=True)
class HpeForm:
    """The iLO upload form (see the module docstring)."""

    tpm_override: bool = False
    name: str = "hpe-form"
    push: bool = True

    def available(self, ctx: FlashContext) -> bool:
        return _push_uri(ctx.update_service) is not None

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        uri = _push_uri(ctx.update_service)
        if not uri:
            raise ApplyError(f"{kit.host}: the iLO offers no upload URI (HttpPushUri)")
        flash_now = request.kind in _ILO_FLASHABLE
        parameters = {"UpdateRepository": True, "UpdateTarget": flash_now, "ETag": f"hwfw-{request.run_id}",
                      "Section": 0}
        if self.tpm_override:
            parameters["TPMOverride"] = True
        response = None
        for _ in range(2):
            # The session token travels in the form and a cookie too (ilorest): a token the
            # iLO forgot (it reset) is replaced by a fresh login and the form rebuilt once.
            token = kit.session.token or ""
            fields = [FormField("sessionKey", token),
                      FormField("parameters", json.dumps(parameters), "application/json")]
            headers = {"Cookie": f"sessionKey={token}"} if token else {}
            response = await kit.send_multipart(uri, fields, kit.file(request, ctx, "file"), ctx,
                                                headers=headers, what="iLO upload")
            if response.status_code != 401:
                break
            await kit.bmc.fresh_login()
        assert response is not None
        if response.status_code == 413 and flash_now and kit.has_image_server(request) \
                and "SimpleUpdate" in action_targets(ctx.update_service):
            # Larger than one upload section: let the iLO pull it instead.
            progress(None, "the iLO refused the upload as too large (one section); letting it pull the image")
            return await HpeSimpleUpdate().flash(kit, request, ctx, progress)
        _check_envelope(kit, request, response, self.name)
        kit.accepted(kit.bmc.update_service_uri(), progress, self.name)
        if not flash_now:
            return await self._queue_uefi(kit, request, ctx, progress)
        outcome = await await_ilo_flash(kit, request, ctx, progress)
        return await kit.result_of(request, ctx, outcome, self.name, progress)

    async def _queue_uefi(self, kit: Flasher, request: FlashRequest, ctx: FlashContext,
                          progress: Progress) -> FlashResult:
        """Type C components: an UpdateTaskQueue item that UEFI runs during the next POST."""
        queue = link(_hpe(ctx.update_service), "UpdateTaskQueue")
        if not queue:
            raise ApplyError(f"{kit.host}: {request.entry.id} cannot be flashed by iLO and the iLO has no "
                             "UpdateTaskQueue")
        name = f"hwfw-{request.run_id}-{request.step.component or request.kind}".replace(":", "-")[:60]
        body = {"Name": name, "Command": "ApplyUpdate", "Filename": ctx.filename, "UpdatableBy": ["Uefi"],
                "TPMOverride": self.tpm_override}
        response = await kit.session.request("POST", queue, json_body=body, check=False)
        if response.status_code >= 400:
            raise kit.refused(request, response, "hpe-queue")
        uri = response.headers.get("location") or (json_object(response) or {}).get("@odata.id")
        kit.accepted(str(uri) if uri else queue, progress, "hpe-queue")
        progress(100.0, "queued for the next POST (UpdatableBy Uefi)")
        return FlashResult(FLASH_PENDING, self.name, str(uri) if uri else None,
                           "in the iLO repository; UEFI flashes it during the next host POST")


class HpeQuirks(Quirks):
    vendor = "hpe"
    native_method = "hpe-form"
    methods = method_table(HpeForm(), MultipartPush(), HpeSimpleUpdate(), HttpPush())
    # iLO applies `…/bios/settings` at the next reboot, validating the names only then:
    # its 200 + SystemResetRequired answers any name, and the outcome is read afterwards
    # from @Redfish.Settings.Messages (HPE iLO RESTful API, "Error responses").
    settings_mechanism = DmtfSettings(name="hpe-bios-settings", apply_time=False)

    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str],
                       can_pull: bool) -> str:
        limit = ctx.update_service.get("MaxImageSizeBytes")
        section = min(SECTION, limit) if isinstance(limit, int) and limit > 0 else SECTION
        too_big = ctx.size > section
        if "hpe-form" in available and not too_big:
            return "hpe-form"
        if "simple-update" in available and (request.image_url or self.bmc.image_server):
            return "simple-update"
        if too_big:
            raise ApplyError(f"{self.host}: image {request.entry.id} is {ctx.size} bytes; iLO takes uploads of at "
                             f"most {section} bytes per section and hwfw pulls larger images with SimpleUpdate",
                             hint="configure settings.image_server so the iLO can pull the image")
        return super().default_method(request, ctx, available, can_pull)

    async def vendor_in_flight(self) -> list[InFlight]:
        out: list[InFlight] = []
        us_uri = link(self.bmc.session.root, "UpdateService")
        us = await self.bmc.optional(us_uri) if us_uri else None
        state, pct, _ = _state_of(us)
        if state in _BUSY:
            out.append(InFlight(uri=us_uri or "/redfish/v1/UpdateService", state=state,
                                description=f"iLO flash {state} {pct if pct is not None else '?'}%"))
        queue = link(_hpe(us), "UpdateTaskQueue")
        if queue:
            try:
                items = await self.bmc.session.members(queue)
            except BmcError:
                items = []
            for item in items:
                st = str(item.get("State") or "")
                if st in _QUEUE_PENDING:
                    out.append(InFlight(uri=str(item.get("@odata.id")), state=st, component=None,
                                        description=f"{item.get('Name')} {item.get('Command') or ''} "
                                                    f"{item.get('Filename') or ''}".strip()))
        return out

    async def ac_cycle_request(self) -> ResetRequest | None:
        action = action_targets(self.bmc.system).get("HpeComputerSystemExt.SystemReset")
        allowed = [str(v) for v in (action or {}).get("ResetType@Redfish.AllowableValues") or ()]
        if not action or "AuxCycle" not in allowed:
            return None
        return ResetRequest(str(action["target"]), {"ResetType": "AuxCycle"},
                            "HpeComputerSystemExt.SystemReset AuxCycle", "auxiliary power cycle requested (AuxCycle)")

    async def amend_preflight(self, facts: BmcFacts, report: PreflightReport) -> PreflightReport:
        state, _, mid = _state_of(facts.update_service)
        return replace(report, facts={**report.facts, "ilo_update_state": state, "ilo_result": mid,
                                      "max_upload_section": SECTION})

    async def settle(self, intent: Mapping[str, Any], key: str, target: Any,
                     details: Mapping[str, Any]) -> str | None:
        """iLO keeps no task: the repository shows whether our file arrived, Oem.Hpe
        whether a flash runs or how the last one ended, the queue what waits for POST."""
        us_uri = self.bmc.update_service_uri()
        us = await self.bmc.optional(us_uri)
        state, _, mid = _state_of(us)
        if state in _BUSY:
            return f"in-flight:{us_uri}"
        arrived, filename = await self._arrived(us, details.get("filename"), target)
        if not arrived:
            return None
        queue = link(_hpe(us), "UpdateTaskQueue")
        if queue:
            try:
                for item in await self.bmc.session.members(queue):
                    if item.get("Filename") == filename and item.get("State") in ("Pending", "InProgress"):
                        return "done" if item.get("State") == "Pending" else f"in-flight:{item.get('@odata.id')}"
            except BmcError:
                pass
        if state == "Complete" and mid and not any(message_id_matches(mid, k) for k in SKIPPED_OTHER):
            return "done"
        if state == "Error":
            return f"failed:iLO flash ended in Error ({mid})"
        return None

    async def _arrived(self, us: Mapping[str, Any] | None, filename: Any, target: Any) -> tuple[bool, Any]:
        """Whether our image (by file name or version) is in the iLO repository, and its name there."""
        repo = link(_hpe(us), "ComponentRepository")
        if not repo:
            return False, filename
        try:
            for m in await self.bmc.session.members(repo):
                if (filename and m.get("Filename") == filename) or \
                        (target and str(m.get("Version") or "").strip() == str(target).strip()):
                    return True, m.get("Filename")
        except BmcError:
            pass
        return False, filename


class HpeDriver(RedfishDriver):
    quirks_class = HpeQuirks
