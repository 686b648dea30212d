"""HPE iLO 5/6 (brief section 3).

Default method `hpe-form`: the iLO upload form at `HttpPushUri` (/cgi-bin/uploadFile, or
`Oem.Hpe.PushUpdateUri`), multipart parts `sessionKey` (the session token),
`parameters` (JSON: UpdateRepository, UpdateTarget, ETag, TPMOverride) and `file`,
plus `Cookie: sessionKey=...` and `X-Auth-Token` (ilorest UploadComponentCommand). iLO
5 uses no Task: progress is `UpdateService.Oem.Hpe.State` / `FlashProgressPercent` /
`Result.MessageId`, judged with proliantutils' rule (a busy state was seen, or Idle
before and Complete/Error now). Successes arrive as HTTP 200 inside an error-shaped
envelope, so answers are judged by status + MessageId, never by the `error` key.

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
from typing import Any, Mapping

from hwfw.apply.driver import FlashRequest, FlashResult, InFlight, Progress
from hwfw.apply.drivers.base import FlashContext, Outcome, RedfishDriver
from hwfw.apply.upload import FormField
from hwfw.errors import ApplyError, BmcError, BmcUnreachable
from hwfw.logs import get_logger
from hwfw.redfish.errors import RedfishMessage, extended_info, message_id_matches
from hwfw.redfish.tasks import json_object
from hwfw.vendors.base import BmcFacts, action_targets, link

__all__ = ["HpeDriver"]

log = get_logger("apply.drivers.hpe")

SECTION = 32 * 1024 * 1024
_BUSY = frozenset({"Uploading", "Verifying", "Writing", "Updating", "Progressing", "BackingUp"})
_DONE = frozenset({"Complete", "Error"})
_ILO_FLASHABLE = frozenset({"bmc", "bios", "cpld", "me"})
_QUEUE_PENDING = frozenset({"Pending", "InProgress", "Exception", "Expired"})


def _hpe(doc: Mapping[str, Any] | None) -> Mapping[str, Any]:
    oem = (doc or {}).get("Oem")
    hpe = oem.get("Hpe") or oem.get("Hp") if isinstance(oem, Mapping) else None
    return hpe if isinstance(hpe, Mapping) else {}


class HpeDriver(RedfishDriver):
    vendor = "hpe"
    native_method = "hpe-form"

    # ------------------------------------------------------------------ methods
    def methods_available(self, ctx: FlashContext) -> list[str]:
        out = super().methods_available(ctx)
        if self._push_uri(ctx.update_service):
            out.insert(0, "hpe-form")
        return out

    def _push_uri(self, us: Mapping[str, Any]) -> str | None:
        uri = _hpe(us).get("PushUpdateUri") or us.get("HttpPushUri")
        return str(uri) if uri else None

    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str]) -> str:
        limit = ctx.update_service.get("MaxImageSizeBytes")
        section = min(SECTION, limit) if isinstance(limit, int) and limit > 0 else SECTION
        too_big = ctx.size > section
        if "hpe-form" in available and not too_big:
            return "hpe-form"
        if "simple-update" in available and (request.image_url or self.image_server):
            return "simple-update"
        if too_big:
            raise ApplyError(f"{self.host}: image {request.entry.id} is {ctx.size} bytes; iLO takes uploads of at "
                             f"most {section} bytes per section and hwfw pulls larger images with SimpleUpdate",
                             hint="configure settings.image_server so the iLO can pull the image")
        return super().default_method(request, ctx, available)

    async def flash_context(self, request: FlashRequest) -> FlashContext:
        ctx = await super().flash_context(request)
        ctx.extra["pre_state"] = self._state_of(ctx.update_service)
        return ctx

    # ------------------------------------------------------------------ upload form
    async def flash_hpe_form(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        uri = self._push_uri(ctx.update_service)
        if not uri:
            raise ApplyError(f"{self.host}: the iLO offers no upload URI (HttpPushUri)")
        flash_now = request.kind in _ILO_FLASHABLE
        parameters = {"UpdateRepository": True, "UpdateTarget": flash_now, "ETag": f"hwfw-{request.run_id}",
                      "Section": 0}
        if self.options_tpm_override(request):
            parameters["TPMOverride"] = True
        response = None
        for _ in range(2):
            # The session token travels in the form and a cookie too (ilorest): a token the
            # iLO forgot (it reset) is replaced by a fresh login and the form rebuilt once.
            token = self.session.token or ""
            fields = [FormField("sessionKey", token),
                      FormField("parameters", json.dumps(parameters), "application/json")]
            headers = {"Cookie": f"sessionKey={token}"} if token else {}
            response = await self.send_multipart(uri, fields, self._file(request, ctx, "file"), ctx,
                                                 headers=headers, what="iLO upload")
            if response.status_code != 401:
                break
            await self.fresh_login()
        assert response is not None
        if response.status_code == 413 and flash_now and (request.image_url or self.image_server) \
                and "SimpleUpdate" in action_targets(ctx.update_service):
            # Larger than one upload section: let the iLO pull it instead.
            progress(None, "the iLO refused the upload as too large (one section); letting it pull the image")
            return await self.flash_simple_update(request, ctx, progress)
        self._check_envelope(request, response, "hpe-form")
        self._accepted(link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService", progress, "hpe-form")
        if not flash_now:
            return await self._queue_uefi(request, ctx, progress)
        outcome = await self.follow_state(request, ctx, progress)
        return await self.result_of(request, ctx, outcome, "hpe-form", progress)

    def options_tpm_override(self, request: FlashRequest) -> bool:
        return False

    def _check_envelope(self, request: FlashRequest, response: Any, method: str) -> None:
        """2xx + any success/reset-required MessageId = accepted, whatever the envelope's shape."""
        if response.status_code >= 400:
            raise self._refused(request, response, method)
        msgs = extended_info(json_object(response))
        bad = next((m for m in msgs if (m.severity or "").lower() == "critical"
                    or any(k in m.message_id for k in ("Failed", "NotFound", "Busy", "Unauthorized"))), None)
        if bad:
            raise ApplyError(f"{self.host}: {request.step.component}: the iLO refused {request.entry.id}: "
                             f"{bad.message or bad.message_id} [{bad.message_id}]")

    async def flash_simple_update(self, request: FlashRequest, ctx: FlashContext,
                                  progress: Progress) -> FlashResult:
        """iLO pulls the image; no Task (iLO 5): the Oem.Hpe state tells the progress."""
        us = ctx.update_service
        action = action_targets(us).get("SimpleUpdate")
        if not action:
            raise ApplyError(f"{self.host}: the iLO offers no SimpleUpdate")
        url = request.image_url
        if url is None:
            if self.image_server is None:
                raise ApplyError(f"{self.host}: SimpleUpdate needs hwfw's image server; none is running")
            url = await self.image_server.publish_async(request.image_path, request.entry.sha256, name=ctx.filename)
        response = await self.post_action(str(action["target"]), {"ImageURI": url}, ctx)
        if response.status_code in (202,) and response.headers.get("location"):
            return await self.after_push(request, ctx, progress, response, "simple-update")  # iLO 6 task monitor
        self._check_envelope(request, response, "simple-update")
        self._accepted(link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService", progress,
                       "simple-update")
        outcome = await self.follow_state(request, ctx, progress)
        return await self.result_of(request, ctx, outcome, "simple-update", progress)

    # ------------------------------------------------------------------ Oem.Hpe state
    @staticmethod
    def _state_of(us: Mapping[str, Any] | None) -> tuple[str | None, int | None, str | None]:
        hpe = _hpe(us)
        result = hpe.get("Result")
        mid = result.get("MessageId") if isinstance(result, Mapping) else None
        pct = hpe.get("FlashProgressPercent")
        return (str(hpe["State"]) if hpe.get("State") else None, int(pct) if isinstance(pct, (int, float)) else None,
                str(mid) if mid else None)

    async def follow_state(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> Outcome:
        """Poll UpdateService.Oem.Hpe until the flash ends (proliantutils' transition rule).
        An iLO that resets (its own flash) and comes back Idle = vanished: verify the version."""
        us_uri = link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService"
        previous = ctx.extra.get("pre_state", (None, None, None))[0]
        seen_busy = False
        outage = False
        last: tuple[str | None, int | None, str | None] = (None, None, None)
        while True:
            try:
                response = await self.session.request("GET", us_uri, check=False, retries=0)
            except BmcError:
                outage = True
            else:
                doc = json_object(response) if response.status_code < 400 else None
                if response.status_code in (401, 403):
                    await self._try_fresh_login()
                if doc is None:
                    outage = outage or response.status_code >= 500
                else:
                    state, pct, mid = self._state_of(doc)
                    if (state, pct) != last[:2]:
                        progress(float(pct) if pct is not None else None, f"iLO {state or '?'}"
                                 + (f" ({mid})" if mid and state in _DONE else ""))
                    last = (state, pct, mid)
                    if state in _BUSY:
                        seen_busy = True
                    elif state in _DONE and (seen_busy or previous in (None, "Idle")):
                        return self._outcome_of(state, mid, outage, us_uri)
                    elif state == "Idle" and (seen_busy or outage):
                        return Outcome("vanished", state, us_uri, outage=outage,
                                       detail="the iLO went back to Idle (it reset) before reporting the result")
            if self.clock.monotonic() >= ctx.deadline:
                raise ApplyError(f"{self.host}: {request.step.component}: the iLO flash did not finish within "
                                 f"{self.timing.deadline_for(request.kind):g}s (state {last[0] or 'unknown'})",
                                 hint="check UpdateService.Oem.Hpe.State on the iLO before retrying")
            await self.clock.sleep(max(0.0, min(self.timing.poll_interval, ctx.deadline - self.clock.monotonic())))

    def _outcome_of(self, state: str, mid: str | None, outage: bool, uri: str) -> Outcome:
        msgs = (RedfishMessage(message_id=mid or ""),) if mid else ()
        if state == "Error":
            return Outcome("failed", state, uri, msgs, mid, f"iLO flash ended in Error ({mid or 'no result'})", outage)
        return self.judge_messages(msgs, "Completed", uri, outage)

    # ------------------------------------------------------------------ UEFI queue (type C)
    async def _queue_uefi(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        queue = link(_hpe(ctx.update_service), "UpdateTaskQueue")
        if not queue:
            raise ApplyError(f"{self.host}: {request.entry.id} cannot be flashed by iLO and the iLO has no "
                             "UpdateTaskQueue")
        name = f"hwfw-{request.run_id}-{request.step.component or request.kind}".replace(":", "-")[:60]
        body = {"Name": name, "Command": "ApplyUpdate", "Filename": ctx.filename, "UpdatableBy": ["Uefi"],
                "TPMOverride": self.options_tpm_override(request)}
        response = await self.session.request("POST", queue, json_body=body, check=False)
        if response.status_code >= 400:
            raise self._refused(request, response, "hpe-queue")
        uri = response.headers.get("location") or (json_object(response) or {}).get("@odata.id")
        self._accepted(str(uri) if uri else queue, progress, "hpe-queue")
        progress(100.0, "queued for the next POST (UpdatableBy Uefi)")
        return FlashResult("pending-activation", "hpe-form", str(uri) if uri else None,
                           "in the iLO repository; UEFI flashes it during the next host POST")

    # ------------------------------------------------------------------ in flight, AC, pre-flight
    async def vendor_in_flight(self) -> list[InFlight]:
        out: list[InFlight] = []
        us_uri = link(self.session.root, "UpdateService")
        us = await self._optional(us_uri) if us_uri else None
        state, pct, _ = self._state_of(us)
        if state in _BUSY:
            out.append(InFlight(uri=us_uri or "/redfish/v1/UpdateService", state=state,
                                description=f"iLO flash {state} {pct if pct is not None else '?'}%"))
        queue = link(_hpe(us), "UpdateTaskQueue")
        if queue:
            try:
                items = await self.session.members(queue)
            except BmcError:
                items = []
            for item in items:
                st = str(item.get("State") or "")
                if st in _QUEUE_PENDING:
                    out.append(InFlight(uri=str(item.get("@odata.id")), state=st, component=None,
                                        description=f"{item.get('Name')} {item.get('Command') or ''} "
                                                    f"{item.get('Filename') or ''}".strip()))
        return out

    async def send_ac_cycle(self, progress: Progress, *, reachable: bool) -> bool:
        if not reachable:
            return False
        action = action_targets(self.system).get("HpeComputerSystemExt.SystemReset")
        if action:
            allowed = [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]
            if "AuxCycle" in allowed:
                try:
                    await self.post_reset(str(action["target"]), {"ResetType": "AuxCycle"},
                                          "HpeComputerSystemExt.SystemReset AuxCycle")
                except BmcUnreachable:
                    return False
                progress(None, "auxiliary power cycle requested (AuxCycle)")
                return True
        return await super().send_ac_cycle(progress, reachable=reachable)

    def preflight_facts(self, facts: BmcFacts) -> dict[str, Any]:
        state, _, mid = self._state_of(facts.update_service)
        return {"ilo_update_state": state, "ilo_result": mid, "max_upload_section": SECTION}

    async def settle_vendor(self, intent: Mapping[str, Any], key: str, target: Any,
                            details: Mapping[str, Any]) -> str | None:
        """iLO keeps no task: the repository shows whether our file arrived, Oem.Hpe
        whether a flash runs or how the last one ended, the queue what waits for POST."""
        us_uri = link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService"
        us = await self._optional(us_uri)
        state, _, mid = self._state_of(us)
        if state in _BUSY:
            return f"in-flight:{us_uri}"
        filename = details.get("filename")
        repo = link(_hpe(us), "ComponentRepository")
        arrived = False
        if repo:
            try:
                for m in await self.session.members(repo):
                    if (filename and m.get("Filename") == filename) or \
                            (target and str(m.get("Version") or "").strip() == str(target).strip()):
                        arrived, filename = True, m.get("Filename")
                        break
            except BmcError:
                arrived = False
        if not arrived:
            return None
        queue = link(_hpe(us), "UpdateTaskQueue")
        if queue:
            try:
                for item in await self.session.members(queue):
                    if item.get("Filename") == filename and item.get("State") in ("Pending", "InProgress"):
                        return "done" if item.get("State") == "Pending" else f"in-flight:{item.get('@odata.id')}"
            except BmcError:
                pass
        if state == "Complete" and mid and not message_id_matches(mid, "UpdateSkippedVersionTooLow"):
            return "done"
        if state == "Error":
            return f"failed:iLO flash ended in Error ({mid})"
        return None
