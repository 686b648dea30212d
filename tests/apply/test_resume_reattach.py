"""Resume after an interrupted run: a BMC still working on our update is re-attached and
followed until it ends, and the operator is told so once, not once per poll."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hwfw.apply.events import ApplyEvents
from hwfw.apply.ledger import Ledger
from hwfw.apply.resume import settle_open_intents
from hwfw.apply.scheduler import Rollout
from tests.apply.support import MemoryDriver, Recorder, generic_hosts


def test_a_busy_bmc_is_reported_re_attached_once_while_it_is_followed(make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(generic_hosts(1))
    _interrupted_flash(rig)
    polls = {"n": 0}

    class BusyThenDone(MemoryDriver):
        async def settle_intent(self, intent: Mapping[str, Any]) -> str:
            polls["n"] += 1
            if polls["n"] <= 34:
                return "in-flight:/redfish/v1/TaskService/Tasks/7"
            self.bmc.running["bmc"] = "2.15.0"
            return "done"

    recorder = Recorder()
    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    report = asyncio.run(rig.clock.drive(settle_open_intents(
        ledger, lambda host: BusyThenDone(rig.fleet, rig.fleet.bmcs[host]), settings=rig.workspace.settings,
        clock=rig.clock, events=ApplyEvents(recorder, rig.clock, "run2"))))
    assert polls["n"] == 35 and [v for _, _, v in report.settled] == ["done"]
    warnings = recorder.of("warning")
    assert len(warnings) == 1
    assert warnings[0][0] == "edge-000" and "re-attached to flash of bmc: /redfish/v1/TaskService/Tasks/7" \
        in warnings[0][1]


def _interrupted_flash(rig) -> None:  # type: ignore[no-untyped-def]
    rig.fleet.bmcs["edge-000"].block_flash = asyncio.Event()

    async def interrupted_run() -> None:
        ex = rig.executor(rig.plan(), rollout=Rollout(parallelism=1))
        task = asyncio.ensure_future(ex.run())
        while not rig.fleet.of("flash-started"):
            await rig.clock.sleep(1)
        ex.interrupt()
        ex.interrupt()  # leave the flash running on the BMC: its intent stays open
        await task

    asyncio.run(rig.clock.drive(interrupted_run()))


def test_a_bmc_that_comes_back_within_bmc_ready_timeout_is_waited_for_then_settled(make_rig) -> None:  # type: ignore[no-untyped-def]
    """A BMC the interrupted run was resetting refuses connections for a while: settling
    waits for it (timing.bmc_ready_timeout) instead of refusing the host."""
    rig = make_rig(generic_hosts(1))
    _interrupted_flash(rig)
    bmc = rig.fleet.bmcs["edge-000"]
    bmc.down = True
    back_after = rig.workspace.settings.timing.bmc_ready_timeout / 2

    class Done(MemoryDriver):
        async def settle_intent(self, intent: Mapping[str, Any]) -> str:
            self.bmc.running["bmc"] = "2.15.0"
            return "done"

    async def comes_back() -> None:
        await rig.clock.sleep(back_after)
        bmc.down = False

    async def settle() -> Any:
        up = asyncio.ensure_future(comes_back())
        report = await settle_open_intents(ledger, lambda host: Done(rig.fleet, rig.fleet.bmcs[host]),
                                           settings=rig.workspace.settings, clock=rig.clock,
                                           events=ApplyEvents(recorder, rig.clock, "run2"))
        await up
        return report

    recorder = Recorder()
    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    start = rig.clock.monotonic()
    report = asyncio.run(rig.clock.drive(settle()))
    assert report.blocked == {} and [v for _, _, v in report.settled] == ["done"]
    assert rig.clock.monotonic() - start >= back_after
    warnings = recorder.of("warning")
    assert len(warnings) == 1 and "waiting up to" in warnings[0][1]


def test_a_bmc_still_down_after_bmc_ready_timeout_blocks_its_host(make_rig) -> None:  # type: ignore[no-untyped-def]
    rig = make_rig(generic_hosts(1))
    _interrupted_flash(rig)
    rig.fleet.bmcs["edge-000"].down = True
    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    start = rig.clock.monotonic()
    report = asyncio.run(rig.clock.drive(settle_open_intents(
        ledger, rig.fleet.driver, settings=rig.workspace.settings, clock=rig.clock)))
    assert list(report.blocked) == ["edge-000"] and "cannot settle" in report.blocked["edge-000"]
    waited, timeout = rig.clock.monotonic() - start, rig.workspace.settings.timing.bmc_ready_timeout
    assert timeout <= waited < timeout + 60
