"""Where each component's version was read (hwfw/vendors/sources.py), and what happens
when the FirmwareInventory member and the resource's own property disagree."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from hwfw.inventory.model import HostInventory, Inventory, VersionSource
from hwfw.resources import schema_path
from hwfw.vendors.base import BmcFacts
from hwfw.vendors.generic import GenericAdapter
from hwfw.vendors.hpe import HpeAdapter
from hwfw.vendors.sources import same_version
from tests.vendors.test_mapping import FI, member

SYSTEM = {"@odata.id": "/redfish/v1/Systems/1", "BiosVersion": "P79 v1.95 (12/06/2019)",
          "Bios": {"@odata.id": "/redfish/v1/Systems/1/Bios"}}
MANAGER = {"@odata.id": "/redfish/v1/Managers/1", "FirmwareVersion": "iLO 5 v2.72"}


def components(adapter: Any, members: Any, system: Any = SYSTEM, manager: Any = MANAGER) -> dict[str, Any]:
    facts = BmcFacts(root={}, systems=(system,), managers=(manager,), firmware_inventory=members)
    return {c.key: c for c in adapter.components(facts)}


def test_inventory_members_and_fallbacks_record_their_source() -> None:
    comps = components(GenericAdapter(), (member("NIC1", "22.31.6", "Network Adapter"),))
    assert comps["bios"].source == VersionSource("ComputerSystem", "BiosVersion", "/redfish/v1/Systems/1",
                                                 fallback=True)
    assert comps["bmc"].source == VersionSource("Manager", "FirmwareVersion", "/redfish/v1/Managers/1",
                                                fallback=True)
    nic = next(c for k, c in comps.items() if k.startswith("nic"))
    assert nic.source == VersionSource("SoftwareInventory", "Version", f"{FI}/NIC1")
    assert comps["bios"].source.label == "ComputerSystem.BiosVersion"
    assert comps["bios"].source.describe() == "ComputerSystem.BiosVersion of /redfish/v1/Systems/1"


def test_two_versions_for_one_component_are_reported_not_guessed() -> None:
    """A public mockup: FirmwareInventory BIOS `P79 v1.45`, ComputerSystem `P79 v1.95 (12/06/2019)`."""
    comps = components(GenericAdapter(), (member("BIOS", "P79 v1.45", "System ROM",
                                                 RelatedItem=[{"@odata.id": "/redfish/v1/Systems/1/Bios"}]),))
    bios = comps["bios"]
    assert bios.version == "P79 v1.45" and bios.source is not None and not bios.source.fallback
    assert bios.conflict is not None
    assert "'P79 v1.45' (SoftwareInventory.Version of " in bios.conflict
    assert "'P79 v1.95 (12/06/2019)' (ComputerSystem.BiosVersion of /redfish/v1/Systems/1)" in bios.conflict
    explained = GenericAdapter().explain(BmcFacts(root={}, systems=(SYSTEM,), managers=(MANAGER,),
                                                  firmware_inventory=(member("BIOS", "P79 v1.45", "BIOS"),)))
    assert any(line.startswith("bios: the BMC reports two versions") for line in explained)


def test_notations_of_the_same_version_do_not_conflict() -> None:
    """iLO names its firmware `iLO 5 v2.72` on the Manager and `2.72 Sep 04 2022` in
    FirmwareInventory; the same BIOS string in both places agrees too."""
    members = (member("1", "2.72 Sep 04 2022", "iLO 5", Description="SystemBMC"),
               member("2", "P79 v1.95 (12/06/2019)", "System ROM", Description="SystemRomActive"))
    comps = components(HpeAdapter(), members)
    assert comps["bmc"].conflict is None and comps["bios"].conflict is None


@given(st.from_regex(r"[A-Za-z ]{0,4}\d{1,3}(\.\d{1,3}){0,3}[A-Za-z ()/0-9]{0,8}", fullmatch=True),
       st.from_regex(r"[A-Za-z ]{0,4}\d{1,3}(\.\d{1,3}){0,3}[A-Za-z ()/0-9]{0,8}", fullmatch=True))
def test_same_version_is_reflexive_and_symmetric(a: str, b: str) -> None:
    assert same_version(a, a)
    assert same_version(a, b) == same_version(b, a)


def test_same_version_compares_dotted_numbers_as_numbers() -> None:
    assert same_version("01.01.10", "1.1.10") and same_version("1.0.0", "1.0") and same_version("0x11", "0X11")
    assert not same_version("P79 v1.45", "P79 v1.95 (12/06/2019)") and not same_version("1.4", "1.40")


def test_snapshot_carries_sources_and_reads_them_back() -> None:
    comps = components(GenericAdapter(), (member("BIOS", "P79 v1.45", "BIOS"),))
    host = HostInventory(host="h1", reachable=True, components=tuple(comps.values()))
    doc = json.loads(json.dumps(Inventory(hosts={"h1": host}).to_json("2024-06-11T00:00:00Z")))
    jsonschema.validate(doc, json.loads(schema_path("inventory-snapshot").read_text()))
    back = Inventory.from_json(doc).hosts["h1"]
    assert back.components == host.components
    # A snapshot written before sources were recorded still reads.
    old = json.loads(json.dumps(doc))
    for c in old["hosts"][0]["components"]:
        del c["source"], c["conflict"]
    assert all(c.source is None for c in Inventory.from_json(old).hosts["h1"].components)
