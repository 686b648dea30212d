"""Supermicro X12/X13 quirks.

Default method `smc-startupdate`: multipart push to `MultipartHttpPushUri`
(/redfish/v1/UpdateService/upload) with `UpdateParameters`
`{"Targets": [<Managers/1 | Systems/1/Bios | FirmwareInventory/CPLD_...>],
  "@Redfish.OperationApplyTime": "OnStartUpdateRequest",
  "Oem": {"Supermicro": {"BMC": {PreserveCfg, PreserveSdr, PreserveSsl, BackupBMC} |
                         "BIOS": {PreserveME, PreserveNVRAM, PreserveSMBIOS, BackupBIOS}}}}`
→ 202 + the "BMC Verify"/"BIOS Verify" task (Location and the `Accepted` body) →
`UpdateService.StartUpdate` → 202 + the "BMC Update"/"BIOS Update" task → Completed.
Verifying first means a bad image never touches the flash; the split also shows
"verified" and "flashing" apart. Without OnStartUpdateRequest support the verify task
continues as the update (Immediate). After a BMC update the BMC resets itself; after a
BIOS update the BMC restarts the host itself (both: the activation only waits).

Licensed features (SimpleUpdate, NIC/storage/GPU/PSU pushes) answer 405
`SMC.1.0.OemLicenseNotPassed` without SFT-DCMS-SINGLE/SFT-OOB-LIC: a clear error naming
the licence. 405 `OemFirmwareAlreadyInUpdateMode` (another update, or a stuck update
mode) is retried until the component deadline, then reported with the cold-reset hint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

import httpx

from hwfw.apply.driver import FlashRequest, FlashResult, PreflightReport, Progress
from hwfw.apply.drivers.base import RedfishDriver
from hwfw.apply.drivers.context import FlashContext
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.drivers.methods import HttpPush, MultipartPush, SimpleUpdatePull, supported_values
from hwfw.apply.drivers.quirks import Quirks, method_table
from hwfw.apply.drivers.settings import DmtfSettings
from hwfw.apply.upload import FormField
from hwfw.errors import ApplyError
from hwfw.logs import get_logger
from hwfw.redfish.errors import message_id_matches, parse_error_info
from hwfw.redfish.tasks import task_ref_from_response
from hwfw.redfish.taskstate import judge_messages
from hwfw.retry import polling
from hwfw.vendors.base import BmcFacts, action_targets
from hwfw.vendors.supermicro import LICENCE_PROBE

__all__ = ["LICENCE_NAMES", "SupermicroDriver", "SupermicroQuirks"]

log = get_logger("apply.drivers.supermicro")

LICENCE_NAMES = "SFT-DCMS-SINGLE (or SFT-OOB-LIC)"
BMC_FLAGS = {"PreserveCfg": True, "PreserveSdr": True, "PreserveSsl": True, "BackupBMC": True}
BIOS_FLAGS = {"PreserveME": True, "PreserveNVRAM": True, "PreserveSMBIOS": True, "BackupBIOS": False}


def _parameters(kit: Flasher, request: FlashRequest, ctx: FlashContext, apply_time: str) -> dict[str, Any]:
    params: dict[str, Any] = {"Targets": kit.quirks.target_uris(request, ctx),
                              "@Redfish.OperationApplyTime": apply_time}
    if request.kind == "bmc":
        params["Oem"] = {"Supermicro": {"BMC": dict(BMC_FLAGS)}}
    elif request.kind == "bios":
        params["Oem"] = {"Supermicro": {"BIOS": dict(BIOS_FLAGS)}}
    else:
        params["Oem"] = {}
    return params


def _smc_error(kit: Flasher, request: FlashRequest, response: httpx.Response, what: str) -> ApplyError:
    info = parse_error_info(response)
    if message_id_matches(info.message_id, "OemLicenseNotPassed") or \
            any(message_id_matches(m.message_id, "OemLicenseNotPassed") for m in info.messages):
        named = next((a for m in info.messages for a in m.args if a), None)
        return ApplyError(f"{kit.host}: {request.step.component}: {what} needs a Supermicro licence "
                          f"({named or LICENCE_NAMES}) that this BMC does not have (HTTP 405 OemLicenseNotPassed)",
                          hint=f"activate the {named or LICENCE_NAMES} licence on the BMC; BMC, BIOS and CPLD "
                               "uploads work without it")
    return kit.refused(request, response, what)


def _already_in_update_mode(response: httpx.Response) -> bool:
    info = parse_error_info(response)
    ids = [info.message_id] + [m.message_id for m in info.messages]
    return any(message_id_matches(i, "OemFirmwareAlreadyInUpdateMode") or
               message_id_matches(i, "OemBiosUpdateIsInProgress") for i in ids if i)


@dataclass(frozen=True)
class SmcMultipart(MultipartPush):
    """`method: multipart`: the push with Supermicro's parameters, Immediate (the verify
    task continues as the update)."""

    what: str = "Supermicro upload"

    def parameters(self, kit: Flasher, request: FlashRequest, ctx: FlashContext) -> dict[str, Any]:
        return _parameters(kit, request, ctx, "Immediate")

    def refusal(self, kit: Flasher, request: FlashRequest, response: httpx.Response) -> ApplyError:
        return _smc_error(kit, request, response, "the firmware upload")


@dataclass(frozen=True)
class SmcStartUpdate(SmcMultipart):
    """Upload (verify task), then `UpdateService.StartUpdate` (update task)."""

    name: str = "smc-startupdate"

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        us = ctx.update_service
        uri = us.get("MultipartHttpPushUri")
        if not uri:
            raise ApplyError(f"{kit.host}: the BMC offers no MultipartHttpPushUri")
        support = supported_values(us.get("MultipartHttpPushUri@Redfish.OperationApplyTimeSupport"))
        start_update = action_targets(us).get("StartUpdate")
        staged = start_update is not None and (not support or "OnStartUpdateRequest" in support)
        params = _parameters(kit, request, ctx, "OnStartUpdateRequest" if staged else "Immediate")
        fields = [FormField("UpdateParameters", json.dumps(params), "application/json")]
        response = await kit.send_multipart(uri, fields, kit.file(request, ctx, "UpdateFile"), ctx,
                                            what=self.what)
        polls = polling(kit.max_poll_wait()).attempts(kit.clock, deadline=ctx.deadline)
        while response.status_code == 405 and _already_in_update_mode(response):
            wait = polls.next_delay()
            if wait is None:
                break
            progress(None, "BMC busy in update mode; waiting")
            await kit.clock.sleep(wait)
            response = await kit.send_multipart(uri, fields, kit.file(request, ctx, "UpdateFile"), ctx,
                                                what=self.what)
        if response.status_code >= 400:
            if _already_in_update_mode(response):
                raise ApplyError(f"{kit.host}: the BMC stayed in firmware update mode until the deadline "
                                 "(OemFirmwareAlreadyInUpdateMode)",
                                 hint="another update may be running; a stuck update mode clears with a BMC cold "
                                      "reset (`ipmitool mc reset cold`)")
            raise self.refusal(kit, request, response)
        ref = task_ref_from_response(kit.session, response)
        kit.accepted(ref.task or ref.monitor, progress, self.name)
        if not staged:
            outcome = await kit.await_task(ref, request, ctx, progress, label="update")
            return await kit.result_of(request, ctx, outcome, self.name, progress)
        verify = await kit.await_task(ref, request, ctx, progress, staged=frozenset(), label="verify")
        if verify.kind in ("failed", "skipped"):
            return await kit.result_of(request, ctx, verify, self.name, progress)
        if verify.kind == "vanished":
            log.info("%s: the verify task vanished; starting the update anyway", kit.host)
        assert start_update is not None
        progress(None, "image verified; starting the update (UpdateService.StartUpdate)")
        response = await kit.post_action(str(start_update["target"]), {}, ctx)
        if response.status_code >= 400:
            raise _smc_error(kit, request, response, "UpdateService.StartUpdate")
        ref = task_ref_from_response(kit.session, response)
        kit.accepted(ref.task or ref.monitor, progress, self.name)
        if not ref:
            outcome = judge_messages((), "Completed", None)
        else:
            outcome = await kit.await_task(ref, request, ctx, progress, staged=frozenset(), label="update")
        return await kit.result_of(request, ctx, outcome, self.name, progress)


@dataclass(frozen=True)
class SmcSimpleUpdate(SimpleUpdatePull):
    """SimpleUpdate, a licensed feature on these BMCs: a refusal names the licence."""

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        try:
            return await super().flash(kit, request, ctx, progress)
        except ApplyError as exc:
            if "OemLicenseNotPassed" in exc.message:
                raise ApplyError(f"{kit.host}: SimpleUpdate needs the Supermicro licence {LICENCE_NAMES}, which "
                                 "this BMC does not have (HTTP 405 OemLicenseNotPassed)",
                                 hint="activate the licence, or use the multipart upload (method: auto)") from exc
            raise


class SupermicroQuirks(Quirks):
    vendor = "supermicro"
    native_method = "smc-startupdate"
    immediate_host_reboot_by_bmc = True  # the BMC restarts the host after a BIOS update
    methods = method_table(SmcStartUpdate(), SmcMultipart(), SmcSimpleUpdate(), HttpPush())
    # `Bios/SD` with If-Match: the settings object's ETag from a fresh GET (AMI-based BMCs
    # serving the same object refuse a PATCH without it; docs/bios-settings.md).
    settings_mechanism = DmtfSettings(name="smc-bios-sd", if_match=True)

    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str],
                       can_pull: bool) -> str:
        if "smc-startupdate" in available:
            return "smc-startupdate"
        return super().default_method(request, ctx, available, can_pull)

    def target_uris(self, request: FlashRequest, ctx: FlashContext) -> list[str]:
        if request.kind == "bmc" and self.bmc.manager_uri:
            return [self.bmc.manager_uri]
        if request.kind == "bios" and self.bmc.system_uri:
            return [self.bmc.system_uri.rstrip("/") + "/Bios"]
        comp = ctx.component
        return [comp.uri] if comp and comp.uri else []

    async def amend_preflight(self, facts: BmcFacts, report: PreflightReport) -> PreflightReport:
        # The full facts read the licence probe (fwupd's: a GET on the push URI answers
        # 405 OemLicenseNotPassed when unlicensed), and its refusal is already among the
        # report's warnings (`licence_errors`); the report's facts say so too.
        licence = facts.extra.get(f"licence:{LICENCE_PROBE}")
        if not licence:
            return report
        return replace(report, facts={**report.facts, "licensed": False, "licence_error": licence})

    async def settle(self, intent: Mapping[str, Any], key: str, target: Any,
                     details: Mapping[str, Any]) -> str | None:
        """An update task still running decides (in flight). An image this intent uploaded
        that was verified and waits in `Staging_<component>` for StartUpdate (the run died
        between the two requests) is started now: that finishes our own flash without
        sending the image again; then it is in flight."""
        kind = key.split(":", 1)[0]
        for task in await self.bmc.task_members():
            state = str(task.get("TaskState") or "")
            name = str(task.get("Name") or "").lower()
            if "update" in name and state in ("New", "Starting", "Running", "Pending") and \
                    (self.bmc.component_of_task(task) in (kind, None)):
                return f"in-flight:{task.get('@odata.id')}"
        if not target:
            return None
        facts = await self.bmc.facts(full=False)
        staged = None
        for member in facts.firmware_inventory or ():
            mid = str(member.get("Id") or "")
            if mid.lower().startswith("staging_") and str(member.get("Version") or "").strip() == str(target).strip():
                staged = member
        start = action_targets(facts.update_service).get("StartUpdate") if staged is not None else None
        if staged is None or not start:
            return None
        log.info("%s: %s %s is verified and staged (%s); starting the update the interrupted run began",
                 self.host, key, target, staged.get("Id"))
        response = await self.bmc.session.request("POST", str(start["target"]), json_body={}, check=False)
        if response.status_code >= 400:
            return None
        ref = task_ref_from_response(self.bmc.session, response)
        return f"in-flight:{ref.task or ref.monitor or staged.get('@odata.id')}"


class SupermicroDriver(RedfishDriver):
    quirks_class = SupermicroQuirks
