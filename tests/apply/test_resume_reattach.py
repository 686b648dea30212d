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
