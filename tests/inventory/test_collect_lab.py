"""collect() over the whole lab fleet (examples/lab/fleet.yaml) on the simulator.

Expected versions come from the fleet file itself: what the simulated hardware runs is
exactly what collect must report.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import CollectStats, ResolvedHost, collect
from hwfw.inventory.model import Inventory
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab" / "fleet.yaml"


def lab_fleet() -> dict[str, Any]:
    return dict(yaml.safe_load(LAB.read_text()))


SB = "System Board"
_HPE_COMMON = {f"other:{SB}/Server Platform Services (SPS) Descriptor": "1.2 0",
               f"other:{SB}/Power Management Controller Firmware": "1.0.7",
               f"other:{SB}/Power Management Controller FW Bootloader": "1.1",
               "other:Embedded Device/Embedded Video Controller": "2.5"}
# What an iLO 5 lists besides the fleet's components, per generation (the simulator
# serves them as real servers do; tests/vendors/test_field_inventories.py has field shapes).
HPE_PLATFORM = {
    "ProLiant DL380 Gen10": {**_HPE_COMMON, "me": "4.1.4.804",
                             f"other:{SB}/Intelligent Platform Abstraction Data": "14.1.0 Build 18",
                             f"other:{SB}/Intelligent Provisioning": "3.50.4"},
    "ProLiant DL360 Gen10 Plus": {**_HPE_COMMON, "me": "4.4.4.53",
                                  f"other:{SB}/Intelligent Platform Abstraction Data": "9.2.0 Build 35",
                                  f"other:{SB}/Intelligent Provisioning": "3.64.2",
                                  f"other:{SB}/Innovation Engine (IE) Firmware": "1.0.0.20"},
}


def expected_versions(spec: dict[str, Any]) -> dict[str, str]:
    """component key -> version, as hwfw names them (instances are Dell FQDDs in the lab),
    plus the platform firmware every iLO lists."""
    out = dict(HPE_PLATFORM[spec["model"]]) if spec["profile"] == "hpe" else {}
    for kind, value in spec["firmware"].items():
        if isinstance(value, dict):
            out.update({f"{kind}:{instance}": str(v) for instance, v in value.items()})
        else:
            out[kind] = str(value)
    return out


def resolved(sim: Any, names: list[str], protocol: str = "redfish") -> list[ResolvedHost]:
    return [ResolvedHost(Host(name=n, bmc=f"sim://{n}", protocol=protocol), sim.url(n), *CREDENTIALS)
            for n in names]


def settings(tmp_path: Path) -> Settings:
    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)


def test_lab_fleet_versions(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    fleet = lab_fleet()
    stats = CollectStats()

    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path, LAB.read_text()) as sim:
            return await collect(resolved(sim, list(sim.urls)), settings=settings(tmp_path),
                                 clock=SimClock(sim.fleet), concurrency=4, stats=stats)

    inv = asyncio.run(body())
    assert sorted(inv.hosts) == sorted(fleet["hosts"])
    for name, spec in fleet["hosts"].items():
        h = inv.hosts[name]
        assert h.reachable, h.error
        assert {c.key: c.version for c in h.components} == expected_versions(spec), name
        assert h.vendor == spec["profile"] and h.model == spec["model"]
        assert h.preflight is not None and h.preflight.power_state == spec.get("power", "On")
    assert inv.hosts["lab-smc-02"].preflight and inv.hosts["lab-smc-02"].preflight.licence_errors
    assert inv.hosts["lab-smc-01"].preflight and not inv.hosts["lab-smc-01"].preflight.licence_errors
    # A handful of requests per host: login, root, expanded collections, pre-flight, logout.
    assert max(stats.per_host_requests.values()) <= 11


def test_one_unreachable_host_does_not_stop_the_others(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path, LAB.read_text()) as sim:
            sim.fleet.set_faults("lab-hpe-02", {"down_mode": "refused", "bmc_down_extra": "forever"})
            sim.fleet.machines["lab-hpe-02"].bmc_reset("test")
            return await collect(resolved(sim, list(sim.urls)), settings=settings(tmp_path),
                                 clock=SimClock(sim.fleet), concurrency=4)

    inv = asyncio.run(body())
    bad = inv.hosts["lab-hpe-02"]
    assert not bad.reachable and bad.error and bad.error.startswith("lab-hpe-02: connection refused (http")
    assert all(h.reachable for n, h in inv.hosts.items() if n != "lab-hpe-02")


def test_ipmi_only_and_auto_hosts_in_the_lab(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path, LAB.read_text()) as sim:
            assert sim._ipmi, "the simulator did not start IPMI (port 623 needs root)"
            address = sim.addresses["lab-dell-01"]
            port = sim.fleet.machines["lab-dell-01"].spec.ipmi_port
            ipmi = ResolvedHost(Host(name="lab-dell-01", bmc=f"ipmi://{address}:{port}", protocol="ipmi"),
                                f"ipmi://{address}:{port}", *CREDENTIALS)
            # auto: Redfish is not answering on its port (service disabled, firewalled),
            # IPMI-over-LAN is: the host is read over IPMI.
            smc = sim.fleet.machines["lab-smc-01"]
            with socket.socket() as sock:
                sock.bind((sim.addresses["lab-smc-01"], 0))
                closed = sock.getsockname()[1]
            auto = ResolvedHost(Host(name="lab-smc-01", bmc="sim://lab-smc-01", protocol="auto"),
                                f"http://{sim.addresses['lab-smc-01']}:{closed}", *CREDENTIALS,
                                ipmi=(sim.addresses["lab-smc-01"], smc.spec.ipmi_port))
            return await collect([ipmi, auto], settings=settings(tmp_path), clock=SimClock(sim.fleet), concurrency=4)

    inv = asyncio.run(body())
    dell = inv.hosts["lab-dell-01"]
    assert dell.reachable and dell.protocol == "ipmi" and dell.vendor == "dell"
    comps = {c.key: c.version for c in dell.components}
    assert comps["bios"] is None and comps["bmc"] == "6.10"
    smc = inv.hosts["lab-smc-01"]
    assert smc.reachable and smc.protocol == "ipmi" and smc.vendor == "supermicro", smc.error
    assert {c.key: c.version for c in smc.components} == {"bmc": "1.01", "bios": None}


@pytest.mark.parametrize("after_sessions", [1, 3, 9])
def test_cancelled_collection_logs_out_everywhere(tmp_path: Path, sim_sessions: NoLeakedSessions,
                                                  after_sessions: int) -> None:
    """Ctrl-C (asyncio.run cancels the main task) in the middle of a run leaves no session,
    whether hosts are logging in, reading or logging out when it arrives."""

    async def body() -> int:
        async with sim_sessions.fleet(tmp_path, LAB.read_text()) as sim:
            opened = asyncio.Event()

            def live() -> int:
                return sum(len(svc.sessions.live()) for svc in sim.fleet.bmcs.values())

            def changed() -> None:
                if live() >= after_sessions:
                    opened.set()

            for svc in sim.fleet.bmcs.values():
                svc.sessions.listeners.append(changed)
            task = asyncio.create_task(collect(resolved(sim, list(sim.urls)), settings=settings(tmp_path),
                                               clock=SimClock(sim.fleet), concurrency=9))
            await opened.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return live()

    assert asyncio.run(body()) == 0
