"""IPMI against a real simulated fleet (hwfw.sim.runtime.EmbeddedFleet with `ipmi: {enabled: true}`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hwfw.errors import IpmiError
from hwfw.ipmi import client
from hwfw.sim import runtime
from hwfw.sim.ipmi import IpmiMachine
from tests.ipmi.ipmi_testkit import eventually, free_udp_port, run

pytestmark = pytest.mark.slow

USER, PASSWORD = "admin", "password"
TIMEOUT = 5.0

FLEET = """\
seed: 11
defaults:
  speed: 0            # frozen virtual clock: only fleet.advance() moves it
  credentials: {{username: {user}, password: {password}}}
hosts:
  ipmi-dell:
    profile: dell
    model: PowerEdge R750
    power: "On"
    firmware: {{bmc: "6.10.30.00", bios: "1.10.2"}}
    ipmi: {{enabled: true, port: {port}}}
  ipmi-smc:
    profile: supermicro
    model: SYS-120U-TNR
    power: "Off"
    firmware: {{bmc: "01.01.10", bios: "1.4"}}
    ipmi: {{enabled: true, port: {port}}}
  ipmi-hpe:
    profile: hpe
    model: ProLiant DL380 Gen10
    power: "On"
    firmware: {{bmc: "2.72 Sep 04 2022", bios: "U30 v2.68 (07/14/2022)"}}
    ipmi: {{enabled: false, port: {port}}}
"""


def write_fleet(tmp_path: Path) -> Path:
    # Each host has its own loopback address; a high port avoids needing root for 623.
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET.format(user=USER, password=PASSWORD, port=free_udp_port()))
    return path


def ipmi_resets(sim: Any, name: str) -> list[dict[str, Any]]:
    return [e for e in sim.fleet.events.query(name, "reset") if e.get("cause") == "ipmi"]


def test_fleet_bmcs_answer_ipmi(tmp_path: Path) -> None:
    fleet_path = write_fleet(tmp_path)

    async def scenario() -> dict[str, Any]:
        async with runtime.EmbeddedFleet(fleet_path, tmp_path / "state") as sim:
            assert all(isinstance(m, IpmiMachine) for m in sim.fleet.machines.values())
            port = sim.fleet.machines["ipmi-dell"].spec.ipmi_port
            dell = sim.addresses["ipmi-dell"]
            out: dict[str, Any] = {
                "dell": await client.read_facts(dell, port, USER, PASSWORD, timeout=TIMEOUT, host="ipmi-dell"),
                "smc": await client.read_facts(sim.addresses["ipmi-smc"], port, USER, PASSWORD, timeout=TIMEOUT),
            }
            with pytest.raises(IpmiError) as info:  # IPMI-over-LAN disabled on this one
                await client.read_facts(sim.addresses["ipmi-hpe"], port, USER, PASSWORD, timeout=0.5)
            out["disabled"] = info.value

            # Power cycle over IPMI: the machine sees it (frozen clock: it stays off).
            await client.power(dell, port, USER, PASSWORD, "cycle", timeout=TIMEOUT)
            out["resets"] = ipmi_resets(sim, "ipmi-dell")
            out["during"] = await client.read_facts(dell, port, USER, PASSWORD, timeout=TIMEOUT)
            sim.fleet.advance(3600)
            out["after"] = await client.read_facts(dell, port, USER, PASSWORD, timeout=TIMEOUT)
            out["watchdog"] = await client.read_watchdog(dell, port, USER, PASSWORD, timeout=TIMEOUT)
            return out

    out = run(scenario())
    assert (out["dell"].power_state, out["dell"].bmc_version) == ("On", "6.10")
    assert (out["dell"].manufacturer_id, out["dell"].product_id) == (674, 256)
    assert (out["smc"].power_state, out["smc"].bmc_version, out["smc"].manufacturer_id) == ("Off", "1.01", 10876)
    # Silence, ended by the client's own deadline (not by the safety net behind it).
    assert "no valid IPMI answer within 0.5 s" in str(out["disabled"])
    assert [e["kind"] for e in out["resets"]] == ["power-off"]
    assert out["during"].power_state == "Off"
    assert out["after"].power_state == "On"
    assert not out["watchdog"].running


def test_fleet_bmc_cold_reset_goes_silent_and_comes_back(tmp_path: Path) -> None:
    fleet_path = write_fleet(tmp_path)

    async def scenario() -> tuple[list[str], client.IpmiFacts]:
        async with runtime.EmbeddedFleet(fleet_path, tmp_path / "state") as sim:
            machine = sim.fleet.machines["ipmi-dell"]
            address, port = sim.addresses["ipmi-dell"], machine.spec.ipmi_port
            await client.bmc_cold_reset(address, port, USER, PASSWORD, timeout=TIMEOUT)
            await eventually(lambda: machine.bmc_state == "down", what="BMC down after cold reset")
            with pytest.raises(IpmiError):  # a rebooting BMC does not answer
                await client.read_facts(address, port, USER, PASSWORD, timeout=0.5)
            sim.fleet.advance(3600)
            await eventually(lambda: machine.bmc_state == "up", what="BMC up again")
            facts = await client.read_facts(address, port, USER, PASSWORD, timeout=TIMEOUT)
            return [e["type"] for e in sim.fleet.events.query("ipmi-dell") if e["type"].startswith("bmc-")], facts

    bmc_events, facts = run(scenario())
    assert "bmc-down" in bmc_events and bmc_events[-1] == "bmc-up"
    assert facts.bmc_version == "6.10"
