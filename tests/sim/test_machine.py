"""The machine API the IPMI server drives, and the virtual clock under it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.sim.vclock import Scheduler, VirtualClock
from tests.sim.support import host, run, sim_fleet


@pytest.mark.slow
def test_ipmi_facing_machine_api(tmp_path: Path) -> None:
    async def main() -> None:
        hosts = {"d": host("dell"), "h": host("hpe"), "s": host("supermicro"), "g": host("generic")}
        async with sim_fleet(tmp_path, hosts) as sim:
            m = {n: sim.fleet.machines[n] for n in hosts}
            assert {n: x.ipmi_ids[0] for n, x in m.items()} == {"d": 674, "h": 47196, "s": 10876, "g": 0}
            assert m["d"].bmc_version == "6.10.30.00" and m["h"].bmc_version == "2.72 Sep 04 2022"
            assert m["g"].ipmi_credentials == {"admin": "password"}
            d = m["d"]
            d.ipmi_power("off")
            assert d.power_state == "Off"
            d.ipmi_power("on")
            assert d.power_state == "On" and d.in_post
            sim.fleet.advance(600)
            d.ipmi_power("softoff")
            assert d.power_state == "On"  # ACPI shutdown takes a while
            sim.fleet.advance(60)
            assert d.power_state == "Off"
            d.ipmi_power("cycle")  # while off: the host simply powers on
            sim.fleet.advance(600)
            assert d.power_state == "On"
            d.ipmi_power("diag")
            with pytest.raises(ValueError):
                d.ipmi_power("explode")
            d.bmc_reset()
            assert not d.bmc_available
            sim.fleet.advance(600)
            assert d.bmc_available
            kinds = [e["kind"] for e in sim.fleet.events.query("d", "reset")]
            assert kinds == ["power-off", "power-on", "power-off", "power-on", "nmi", "bmc-reset"]

    run(main())


def test_scheduler_runs_due_timers_in_order_when_advanced() -> None:
    clock = VirtualClock(speed=0)
    sched = Scheduler(clock)
    seen: list[tuple[float, str]] = []
    sched.after(10, lambda: seen.append((clock.now(), "b")))
    sched.after(5, lambda: seen.append((clock.now(), "a")))
    sched.after(5, lambda: sched.after(1, lambda: seen.append((clock.now(), "nested"))))
    assert sched.run_due() == 0
    sched.advance(20)
    assert seen == [(5.0, "a"), (6.0, "nested"), (10.0, "b")]
    assert clock.now() == 20.0


def test_clock_speed_scales_real_time() -> None:
    clock = VirtualClock(speed=1000)
    assert clock.real_delay(360) == pytest.approx(0.36)
    clock.set_speed(0)
    frozen = clock.now()
    assert clock.now() == frozen and clock.real_delay(5) is None
    assert clock.advance(30) == pytest.approx(frozen + 30)
