"""`$metadata`, the OData service document and the OEM CSDL files.

`$metadata` references every DMTF namespace the BMC's resources use, plus the OEM
CSDL documents under hwfw/sim/csdl/ (DellJob, HpeiLOUpdateServiceExt, Smc...), served
at /redfish/v1/Schemas/<file> so a validator can resolve OEM types offline.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.service.resources import R
from hwfw.sim.service.router import route
from hwfw.sim.service.updateflow import UpdateFlow

CSDL_DIR = Path(__file__).resolve().parent.parent / "csdl"
DMTF = "http://redfish.dmtf.org/schemas/v1"
# Namespaces referenced by every profile (unversioned + the versions our bodies use).
COMMON_NAMESPACES = {
    "Resource": ["Resource", "Resource.v1_0_0", "Resource.v1_19_0"], "Message": ["Message", "Message.v1_1_1"],
    "Settings": ["Settings", "Settings.v1_3_5"], "ActionInfo": ["ActionInfo", "ActionInfo.v1_3_0"],
    "ComputerSystemCollection": ["ComputerSystemCollection"], "ManagerCollection": ["ManagerCollection"],
    "ChassisCollection": ["ChassisCollection"], "SessionCollection": ["SessionCollection"],
    "TaskCollection": ["TaskCollection"], "ManagerAccountCollection": ["ManagerAccountCollection"],
    "SoftwareInventoryCollection": ["SoftwareInventoryCollection"],
    "NetworkAdapterCollection": ["NetworkAdapterCollection"],
    "MessageRegistryFileCollection": ["MessageRegistryFileCollection"],
    "MessageRegistryFile": ["MessageRegistryFile", "MessageRegistryFile.v1_1_3"],
    "AttributeRegistry": ["AttributeRegistry", "AttributeRegistry.v1_2_1", "AttributeRegistry.v1_3_0"],
}


@cache
def oem_csdl(name: str) -> bytes | None:
    path = CSDL_DIR / name
    if path.parent != CSDL_DIR or not path.is_file():
        return None
    return path.read_bytes()


class ODataResources(UpdateFlow):
    """Service metadata routes; profiles list their OEM namespaces in OEM_CSDL."""

    OEM_CSDL: dict[str, list[str]] = {}
    EXTRA_NAMESPACES: dict[str, list[str]] = {}

    def namespaces(self) -> dict[str, list[str]]:
        refs: dict[str, list[str]] = {k: list(v) for k, v in COMMON_NAMESPACES.items()}
        for ns, version in self.TYPES.items():
            refs.setdefault(ns, []).extend([ns, f"{ns}.{version}"])
        for odata_type in (self.UPDATE_TYPE, self.INVENTORY_TYPE):
            ns, version, _ = odata_type.lstrip("#").split(".")
            refs.setdefault(ns, []).extend([ns, f"{ns}.{version}"])
        for ns, names in self.EXTRA_NAMESPACES.items():
            refs.setdefault(ns, []).extend(names)
        return {k: sorted(set(v)) for k, v in refs.items()}

    @route("GET", f"{R}/$metadata", public=True)
    async def get_metadata(self, req: Request) -> Response:
        return Response(200, self._metadata_xml(), [("content-type", "application/xml; charset=utf-8"),
                                                    ("odata-version", "4.0")])

    def _metadata_xml(self) -> bytes:
        cached = getattr(type(self), "_metadata_cache", None)
        if cached is not None:
            return cached
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">']
        for file_ns, names in sorted(self.namespaces().items()):
            lines.append(f'  <edmx:Reference Uri="{DMTF}/{file_ns}_v1.xml">')
            lines.extend(f'    <edmx:Include Namespace="{n}"/>' for n in names)
            lines.append("  </edmx:Reference>")
        for filename, names in sorted(self.OEM_CSDL.items()):
            lines.append(f'  <edmx:Reference Uri="{R}/Schemas/{filename}">')
            lines.extend(f'    <edmx:Include Namespace="{n}"/>' for n in names)
            lines.append("  </edmx:Reference>")
        root_version = self.TYPES["ServiceRoot"]
        lines += ["  <edmx:DataServices>",
                  '    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="Service">',
                  f'      <EntityContainer Name="Service" Extends="ServiceRoot.{root_version}.ServiceContainer"/>',
                  "    </Schema>", "  </edmx:DataServices>", "</edmx:Edmx>", ""]
        data = "\n".join(lines).encode()
        type(self)._metadata_cache = data  # type: ignore[attr-defined]
        return data

    @route("GET", f"{R}/odata", public=True)
    async def get_odata(self, req: Request) -> dict[str, Any]:
        root = await self.get_root(req)
        value = [{"name": "Service", "kind": "Singleton", "url": f"{R}/"}]
        for key, val in root.items():
            if isinstance(val, dict) and set(val) == {"@odata.id"}:
                value.append({"name": key, "kind": "Singleton", "url": val["@odata.id"]})
        return {"@odata.context": f"{R}/$metadata", "value": value}

    @route("GET", f"{R}/Schemas/{{filename}}")
    async def get_schema_file(self, req: Request, filename: str) -> Response:
        data = oem_csdl(filename) if filename in self.OEM_CSDL else None
        if data is None:
            return self.not_found(req)
        return Response(200, data, [("content-type", "application/xml; charset=utf-8")])
