"""The "minimal" variant of the generic profile: the least a Redfish service can be.

A fleet host selects it with `profile: generic` and `options: {variant: minimal}`. It
keeps the shapes of the third-party services hwfw was run against that no vendor
profile has, all at once:

- no FirmwareInventory: versions only as `Manager.FirmwareVersion` and
  `ComputerSystem.BiosVersion` (sushy-tools' libvirt driver; old public mockups);
- no `Manager.Reset` action (sushy-tools), so a BMC reset cannot be sent;
- `UpdateService.SimpleUpdate` as the only update method, answered `204 No Content`
  with no task and no change (a static mockup server acknowledges every POST so);
- HTTP/1.0 answers with `Connection: close`, no keep-alive (the DMTF mockup server,
  built on Python's `http.server`);
- `Members@odata.count` one higher than the `Members` array of the Systems, Managers
  and Chassis collections (seen in public mockups; clients must count `Members`).

It is a variant, not a vendor: it reports the generic profile's identity, so the
client reads it with the generic adapter.
"""

from __future__ import annotations

from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.profiles.generic import GENERIC_TABLE, GenericService
from hwfw.sim.service import params
from hwfw.sim.service.resources import R

__all__ = ["MinimalGenericService"]

MINIMAL_TABLE: dict[str, Any] = {
    **GENERIC_TABLE,
    "product": "Contoso Minimal BMC",
    "manager_reset_types": [],
    "apply_times": [],
    "options": {**GENERIC_TABLE["options"], "firmware_inventory": False},
}


class MinimalGenericService(GenericService):
    TABLE = MINIMAL_TABLE
    HTTP_VERSION = "1.0"

    # ------------------------------------------------------------ collections that miscount
    def _miscounted(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "Members@odata.count": len(body.get("Members") or ()) + 1}

    async def get_systems(self, req: Request) -> dict[str, Any]:
        return self._miscounted(await super().get_systems(req))

    async def get_managers(self, req: Request) -> dict[str, Any]:
        return self._miscounted(await super().get_managers(req))

    async def get_chassis_collection(self, req: Request) -> dict[str, Any]:
        return self._miscounted(await super().get_chassis_collection(req))

    # ------------------------------------------------------------ no Manager.Reset
    def manager_extra(self, body: dict[str, Any]) -> None:
        super().manager_extra(body)
        body.pop("Actions", None)

    async def post_manager_reset(self, req: Request) -> Response:
        return self.not_found(req)

    # ------------------------------------------------------------ SimpleUpdate only, 204 and nothing
    def update_service_extra(self, body: dict[str, Any]) -> None:
        body["Actions"] = {"#UpdateService.SimpleUpdate": {
            "target": f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate"}}

    async def post_simple_update(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        uri = params.image_uri(self, data)
        self.world.events.emit(self.name, "update-ignored", method="simple-update", uri=uri,
                               targets=data.get("Targets"))
        return Response.empty(204)

    async def post_multipart(self, req: Request) -> Response:
        return self.not_found(req)
