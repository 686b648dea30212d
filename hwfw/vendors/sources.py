"""Where a component's version comes from, and what to do when two sources disagree.

A Redfish service names a component's running version in up to two places: the
component's member of `UpdateService.FirmwareInventory` (`SoftwareInventory.Version`,
DSP0266 "Update service") and, for the BMC and the BIOS only, a property of the
resource itself: `Manager.FirmwareVersion` and `ComputerSystem.BiosVersion`. hwfw reads
the inventory member when there is one and falls back to the property otherwise (a
service without FirmwareInventory, or one that does not list that component). Each
component records which it was (`VersionSource`), so outputs can say so.

When both exist and disagree (a public mockup lists BIOS `P79 v1.45` in
FirmwareInventory and `P79 v1.95 (12/06/2019)` in the ComputerSystem), hwfw does not
pick one: the component keeps the inventory's version and records the conflict, and
the planner treats its version as unknown.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from hwfw.vendors.model import ComponentState, VersionSource

__all__ = ["fallback_states", "inventory_source", "same_version", "with_conflict"]

Doc = Mapping[str, Any]

_DOTTED = re.compile(r"\d+(?:\.\d+)+")


def inventory_source(member: Doc) -> VersionSource:
    uri = member.get("@odata.id")
    return VersionSource("SoftwareInventory", "Version", uri if isinstance(uri, str) else None)


def fallback_states(manager: Doc, system: Doc, bios_link: str | None) -> list[ComponentState]:
    """The BMC version from `Manager.FirmwareVersion` and the BIOS version from
    `ComputerSystem.BiosVersion`, when the service reports them. `uri` stays what it
    was for these components (the Manager; the System's Bios resource, else the System);
    `source.uri` is the resource the version was read from."""
    out = []
    if manager.get("FirmwareVersion"):
        uri = _uri(manager)
        out.append(ComponentState(kind="bmc", instance="bmc", version=str(manager["FirmwareVersion"]).strip(),
                                  name=str(manager.get("Name") or "BMC"), updateable=True, uri=uri,
                                  source=VersionSource("Manager", "FirmwareVersion", uri, fallback=True)))
    if system.get("BiosVersion"):
        uri = _uri(system)
        out.append(ComponentState(kind="bios", instance="bios", version=str(system["BiosVersion"]).strip(),
                                  name="BIOS", updateable=True, uri=bios_link or uri,
                                  source=VersionSource("ComputerSystem", "BiosVersion", uri, fallback=True)))
    return out


def same_version(a: str | None, b: str | None) -> bool:
    """Do two notations of one component's version name the same version?

    Services write one version differently in different places (`iLO 5 v2.72` as
    Manager.FirmwareVersion, `2.72 Sep 04 2022` in FirmwareInventory), so the dotted
    numbers decide when both have some (compared as numbers: `01.01.10` is `1.1.10`,
    `1.0.0` is `1.0`);
    otherwise the texts, ignoring case and spacing."""
    if a is None or b is None:
        return a is b
    da, db = _dotted(a), _dotted(b)
    if da and db:
        return bool(da & db)
    return " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def with_conflict(state: ComponentState, other: ComponentState) -> ComponentState:
    """`state` (read from FirmwareInventory) with `other`'s disagreeing version noted."""
    mine = state.source.describe() if state.source else "FirmwareInventory"
    theirs = other.source.describe() if other.source else "another source"
    note = (f"the BMC reports two versions: {state.version!r} ({mine}) and {other.version!r} ({theirs}); "
            "hwfw does not pick one")
    return dataclasses.replace(state, conflict=note)


def _dotted(text: str) -> set[tuple[int, ...]]:
    """Dotted numbers as tuples, trailing zero parts dropped (`1.0.0` is `1.0`)."""
    out = set()
    for token in _DOTTED.findall(text):
        parts = [int(part) for part in token.split(".")]
        while len(parts) > 1 and parts[-1] == 0:
            parts.pop()
        out.add(tuple(parts))
    return out


def _uri(doc: Doc) -> str | None:
    uri = doc.get("@odata.id")
    return uri if isinstance(uri, str) else None
