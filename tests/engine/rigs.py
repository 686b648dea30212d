"""Both engines over the same in-memory BMCs, for tests and benchmarks that compare them.

The BMCs are tests/apply/support.py's `MemoryFleet` on a real-time clock that runs
`scale` times faster than the plan's estimates (a 10-minute reboot takes 10/scale
minutes), so the Temporal engine's real timers and the executor see the same time.
`run_local` runs the executor (the local engine); `run_temporal` hands the same plan to
a rollout workflow served by an in-process `hwfw worker` whose site activities drive
the same in-memory BMCs (hwfw.engine.temporal.worker with injected drivers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hwfw.apply.executor import ExecOptions, Executor
from hwfw.apply.ledger import Ledger
from hwfw.apply.resume import SettleReport
from hwfw.apply.run import ApplyOptions, Handover
from hwfw.apply.scheduler import Rollout
from hwfw.config import load_workspace
from hwfw.config.model import Workspace
from hwfw.plan import plan as make_plan
from hwfw.plan.model import Plan
from tests.apply.support import MemoryFleet, MemoryImages, write_workspace


class ScaledClock:
    """Real time for deadlines (`monotonic`), sleeps `scale` times shorter than asked
    (the in-memory BMCs sleep plan-estimate seconds), `now` in those faster seconds
    (the fleet's event log)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self.t0 = time.monotonic()

    @property
    def now(self) -> float:
        return (time.monotonic() - self.t0) * self.scale

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.scale)


@dataclass
class MemoryRig:
    workspace: Workspace
    fleet: MemoryFleet
    clock: ScaledClock
    hosts: dict[str, tuple[str, str, dict[str, str]]]

    def plan(self) -> Plan:
        state = Ledger(self.workspace.settings, "plan", self.clock).state
        inv = self.fleet.inventory({h: (v, m) for h, (v, m, _) in self.hosts.items()})
        return make_plan(self.workspace, inv, state)


def memory_rig(tmp: Path, hosts: dict[str, tuple[str, str, dict[str, str]]], scale: float) -> MemoryRig:
    ws = load_workspace(write_workspace(tmp, hosts))
    ws = replace(ws, settings=replace(ws.settings, timing=replace(ws.settings.timing, time_scale=scale)))
    clock = ScaledClock(scale)
    fleet = MemoryFleet(clock, {h: fw for h, (_, _, fw) in hosts.items()})  # type: ignore[arg-type]
    return MemoryRig(ws, fleet, clock, dict(hosts))


def rollout(rig: MemoryRig, *, parallelism: int, window: float | None = None, **knobs: Any) -> Rollout:
    deadline = rig.clock.monotonic() + window / rig.clock.scale if window is not None else None
    return Rollout(parallelism=parallelism, deadline=deadline, time_scale=rig.clock.scale, **knobs)


async def run_local(rig: MemoryRig, plan: Plan, rules: Rollout, on_failure: str = "halt-host",
                    run_id: str = "local1") -> dict[str, Any]:
    """The executor: {host: (status, message)}."""
    ledger = Ledger(rig.workspace.settings, run_id, rig.clock, offload=False)
    ex = Executor(plan, rig.workspace, ledger, rig.fleet.driver, MemoryImages(), clock=rig.clock,
                  options=ExecOptions(run_id=run_id, on_failure=on_failure, rollout=rules))
    summary = await ex.run()
    return {h: (o.status, o.message) for h, o in summary.hosts.items()}


async def run_temporal(rig: MemoryRig, plan: Plan, rules: Rollout, client: Any, on_failure: str = "halt-host",
                       run_id: str = "temporal1", tuning: dict[str, Any] | None = None,
                       timeout: float = 600, on_start: Callable[[Any], None] | None = None,
                       concurrency: int | None = None) -> tuple[dict[str, Any], Any]:
    """The same plan as a rollout workflow: ({host: (status, message)}, RolloutResult).
    `on_start` gets the rollout's workflow handle once it started."""
    from hwfw.engine.temporal.client import start_rollout
    from hwfw.engine.temporal.launch import hand_over
    from hwfw.engine.temporal.worker import run_worker

    state = Ledger(rig.workspace.settings, run_id, rig.clock).state
    handover = Handover(plan, rules, SettleReport(), {}, state, run_id, rig.clock)
    result = await hand_over(rig.workspace, ApplyOptions(on_failure=on_failure), handover, tuning=tuning)
    inp = result.extra["rollout"]
    stop = asyncio.Event()
    ready = asyncio.Event()
    worker = asyncio.ensure_future(run_worker(
        rig.workspace, site=None, address="", namespace="", state_writer=True, client=client,
        drivers=rig.fleet.driver, images=MemoryImages(), clock=rig.clock, stop=stop, concurrency=concurrency,
        on_ready=lambda _queues: ready.set()))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        handle = await start_rollout(client, inp, memo={"run_id": run_id, "hosts": inp.hosts})
        if on_start is not None:
            on_start(handle)
        # the worker task ends only on a fatal worker error: then no one runs the rollout
        result = asyncio.ensure_future(handle.result())
        await asyncio.wait([result, worker], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not result.done():
            result.cancel()
            if worker.done():
                why = "cancelled" if worker.cancelled() else repr(worker.exception())
                raise AssertionError(f"the worker stopped: {why}")
            raise TimeoutError(f"the rollout did not end within {timeout} s")
        done = result.result()
    finally:
        stop.set()
        await asyncio.wait_for(worker, 60)
    return {h: (o["status"], o.get("message", "")) for h, o in done.hosts.items()}, done


async def temporal_client(address: str) -> Any:
    from temporalio.client import Client

    return await Client.connect(address)
