"""HPE iLO 5/6 BIOS configuration: deferred validation, workload profiles, gzip registry.

- PATCH/PUT `…/bios/settings` (any case, with or without the trailing slash) answers
  200 with the iLO envelope `iLO.2.x.SystemResetRequired` for any attribute name,
  even unknown ones; during POST it answers 400 `UnableToModifyDuringSystemPOST`.
- The BIOS checks the values at the next POST: `@Redfish.Settings.Messages` is then
  `Base.1.x.Success` first, then one message per refused attribute with
  `RelatedProperties: ["#/Name"]`.
- `WorkloadProfile` other than `Custom` makes the BIOS set its dependent attributes
  (ProcTurbo, PowerRegulator, MinProcIdlePower, ChannelInterleaving); a changed
  dependent without `Custom` is refused at POST (PropertyNotWritable).
- The registry document lives at `/redfish/v1/registrystore/registries/en/<id>`,
  gzip-encoded; ResetBios is under `…/bios/settings` on iLO 5, under `…/bios` on iLO 6.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

from hwfw.sim.bios.registry import Registry
from hwfw.sim.bios.state import Outcome
from hwfw.sim.http import Request, Response
from hwfw.sim.messages import hpe_envelope, message
from hwfw.sim.service.odata import ODataResources
from hwfw.sim.service.resources import R
from hwfw.sim.service.router import route


class HpeBios(ODataResources):
    def is_settings_name(self, name: str) -> bool:
        return name.lower() == self.settings_name().lower()

    def ilo6(self) -> bool:
        return "Gen11" in self.spec.model

    def bios_patch_gate(self) -> None:
        if self.machine.in_post:
            raise self.fail(400, "iLO", "UnableToModifyDuringSystemPOST")

    def bios_patched(self) -> Response:
        return self.ok(hpe_envelope("iLO", "SystemResetRequired", (), self.dialect))

    def result_messages(self, registry: Registry, outcome: Outcome) -> list[dict[str, Any]]:
        problems = [message("Base", r.key, r.args, self.dialect, related=[registry.related(r.name)])
                    for r in outcome.rejected]
        return [message("Base", "Success", (), self.dialect), *problems]

    def reset_bios_on_settings(self) -> bool:
        return not self.ilo6()

    @route("POST", f"{R}/Systems/{{S}}/Bios/{{settings}}/Actions/Bios.ResetBios")
    async def post_reset_bios_ilo5(self, req: Request, settings: str) -> Response:
        if not self.is_settings_name(settings):
            return self.not_found(req)
        return await self.post_reset_bios(req)

    def registry_location(self, registry: Registry) -> str:
        return f"{R}/registrystore/registries/en/{registry.id.lower()}"

    @route("GET", f"{R}/registrystore/registries/en/{{name}}")
    async def get_registry_store(self, req: Request, name: str) -> Response:
        """iLO serves attribute registries gzip-encoded."""
        doc = self.registry_document(req, f"{R}/registrystore/registries/en/{name}")
        if isinstance(doc, Response):
            return doc
        data = gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), mtime=0)
        return Response(200, data, [("content-type", "application/json; charset=utf-8"), ("content-encoding", "gzip"),
                                    ("odata-version", "4.0")])
