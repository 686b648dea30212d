"""The IPMI watchdog of simulated BMCs over real UDP sockets, on the virtual clock, and the
"hang in POST" fault it recovers from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hwfw.ipmi import client as ipmi
from tests.ipmi.ipmi_testkit import free_udp_port
from tests.sim.bios_support import SETTINGS, SYS, booted, kinds
from tests.sim.support import advance, client, control, events, host, run, sim_fleet, until

pytestmark = pytest.mark.slow

USER, PASSWORD = "admin", "password"
SET, RESET, GET = 0x24, 0x22, 0x25


def arm_bytes(use: int, action: int, seconds: float, clear: int = 0, dont_stop: bool = False) -> bytes:
    ticks = int(seconds * 10)
    return bytes([use | (0x40 if dont_stop else 0), action, 0, clear, ticks & 0xFF, ticks >> 8])


async def ipmi_raw(sim: Any, name: str, *commands: tuple[int, bytes]) -> list[ipmi.RawResponse]:
    port = sim.fleet.machines[name].spec.ipmi_port
    return await ipmi.raw_commands(sim.addresses[name], port, USER, PASSWORD,
                                   [(0x06, cmd, data) for cmd, data in commands], timeout=5.0)


async def watchdog(sim: Any, name: str) -> ipmi.WatchdogState:
    port = sim.fleet.machines[name].spec.ipmi_port
    return await ipmi.read_watchdog(sim.addresses[name], port, USER, PASSWORD, timeout=5.0)


def ipmi_host(profile: str = "dell") -> dict[str, Any]:
    return host(profile, ipmi={"enabled": True, "port": free_udp_port()})


def test_countdown_runs_on_virtual_time_and_fires_its_action(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"w1": ipmi_host()}) as sim, control(sim) as ctl:
            first, _ = await ipmi_raw(sim, "w1", (RESET, b""), (SET, arm_bytes(4, 1, 60)))
            assert first.code == 0x80  # never set: "attempt to start un-initialized watchdog"
            state = await watchdog(sim, "w1")
            assert (state.running, state.timer_use, state.timeout_action) == (False, 4, 1)
            assert state.present_countdown == 60.0
            await advance(ctl, 600)  # set, not started: nothing counts down
            assert (await watchdog(sim, "w1")).present_countdown == 60.0
            await ipmi_raw(sim, "w1", (RESET, b""))
            await advance(ctl, 20)
            state = await watchdog(sim, "w1")
            assert state.running and state.present_countdown == 40.0
            assert not await events(ctl, "watchdog-fired")
            await advance(ctl, 40)
            state = await watchdog(sim, "w1")
            assert not state.running and state.present_countdown == 0.0
            assert state.expiration_flags == 0x10  # SMS/OS expired
            log = await events(ctl)
            assert kinds(log, "watchdog-armed", "watchdog-fired", "reset") == \
                ["watchdog-armed", "watchdog-fired", "reset"]
            fired = next(e for e in log if e["type"] == "watchdog-fired")
            # started at t=600 with 60 s to go
            assert (fired["timer_use"], fired["action"], fired["t"]) == ("sms-os", "hard-reset", 660.0)
            reset = next(e for e in log if e["type"] == "reset")
            assert (reset["kind"], reset["cause"]) == ("host-reboot", "watchdog")
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 0, 60, clear=0x10)))
            assert (await watchdog(sim, "w1")).expiration_flags == 0

    run(main())


def test_set_stops_a_running_timer_unless_told_not_to(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"w1": ipmi_host()}) as sim, control(sim) as ctl:
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 2, 30)), (RESET, b""))
            await advance(ctl, 10)
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 2, 100, dont_stop=True)))
            await advance(ctl, 50)
            state = await watchdog(sim, "w1")
            assert state.running and state.present_countdown == 50.0  # restarted from the new value
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 0, 100)))  # "mc watchdog off"
            await advance(ctl, 3600)
            assert not (await watchdog(sim, "w1")).running
            disarmed = await events(ctl, "watchdog-disarmed")
            assert [e["reason"] for e in disarmed] == ["set"] and not await events(ctl, "watchdog-fired")
            assert sim.fleet.machines["w1"].power_state == "On"

    run(main())


def test_power_down_action_and_a_bmc_reboot_forgets_the_timer(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"w1": ipmi_host("supermicro")}) as sim, client(sim, "w1") as c, \
                control(sim) as ctl:
            await ipmi_raw(sim, "w1", (SET, arm_bytes(3, 2, 5)), (RESET, b""))
            await advance(ctl, 6)
            assert (await c.get(SYS["supermicro"])).json()["PowerState"] == "Off"
            assert (await watchdog(sim, "w1")).expiration_flags == 0x08  # OS load expired
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 1, 300)), (RESET, b""))
            await ctl.post("/__sim/machine", json={"bmc": "w1", "action": "bmc-reset"})
            await advance(ctl, 600)
            again = (await ipmi_raw(sim, "w1", (RESET, b"")))[0]
            assert again.code == 0x80  # the reboot forgot the configuration...
            state = await watchdog(sim, "w1")
            assert not state.running and state.expiration_flags == 0x08  # ...but not why the last reset happened
            assert [e["reason"] for e in await events(ctl, "watchdog-disarmed")] == ["bmc-reset"]

    run(main())


def test_a_host_hanging_in_post_stays_there_until_reset(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await ctl.post("/__sim/faults", json={"bmc": "d1", "hang_in_post": True})
            assert r.status_code == 200, r.text
            await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await advance(ctl, 3600)
            system = (await c.get(SYS["dell"])).json()
            assert (system["PowerState"], system["BootProgress"]["LastState"]) == ("On", "MemoryInitializationStarted")
            state = await sim_host(ctl, "d1")
            assert state["hung"] is True and state["bios"]["attributes"]["LogicalProc"] == "Enabled"
            await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "GracefulRestart"})
            await advance(ctl, 600)
            assert (await c.get(SYS["dell"])).json()["BootProgress"]["LastState"] == "MemoryInitializationStarted"
            await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await booted(c, ctl, "dell")  # the fault hangs one POST only
            log = await events(ctl)
            assert kinds(log, "post-hang", "reset-ignored", "post-finished") == \
                ["post-hang", "reset-ignored", "post-finished"]

    run(main())


def test_watchdog_recovers_a_hang_in_post_and_the_staged_bios_job_runs_after(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": ipmi_host()}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await c.patch(SETTINGS["dell"], json={"Attributes": {"LogicalProc": "Disabled"},
                                                      "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}})
            jid = r.headers["location"].rsplit("/", 1)[-1]
            await ctl.post("/__sim/faults", json={"bmc": "d1", "hang_in_post": True})
            await ipmi_raw(sim, "d1", (SET, arm_bytes(4, 3, 900)), (RESET, b""))  # SMS/OS, power cycle, 15 min
            await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await advance(ctl, 600)
            job = (await c.get(f"/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/{jid}")).json()
            assert job["JobState"] == "Scheduled"  # Lifecycle Controller never ran: POST hung before it
            assert (await c.get(SYS["dell"])).json()["BootProgress"]["LastState"] == \
                "MemoryInitializationStarted"

            async def converged() -> bool:
                return (await c.get(SYS["dell"])).json()["BootProgress"]["LastState"] == "OSRunning"

            await until(ctl, converged)
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["LogicalProc"] == "Disabled"
            log = await events(ctl)
            assert kinds(log, "post-hang", "watchdog-fired", "post-finished", "bios-settings-applied") == \
                ["post-hang", "watchdog-fired", "post-finished", "bios-settings-applied"]
            cycle = [e for e in log if e["type"] == "reset" and e["cause"] == "watchdog"]
            assert [e["kind"] for e in cycle] == ["power-off", "power-on"]
            state = await watchdog(sim, "d1")
            assert not state.running and state.expiration_flags == 0x10

    run(main())


async def sim_host(ctl: Any, name: str) -> dict[str, Any]:
    r = await ctl.get("/__sim/state", params={"bmc": name})
    return dict(r.json())


def test_a_running_watchdog_and_a_hang_survive_a_simulator_restart(tmp_path: Path) -> None:
    hosts = {"w1": ipmi_host()}

    async def main() -> None:
        async with sim_fleet(tmp_path, hosts) as sim, client(sim, "w1") as c, control(sim) as ctl:
            await ctl.post("/__sim/faults", json={"bmc": "w1", "hang_in_post": True})
            await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await advance(ctl, 60)
            await ipmi_raw(sim, "w1", (SET, arm_bytes(4, 1, 300)), (RESET, b""))
            await advance(ctl, 100)
        async with sim_fleet(tmp_path, hosts) as sim, client(sim, "w1") as c, control(sim) as ctl:
            state = await watchdog(sim, "w1")
            assert state.running and state.present_countdown == 200.0
            assert (await c.get(SYS["dell"])).json()["BootProgress"]["LastState"] == "MemoryInitializationStarted"
            await advance(ctl, 200)
            assert [e["action"] for e in await events(ctl, "watchdog-fired")] == ["hard-reset"]
            await booted(c, ctl, "dell")

    run(main())
