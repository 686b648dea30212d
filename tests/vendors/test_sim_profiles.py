"""Vendor adapters against the simulator's dell, hpe, supermicro and generic profiles.

The profiles reproduce each vendor's FirmwareInventory dialect (Dell Installed-/
Current-/Previous-/Available- ids, HPE Description keys and free-text versions,
Supermicro Backup_/Golden_ copies); the adapters must report only running firmware.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.inventory.model import HostInventory, Inventory
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow


async def read_all(sim: Any, tmp_path: Path) -> Inventory:
    hosts = [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), sim.url(n), *CREDENTIALS) for n in sim.urls]
    settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
    return await collect(hosts, settings=settings, clock=SimClock(sim.fleet), concurrency=8)


def versions(h: HostInventory) -> dict[str, str | None]:
    return {c.key: c.version for c in h.components}


def test_every_profile_maps_running_firmware_only(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path) as sim:
            machines = sim.fleet.machines
            # Give every vendor a non-running copy that differs from the running one.
            machines["dell-1"].components["bios"].previous = "1.9.0"
            machines["dell-1"].components["bmc"].previous = "6.00.30.00"
            sim.fleet.bmcs["dell-1"].available["Available-159-1.12.1"] = {"version": "1.12.1", "component": "bios"}
            machines["hpe-1"].components["bios"].previous = "U30 v2.60 (01/11/2022)"
            return await read_all(sim, tmp_path)

    inv = asyncio.run(body())
    dell, hpe, smc, gen = (inv.hosts[n] for n in ("dell-1", "hpe-1", "smc-1", "gen-1"))
    assert {h.vendor for h in (dell, hpe, smc, gen)} == {"dell", "hpe", "supermicro", "generic"}

    assert versions(dell) == {
        "bmc": "6.10.30.00", "bios": "1.10.2", "cpld": "1.0.6",
        "nic:NIC.Integrated.1-1": "22.31.6", "nic:NIC.Slot.3-1": "14.32.20",
        "raid:RAID.Integrated.1-1": "52.16.1-4405", "psu:PSU.Slot.1": "00.1D.7D", "psu:PSU.Slot.2": "00.1D.7D"}
    comps = {c.key: c for c in dell.components}
    assert comps["bios"].software_id == "159" and comps["bmc"].software_id == "25227"
    assert comps["bios"].uri and "/Installed-159-1.10.2__BIOS.Setup.1-1" in comps["bios"].uri

    got = versions(hpe)
    assert got["bmc"] == "2.72 Sep 04 2022" and got["bios"] == "U30 v2.68 (07/14/2022)" and got["cpld"] == "0x11"
    assert "U30 v2.60 (01/11/2022)" not in got.values()  # the Redundant System ROM
    # iLO names adapters by where they sit and by their marketing name (DeviceContext/Name).
    assert sorted(k for k in got if k.startswith("nic:")) == [
        "nic:Embedded LOM/HPE Ethernet 1Gb 4-port 331i Adapter - NIC",
        "nic:PCI-E Slot 1/HPE Ethernet 10/25Gb 2-port 640SFP28 Adapter"]
    assert got["me"] == "4.1.4.804"  # the Gen10 SPS firmware; its descriptor is a component apart
    assert got["other:System Board/Server Platform Services (SPS) Descriptor"] == "1.2 0"

    assert versions(smc) == {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02", "nic:NIC1": "22.31.6"}
    assert versions(gen) == {"bmc": "2.14.0", "bios": "1.0.5"}

    assert dell.model == "PowerEdge R750" and dell.manufacturer and "Dell" in dell.manufacturer
    assert all(h.serial and h.bmc_firmware for h in (dell, hpe, smc, gen))


def test_capabilities_per_profile(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path) as sim:
            return await read_all(sim, tmp_path)

    inv = asyncio.run(body())
    caps = {n: h.capabilities for n, h in inv.hosts.items()}
    assert all(c is not None and c.expand and c.session_service for c in caps.values())
    dell, hpe, smc, gen = (caps[n] for n in ("dell-1", "hpe-1", "smc-1", "gen-1"))
    assert dell is not None and hpe is not None and smc is not None and gen is not None
    assert "dell-job" in dell.update_methods and "multipart" in dell.update_methods
    assert "OnReset" in dell.apply_times and dell.manager_reset_types == ("GracefulRestart",)
    assert "hpe-form" in hpe.update_methods
    assert "smc-startupdate" in smc.update_methods and "OnStartUpdateRequest" in smc.apply_times
    assert gen.update_methods[:2] == ("multipart", "simple-update") and gen.max_image_size
    assert all(c.system_reset_types for c in (dell, hpe, smc, gen))


def test_preflight_facts_from_the_simulator(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    from hwfw.redfish.client import ClientOptions, RedfishClient
    from hwfw.redfish.session import RedfishSession
    from hwfw.vendors.base import link

    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path) as sim:
            clock = SimClock(sim.fleet)
            for name in ("dell-1", "gen-1"):  # stage a pending BIOS attribute change
                client = RedfishClient(sim.url(name), host=name, clock=clock, options=ClientOptions())
                async with RedfishSession(client, *CREDENTIALS) as s:
                    system = (await s.members("/redfish/v1/Systems"))[0]
                    bios = await s.get_json(link(system, "Bios") or "")
                    settings_uri = link(bios, "@Redfish.Settings", "SettingsObject")
                    assert settings_uri
                    attribute, value = next(iter(bios["Attributes"].items()))
                    new = "Disabled" if value != "Disabled" else "Enabled"
                    await s.patch(settings_uri, {"Attributes": {attribute: new}})
            return await read_all(sim, tmp_path)

    inv = asyncio.run(body())
    pre = {n: h.preflight for n, h in inv.hosts.items()}
    assert pre["dell-1"] and pre["dell-1"].pending_bios_settings
    assert pre["gen-1"] and pre["gen-1"].pending_bios_settings
    assert pre["hpe-1"] and not pre["hpe-1"].pending_bios_settings
    assert all(p and p.power_state == "On" and p.health == "OK" for p in pre.values())
    smc = pre["smc-1"]
    assert smc and smc.licence_errors and "OemLicenseNotPassed" in smc.licence_errors[0]
    assert pre["dell-1"] and not pre["dell-1"].licence_errors
