"""Resources every simulated BMC has: service root, systems, managers, chassis and NICs;
BIOS configuration is in bios.py, sessions, accounts and tasks in accounts.py.

Vendor profiles override the small `*_extra` hooks and the reset behaviour instead of
re-writing whole resources.
"""

from __future__ import annotations

from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.service.base import BmcService
from hwfw.sim.service.router import route

R = "/redfish/v1"


def ref(uri: str) -> dict[str, str]:
    return {"@odata.id": uri}


def collection(uri: str, odata_type: str, name: str, members: list[str]) -> dict[str, Any]:
    return {"@odata.id": uri, "@odata.type": f"#{odata_type}.{odata_type}", "Name": name,
            "Members": [ref(m) for m in members], "Members@odata.count": len(members)}


class CommonResources(BmcService):
    """Routes and bodies shared by all profiles."""

    TYPES = {"ServiceRoot": "v1_15_0", "ComputerSystem": "v1_20_0", "Manager": "v1_19_0", "Chassis": "v1_23_0",
             "Task": "v1_7_4", "TaskService": "v1_2_0", "SessionService": "v1_1_8", "Session": "v1_7_0",
             "AccountService": "v1_12_0", "ManagerAccount": "v1_10_0", "Bios": "v1_2_0",
             "NetworkAdapter": "v1_9_0"}

    def t(self, ns: str) -> str:
        return f"#{ns}.{self.TYPES[ns]}.{ns}"

    @property
    def sys_uri(self) -> str:
        return f"{R}/Systems/{self.ids['S']}"

    @property
    def mgr_uri(self) -> str:
        return f"{R}/Managers/{self.ids['M']}"

    @property
    def chassis_uri(self) -> str:
        return f"{R}/Chassis/{self.ids['C']}"

    # ------------------------------------------------------------ service root
    @route("GET", "/redfish", public=True)
    async def get_redfish(self, req: Request) -> dict[str, Any]:
        return {"v1": "/redfish/v1/"}

    @route("GET", R, public=True)
    async def get_root(self, req: Request) -> dict[str, Any]:
        body = {"@odata.id": f"{R}/", "@odata.type": self.t("ServiceRoot"), "Id": "RootService",
                "Name": "Root Service", "RedfishVersion": self.table.get("redfish_version", "1.15.0"),
                "UUID": self.spec.uuid, "Vendor": self.table["vendor"], "Product": self.product(),
                "ProtocolFeaturesSupported": {
                    "ExpandQuery": {"ExpandAll": True, "Levels": True, "Links": True, "NoLinks": True, "MaxLevels": 1},
                    "FilterQuery": False, "SelectQuery": False, "OnlyMemberQuery": False, "ExcerptQuery": False},
                "Systems": ref(f"{R}/Systems"), "Managers": ref(f"{R}/Managers"), "Chassis": ref(f"{R}/Chassis"),
                "SessionService": ref(f"{R}/SessionService"), "AccountService": ref(f"{R}/AccountService"),
                "UpdateService": ref(f"{R}/UpdateService"), "Tasks": ref(f"{R}/TaskService"),
                "Registries": ref(f"{R}/Registries"),
                "Links": {"Sessions": ref(f"{R}/SessionService/Sessions")}}
        body.update(self.root_extra())
        return body

    def product(self) -> str:
        return str(self.table["product"])

    def root_extra(self) -> dict[str, Any]:
        return {}

    # ------------------------------------------------------------ systems
    @route("GET", f"{R}/Systems")
    async def get_systems(self, req: Request) -> dict[str, Any]:
        return collection(f"{R}/Systems", "ComputerSystemCollection", "Computer System Collection", [self.sys_uri])

    @route("GET", f"{R}/Systems/{{S}}")
    async def get_system(self, req: Request) -> dict[str, Any]:
        m = self.machine
        boot: dict[str, Any] = {"LastState": m.boot_progress}
        if m.boot_progress == "OEM":
            boot["OemLastState"] = m.oem_boot_state or "Firmware update"
        body: dict[str, Any] = {
            "@odata.id": self.sys_uri, "@odata.type": self.t("ComputerSystem"), "Id": self.ids["S"],
            "Name": "System", "SystemType": "Physical", "Manufacturer": self.table["manufacturer"],
            "Model": self.spec.model, "SerialNumber": self.spec.serial, "UUID": self.spec.uuid,
            "PowerState": m.redfish_power_state, "BiosVersion": m.version("bios"), "BootProgress": boot,
            "Status": {"State": "Enabled", "Health": "OK"}, "Bios": ref(f"{self.sys_uri}/Bios"),
            "Links": {"Chassis": [ref(self.chassis_uri)], "ManagedBy": [ref(self.mgr_uri)]},
            "Actions": {"#ComputerSystem.Reset": {
                "target": f"{self.sys_uri}/Actions/ComputerSystem.Reset",
                "ResetType@Redfish.AllowableValues": list(self.table["system_reset_types"])}}}
        self.system_extra(body)
        return body

    def system_extra(self, body: dict[str, Any]) -> None:
        pass

    @route("POST", f"{R}/Systems/{{S}}/Actions/ComputerSystem.Reset")
    async def post_system_reset(self, req: Request) -> Response:
        reset_type = await self.reset_type_param(req, "#ComputerSystem.Reset", self.table["system_reset_types"])
        self.reset_requested("ComputerSystem.Reset", reset_type)
        self.system_reset(reset_type)
        return self.action_ok()

    async def reset_type_param(self, req: Request, action: str, allowed: Any) -> str:
        data = await req.json()
        value = data.get("ResetType") if isinstance(data, dict) else None
        if value is None:
            raise self.fail(400, "Base", "ActionParameterMissing", (action, "ResetType"))
        if value not in allowed:
            raise self.fail(400, "Base", "ActionParameterValueNotInList", (value, "ResetType", action))
        return str(value)

    def system_reset(self, reset_type: str) -> None:
        self.machine.reset_host(reset_type)

    def reset_requested(self, action: str, reset_type: str) -> None:
        """Log an accepted reset request, as a client sent it (the resets it causes follow)."""
        self.world.events.emit(self.name, "reset-requested", action=action, reset_type=reset_type, via="redfish")

    def check_if_match(self, req: Request, current: str) -> None:
        """ETag policy: ignore, require (428), strong-only (412 on W/), as real BMCs differ
        (docs/vendor-behaviour.md, "ETags")."""
        policy = self.options.get("etag_policy", self.table.get("etag_policy", "ignore"))
        given = req.headers.get("if-match")
        if given is None:
            if policy == "require":
                raise self.fail(428, "Base", "PreconditionRequired")
            return
        if given.startswith("W/") and policy == "strong-only":
            raise self.fail(412, "Base", "PreconditionFailed")
        if given.strip() != "*" and given.removeprefix("W/").strip() != current:
            raise self.fail(412, "Base", "PreconditionFailed")

    # ------------------------------------------------------------ managers and chassis
    @route("GET", f"{R}/Managers")
    async def get_managers(self, req: Request) -> dict[str, Any]:
        return collection(f"{R}/Managers", "ManagerCollection", "Manager Collection", [self.mgr_uri])

    @route("GET", f"{R}/Managers/{{M}}")
    async def get_manager(self, req: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@odata.id": self.mgr_uri, "@odata.type": self.t("Manager"), "Id": self.ids["M"],
            "Name": self.table["manager_name"], "ManagerType": "BMC", "Model": self.table["manager_model"],
            "FirmwareVersion": self.machine.bmc_version, "UUID": self.spec.uuid,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ManagerForServers": [ref(self.sys_uri)], "ManagerForChassis": [ref(self.chassis_uri)]},
            "Actions": {"#Manager.Reset": {
                "target": f"{self.mgr_uri}/Actions/Manager.Reset",
                "ResetType@Redfish.AllowableValues": list(self.table["manager_reset_types"])}}}
        self.manager_extra(body)
        return body

    def manager_extra(self, body: dict[str, Any]) -> None:
        pass

    @route("POST", f"{R}/Managers/{{M}}/Actions/Manager.Reset")
    async def post_manager_reset(self, req: Request) -> Response:
        reset_type = await self.reset_type_param(req, "#Manager.Reset", self.table["manager_reset_types"])
        self.reset_requested("Manager.Reset", reset_type)
        self.after_answer(lambda: self.machine.bmc_reset("redfish"))
        return self.action_ok()

    @route("GET", f"{R}/Chassis")
    async def get_chassis_collection(self, req: Request) -> dict[str, Any]:
        return collection(f"{R}/Chassis", "ChassisCollection", "Chassis Collection", [self.chassis_uri])

    @route("GET", f"{R}/Chassis/{{C}}")
    async def get_chassis(self, req: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@odata.id": self.chassis_uri, "@odata.type": self.t("Chassis"), "Id": self.ids["C"], "Name": "Chassis",
            "ChassisType": "RackMount", "Manufacturer": self.table["manufacturer"], "Model": self.spec.model,
            "SerialNumber": self.spec.serial, "PowerState": self.machine.power_state,
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ComputerSystems": [ref(self.sys_uri)], "ManagedBy": [ref(self.mgr_uri)]}}
        if self.machine.of_kind("nic"):
            body["NetworkAdapters"] = ref(f"{self.chassis_uri}/NetworkAdapters")
        self.chassis_extra(body)
        return body

    def chassis_extra(self, body: dict[str, Any]) -> None:
        pass

    @route("GET", f"{R}/Chassis/{{C}}/NetworkAdapters")
    async def get_network_adapters(self, req: Request) -> dict[str, Any]:
        nics = self.machine.of_kind("nic")
        if self.machine.in_post or self.machine.power_state == "Off":
            if self.table.get("nic_when_host_down") == "400":
                raise self.fail(400, "iLO", "InvalidOperationForSystemState")
            nics = []  # adapters vanish while the host is off or in POST
        return collection(f"{self.chassis_uri}/NetworkAdapters", "NetworkAdapterCollection",
                          "Network Adapter Collection",
                          [f"{self.chassis_uri}/NetworkAdapters/{self.nic_adapter_id(c.instance)}" for c in nics])

    def nic_adapter_id(self, instance: str) -> str:
        return instance.split("-")[0]

    @route("GET", f"{R}/Chassis/{{C}}/NetworkAdapters/{{nic}}")
    async def get_network_adapter(self, req: Request, nic: str) -> dict[str, Any] | Response:
        comp = next((c for c in self.machine.of_kind("nic") if self.nic_adapter_id(c.instance) == nic), None)
        if comp is None or self.machine.in_post or self.machine.power_state == "Off":
            return self.not_found(req)
        return {"@odata.id": f"{self.chassis_uri}/NetworkAdapters/{nic}", "@odata.type": self.t("NetworkAdapter"),
                "Id": nic, "Name": f"Network Adapter {nic}", "Manufacturer": "Contoso NIC Inc.",
                "Controllers": [{"FirmwarePackageVersion": comp.active}],
                "Status": {"State": "Enabled", "Health": "OK"}}
