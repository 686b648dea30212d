"""Dell iDRAC9 (PowerEdge 14G-16G): ids System.Embedded.1 / iDRAC.Embedded.1.

Update paths: multipart (MultipartUpload, 202 + JID_ Task), SimpleUpdate pull or
rollback (ImageURI = a Previous-/Available- inventory URI), legacy HttpPushUri push
(If-Match required, 201 Available-) + DellUpdateService.Install. Inventory ids embed
the version, so a component's URI changes after every update. What a real iDRAC does:
docs/vendor-behaviour.md, "Dell iDRAC9".
"""

from __future__ import annotations

from typing import Any, Mapping

from hwfw.sim.firmware import ImageInfo, not_applicable_reason
from hwfw.sim.http import Request, Response
from hwfw.sim.machine import Component
from hwfw.sim.messages import Dialect
from hwfw.sim.profiles import SimProfile
from hwfw.sim.profiles.dell_bios import DellBios
from hwfw.sim.profiles.dell_jobs import MGR
from hwfw.sim.service import params
from hwfw.sim.service.base import etag_of
from hwfw.sim.service.resources import R, ref
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task
from hwfw.sim.service.updateflow import FAILURES

# What a real Dell iDRAC9 server has burnt in: IPMI ids (IANA manufacturer, product), serial form.
PROFILE = SimProfile("dell", ipmi_ids=(674, 256), serial_prefix="", serial_length=7)  # 7-character service tag

# Defaults from docs/vendor-behaviour.md, "Dell iDRAC9": a job appears 1-10 s after the
# POST, the iDRAC is back "within a few minutes" and its Lifecycle Controller ready ~60 s
# later, a Task is purged ~60 s after completion (before 5.00), ~8 sessions then RAC0218.
DELL_TABLE: dict[str, Any] = {
    "vendor": "Dell", "manufacturer": "Dell Inc.", "product": "Integrated Dell Remote Access Controller",
    "manager_name": "Manager", "manager_model": "14G Monolithic", "redfish_version": "1.17.0",
    "session_limit": 8, "session_timeout": 1800.0,
    "session_context": "refused",   # a Session POST with an unknown property: 400 PropertyUnknown
    "system_reset_types": ["On", "ForceOff", "ForceRestart", "GracefulRestart", "GracefulShutdown",
                           "PushPowerButton", "Nmi", "PowerCycle"],
    "manager_reset_types": ["GracefulRestart"],
    "apply_times": ["Immediate", "OnReset", "OnStartUpdateRequest"],
    "multipart_apply_times": ["Immediate", "OnReset"],
    "download": 10.0, "verify": 10.0,
    "flash": {"bmc": 240.0, "bios": 300.0, "nic": 120.0, "cpld": 180.0, "raid": 180.0, "default": 120.0},
    "activation": {"bmc": "bmc-reset", "bios": "host-reboot", "nic": "host-reboot", "raid": "host-reboot",
                   "cpld": "ac-cycle"},
    "bmc_boot": 120.0, "bmc_partial": 60.0, "post": 180.0, "os_boot": 60.0, "ac_off": 20.0, "down_mode": "refused",
    "job_404": 3.0, "task_purge": 60.0, "max_image_size": None, "bmc_reset_delay": 5.0,
    "etag_policy": "ignore", "bios_settings": "Settings", "bios_validation": "early",
    "bios_apply_times": ["Immediate", "OnReset", "AtMaintenanceWindowStart", "InMaintenanceWindowOnReset"],
    "component_ids": {"bmc": "25227", "bios": "159", "nic": "102573", "cpld": "27763", "raid": "101994"},
    "fqdd": {"bmc": "iDRAC.Embedded.1-1", "bios": "BIOS.Setup.1-1", "cpld": "CPLD.Embedded.1"},
    "names": {"bmc": "Integrated Dell Remote Access Controller", "bios": "BIOS", "cpld": "System CPLD",
              "nic": "Broadcom Adv. Dual 25Gb Ethernet", "raid": "PERC H755 Front"},
    "job_names": {"bmc": "Firmware Update: iDRAC with Lifecycle Controller", "bios": "Firmware Update: BIOS",
                  "nic": "Firmware Update: Network", "raid": "Firmware Update: SAS RAID",
                  "cpld": "Firmware Update: CPLD"},
}
DELL_DIALECT = Dialect(versions={"Base": "1.12", "Update": "1.0", "TaskEvent": "1.0", "IDRAC": "2.8"},
                       severity="both", odata_type=True)
INV = f"{R}/UpdateService/FirmwareInventory"


class DellService(DellBios):
    VENDOR = "dell"
    IDS = {"S": "System.Embedded.1", "M": "iDRAC.Embedded.1", "C": "System.Embedded.1"}
    TABLE = DELL_TABLE
    DIALECT = DELL_DIALECT
    UPDATE_TYPE = "#UpdateService.v1_11_0.UpdateService"
    INVENTORY_TYPE = "#SoftwareInventory.v1_10_0.SoftwareInventory"
    OEM_CSDL = {"DellOem_v1.xml": ["DellOem", "DellOem.v1_3_0", "DellSoftwareInventory", "DellSoftwareInventory.v1_1_0",
                                   "DellJob", "DellJob.v1_5_0", "DellJobCollection", "DellJobService",
                                   "DellJobService.v1_1_0", "DellLCService", "DellLCService.v1_1_0",
                                   "DellUpdateService", "DellUpdateService.v1_1_0",
                                   "DellOemChassis", "DellOemChassis.v1_0_0",
                                   "DellManager", "DellManager.v1_0_0"]}
    EXTRA_NAMESPACES = {"JobService": ["JobService", "JobService.v1_0_6"], "JobCollection": ["JobCollection"]}

    def setup(self) -> None:
        super().setup()
        self.available: dict[str, dict[str, Any]] = {}

    def extra_state(self) -> dict[str, Any]:
        return {"available": self.available}

    def restore_extra(self, d: Mapping[str, Any]) -> None:
        self.available = dict(d.get("available", {}))

    def session_limit_response(self) -> Response:
        return self.error(503, "IDRAC", "RAC0218")

    def root_extra(self) -> dict[str, Any]:
        return {"JobService": ref(f"{R}/JobService")}

    # ------------------------------------------------------------ inventory (ids embed versions)
    def _cid(self, kind: str) -> str:
        return str(self.table["component_ids"].get(kind, "0"))

    def _fqdd(self, comp: Component) -> str:
        return comp.instance or str(self.table["fqdd"].get(comp.kind, ""))

    def _inventory(self) -> dict[str, tuple[str, Component | None, str]]:
        """id -> (Installed|Current|Previous|Available, component, version)."""
        out: dict[str, tuple[str, Component | None, str]] = {}
        for comp in self.machine.components.values():
            tail = f"{self._cid(comp.kind)}-{comp.active}__{self._fqdd(comp)}"
            out[f"Installed-{tail}"] = ("Installed", comp, comp.active)
            if comp.kind == "bios":  # a real R650 lists Current- for the BIOS only
                out[f"Current-{tail}"] = ("Current", comp, comp.active)
            if comp.previous and comp.kind != "cpld":
                aid = f"Previous-{self._cid(comp.kind)}-{comp.previous}__{self._fqdd(comp)}"
                out[aid] = ("Previous", comp, comp.previous)
        for aid, item in self.available.items():
            out[aid] = ("Available", None, item["version"])
        return out

    def inventory_ids(self) -> list[str]:
        return list(self._inventory())

    def inventory_item(self, fid: str) -> dict[str, Any] | None:
        entry = self._inventory().get(fid)
        if entry is None:
            return None
        kind_state, comp, version = entry
        kind = comp.kind if comp else self.available[fid]["component"]
        installed = kind_state in ("Installed", "Current")
        dcim = {"Installed": "DCIM:INSTALLED", "Current": "DCIM:CURRENT", "Previous": "DCIM:PREVIOUS",
                "Available": "DCIM:AVAILABLE"}[kind_state]
        soft = {"@odata.type": "#DellSoftwareInventory.v1_1_0.DellSoftwareInventory",
                "ComponentID": self._cid(kind), "ComponentType": "BIOS" if kind == "bios" else "FRMW",
                "Id": f"{dcim}#{fid.split('-', 1)[1]}", "FQDD": self._fqdd(comp) if comp else "",
                "Status": "Installed" if installed else "AvailableForInstallation"}
        return self.inv_body(fid, str(self.table["names"].get(kind, kind)), version, updateable=installed,
                             software_id=self._cid(kind), related=self.related_for(kind) if comp else None,
                             Description="Represents Firmware Inventory", Manufacturer="Dell Inc.",
                             Oem={"Dell": {"@odata.type": "#DellOem.v1_3_0.DellOemResources",
                                           "DellSoftwareInventory": soft}})

    # ------------------------------------------------------------ UpdateService
    def update_service_extra(self, body: dict[str, Any]) -> None:
        body["HttpPushUri"] = INV
        body["MultipartHttpPushUri"] = f"{R}/UpdateService/MultipartUpload"
        body["MaxImageSizeBytes"] = None
        actions = body["Actions"]
        simple = actions["#UpdateService.SimpleUpdate"]
        simple["TransferProtocol@Redfish.AllowableValues"] = ["HTTP", "NFS", "CIFS", "TFTP", "HTTPS"]
        simple["@Redfish.OperationApplyTimeSupport"] = {"@odata.type": "#Settings.v1_3_5.OperationApplyTimeSupport",
                                                        "SupportedValues": list(self.table["apply_times"])}
        actions["#UpdateService.StartUpdate"] = {"target": f"{R}/UpdateService/Actions/UpdateService.StartUpdate"}
        actions["Oem"] = {"#DellUpdateService.Install": {
            "target": f"{R}/UpdateService/Actions/Oem/DellUpdateService.Install",
            "InstallUpon@Redfish.AllowableValues": ["Now", "NowAndReboot", "NextReboot"]}}

    def chassis_extra(self, body: dict[str, Any]) -> None:
        body["Actions"] = {"Oem": {"#DellOemChassis.ExtendedReset": {
            "target": f"{self.chassis_uri}/Actions/Oem/DellOemChassis.ExtendedReset",
            "ResetType@Redfish.AllowableValues": ["PowerCycle"],
            "FinalPowerState@Redfish.AllowableValues": ["On", "Off"]}}}

    def manager_extra(self, body: dict[str, Any]) -> None:
        body["Links"]["Oem"] = {"Dell": {"@odata.type": "#DellOem.v1_3_0.DellOemLinks",
                                         "Jobs": ref(f"{MGR}/Oem/Dell/Jobs"),
                                         "DellJobService": ref(f"{MGR}/Oem/Dell/DellJobService"),
                                         "DellLCService": ref(f"{R}/Dell/Managers/iDRAC.Embedded.1/DellLCService")}}

    def system_reset(self, reset_type: str) -> None:
        if reset_type == "PowerCycle":
            self.after_answer(lambda: self.machine.ac_cycle("redfish"))  # a virtual AC cycle
        else:
            self.machine.reset_host(reset_type)

    @route("POST", f"{R}/Chassis/{{C}}/Actions/Oem/DellOemChassis.ExtendedReset")
    async def post_extended_reset(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        if data.get("ResetType") != "PowerCycle":
            raise self.fail(400, "Base", "ActionParameterValueNotInList",
                            (data.get("ResetType"), "ResetType", "ExtendedReset"))
        final = str(data.get("FinalPowerState", "On"))
        self.reset_requested("DellOemChassis.ExtendedReset", "PowerCycle")
        self.after_answer(lambda: self.machine.ac_cycle("dell-extended-reset", final_power=final))
        return Response.empty(204)

    @route("GET", f"{R}/Dell/Managers/iDRAC.Embedded.1/DellLCService")
    async def get_lc_service(self, req: Request) -> dict[str, Any]:
        base = f"{R}/Dell/Managers/iDRAC.Embedded.1/DellLCService"
        return {"@odata.id": base, "@odata.type": "#DellLCService.v1_1_0.DellLCService", "Id": "DellLCService",
                "Name": "DellLCService", "Description": "Lifecycle Controller service",
                "Actions": {"#DellLCService.GetRemoteServicesAPIStatus": {
                    "target": f"{base}/Actions/DellLCService.GetRemoteServicesAPIStatus"}}}

    # ------------------------------------------------------------ update requests
    def accepted_job(self, task: Task) -> Response:
        return Response.empty(202, headers=[("location", f"{R}/TaskService/Tasks/{task.id}")])

    def create_update_job(self, op: dict[str, Any], name: str | None = None) -> Task:
        busy = self.same_component_job(op["component"])
        if busy is not None:
            raise self.fail(400, "IDRAC", "RED014")
        task = self.new_job(name or str(self.table["job_names"].get(op["component"], "Firmware Update")), op)
        task.messages.append(self.msg("Update", "OperationTransitionedToJob", f"{R}/JobService/Jobs/{task.id}"))
        self.schedule_update(task)
        return task

    @route("POST", f"{R}/UpdateService/MultipartUpload")
    async def post_multipart(self, req: Request) -> Response:
        upload = await self.receive_multipart(req, "multipart", ("UpdateFile",))
        data = upload.json_field("UpdateParameters")
        when = params.apply_time(self, data, self.table["multipart_apply_times"], "Immediate", action=None)
        image = upload.image
        assert image is not None
        op = self.make_op(image, None, "multipart", when)
        return self.accepted_job(self.create_update_job(op))

    @route("POST", INV)
    async def post_legacy_push(self, req: Request) -> Response:
        """Deprecated HttpPushUri: If-Match with the collection's ETag, 201 Available-."""
        current = etag_of(await self.get_firmware_inventory(req))
        given = req.headers.get("if-match")
        if given is None:
            raise self.fail(428, "Base", "PreconditionRequired")
        if given.removeprefix("W/").strip() != current:
            raise self.fail(412, "Base", "PreconditionFailed")
        upload = await self.receive_multipart(req, "http-push", ("file",))
        image = upload.image
        assert image is not None
        reason = not_applicable_reason(image, self.VENDOR, self.spec.model, None)
        if reason is not None:
            raise self.fail(400, "IDRAC", "RED106" if image.header is None else "SUP029")
        assert image.header is not None
        aid = f"Available-{self._cid(image.header.component)}-{image.header.version}"
        self.available[aid] = self.make_op(image, None, "http-push", "Immediate")
        self.touch()
        body = self.inventory_item(aid)
        assert body is not None
        return self.ok(body, 201, headers=[("location", f"{INV}/{aid}")])

    def op_from_inventory_uri(self, uri: str, when: str) -> tuple[dict[str, Any], str]:
        """Rollback (Previous-) or install of a pushed image (Available-); 400 SUP024 otherwise."""
        fid = uri.rstrip("/").rsplit("/", 1)[-1]
        entry = self._inventory().get(fid)
        if entry is None or entry[0] not in ("Previous", "Available"):
            raise self.fail(400, "IDRAC", "SUP024")
        if entry[0] == "Available":
            op = dict(self.available[fid], apply_time=when, available_id=fid)
            return op, str(self.table["job_names"].get(op["component"], "Firmware Update"))
        comp = entry[1]
        assert comp is not None
        op = {"component": comp.kind, "instances": [comp.instance], "from": comp.active, "version": entry[2],
              "image": fid, "sha256": None, "error": None, "image_component": comp.kind,
              "image_model": self.spec.model, "image_vendor": self.VENDOR, "method": "rollback",
              "apply_time": when, "force": True}
        return op, f"Firmware Rollback: {self.table['names'].get(comp.kind, comp.kind)}"

    @route("POST", f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate")
    async def post_simple_update(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        uri = params.image_uri(self, data)
        when = params.apply_time(self, data, self.table["apply_times"], "Immediate")
        if uri.startswith("/redfish/"):
            op, name = self.op_from_inventory_uri(uri, when)
            return self.accepted_job(self.create_update_job(op, name))
        task = self.new_job("Firmware Update: pending download",
                            self.make_op(None, None, "simple-update", when, uri=uri))
        self.tasks.schedule(task, [self.job_step(self.now(), "Downloading", percent=0)])

        def done(info: ImageInfo | None, error: str | None, detail: str | None) -> None:
            self.world.scheduler.run_due()
            if task.terminal:
                return
            if info is None:
                args = (uri, self.sys_uri) if error == "TransferFailed" else (uri, detail or "")
                msg = self.msg("Update" if error == "TransferFailed" else "Base", error or "TransferFailed", *args)
                self.tasks.schedule(task, [self.job_step(self.now(), "Failed", add_messages=[msg])])
                return
            op = self.make_op(info, None, "simple-update", when, uri=uri)
            task.name = str(self.table["job_names"].get(op["component"], "Firmware Update"))
            task.data.update(op)
            if self.same_component_job_other(task):
                self.tasks.schedule(task, [self.job_step(self.now(), "Failed", "RED014")])
                return
            self.schedule_update(task)

        self.start_pull(uri, data.get("Username"), data.get("Password"), done)
        return self.accepted_job(task)

    def same_component_job_other(self, task: Task) -> bool:
        return any(t is not task and t.data.get("component") == task.data.get("component") and t.kind == "update"
                   for t in self.tasks.active())

    @route("POST", f"{R}/UpdateService/Actions/Oem/DellUpdateService.Install")
    async def post_dell_install(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        uris = data.get("SoftwareIdentityURIs")
        upon = data.get("InstallUpon", "Now")
        if not isinstance(uris, list) or not uris:
            raise self.fail(400, "Base", "ActionParameterMissing",
                            ("DellUpdateService.Install", "SoftwareIdentityURIs"))
        if upon not in ("Now", "NowAndReboot", "NextReboot"):
            raise self.fail(400, "Base", "ActionParameterValueNotInList",
                            (upon, "InstallUpon", "DellUpdateService.Install"))
        when = {"Now": "Now", "NowAndReboot": "Immediate", "NextReboot": "OnReset"}[upon]
        jobs = [self.create_update_job(*self.op_from_inventory_uri(str(u), when)) for u in uris]
        return self.accepted_job(jobs[0])

    @route("POST", f"{R}/UpdateService/Actions/UpdateService.StartUpdate")
    async def post_start_update(self, req: Request) -> Response:
        waiting = self.tasks.waiting_for("start-update")
        if not waiting:
            raise self.fail(400, "Base", "ActionNotSupported", ("#UpdateService.StartUpdate",))
        for task in waiting:
            task.data["apply_time"] = "Immediate"
            self.tasks.schedule(task, self.after_download(task, self.now()))
        return Response.empty(204)

    # ------------------------------------------------------------ job plans
    def plan_update(self, task: Task) -> list[dict[str, Any]]:
        now = self.now()
        end = now + float(self.table["download"])
        head = [self.job_step(now + 0.5, "Downloading", percent=0),
                self.job_step(end, "Downloaded", "RED002", percent=0)]
        return head + self.after_download(task, end)

    def after_download(self, task: Task, end: float) -> list[dict[str, Any]]:
        op = task.data
        image, target = op.get("image") or "image", self.target_uri(op["component"])
        bad = self.verdict(op)
        if bad is not None:
            registry, key, args = bad
            msg = self.msg(registry, key, *args)
            if key in FAILURES:
                code = "RED106" if key == "VerificationFailed" else "SUP029"
                return [self.job_step(end, "Failed", code, add_messages=[msg])]
            if key == "UpdateSkippedSameVersion":  # iDRAC's own words for "already installed"
                return [self.job_step(end, "Completed", "RED052", percent=100, add_messages=[msg])]
            return [self.job_step(end, "Completed", percent=100, add_messages=[msg])]
        kind, when = op["component"], op["apply_time"]
        if self.activation(kind) == "bmc-reset" and when != "OnStartUpdateRequest":
            f = self.flash_time(kind)
            steps = [self.job_step(end, "Running", percent=0, effect="flash_start",
                                   message=self.msg("Update", "InstallingOnComponent", image, target)),
                     {"at": end + f, "percent": 100, "ramp": True, "effect": "flash_done"},
                     self.job_step(end + f, "Completed", "PR19", percent=100)]
            if self.fault_active("stuck_jobs"):
                return steps[:1]
            return self.with_fault(task, steps)
        waiting = "start-update" if when == "OnStartUpdateRequest" else "reset"
        step = self.job_step(end, "Scheduled", "JCP001", percent=0, waiting=waiting)
        if when == "Immediate":
            step["effect"] = "dell_auto_reboot"
        return [step]

    def effect_flash_done(self, task: Task, activation: str | None = None) -> None:
        super().effect_flash_done(task, activation)
        aid = task.data.get("available_id")
        if aid:
            self.available.pop(aid, None)
