"""Adapters on FirmwareInventories shaped like real servers' (issue 20).

Each fixture in tests/fixtures/inventory/ is test data written from public captures
and vendor documentation (its `_sources` say which fact comes from where). For every
fixture the whole component table hwfw derives is asserted, member by member, and it
must not change when the service lists its members in another order.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwfw.plan import Action, plan
from hwfw.vendors import select_adapter
from hwfw.vendors.base import BmcFacts
from tests.plan.builders import baseline, host, hp, image, inv_host, inventory, state, target, workspace
from tests.test_versions import PROPS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "inventory"
Row = tuple[str, str, str | None]


def load(name: str) -> dict[str, Any]:
    doc = json.loads((FIXTURES / f"{name}.json").read_text())
    assert doc["_sources"], f"{name}: every fixture says where its facts come from"
    return doc


def facts(doc: dict[str, Any], members: list[dict[str, Any]] | None = None, *,
          inventory_present: bool = True) -> BmcFacts:
    return BmcFacts(root=doc["root"], systems=(doc["system"],), managers=(doc["manager"],),
                    firmware_inventory=tuple(doc["members"] if members is None else members)
                    if inventory_present else None)


def table(doc: dict[str, Any], members: list[dict[str, Any]] | None = None) -> list[Row]:
    adapter = select_adapter(doc["root"], doc["manager"])
    return sorted((c.kind, c.instance, c.version) for c in adapter.components(facts(doc, members)))


SB = "System Board"
EXPECTED: dict[str, tuple[str, list[Row]]] = {
    "hpe-dl360-gen10plus-ilo5-2.55": ("hpe", [
        ("bmc", "bmc", "2.55 Oct 01 2021"),
        ("bios", "bios", "U46 v1.56 (11/29/2021)"),
        ("cpld", "cpld", "0x15"),
        ("me", "me", "4.4.4.53"),
        ("other", f"{SB}/Server Platform Services (SPS) Descriptor", "1.2 0"),
        ("other", f"{SB}/Intelligent Platform Abstraction Data", "9.2.0 Build 35"),
        ("other", f"{SB}/Innovation Engine (IE) Firmware", "1.0.0.20"),
        ("other", f"{SB}/Power Management Controller Firmware", "1.0.7"),
        ("other", f"{SB}/Power Management Controller FW Bootloader", "1.1"),
        ("other", f"{SB}/Intelligent Provisioning", "3.64.2"),
        ("other", "Embedded Device/HPE Smart Storage Energy Pack 1 Firmware", "0.70"),
        ("other", "Embedded Device/Embedded Video Controller", "2.5"),
        ("psu", "Bay 1/Power Supply Firmware", "1.00"),
        ("psu", "Bay 2/Power Supply Firmware", "1.00"),
        ("raid", "PCI-E Slot 1/HPE MR416i-p Gen10+", "52.16.3-3913"),
        ("raid", "PCI-E Slot 13/HPE NS204i-r Gen10+ Boot Controller", "1.0.14.1055"),
        ("nic", "OCP 3.0 Slot 10/Intel Eth Adptr I350T4 OCPv3", "1.2839.0"),
        ("nic", "PCI-E Slot 2/HPE Eth 10/25Gb 2p 640FLR-SFP28 Adptr", "14.32.1010"),
        ("drive", "Port 1I Box 1 Bay 1/960GB 32G NVMe SSD", "HPK3"),
        ("drive", "Port 1I Box 1 Bay 2/960GB 32G NVMe SSD", "HPK3"),
        ("drive", "Port 1I Box 1 Bay 3/960GB 32G NVMe SSD", "HPK3"),
        ("drive", "Slot 13 Bay 1/480GB 16G NVMe SSD", "85031G00"),
        ("drive", "Slot 13 Bay 2/480GB 16G NVMe SSD", "85031G00"),
    ]),
    "hpe-dl380-gen10-ilo5-2.96": ("hpe", [
        ("bmc", "bmc", "2.96 Aug 17 2023"),
        ("bios", "bios", "U30 v2.80 (10/03/2023)"),
        ("cpld", "cpld", "0x2E"),
        ("me", "me", "4.1.4.804"),
        ("other", f"{SB}/Server Platform Services (SPS) Descriptor", "1.2 0"),
        ("other", f"{SB}/Intelligent Platform Abstraction Data", "14.1.0 Build 18"),
        ("other", f"{SB}/Power Management Controller Firmware", "1.0.7"),
        ("other", f"{SB}/Power Management Controller FW Bootloader", "1.1"),
        ("other", f"{SB}/Intelligent Provisioning", "3.50.4"),
        ("other", "Embedded Device/HPE Smart Storage Energy Pack 1 Firmware", "0.70"),
        ("psu", "Bay 1/Power Supply Firmware", "1.00"),
        ("raid", "Storage Slot 12/HPE Smart Array P408i-a SR Gen10", "5.32"),
        ("nic", "Embedded LOM/HPE Ethernet 1Gb 4-port 331i Adapter - NIC", "20.14.54"),
        ("nic", "FlexibleLOM 1/HPE Eth 10/25Gb 2p 640FLR-SFP28 Adptr", "14.32.1010"),
        ("gpu", "PCI-E Slot 3/NVIDIA Tesla T4", "90.04.38.00.03"),
        ("backplane", "Slot 12 Port 2I Box 1/8 SFF 12G x1SAS UBM2 BC BP", "1.20"),
        ("drive", "Port 1I Box 1 Bay 1/3.2TB 12G SAS SSD", "HPD5"),
    ]),
    "dell-r650-idrac9-5.10": ("dell", [
        ("bmc", "bmc", "5.10.00.00"),
        ("bios", "bios", "1.2.4"),
        ("cpld", "cpld", "1.0.5"),
        ("nic", "NIC.Embedded.1-1-1", "21.81.3"),
        ("nic", "NIC.Embedded.2-1-1", "21.81.3"),
        ("nic", "Mellanox ConnectX-5", "16.25.40.62"),
        ("raid", "RAID.SL.3-1", "52.16.1-4405"),
        ("raid", "BOSS.SL.10-1", "2.1.13.2025"),
        ("backplane", "RAID.Backplane.Firmware.1", "7.10"),
        ("drive", "Disk.Bay.0:Enclosure.Internal.0-1:RAID.SL.3-1", "2.1.0"),
        ("psu", "PSU.Slot.1", "00.1D.7D"),
        ("other", "Dell 64 Bit uEFI Diagnostics, version 4301, 4301A61, 4301.62", "4301A61"),
        ("other", "Dell OS Driver Pack, 22.01.06, A00", "22.01.06"),
    ]),
    "cisco-ucs-c220-m5-cimc-4.1": ("generic", [
        ("bmc", "bmc", "4.1(3d)"),
        ("bios", "bios", "C220M5.4.1.3i.0.0713210713"),
        ("other", "Board_Controller", "59.0"),
        ("raid", "UCSC-RAID-M5-slot-MRAID", "51.10.0-3612"),
        ("nic", "X710DA4-slot-1", "0x80009E63-1.823.2"),
        ("nic", "X710DA4-slot-2", "0x80009E63-1.823.2"),
        ("nic", "X550-LOM-slot-L", "0x80001514-1.823.2"),
        ("drive", "HDD-model-MZ7LM240HMHQ-00003-serial-S000000001", "GXT51F3Q"),
        *[("drive", f"HDD-model-AL15SEB120N-serial-Z00000000{i}", "5703") for i in range(2, 8)],
    ]),
    "supermicro-x12-sys-120u-tnr": ("supermicro", [
        ("bmc", "bmc", "01.01.10"),
        ("bios", "bios", "1.4"),
        ("cpld", "cpld", "F1.02"),
        ("me", "me", "6.0.4"),
        ("backplane", "CPLD_Backplane_1", "2.1"),
        ("psu", "PowerSupply1", "1.2"),
        ("psu", "PowerSupply2", "1.2"),
        ("nic", "NIC1", "22.31.6"),
        ("raid", "NVMeController1", "1.1.0"),
    ]),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_component_table(name: str) -> None:
    doc = load(name)
    adapter, rows = EXPECTED[name]
    assert select_adapter(doc["root"], doc["manager"]).name == adapter
    assert table(doc) == sorted(rows)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_member_is_explained_once(name: str) -> None:
    doc = load(name)
    lines = select_adapter(doc["root"], doc["manager"]).explain(facts(doc))
    for member in doc["members"]:
        mentions = [line for line in lines if line.startswith(member["@odata.id"] + " ")]
        assert len(mentions) == 1, (member["@odata.id"], mentions)


def test_other_is_the_documented_fallback() -> None:
    doc = load("cisco-ucs-c220-m5-cimc-4.1")
    lines = select_adapter(doc["root"], doc["manager"]).explain(facts(doc))
    board = [line for line in lines if "/Board_Controller " in line]
    assert board == ["/redfish/v1/UpdateService/FirmwareInventory/Board_Controller 'Board_Controller': "
                     "other:Board_Controller '59.0' (no property names a component kind)"]
    cimc = [line for line in lines if "/CIMC " in line]
    assert cimc and "RelatedItem links the Manager (/redfish/v1/Managers/CIMC)" in cimc[0]


@PROPS
@given(st.sampled_from(sorted(EXPECTED)).flatmap(
    lambda name: st.tuples(st.just(name), st.permutations(load(name)["members"]))))
def test_member_order_never_decides(case: tuple[str, list[dict[str, Any]]]) -> None:
    name, shuffled = case
    assert table(load(name), list(shuffled)) == sorted(EXPECTED[name][1])


def test_dl360_gen10_plus_acceptance() -> None:
    """Issue 20: 5 drives (not 7), MR416i-p and NS204i-r as raid, 640FLR-SFP28 and I350
    as nic, one me (4.4.4.53) with the SPS descriptor kept apart."""
    doc = load("hpe-dl360-gen10plus-ilo5-2.55")
    rows = table(doc)
    assert len(doc["members"]) == 26 and sum(1 for r in rows if r[0] == "drive") == 5
    by_name = {instance.split("/", 1)[-1]: kind for kind, instance, _ in rows}
    assert by_name["HPE MR416i-p Gen10+"] == by_name["HPE NS204i-r Gen10+ Boot Controller"] == "raid"
    assert by_name["HPE Eth 10/25Gb 2p 640FLR-SFP28 Adptr"] == by_name["Intel Eth Adptr I350T4 OCPv3"] == "nic"
    assert [r for r in rows if r[0] == "me"] == [("me", "me", "4.4.4.53")]
    assert ("other", f"{SB}/Server Platform Services (SPS) Descriptor", "1.2 0") in rows


def test_updateable_as_sent() -> None:
    hpe = load("hpe-dl360-gen10plus-ilo5-2.55")
    comps = {c.instance: c for c in select_adapter(hpe["root"], hpe["manager"]).components(facts(hpe))}
    assert not comps["OCP 3.0 Slot 10/Intel Eth Adptr I350T4 OCPv3"].updateable  # iLO cannot flash it itself
    assert comps["bmc"].updateable and comps["PCI-E Slot 1/HPE MR416i-p Gen10+"].updateable
    dell = load("dell-r650-idrac9-5.10")
    comps = {c.instance: c for c in select_adapter(dell["root"], dell["manager"]).components(facts(dell))}
    assert comps["Mellanox ConnectX-5"].updateable  # sent as the string "True"
    assert comps["bios"].uri and "/Installed-159-" in comps["bios"].uri  # Installed- kept over Current-


@pytest.mark.parametrize(("name", "bmc", "bios"), [
    # iLO's Manager says "iLO 5 v2.55"; with Oem.Hpe.Firmware.Current.Date it is the inventory's notation.
    ("hpe-dl360-gen10plus-ilo5-2.55", "2.55 Oct 01 2021", "U46 v1.56 (11/29/2021)"),
    ("hpe-dl380-gen10-ilo5-2.96", "2.96 Aug 17 2023", "U30 v2.80 (10/03/2023)"),
    ("cisco-ucs-c220-m5-cimc-4.1", "4.1(3d)", "C220M5.4.1.3i.0.0713210713"),
    ("dell-r650-idrac9-5.10", "5.10.00.00", "1.2.4"),
])
def test_fallback_versions_use_the_inventory_notation(name: str, bmc: str, bios: str) -> None:
    doc = load(name)
    comps = select_adapter(doc["root"], doc["manager"]).components(facts(doc, inventory_present=False))
    assert {c.key: c.version for c in comps} == {"bmc": bmc, "bios": bios}


def test_without_the_build_date_the_ilo_string_is_kept() -> None:
    doc = load("hpe-dl360-gen10plus-ilo5-2.55")
    del doc["manager"]["Oem"]
    comps = select_adapter(doc["root"], doc["manager"]).components(facts(doc, inventory_present=False))
    assert {c.key: c.version for c in comps}["bmc"] == "iLO 5 v2.55"


# --------------------------------------------------------------------- what the planner makes of it

def test_cisco_versions_are_planned_not_refused() -> None:
    """Issue 20 item 4: with these schemes a C220 M5's changes are upgrades and no-ops,
    not "unknown, refused"."""
    doc = load("cisco-ucs-c220-m5-cimc-4.1")
    comps = select_adapter(doc["root"], doc["manager"]).components(facts(doc))
    model = "UCSC-C220-M5SX"
    ws = workspace([host("c1", "generic", model)],
                   [baseline("ucs", target("bmc", "4.2(3b)"), target("bios", "C220M5.4.2.2b.0.0613220203"),
                             target("nic", "0x80009E63-1.823.2", match="X710*"), vendor="generic")],
                   [image("bmc", "4.2(3b)", vendor="generic"),
                    image("bios", "C220M5.4.2.2b.0.0613220203", vendor="generic"),
                    image("nic", "0x80009E63-1.823.2", vendor="generic")])
    p = plan(ws, inventory(inv_host("c1", *comps, vendor="generic", model=model)), state())
    actions = {c.key: (c.action, c.refused) for c in hp(p, "c1").changes}
    assert actions == {"bmc": (Action.UPGRADE, False), "bios": (Action.UPGRADE, False),
                       "nic:X710DA4-slot-1": (Action.NOOP, False), "nic:X710DA4-slot-2": (Action.NOOP, False)}


def test_ilo_without_inventory_is_planned_against_a_dated_baseline() -> None:
    """Issue 20 item 3: no FirmwareInventory, Manager says "iLO 5 v2.55", the baseline says
    "2.81 Mar 27 2023": an upgrade, not an unknown version."""
    doc = load("hpe-dl360-gen10plus-ilo5-2.55")
    comps = select_adapter(doc["root"], doc["manager"]).components(facts(doc, inventory_present=False))
    model = "ProLiant DL360 Gen10 Plus"
    ws = workspace([host("g1", "hpe", model)],
                   [baseline("g10p", target("bmc", "2.81 Mar 27 2023"), vendor="hpe")],
                   [image("bmc", "2.81 Mar 27 2023", vendor="hpe")])
    p = plan(ws, inventory(inv_host("g1", *comps, vendor="hpe", model=model)), state())
    (change,) = hp(p, "g1").changes
    assert (change.action, change.refused, change.current) == (Action.UPGRADE, False, "2.55 Oct 01 2021")
