"""Plain DMTF Redfish BMC (OpenBMC-like ids: Systems/system, Managers/bmc).

SimpleUpdate pull + MultipartHttpPushUri, Immediate and OnReset apply times, task
monitors as DSP0266 describes them (202 while running, the final response when done,
then 404 after a while) or, with `options: {task_monitor: bmcweb}`, as OpenBMC's bmcweb
answers (204 once, then 404). With `options: {simple_update_targets: false}` the
SimpleUpdate ActionInfo lists no `Targets` parameter and a request carrying one is
refused (400 ActionParameterNotSupported), as services that pick the target from the
image do. The "minimal" variant is in generic_minimal.py.
"""

from __future__ import annotations

from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.machine import component_key
from hwfw.sim.profiles import SimProfile
from hwfw.sim.service import params
from hwfw.sim.service.odata import ODataResources
from hwfw.sim.service.resources import R, ref
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task

# What the plain DMTF server has burnt in (no IPMI vendor): IPMI ids (IANA manufacturer, product), serial form.
PROFILE = SimProfile("generic", ipmi_ids=(0, 0), serial_prefix="CSO", serial_length=8, fallback=True,
                     variants=("minimal",))

# Defaults (virtual seconds) from docs/vendor-behaviour.md, "Timing of a plain DMTF
# service": OpenBMC reset -> Redfish ready 90-120 s; 503 right after a reboot.
GENERIC_TABLE: dict[str, Any] = {
    "vendor": "Contoso", "manufacturer": "Contoso", "product": "Contoso OpenBMC",
    "manager_name": "Contoso BMC", "manager_model": "OpenBMC",
    "session_limit": 16, "session_timeout": 1800.0,
    "session_context": "stored",   # OpenBMC bmcweb keeps a login's Context (Session v1.5) since 2022
    "system_reset_types": ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi",
                           "PowerCycle", "FullPowerCycle"],
    "manager_reset_types": ["ForceRestart", "GracefulRestart"],
    "apply_times": ["Immediate", "OnReset"],
    "verify": 10.0, "flash": {"bmc": 180.0, "bios": 240.0, "cpld": 120.0, "default": 120.0},
    "activation": {"bmc": "bmc-reset", "bios": "host-reboot", "nic": "host-reboot", "cpld": "ac-cycle"},
    "bmc_boot": 90.0, "bmc_partial": 20.0, "post": 90.0, "os_boot": 45.0, "down_mode": "503",
    "monitor_purge": 300.0, "max_tasks": 32, "max_image_size": 256 * 1024 * 1024,
    "ac_reset_type": "FullPowerCycle", "retry_after": 2,
    "options": {"task_monitor": "spec"},
    "bios_validation": "deferred", "bios_apply_times": ["OnReset", "Immediate"],
}


class GenericService(ODataResources):
    VENDOR = "generic"
    IDS = {"S": "system", "M": "bmc", "C": "chassis"}
    TABLE = GENERIC_TABLE
    UPDATE_TYPE = "#UpdateService.v1_17_0.UpdateService"
    INVENTORY_TYPE = "#SoftwareInventory.v1_10_0.SoftwareInventory"
    INVENTORY_IDS = {"bmc": "BMC", "bios": "BIOS", "cpld": "CPLD"}
    INVENTORY_NAMES = {"bmc": "BMC Firmware", "bios": "BIOS", "cpld": "CPLD", "nic": "Network Adapter"}
    MULTIPART_URI = f"{R}/UpdateService/update"

    def session_id(self, counter: int, rng: Any) -> str:
        return rng.randbytes(5).hex()

    def system_reset(self, reset_type: str) -> None:
        if reset_type == "FullPowerCycle":
            self.after_answer(lambda: self.machine.ac_cycle("redfish"))
        else:
            self.machine.reset_host(reset_type)

    # ------------------------------------------------------------ inventory
    def _inventory(self) -> dict[str, str]:
        out = {}
        for comp in self.machine.components.values():
            fid = self.INVENTORY_IDS.get(comp.kind) or f"{comp.kind.upper()}_{comp.instance.replace('.', '_')}"
            out[fid] = comp.key
        return out

    def inventory_ids(self) -> list[str]:
        return list(self._inventory())

    def inventory_item(self, fid: str) -> dict[str, Any] | None:
        key = self._inventory().get(fid)
        if key is None:
            return None
        comp = self.machine.components[key]
        return self.inv_body(fid, self.INVENTORY_NAMES.get(comp.kind, comp.kind.upper()), comp.active,
                             software_id=f"{comp.kind}-{self.spec.model}".replace(" ", "-"),
                             related=self.related_for(comp.kind), Manufacturer=self.table["manufacturer"])

    def target_map(self) -> dict[str, str | None]:
        mapping: dict[str, str | None] = {self.mgr_uri: "bmc", self.sys_uri: None, f"{self.sys_uri}/Bios": "bios"}
        for fid, key in self._inventory().items():
            mapping[f"{R}/UpdateService/FirmwareInventory/{fid}"] = self.machine.components[key].kind
        return mapping

    # ------------------------------------------------------------ UpdateService
    def update_service_extra(self, body: dict[str, Any]) -> None:
        support = {"@odata.type": "#Settings.v1_3_5.OperationApplyTimeSupport",
                   "SupportedValues": list(self.table["apply_times"])}
        body["MultipartHttpPushUri"] = self.MULTIPART_URI
        body["MultipartHttpPushUri@Redfish.OperationApplyTimeSupport"] = support
        body["MaxImageSizeBytes"] = self.max_image_size()
        action = body["Actions"]["#UpdateService.SimpleUpdate"]
        action["@Redfish.ActionInfo"] = f"{R}/UpdateService/SimpleUpdateActionInfo"
        action["@Redfish.OperationApplyTimeSupport"] = support
        action["TransferProtocol@Redfish.AllowableValues"] = ["HTTP", "HTTPS"]

    @route("GET", f"{R}/UpdateService/SimpleUpdateActionInfo")
    async def get_simple_update_info(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/UpdateService/SimpleUpdateActionInfo",
                "@odata.type": "#ActionInfo.v1_3_0.ActionInfo",
                "Id": "SimpleUpdateActionInfo", "Name": "SimpleUpdate Action Info",
                "Parameters": [
                    {"Name": "ImageURI", "Required": True, "DataType": "String"},
                    {"Name": "TransferProtocol", "Required": False, "DataType": "String",
                     "AllowableValues": ["HTTP", "HTTPS"]},
                    *([{"Name": "Targets", "Required": False, "DataType": "StringArray"}]
                      if self.accepts_targets() else []),
                    {"Name": "Username", "Required": False, "DataType": "String"},
                    {"Name": "Password", "Required": False, "DataType": "String"},
                    {"Name": "ForceUpdate", "Required": False, "DataType": "Boolean"}]}

    def accepts_targets(self) -> bool:
        return bool(self.options.get("simple_update_targets", True))

    def new_task(self, name: str, op: dict[str, Any]) -> Task:
        tid = str(self.next_id())
        task = Task(id=tid, name=name, created=self.now(), data=op,
                    monitor=f"{R}/TaskService/TaskMonitors/{tid}")
        return self.tasks.add(task)

    def accepted(self, task: Task) -> Response:
        return self.ok(self.task_body(task), 202, headers=[("location", task.monitor or ""),
                                                           ("retry-after", str(self.table["retry_after"]))])

    @route("POST", f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate")
    async def post_simple_update(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        uri = params.image_uri(self, data)
        if "Targets" in data and not self.accepts_targets():
            raise self.fail(400, "Base", "ActionParameterNotSupported", ("Targets", "UpdateService.SimpleUpdate"))
        kinds = params.targets(self, data, self.target_map())
        when = params.apply_time(self, data, self.table["apply_times"], "Immediate")
        force = bool(data.get("ForceUpdate", False))
        op = self.make_op(None, None, "simple-update", when, force, uri=uri)
        task = self.new_task("Firmware Update (SimpleUpdate)", op)
        self.tasks.schedule(task, [{"at": self.now(), "state": "Running", "percent": 1,
                                    "message": self.msg("Update", "TransferringToComponent", uri, self.sys_uri)}])

        def done(info: Any, error: str | None, detail: str | None) -> None:
            self.world.scheduler.run_due()
            if task.terminal:
                return
            if error is not None:
                registry = "Update" if error == "TransferFailed" else "Base"
                args = (uri, self.sys_uri) if registry == "Update" else (uri, detail or "")
                self.tasks.finish(task, "Exception", [self.msg(registry, error, *args)])
                return
            kind = params.check_target_fits_soft(kinds, info.header.component if info.header else None)
            task.data.update(self.make_op(info, kind, "simple-update", when, force, uri=uri))
            self.schedule_update(task)

        self.start_pull(uri, data.get("Username"), data.get("Password"), done)
        return self.accepted(task)

    @route("POST", MULTIPART_URI)
    async def post_multipart(self, req: Request) -> Response:
        if self.busy():
            return self.error(503, "Base", "ServiceTemporarilyUnavailable", ("30",), headers=[("retry-after", "30")])
        upload = await self.receive_multipart(req, "multipart", ("UpdateFile",))
        data = upload.json_field("UpdateParameters")
        kinds = params.targets(self, data, self.target_map(), action="UpdateParameters")
        when = params.apply_time(self, data, self.table["apply_times"], "Immediate", action=None)
        image = upload.image
        assert image is not None
        kind = params.check_target_fits(self, kinds, image.header.component if image.header else None)
        op = self.make_op(image, kind, "multipart", when, bool(data.get("ForceUpdate", False)))
        task = self.new_task("Firmware Update (multipart push)", op)
        self.schedule_update(task)
        return self.accepted(task)

    def busy(self) -> bool:
        """Another push is arriving or a flash is writing: a new push gets 503."""
        return self.busy_uploads > 0 or any(t.data.get("flashing") for t in self.tasks.active())

    # ------------------------------------------------------------ task monitors
    @route("GET", f"{R}/TaskService/TaskMonitors/{{mid}}")
    async def get_task_monitor(self, req: Request, mid: str) -> Response:
        task = self.tasks.by_monitor(f"{R}/TaskService/TaskMonitors/{mid}")
        now = self.now()
        if task is None or (task.monitor_purge_at is not None and now >= task.monitor_purge_at):
            return self.not_found(req)
        if not task.terminal:
            return self.ok(self.task_body(task), 202, headers=[
                ("location", task.monitor or ""), ("retry-after", str(self.table["retry_after"])),
                ("allow", "GET, DELETE")])
        if self.options.get("task_monitor") == "bmcweb":
            if task.monitor_204_served:
                return self.not_found(req)
            task.monitor_204_served = True
            return Response.empty(204)
        return self.ok(self.task_body(task), 200)

    @route("DELETE", f"{R}/TaskService/TaskMonitors/{{mid}}")
    async def delete_task_monitor(self, req: Request, mid: str) -> Response:
        task = self.tasks.by_monitor(f"{R}/TaskService/TaskMonitors/{mid}")
        if task is None:
            return self.not_found(req)
        return self.cancel_task(task)

    def component_key(self, kind: str, instance: str = "") -> str:
        return component_key(kind, instance)

    def chassis_extra(self, body: dict[str, Any]) -> None:
        body["Links"]["ManagersInChassis"] = [ref(self.mgr_uri)]
