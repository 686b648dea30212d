"""The simulator serves what real BMCs send, and hwfw reads it right (issue 20, item 5).

An iLO 5 2.96 DL360 Gen10 Plus with add-in cards and drives, the same without
FirmwareInventory, an R650-style iDRAC and a Supermicro board with the guide's ids,
read over loopback with the real client.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.inventory.model import Inventory
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow

INV = "/redfish/v1/UpdateService/FirmwareInventory"
FLEET = textwrap.dedent("""\
    seed: 11
    defaults:
      credentials: {username: admin, password: password}
    hosts:
      g10p:
        profile: hpe
        model: ProLiant DL360 Gen10 Plus
        firmware:
          bmc: "2.96 Aug 17 2023"
          bios: "U46 v1.64 (08/11/2022)"
          cpld: "0x15"
          nic: {NIC.OCP.10-1: "1.2839.0", NIC.Slot.2-1: "14.32.1010"}
          raid: {RAID.Slot.1-1: "52.16.3-3913", RAID.Boot.13-1: "1.0.14.1055"}
          drive: {Disk.Bay.0: "HPK3", Disk.Bay.1: "HPK3"}
          psu: {PSU.Slot.1: "1.00"}
      g10p-noinv:
        profile: hpe
        model: ProLiant DL360 Gen10 Plus
        firmware: {bmc: "2.96 Aug 17 2023", bios: "U46 v1.64 (08/11/2022)", cpld: "0x15"}
        options: {firmware_inventory: false}
      r650:
        profile: dell
        model: PowerEdge R650
        firmware: {bmc: "5.10.00.00", bios: "1.2.4", cpld: "1.0.5", nic: {NIC.Embedded.1-1-1: "21.81.3"}}
      x12:
        profile: supermicro
        model: SYS-120U-TNR
        firmware: {bmc: "01.01.10", bios: "1.4", cpld: "F1.02", me: "6.0.4", psu: {PSU.Slot.1: "1.2"}}
    """)
SB = "System Board"


def session(sim: Any, name: str) -> RedfishSession:
    client = RedfishClient(sim.url(name), host=name, clock=SimClock(sim.fleet), options=ClientOptions())
    return RedfishSession(client, *CREDENTIALS)


async def read(sim: Any, tmp_path: Path) -> Inventory:
    hosts = [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), sim.url(n), *CREDENTIALS) for n in sim.urls]
    settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
    return await collect(hosts, settings=settings, clock=SimClock(sim.fleet), concurrency=4)


def test_field_shapes_and_what_hwfw_makes_of_them(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> tuple[Inventory, dict[str, Any]]:
        async with sim_sessions.fleet(tmp_path, FLEET) as sim:
            raw: dict[str, Any] = {}
            async with session(sim, "g10p") as s:
                raw["hpe"] = await s.members(INV)
                drive = next(m for m in raw["hpe"] if m.get("RelatedItem"))
                raw["drive"] = await s.get_json(drive["RelatedItem"][0]["@odata.id"])
                raw["manager"] = await s.get_json("/redfish/v1/Managers/1")
            async with session(sim, "g10p-noinv") as s:
                raw["noinv"] = (await s.get_json("/redfish/v1/UpdateService")).get("FirmwareInventory")
            sim.fleet.machines["r650"].components["bmc"].previous = "5.00.20.10"
            async with session(sim, "r650") as s:
                raw["dell"] = [m["Id"] for m in await s.members(INV)]
            async with session(sim, "x12") as s:
                raw["smc"] = [m["Id"] for m in await s.members(INV)]
            return await read(sim, tmp_path), raw

    inv, raw = asyncio.run(body())
    members = raw["hpe"]
    # what iLO 5 2.96 sends
    assert all(m["@odata.id"].endswith("/") and m["@odata.etag"].startswith('W/"') for m in members)
    assert any(m.get("Updateable") is False for m in members)
    assert any(m["Oem"]["Hpe"]["DeviceClass"] is None for m in members)
    assert sum(1 for m in members if m["Description"] == "VO000960KXAVL") == 4  # two drives, listed twice
    assert {m["Description"] for m in members} >= {"100010e215900293", "1b4b22411590030f", "80861521808600a3",
                                                    "SPSFirmwareVersionData", "SPSFirmwareDescriptor",
                                                    "InnovationEngineFirmware", "PlatformDefinitionTable"}
    assert raw["drive"]["Revision"] == "HPK3"  # RelatedItem leads somewhere
    assert raw["manager"]["FirmwareVersion"] == "iLO 5 v2.96"
    assert raw["noinv"] is None
    # Dell: Current- for the BIOS only, Installed-/Previous- for the iDRAC
    assert sorted(i.split("-", 1)[0] + ":" + i.rsplit("__", 1)[-1] for i in raw["dell"] if "__" in i) == [
        "Current:BIOS.Setup.1-1", "Installed:BIOS.Setup.1-1", "Installed:CPLD.Embedded.1",
        "Installed:NIC.Embedded.1-1-1", "Installed:iDRAC.Embedded.1-1", "Previous:iDRAC.Embedded.1-1"]
    # Supermicro: the guide's ids
    assert {"BMC", "Backup_BMC", "Golden_BMC", "BIOS", "BIOS_ME", "PowerSupply1", "CPLD_Motherboard"} <= set(raw["smc"])

    hpe = {(c.kind, c.instance): c.version for c in inv.hosts["g10p"].components}
    assert {k: v for k, v in hpe.items() if k[0] != "other"} == {
        ("bmc", "bmc"): "2.96 Aug 17 2023", ("bios", "bios"): "U46 v1.64 (08/11/2022)", ("cpld", "cpld"): "0x15",
        ("me", "me"): "4.4.4.53", ("psu", "Bay 1/Power Supply Firmware"): "1.00",
        ("raid", "PCI-E Slot 1/HPE MR416i-p Gen10+"): "52.16.3-3913",
        ("raid", "PCI-E Slot 13/HPE NS204i-r Gen10+ Boot Controller"): "1.0.14.1055",
        ("nic", "OCP 3.0 Slot 10/Intel Eth Adptr I350T4 OCPv3"): "1.2839.0",
        ("nic", "PCI-E Slot 2/HPE Ethernet 10/25Gb 2-port 640SFP28 Adapter"): "14.32.1010",
        ("drive", "Port 1I Box 1 Bay 1/960GB 32G NVMe SSD"): "HPK3",
        ("drive", "Port 1I Box 1 Bay 2/960GB 32G NVMe SSD"): "HPK3"}
    assert hpe[("other", f"{SB}/Server Platform Services (SPS) Descriptor")] == "1.2 0"
    assert hpe[("other", "Embedded Device/HPE Smart Storage Energy Pack 1 Firmware")] == "0.70"
    # no FirmwareInventory: the Manager's "iLO 5 v2.96" in the inventory's notation
    assert {c.key: c.version for c in inv.hosts["g10p-noinv"].components} == {
        "bmc": "2.96 Aug 17 2023", "bios": "U46 v1.64 (08/11/2022)"}
    assert {c.key: c.version for c in inv.hosts["r650"].components} == {
        "bmc": "5.10.00.00", "bios": "1.2.4", "cpld": "1.0.5", "nic:NIC.Embedded.1-1-1": "21.81.3"}
    assert {c.key: c.version for c in inv.hosts["x12"].components} == {
        "bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02", "me": "6.0.4", "psu:PowerSupply1": "1.2"}
