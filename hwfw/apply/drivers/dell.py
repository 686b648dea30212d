"""Dell iDRAC9 quirks.

Default method: multipart push to `MultipartHttpPushUri` (/redfish/v1/UpdateService/
MultipartUpload), the flow of Dell's own iDRAC Redfish scripting example
DeviceFirmwareMultipartUploadREDFISH.py: `UpdateParameters = {"Targets": [],
"@Redfish.OperationApplyTime": OnReset|Immediate, "Oem": {}}` (iDRAC picks the target
from the DUP itself). The answer is `202 + Location: /redfish/v1/TaskService/Tasks/JID_...`:

- host-side components (BIOS, NIC, RAID, CPLD) go `OnReset`: the job reaches
  `Scheduled` (Task view `Pending`, JCP001) and waits for the next host POST, where
  Lifecycle Controller flashes it: FLASH_PENDING; the host-reboot activation runs it;
- the iDRAC goes `Immediate`: the job runs, completes (PR19) and iDRAC resets itself:
  the bmc-reset activation only waits (down, then stably back, then LC Ready);
- `Immediate` host-side jobs make iDRAC reboot the host itself; the activation waits.

The Task is a hint that gets purged (60 s after completion, and on every iDRAC reboot)
and 404s for the first seconds after creation; the Dell job
(`Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/JID_...`) survives both and is the fallback.
`PendingActivation`/`UserIntervention` = written, needs a virtual AC cycle
(`DellOemChassis.ExtendedReset`). iDRAC is "back" only when the Lifecycle Controller
says Ready (`DellLCService.GetRemoteServicesAPIStatus`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from hwfw.apply.driver import (
    BiosReading,
    FlashRequest,
    FlashResult,
    InFlight,
    PreflightReport,
    Progress,
    SettingsRejected,
    StagedSettings,
)
from hwfw.apply.drivers.activation import ResetRequest
from hwfw.apply.drivers.base import RedfishDriver
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.context import FlashContext
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.drivers.methods import HttpPush, MultipartPush, SimpleUpdatePull
from hwfw.apply.drivers.quirks import Quirks, method_table
from hwfw.apply.drivers.settings import Configurator, DmtfSettings, rejection_messages
from hwfw.errors import ApplyError, BmcError
from hwfw.redfish.errors import message_id_matches
from hwfw.redfish.tasks import json_object
from hwfw.redfish.taskstate import FAILED_STATES
from hwfw.vendors.base import BmcFacts, action_targets, link
from hwfw.vendors.dell import parse_id

__all__ = ["DellDriver", "DellQuirks"]

_JOB_PENDING = frozenset({"New", "Scheduling", "Scheduled", "Downloading", "Downloaded", "ReadyForExecution",
                          "Waiting", "Running", "Paused", "PendingActivation", "RebootPending", "Starting"})
_JOB_RUNNING = frozenset({"Downloading", "Running", "RebootPending", "RebootCompleted", "Starting", "Scheduling",
                          "Downloaded", "ReadyForExecution"})
# Words of Dell job names per component kind ("Firmware Update: BIOS", "... iDRAC with Lifecycle Controller").
_JOB_WORDS = {"bmc": ("idrac",), "bios": ("bios",), "nic": ("network", "nic", "ethernet"), "cpld": ("cpld",),
              "raid": ("raid", "perc", "storage"), "psu": ("power supply", "psu"), "drive": ("disk", "drive"),
              "backplane": ("backplane", "enclosure")}


@dataclass(frozen=True)
class DellHttpPush(HttpPush):
    """iDRAC's legacy HttpPushUri flow (Dell's DeviceFirmwareSimpleUpdateREDFISH.py): GET
    FirmwareInventory for its ETag, POST the DUP there as multipart part `file` with
    `If-Match` → 201 `Available-...`, then SimpleUpdate with that member as ImageURI."""

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        us = ctx.update_service
        uri = us.get("HttpPushUri")
        if not uri:
            raise ApplyError(f"{kit.host}: the iDRAC offers no HttpPushUri")
        etag_response = await kit.session.request("GET", str(uri))
        etag = etag_response.headers.get("etag") or str((json_object(etag_response) or {}).get("@odata.etag") or "")
        response = await kit.send_multipart(str(uri), [], kit.file(request, ctx, "file"), ctx,
                                            headers={"If-Match": etag} if etag else {}, what="iDRAC legacy push")
        if response.status_code == 412 and etag.startswith("W/"):
            response = await kit.send_multipart(str(uri), [], kit.file(request, ctx, "file"), ctx,
                                                headers={"If-Match": etag[2:]}, what="iDRAC legacy push")
        if response.status_code >= 400:
            raise kit.refused(request, response, self.name)
        body = json_object(response) or {}
        available = response.headers.get("location") or body.get("@odata.id")
        if not available:
            raise ApplyError(f"{kit.host}: the iDRAC accepted the push but named no Available- inventory member")
        available = kit.bmc.client.uri_of(str(available))
        progress(1.0, f"pushed as {available.rsplit('/', 1)[-1]}")
        return await kit.install_held(request, available, progress, method=self.name, ctx=ctx)


@dataclass(frozen=True)
class DellConfigJob(DmtfSettings):
    """iDRAC takes BIOS settings through a configuration job (iDRAC9 Redfish API guide;
    Dell's GetSetBiosAttributesREDFISH.py): the PATCH of `Bios/Settings` with
    `@Redfish.SettingsApplyTime: OnReset` answers 202 + Location JID, a `BIOSConfiguration`
    job that runs at the next reboot. Without an apply time the values would only be
    parked (a reboot applies nothing), so older iDRACs that answer 200 get the legacy job
    `POST Managers/iDRAC.Embedded.1/Jobs {TargetSettingsURI}`. One staged BIOS job at a
    time: while one exists, a PATCH fails with SYS011 (dell/iDRAC-Redfish-Scripting
    issue #249), so all attributes go in one PATCH."""

    name: str = "dell-config-job"
    needs_job: bool = True

    async def stage(self, kit: Configurator, reading: BiosReading, values: Mapping[str, Any],
                    progress: Progress) -> StagedSettings:
        quirks = _dell(kit)
        body = {"Attributes": dict(values), "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}}
        response = await kit.patch_settings(reading, body, if_match=False)
        if response.status_code == 400 and any(message_id_matches(m.message_id, "SYS011")
                                               for m in rejection_messages(response)):
            job = await self.staged_job(kit)
            raise SettingsRejected(
                f"{kit.host}: a BIOS configuration job already holds staged values "
                f"({job or 'job unknown'}), so iDRAC refuses more (SYS011)",
                rejection_messages(response),
                hint="delete that job on the iDRAC (its values are dropped) or let a reboot run it, then apply again")
        kit.check_staged(response, values)
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            response = await kit.bmc.session.request(
                "POST", quirks.jobs_uri(),
                json_body={"TargetSettingsURI": reading.settings_uri}, check=False, retries=0)
            kit.check_staged(response, values)
            location = response.headers.get("location")
        job = quirks.job_uri_for(location) if location else None
        progress(None, f"BIOS configuration job {job.rsplit('/', 1)[-1] if job else '?'} scheduled for the next "
                       "reboot")
        return StagedSettings(self.name, job_uri=job, message=f"job {job}" if job else "job created")

    async def staged_job(self, kit: Configurator) -> str | None:
        for job in await _dell(kit)._jobs():
            if str(job.get("JobType") or "") == "BIOSConfiguration" and str(job.get("JobState") or "") in _JOB_PENDING:
                return str(job.get("@odata.id"))
        return None

    async def discard(self, kit: Configurator, job_uri: str | None) -> None:
        """Deleting the job drops its staged values (issue #249)."""
        job = job_uri or await self.staged_job(kit)
        if job:
            await kit.bmc.session.request("DELETE", job, check=False, retries=0)


def _dell(kit: Configurator) -> DellQuirks:
    assert isinstance(kit.quirks, DellQuirks)
    return kit.quirks


class DellQuirks(Quirks):
    vendor = "dell"
    native_method = "multipart"
    immediate_host_reboot_by_bmc = True
    creation_grace_polls = 4  # sushy retries a 404 job three times, ten seconds apart
    tasks_show_in_flight = False  # the TaskService shows the same jobs; the job queue is the complete view
    busy_ids = ("RED014",)  # "a firmware update for the same component is already scheduled or running"
    methods = method_table(MultipartPush(extra={"Oem": {}}), SimpleUpdatePull(), DellHttpPush())
    settings_mechanism = DellConfigJob()

    def __init__(self, bmc: Bmc) -> None:
        super().__init__(bmc)
        self._lc_status_supported: bool | None = None

    def target_uris(self, request: FlashRequest, ctx: FlashContext) -> list[str]:
        return []  # iDRAC picks the target from the DUP

    def staged_states(self, request: FlashRequest) -> frozenset[str]:
        states = super().staged_states(request)
        return states | {"Scheduled"} if states else states

    # ------------------------------------------------------------------ jobs
    def jobs_uri(self) -> str:
        uri = link(self.bmc.manager, "Links", "Oem", "Dell", "Jobs")
        if uri:
            return uri
        return (self.bmc.manager_uri or "/redfish/v1/Managers/iDRAC.Embedded.1").rstrip("/") + "/Oem/Dell/Jobs"

    def job_uri_for(self, task_uri: str) -> str | None:
        jid = task_uri.rstrip("/").rsplit("/", 1)[-1]
        if not jid.startswith(("JID_", "RID_")):
            return None
        return f"{self.jobs_uri().rstrip('/')}/{jid}"

    async def _jobs(self) -> list[dict[str, Any]]:
        try:
            return await self.bmc.session.members(self.jobs_uri())
        except BmcError as exc:
            if exc.status in (404, 405):
                return []
            raise

    async def vendor_in_flight(self) -> list[InFlight]:
        out = []
        for job in await self._jobs():
            state = str(job.get("JobState") or "")
            if state in _JOB_PENDING:
                out.append(InFlight(uri=str(job.get("@odata.id")), state=state, component=_kind_of_job(job),
                                    description=f"{job.get('Id')} {job.get('Name') or ''}".strip()))
        return out

    # ------------------------------------------------------------------ readiness, AC cycle
    async def ready_problem(self) -> str | None:
        """Lifecycle Controller readiness (sushy waits for LCStatus Ready after a reset)."""
        if self._lc_status_supported is False:
            return None
        lc = link(self.bmc.manager, "Links", "Oem", "Dell", "DellLCService") or \
            "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellLCService"
        t = self.bmc.timing
        try:
            response = await self.bmc.client.request(
                "POST", lc.rstrip("/") + "/Actions/DellLCService.GetRemoteServicesAPIStatus", json_body={},
                check=False, retries=0, timeout=max(0.2, min(t.request_timeout, 2 * t.stability_interval + 1)),
                ignore_deadline=True)
        except BmcError as exc:
            return f"Lifecycle Controller status unreadable: {exc.message}"
        if response.status_code in (404, 405) and self._lc_status_supported is None:
            self._lc_status_supported = False  # older iDRAC: no such action
            return None
        doc = json_object(response)
        if response.status_code >= 400 or doc is None:
            return f"Lifecycle Controller status: HTTP {response.status_code}"
        self._lc_status_supported = True
        status = str(doc.get("LCStatus") or doc.get("Status") or "")
        if status != "Ready":
            return f"Lifecycle Controller not ready ({status or 'unknown'})"
        return None

    async def ac_cycle_request(self) -> ResetRequest | None:
        """Virtual AC cycle: DellOemChassis.ExtendedReset PowerCycle, else the System's
        PowerCycle (iDRAC's PowerCycle is a virtual AC cycle too)."""
        chassis: Mapping[str, Any] = {}
        if self.bmc.chassis_uri:
            try:
                chassis = await self.bmc.session.get_json(self.bmc.chassis_uri)
            except BmcError:
                chassis = {}
        action = action_targets(chassis).get("DellOemChassis.ExtendedReset")
        if not action:
            return None
        allowed = [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]
        if allowed and "PowerCycle" not in allowed:
            return None
        return ResetRequest(str(action["target"]), {"ResetType": "PowerCycle", "FinalPowerState": "On"},
                            "DellOemChassis.ExtendedReset PowerCycle",
                            "virtual AC power cycle requested (DellOemChassis.ExtendedReset)")

    async def amend_preflight(self, facts: BmcFacts, report: PreflightReport) -> PreflightReport:
        return replace(report, facts={**report.facts, "job_queue": self.jobs_uri()})

    # ------------------------------------------------------------------ rollback
    async def previous_image(self, key: str, kind: str, version: str) -> str | None:
        """iDRAC keeps the replaced image of each device (not the CPLD's) as a
        `Previous-<component id>-<version>__<FQDD>` member: the one of the same
        component id and FQDD as the running (`Installed-`) image, of `version`."""
        facts = await self.bmc.facts(full=False)
        comp = next((c for c in self.bmc.adapter.components(facts) if c.key == key), None)
        running = parse_id(str(comp.uri or "").rstrip("/").rsplit("/", 1)[-1]) if comp else None
        if running is None:
            return None
        for member in facts.firmware_inventory or ():
            parsed = parse_id(str(member.get("Id") or ""))
            if parsed is None or parsed["state"] != "Previous" or parsed["component"] != running["component"] \
                    or parsed.get("fqdd") != running.get("fqdd"):
                continue
            if str(member.get("Version") or parsed["version"]).strip() == version.strip():
                return str(member.get("@odata.id") or "") or None
        return None

    # ------------------------------------------------------------------ settling
    async def settle(self, intent: Mapping[str, Any], key: str, target: Any,
                     details: Mapping[str, Any]) -> str | None:
        """The job queue outlives Tasks and iDRAC reboots. The job the intent recorded
        decides; else the newest job for this component: Scheduled/PendingActivation =
        done (staged), running = in flight, Completed = done for the iDRAC (its reset
        is pending; host-side jobs complete only once their version runs)."""
        kind = key.split(":", 1)[0]
        jobs = await self._jobs()
        recorded = str(details.get("task_uri") or "").rstrip("/").rsplit("/", 1)[-1]
        mine = [j for j in jobs if recorded and str(j.get("Id")) == recorded]
        candidates = mine or sorted((j for j in jobs if _kind_of_job(j) == kind), key=lambda j: str(j.get("Id") or ""))
        if not candidates:
            return None
        job = candidates[-1]
        state = str(job.get("JobState") or "")
        uri = str(job.get("@odata.id"))
        if state in ("Scheduled", "PendingActivation"):
            return "done"
        if state == "Completed":
            return "done" if (mine or kind == "bmc") else None
        if state in _JOB_RUNNING or state in ("New", "Waiting", "Paused"):
            return f"in-flight:{uri}"
        if state in FAILED_STATES and mine:
            return f"failed:{job.get('Message') or state} [{job.get('MessageId') or ''}]"
        return None


def _kind_of_job(job: Mapping[str, Any]) -> str | None:
    name = str(job.get("Name") or "").lower()
    if "firmware" not in name and "update" not in name and "rollback" not in name:
        return None
    for kind, words in _JOB_WORDS.items():
        if any(w in name for w in words):
            return kind
    return None


class DellDriver(RedfishDriver):
    quirks_class = DellQuirks
