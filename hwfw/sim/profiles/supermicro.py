"""Supermicro X12/X13: ids 1, multipart push at /redfish/v1/UpdateService/upload.

What a real one does: docs/vendor-behaviour.md, "Supermicro X12/X13".

Flow: upload with UpdateParameters Targets (Managers/1, Systems/1/Bios,
FirmwareInventory/CPLD_Motherboard) -> 202 + Location + `Accepted` body naming the
task -> "BMC Verify"/"BIOS Verify" task; with Immediate the same task goes on as the
update, with OnStartUpdateRequest nothing happens until UpdateService.StartUpdate
creates a "BMC Update"/"BIOS Update" task. Licensed endpoints (SimpleUpdate, NIC
uploads, SmcUpdateService.Install) answer 405 OemLicenseNotPassed without DCMS.
"""

from __future__ import annotations

from typing import Any, Mapping

from hwfw.sim.firmware import ImageInfo
from hwfw.sim.http import Request, Response
from hwfw.sim.messages import Dialect, message
from hwfw.sim.profiles import SimProfile
from hwfw.sim.service import params
from hwfw.sim.service.odata import ODataResources
from hwfw.sim.service.resources import R
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task

# What a real Supermicro server has burnt in: IPMI ids (IANA manufacturer, product), serial form.
PROFILE = SimProfile("supermicro", ipmi_ids=(10876, 6929), serial_prefix="S", serial_length=9,
                     serial_digits_only=True)

# Defaults from docs/vendor-behaviour.md, "Supermicro X12/X13": verify task ~6 s, BMC
# flash "several minutes" (xCAT waits 2 min), at most 16 sessions.
SMC_TABLE: dict[str, Any] = {
    "vendor": "Supermicro", "manufacturer": "Supermicro", "product": "Supermicro Redfish Service",
    "manager_name": "Manager", "manager_model": "ASPEED", "redfish_version": "1.11.0",
    "session_limit": 16, "session_timeout": 1800.0,
    "session_context": "ignored",   # no public record of the BMC storing a login's Context
    "system_reset_types": ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi",
                           "ForceOn", "PowerCycle"],
    "manager_reset_types": ["GracefulRestart"],
    "apply_times": ["Immediate", "OnStartUpdateRequest"],
    "verify": 6.0, "flash": {"bmc": 300.0, "bios": 300.0, "cpld": 120.0, "nic": 180.0, "default": 180.0},
    "activation": {"bmc": "bmc-reset", "bios": "host-reboot", "cpld": "ac-cycle", "nic": "host-reboot"},
    "bmc_boot": 120.0, "bmc_partial": 20.0, "post": 120.0, "os_boot": 45.0, "down_mode": "refused",
    "max_image_size": 128 * 1024 * 1024, "bios_settings": "SD", "bios_auto_restart": True, "bmc_reset_delay": 5.0,
    "bios_validation": "early", "bios_if_match": "require", "bios_apply_times": ["OnReset"],
    "unlicensed_kinds": ["nic", "raid", "gpu", "psu", "drive"],
    "preserve_flags": ["PreserveCfg", "PreserveSdr", "PreserveSsl", "BackupBMC", "PreserveME", "PreserveNVRAM",
                       "PreserveSMBIOS", "BackupBIOS", "PreserveOA", "PreserveSETUPCONF", "PreserveSETUPPWD",
                       "PreserveSECBOOTKEY", "PreserveBOOTCONF", "UpdateRollbackID"],
}
SMC_DIALECT = Dialect(versions={"Base": "1.4", "Update": "1.0", "TaskEvent": "1.0", "SMC": "1.0"}, severity="Severity")
NAMES = {"bmc": ("BMC", "Verify"), "bios": ("BIOS", "Verify"), "cpld": ("CPLD", "Verify"), "nic": ("NIC", "Verify")}
PLACEHOLDER = {"MessageId": "", "Message": "", "MessageArgs": [""], "Severity": "", "Resolution": ""}
INV = f"{R}/UpdateService/FirmwareInventory"
ID_PREFIX = {"psu": "PowerSupply", "backplane": "CPLD_Backplane_", "raid": "NVMeController", "gpu": "GPU",
             "drive": "Disk", "nic": "NIC"}


class SupermicroService(ODataResources):
    VENDOR = "supermicro"
    IDS = {"S": "1", "M": "1", "C": "1"}
    TABLE = SMC_TABLE
    DIALECT = SMC_DIALECT
    UPDATE_TYPE = "#UpdateService.v1_11_0.UpdateService"
    INVENTORY_TYPE = "#SoftwareInventory.v1_4_0.SoftwareInventory"
    OEM_CSDL = {"SmcOem_v1.xml": ["SmcUpdateService", "SmcUpdateService.v1_0_0"]}

    def setup(self) -> None:
        super().setup()
        self.staged: dict[str, Any] | None = None
        self.golden = {c.key: c.factory for c in self.machine.components.values()}

    def extra_state(self) -> dict[str, Any]:
        return {"staged": self.staged, "golden": self.golden}

    def restore_extra(self, d: Mapping[str, Any]) -> None:
        self.staged = d.get("staged")
        self.golden = dict(d.get("golden", self.golden))

    def pending_summary(self) -> list[dict[str, Any]]:
        out = super().pending_summary()
        if self.staged:
            out.append({"staged": self.staged["component"], "version": self.staged["version"],
                        "waiting": "start-update"})
        return out

    # ------------------------------------------------------------ answer shapes
    def action_ok(self) -> Response:
        return self.ok({"Success": {"code": "Base.v1_10_3.Success", "message": "Successfully Completed Request",
                                    "@Message.ExtendedInfo": [self.msg("Base", "Success")]}})

    def accepted(self, task: Task, related: str) -> Response:
        uri = f"{R}/TaskService/Tasks/{task.id}"
        info = message("SMC", "OemSimpleupdateAcceptedMessage", (uri,), self.dialect, related=[related])
        body = {"Accepted": {"code": "Base.v1_4_0.Accepted",
                             "message": "Successfully Accepted Request. Please see the location header and "
                                        "ExtendedInfo for more information.", "@Message.ExtendedInfo": [info]}}
        return self.ok(body, 202, headers=[("location", uri)])

    def licensed(self) -> bool:
        return bool(self.spec.licenses.get("dcms", True))

    def licence_error(self) -> Response:
        return self.error(405, "SMC", "OemLicenseNotPassed", ("SFT-DCMS-SINGLE",))

    def system_reset(self, reset_type: str) -> None:
        if reset_type == "PowerCycle":
            self.after_answer(lambda: self.machine.ac_cycle("redfish"))  # [hedge] a full cycle: CPLD activates
        else:
            self.machine.reset_host(reset_type)

    # ------------------------------------------------------------ BIOS (settings object Bios/SD)
    def bios_patched(self) -> Response:
        return self.action_ok()

    def registry_member_id(self, registry: Any) -> str:
        return "BiosAttributeRegistry"

    def registry_location(self, registry: Any) -> str:
        return "/registries/BiosAttributeRegistry.1.0.0.json"

    @route("GET", "/registries/BiosAttributeRegistry.1.0.0.json")
    async def get_registry_json(self, req: Request) -> dict[str, Any] | Response:
        return self.registry_document(req, "/registries/BiosAttributeRegistry.1.0.0.json")

    # ------------------------------------------------------------ inventory
    def _inventory(self) -> dict[str, tuple[Any, str]]:
        out: dict[str, tuple[Any, str]] = {}
        for comp in self.machine.components.values():
            base = {"bmc": "BMC", "bios": "BIOS", "cpld": "CPLD_Motherboard"}.get(comp.kind)
            if base is None:
                # The guide's names: BIOS_ME, PowerSupply<n>, CPLD_Backplane_<n>, NVMeController<n>...
                prefix = ID_PREFIX.get(comp.kind, comp.kind.upper())
                base = "BIOS_ME" if comp.kind == "me" else f"{prefix}{sum(1 for k in out if k.startswith(prefix)) + 1}"
                out[base] = (comp, "active")
                continue
            out[base] = (comp, "active")
            if comp.kind != "cpld":
                out[f"Backup_{base}"] = (comp, "backup")
            out[f"Golden_{base}"] = (comp, "golden")
            if self.staged and self.staged["component"] == comp.kind:
                out[f"Staging_{base}"] = (comp, "staging")
        return out

    def inventory_ids(self) -> list[str]:
        return list(self._inventory())

    def inventory_item(self, fid: str) -> dict[str, Any] | None:
        hit = self._inventory().get(fid)
        if hit is None:
            return None
        comp, role = hit
        version = {"active": comp.active, "backup": comp.previous or comp.factory,
                   "golden": self.golden.get(comp.key, comp.factory),
                   "staging": (self.staged or {}).get("version", "")}[role]
        return self.inv_body(fid, fid.replace("_", " "), version, updateable=role == "active",
                             related=self.related_for(comp.kind) if role == "active" else None,
                             Description=f"{fid.replace('_', ' ')} Firmware")

    # ------------------------------------------------------------ UpdateService
    def update_service_extra(self, body: dict[str, Any]) -> None:
        body["MultipartHttpPushUri"] = f"{R}/UpdateService/upload"
        body["MultipartHttpPushUri@Redfish.OperationApplyTimeSupport"] = {
            "@odata.type": "#Settings.v1_3_5.OperationApplyTimeSupport",
            "SupportedValues": list(self.table["apply_times"])}
        body["MaxImageSizeBytes"] = self.max_image_size()
        actions = body["Actions"]
        actions["#UpdateService.SimpleUpdate"]["TransferProtocol@Redfish.AllowableValues"] = ["FTP", "HTTP", "HTTPS"]
        actions["#UpdateService.StartUpdate"] = {"target": f"{R}/UpdateService/Actions/UpdateService.StartUpdate"}
        actions["Oem"] = {"#SmcUpdateService.Install": {
            "target": f"{R}/UpdateService/Actions/Oem/SmcUpdateService.Install",
            "@Redfish.ActionInfo": f"{R}/UpdateService/Oem/Supermicro/InstallActionInfo"}}

    @route("GET", f"{R}/UpdateService/Oem/Supermicro/InstallActionInfo")
    async def get_install_info(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/UpdateService/Oem/Supermicro/InstallActionInfo",
                "@odata.type": "#ActionInfo.v1_3_0.ActionInfo", "Id": "InstallActionInfo",
                "Name": "Install Action Info",
                "Parameters": [{"Name": "Targets", "Required": True, "DataType": "StringArray",
                                "AllowableValues": [self.mgr_uri]},
                               {"Name": "InstallOptions", "Required": True, "DataType": "StringArray",
                                "AllowableValues": ["UpdateGolden"]}]}

    def target_map(self) -> dict[str, str | None]:
        mapping: dict[str, str | None] = {self.mgr_uri: "bmc", f"{self.sys_uri}/Bios": "bios"}
        for fid, (comp, role) in self._inventory().items():
            if role == "active":
                mapping[f"{INV}/{fid}"] = comp.kind
        return mapping

    def in_update_mode(self) -> bool:
        return self.fault_active("update_mode_stuck") or self.staged is not None or \
            any(t.kind == "update" for t in self.tasks.active()) or self.busy_uploads > 0

    @route("GET", f"{R}/UpdateService/upload")
    async def get_upload(self, req: Request) -> Response:
        """fwupd probes the push URI: unlicensed boards answer with the licence error."""
        if not self.licensed():
            return self.licence_error()
        return self.error(405, "Base", "OperationNotAllowed", headers=[("allow", "POST")])

    @route("POST", f"{R}/UpdateService/upload")
    async def post_upload(self, req: Request) -> Response:
        if self.in_update_mode():
            return self.error(405, "SMC", "OemFirmwareAlreadyInUpdateMode")
        upload = await self.receive_multipart(req, "multipart", ("UpdateFile",))
        data = upload.json_field("UpdateParameters")
        kinds = params.targets(self, data, self.target_map(), action="UpdateParameters", required=True)
        if any(k in self.table["unlicensed_kinds"] for k in kinds) and not self.licensed():
            return self.licence_error()
        when = params.apply_time(self, data, self.table["apply_times"], "Immediate", action=None)
        image = upload.image
        assert image is not None
        kind = params.check_target_fits(self, kinds, image.header.component if image.header else None)
        oem = params.json_object(params.json_object(data.get("Oem")).get("Supermicro"))
        flags = {k: v for section in oem.values() if isinstance(section, dict) for k, v in section.items()
                 if k in self.table["preserve_flags"]}
        op = self.make_op(image, kind, "multipart", when, preserve=flags)
        label = NAMES.get(op["component"], (op["component"].upper(), ""))[0]
        task = self.new_task(f"{label} Verify", op)
        self.schedule_update(task)
        return self.accepted(task, f"{label.capitalize()}VerifyAccepted")

    def new_task(self, name: str, op: dict[str, Any]) -> Task:
        tid = str(self.next_id())
        monitor = f"{R}/TaskMonitor/{self.rng.randbytes(8).hex()}"
        return self.tasks.add(Task(id=tid, name=name, created=self.now(), data=op, monitor=monitor,
                                   messages=[dict(PLACEHOLDER)]))

    def task_extra(self, task: Task, body: dict[str, Any]) -> None:
        body["HidePayload"] = True
        body["Oem"] = {}

    # ------------------------------------------------------------ plans
    def plan_update(self, task: Task) -> list[dict[str, Any]]:
        op = task.data
        now = self.now()
        verify_end = now + float(self.table["verify"])
        steps: list[dict[str, Any]] = [{"at": now, "state": "Running", "percent": 0},
                                       {"at": verify_end, "percent": 100 if op["apply_time"] != "Immediate" else 30,
                                        "ramp": True}]
        bad = self.verdict(op)
        if bad is not None:
            registry, key, args = bad
            state = "Exception" if key in ("VerificationFailed", "UpdateNotApplicable", "ApplyFailed") else "Completed"
            return steps + [{"at": verify_end, "state": state, "message": self.msg(registry, key, *args)}]
        if op["apply_time"] == "OnStartUpdateRequest":
            return steps + [{"at": verify_end, "state": "Completed", "effect": "stage"}]
        label = NAMES.get(op["component"], (op["component"].upper(), ""))[0]
        return steps + self.with_fault(task, self.update_steps(verify_end, op, f"{label} Update"))

    def update_steps(self, start: float, op: dict[str, Any], name: str) -> list[dict[str, Any]]:
        f = self.flash_time(op["component"])
        return [{"at": start, "name": name, "effect": "flash_start"},
                {"at": start + f, "percent": 100, "ramp": True, "effect": "flash_done"},
                {"at": start + f, "state": "Completed"}]

    def effect_stage(self, task: Task) -> None:
        self.staged = dict(task.data)
        self.touch()

    @route("POST", f"{R}/UpdateService/Actions/UpdateService.StartUpdate")
    async def post_start_update(self, req: Request) -> Response:
        if self.staged is None:
            return self.error(400, "SMC", "OemNoStagedUpdate")
        op, self.staged = self.staged, None
        label = NAMES.get(op["component"], (op["component"].upper(), ""))[0]
        task = self.new_task(f"{label} Update", dict(op, apply_time="Immediate"))
        now = self.now()
        self.tasks.schedule(task, [{"at": now, "state": "Running", "percent": 2}] +
                            self.with_fault(task, self.update_steps(now, task.data, task.name)))
        return self.accepted(task, f"{label.capitalize()}UpdateAccepted")

    def effect_flash_done(self, task: Task, activation: str | None = None) -> None:
        super().effect_flash_done(task, activation)
        kind = task.data["component"]
        if kind == "bios" and self.table.get("bios_auto_restart"):
            self.world.scheduler.after(2.0, lambda: self.machine.reset_host("ForceRestart", cause="smc-bios-update"))
        if kind == "cpld":  # the BMC resets after a CPLD_Motherboard flash
            self.world.scheduler.after(float(self.table["bmc_reset_delay"]), lambda: self.machine.bmc_reset("smc-cpld"))

    # ------------------------------------------------------------ licensed actions
    @route("POST", f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate")
    async def post_simple_update(self, req: Request) -> Response:
        if not self.licensed():
            return self.licence_error()
        if self.in_update_mode():
            return self.error(405, "SMC", "OemFirmwareAlreadyInUpdateMode")
        data = params.json_object(await req.json())
        uri = params.image_uri(self, data)
        kinds = params.targets(self, data, {self.mgr_uri: "bmc", self.sys_uri: "bios"}, required=True)
        task = self.new_task(f"{'BMC' if kinds[0] == 'bmc' else 'BIOS'} Update",
                             self.make_op(None, kinds[0], "simple-update", "Immediate", uri=uri))
        self.tasks.schedule(task, [{"at": self.now(), "state": "Running", "percent": 1}])

        def done(info: ImageInfo | None, error: str | None, detail: str | None) -> None:
            self.world.scheduler.run_due()
            if info is None:
                failed = self.msg("Update", "TransferFailed", uri, self.target_uri(kinds[0] or "bios"))
                self.tasks.finish(task, "Exception", [failed])
                return
            task.data.update(self.make_op(info, kinds[0], "simple-update", "Immediate", uri=uri))
            self.schedule_update(task)

        self.start_pull(uri, data.get("Username"), data.get("Password"), done)
        return self.accepted(task, "SimpleUpdateAccepted")

    @route("POST", f"{R}/UpdateService/Actions/Oem/SmcUpdateService.Install")
    async def post_smc_install(self, req: Request) -> Response:
        if not self.licensed():
            return self.licence_error()
        data = params.json_object(await req.json())
        params.targets(self, data, {self.mgr_uri: "bmc"}, action="SmcUpdateService.Install", required=True)
        if data.get("InstallOptions") != ["UpdateGolden"]:
            raise self.fail(400, "Base", "ActionParameterValueNotInList",
                            (str(data.get("InstallOptions")), "InstallOptions", "SmcUpdateService.Install"))
        bmc = self.machine.components["bmc"]
        self.golden[bmc.key] = bmc.active
        self.touch()
        return self.action_ok()

    # ------------------------------------------------------------ task monitors
    @route("GET", f"{R}/TaskMonitor/{{mid}}")
    async def get_task_monitor(self, req: Request, mid: str) -> Response:
        task = self.tasks.by_monitor(f"{R}/TaskMonitor/{mid}")
        if task is None:
            return self.not_found(req)
        return self.ok(self.task_body(task), 200 if task.terminal else 202,
                       headers=[] if task.terminal else [("location", task.monitor or "")])
