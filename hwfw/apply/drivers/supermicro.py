"""Supermicro X12/X13 (brief section 4).

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
BIOS update the BMC restarts the host itself (both: `activate` only waits).

Licensed features (SimpleUpdate, NIC/storage/GPU/PSU pushes) answer 405
`SMC.1.0.OemLicenseNotPassed` without SFT-DCMS-SINGLE/SFT-OOB-LIC: a clear error naming
the licence. 405 `OemFirmwareAlreadyInUpdateMode` (another update, or a stuck update
mode) is retried until the component deadline, then reported with the cold-reset hint.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import httpx

from hwfw.apply.driver import FlashRequest, FlashResult, Progress
from hwfw.apply.drivers.base import FlashContext, RedfishDriver
from hwfw.apply.upload import FormField
from hwfw.errors import ApplyError, BmcError
from hwfw.logs import get_logger
from hwfw.redfish.errors import message_id_matches, parse_error_info
from hwfw.redfish.tasks import task_ref_from_response
from hwfw.vendors.base import BmcFacts, action_targets, link

__all__ = ["SupermicroDriver", "LICENCE_NAMES"]

log = get_logger("apply.drivers.supermicro")

LICENCE_NAMES = "SFT-DCMS-SINGLE (or SFT-OOB-LIC)"
BMC_FLAGS = {"PreserveCfg": True, "PreserveSdr": True, "PreserveSsl": True, "BackupBMC": True}
BIOS_FLAGS = {"PreserveME": True, "PreserveNVRAM": True, "PreserveSMBIOS": True, "BackupBIOS": False}


class SupermicroDriver(RedfishDriver):
    vendor = "supermicro"
    native_method = "smc-startupdate"
    immediate_host_reboot_by_bmc = True  # the BMC restarts the host after a BIOS update

    def methods_available(self, ctx: FlashContext) -> list[str]:
        out = super().methods_available(ctx)
        if ctx.update_service.get("MultipartHttpPushUri"):
            out.insert(0, "smc-startupdate")
        return out

    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str]) -> str:
        if "smc-startupdate" in available:
            return "smc-startupdate"
        return super().default_method(request, ctx, available)

    # ------------------------------------------------------------------ parameters
    def target_uris(self, request: FlashRequest, ctx: FlashContext) -> list[str]:
        if request.kind == "bmc" and self.manager_uri:
            return [self.manager_uri]
        if request.kind == "bios" and self.system_uri:
            return [self.system_uri.rstrip("/") + "/Bios"]
        comp = ctx.component
        return [comp.uri] if comp and comp.uri else []

    def _multipart_support(self, us: Mapping[str, Any]) -> list[str]:
        ann = us.get("MultipartHttpPushUri@Redfish.OperationApplyTimeSupport")
        return [str(v) for v in ann.get("SupportedValues") or ()] if isinstance(ann, Mapping) else []

    def smc_parameters(self, request: FlashRequest, ctx: FlashContext, apply_time: str) -> dict[str, Any]:
        params: dict[str, Any] = {"Targets": self.target_uris(request, ctx), "@Redfish.OperationApplyTime": apply_time}
        if request.kind == "bmc":
            params["Oem"] = {"Supermicro": {"BMC": dict(BMC_FLAGS)}}
        elif request.kind == "bios":
            params["Oem"] = {"Supermicro": {"BIOS": dict(BIOS_FLAGS)}}
        else:
            params["Oem"] = {}
        return params

    # ------------------------------------------------------------------ errors
    def _smc_error(self, request: FlashRequest, response: httpx.Response, what: str) -> ApplyError:
        info = parse_error_info(response)
        if message_id_matches(info.message_id, "OemLicenseNotPassed") or \
                any(message_id_matches(m.message_id, "OemLicenseNotPassed") for m in info.messages):
            named = next((a for m in info.messages for a in m.args if a), None)
            return ApplyError(f"{self.host}: {request.step.component}: {what} needs a Supermicro licence "
                              f"({named or LICENCE_NAMES}) that this BMC does not have (HTTP 405 "
                              f"OemLicenseNotPassed)",
                              hint=f"activate the {named or LICENCE_NAMES} licence on the BMC; BMC, BIOS and CPLD "
                                   "uploads work without it")
        return self._refused(request, response, what)

    # ------------------------------------------------------------------ flow
    async def flash_smc_startupdate(self, request: FlashRequest, ctx: FlashContext,
                                    progress: Progress) -> FlashResult:
        us = ctx.update_service
        uri = us.get("MultipartHttpPushUri")
        if not uri:
            raise ApplyError(f"{self.host}: the BMC offers no MultipartHttpPushUri")
        support = self._multipart_support(us)
        start_update = action_targets(us).get("StartUpdate")
        staged = start_update is not None and (not support or "OnStartUpdateRequest" in support)
        params = self.smc_parameters(request, ctx, "OnStartUpdateRequest" if staged else "Immediate")
        fields = [FormField("UpdateParameters", json.dumps(params), "application/json")]
        response = await self.send_multipart(uri, fields, self._file(request, ctx, "UpdateFile"), ctx,
                                             what="Supermicro upload")
        while response.status_code == 405 and _already_in_update_mode(response) \
                and self.clock.monotonic() < ctx.deadline:
            progress(None, "BMC busy in update mode; waiting")
            await self.clock.sleep(min(self._max_poll_wait(), max(0.0, ctx.deadline - self.clock.monotonic())))
            response = await self.send_multipart(uri, fields, self._file(request, ctx, "UpdateFile"), ctx,
                                                 what="Supermicro upload")
        if response.status_code >= 400:
            if _already_in_update_mode(response):
                raise ApplyError(f"{self.host}: the BMC stayed in firmware update mode until the deadline "
                                 "(OemFirmwareAlreadyInUpdateMode)",
                                 hint="another update may be running; a stuck update mode clears with a BMC cold "
                                      "reset (`ipmitool mc reset cold`)")
            raise self._smc_error(request, response, "the firmware upload")
        ref = task_ref_from_response(self.session, response)
        self._accepted(ref.task or ref.monitor, progress, "smc-startupdate")
        if not staged:
            outcome = await self.follow(ref, request, ctx, progress, label="update")
            return await self.result_of(request, ctx, outcome, "smc-startupdate", progress)
        verify = await self.follow(ref, request, ctx, progress, staged=frozenset(), label="verify")
        if verify.kind in ("failed", "skipped"):
            return await self.result_of(request, ctx, verify, "smc-startupdate", progress)
        if verify.kind == "vanished":
            log.info("%s: the verify task vanished; starting the update anyway", self.host)
        assert start_update is not None
        progress(None, "image verified; starting the update (UpdateService.StartUpdate)")
        response = await self.post_action(str(start_update["target"]), {}, ctx)
        if response.status_code >= 400:
            raise self._smc_error(request, response, "UpdateService.StartUpdate")
        ref = task_ref_from_response(self.session, response)
        self._accepted(ref.task or ref.monitor, progress, "smc-startupdate")
        if not ref:
            outcome = self.judge_messages((), "Completed", None)
        else:
            outcome = await self.follow(ref, request, ctx, progress, staged=frozenset(), label="update")
        return await self.result_of(request, ctx, outcome, "smc-startupdate", progress)

    async def flash_multipart(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        """`method: multipart`: the same push, Immediate (verify continues as the update)."""
        us = ctx.update_service
        uri = us.get("MultipartHttpPushUri")
        if not uri:
            raise ApplyError(f"{self.host}: the BMC offers no MultipartHttpPushUri")
        params = self.smc_parameters(request, ctx, "Immediate")
        response = await self.send_multipart(uri, [FormField("UpdateParameters", json.dumps(params),
                                                             "application/json")],
                                             self._file(request, ctx, "UpdateFile"), ctx, what="Supermicro upload")
        if response.status_code >= 400:
            raise self._smc_error(request, response, "the firmware upload")
        return await self.after_push(request, ctx, progress, response, "multipart")

    async def flash_simple_update(self, request: FlashRequest, ctx: FlashContext,
                                  progress: Progress) -> FlashResult:
        try:
            return await super().flash_simple_update(request, ctx, progress)
        except ApplyError as exc:
            if "OemLicenseNotPassed" in exc.message:
                raise ApplyError(f"{self.host}: SimpleUpdate needs the Supermicro licence {LICENCE_NAMES}, which "
                                 "this BMC does not have (HTTP 405 OemLicenseNotPassed)",
                                 hint="activate the licence, or use the multipart upload (method: auto)") from exc
            raise

    # ------------------------------------------------------------------ pre-flight
    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool) -> Any:
        report = await super().preflight(known_tasks=known_tasks, allow_pending=allow_pending)
        licence = await self._licence_probe()
        if licence is None or any("OemLicenseNotPassed" in w or "licence" in w.lower() for w in report.warnings):
            if licence is not None:
                from dataclasses import replace as _replace

                return _replace(report, facts={**report.facts, "licensed": False, "licence_error": licence})
            return report
        from dataclasses import replace

        facts = dict(report.facts)
        facts["licensed"] = False
        facts["licence_error"] = licence
        note = (f"licence: {licence} (BMC, BIOS and CPLD uploads work without it; NIC, storage and SimpleUpdate "
                "need it)")
        warnings = (*report.warnings, note)
        return replace(report, facts=facts, warnings=warnings)

    async def _licence_probe(self) -> str | None:
        """fwupd's probe: a GET on the push URI answers 405 OemLicenseNotPassed when unlicensed."""
        us_uri = link(self.session.root, "UpdateService")
        try:
            us = await self._optional(us_uri) if us_uri else None
            push = (us or {}).get("MultipartHttpPushUri")
            if not push:
                return None
            response = await self.session.request("GET", str(push), check=False, retries=0)
        except BmcError:
            return None
        if response.status_code == 405:
            info = parse_error_info(response)
            if message_id_matches(info.message_id, "OemLicenseNotPassed"):
                named = next((a for m in info.messages for a in m.args if a), LICENCE_NAMES)
                return f"Supermicro licence {named} missing"
        return None

    def preflight_facts(self, facts: BmcFacts) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------------ settling
    async def settle_vendor(self, intent: Mapping[str, Any], key: str, target: Any,
                            details: Mapping[str, Any]) -> str | None:
        """An update task still running decides (in flight). An image this intent uploaded
        that was verified and waits in `Staging_<component>` for StartUpdate (the run died
        between the two requests) is started now: that finishes our own flash without
        sending the image again; then it is in flight."""
        kind = key.split(":", 1)[0]
        for task in await self._task_members():
            state = str(task.get("TaskState") or "")
            name = str(task.get("Name") or "").lower()
            if "update" in name and state in ("New", "Starting", "Running", "Pending") and \
                    (self.component_of_task(task) in (kind, None)):
                return f"in-flight:{task.get('@odata.id')}"
        if not target:
            return None
        staged = None
        facts = await self._facts(full=False)
        for member in facts.firmware_inventory or ():
            mid = str(member.get("Id") or "")
            if mid.lower().startswith("staging_") and str(member.get("Version") or "").strip() == str(target).strip():
                staged = member
        if staged is None:
            return None
        start = action_targets(facts.update_service).get("StartUpdate")
        if not start:
            return None
        log.info("%s: %s %s is verified and staged (%s); starting the update the interrupted run began",
                 self.host, key, target, staged.get("Id"))
        response = await self.session.request("POST", str(start["target"]), json_body={}, check=False)
        if response.status_code >= 400:
            return None
        ref = task_ref_from_response(self.session, response)
        return f"in-flight:{ref.task or ref.monitor or staged.get('@odata.id')}"


def _already_in_update_mode(response: httpx.Response) -> bool:
    info = parse_error_info(response)
    ids = [info.message_id] + [m.message_id for m in info.messages]
    return any(message_id_matches(i, "OemFirmwareAlreadyInUpdateMode") or message_id_matches(i, "OemBiosUpdateIsInProgress")
               for i in ids if i)



