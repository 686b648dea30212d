"""Apply benchmark: fleet makespan against its lower bound, resets, upload memory.

    python benchmarks/bench_apply.py [--hosts 200] [--max-unavailable 20] [--skip-upload]

1. **Makespan** (a rolling fleet update should finish within 5 % of what its slowest
   host and max-unavailable allow). A 200-host fleet (the lab's
   nine host types, repeated) is planned by the real planner and applied by the real
   executor and scheduler over in-memory BMCs on a discrete-event clock, with every step
   taking exactly its plan estimate (no jitter). Printed against the lower bound
   `max(longest single-host path, total host downtime / max-unavailable)` computed from
   the plan. Target: <= 1.05x the bound.
2. **Resets**: per host, resets seen by the BMCs against the plan's count.
3. **Upload memory**: a 1 GiB image pushed to a `hwfw sim serve` BMC (its own process)
   through the real driver (`make_driver(...).flash`, the drivers' streaming upload);
   peak RSS of this process above its baseline, sampled every 5 ms. Target <= 16 MiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwfw.apply.events import HOST_CONVERGED  # noqa: E402
from hwfw.apply.scheduler import Rollout, makespan_lower_bound, shapes_of  # noqa: E402


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def makespan(hosts: int, max_unavailable: int) -> None:
    from hwfw.apply.executor import ExecOptions, Executor
    from hwfw.apply.ledger import Ledger
    from hwfw.apply.run import ApplyOptions  # noqa: F401  (the CLI's knobs map onto Rollout)
    from hwfw.clock import DiscreteClock
    from hwfw.config import load_workspace
    from hwfw.plan import plan as make_plan
    from tests.apply.support import LAB_HOSTS, MemoryFleet, MemoryImages, write_workspace

    kinds = list(LAB_HOSTS.items())
    fleet_hosts = {f"{name}-{i:03d}": spec for i in range(hosts // len(kinds) + 1) for name, spec in kinds}
    fleet_hosts = dict(list(fleet_hosts.items())[:hosts])
    tmp = Path(tempfile.mkdtemp(prefix="hwfw-bench-apply-"))
    try:
        ws = load_workspace(write_workspace(tmp / "ws", fleet_hosts))
        clock = DiscreteClock()
        fleet = MemoryFleet(clock, {h: fw for h, (_, _, fw) in fleet_hosts.items()})
        inventory = fleet.inventory({h: (v, m) for h, (v, m, _) in fleet_hosts.items()})
        t0 = time.perf_counter()
        plan = make_plan(ws, inventory, Ledger(ws.settings, "plan", clock).state, parallelism=hosts)
        plan_s = time.perf_counter() - t0
        # every reset takes exactly its plan estimate on its host
        per_host = {s.host: {} for s in plan.steps}
        for s in plan.steps:
            if s.kind == "activate":
                per_host[s.host][s.activation] = s.estimate_seconds
        real_reset = fleet.bmcs[next(iter(per_host))].__class__  # noqa: F841

        orig_driver = fleet.driver

        def driver(host: str):  # type: ignore[no-untyped-def]
            d = orig_driver(host)
            d.fleet = _HostTimes(fleet, per_host.get(host, {}))
            return d

        shapes = shapes_of(plan.steps)
        bound = makespan_lower_bound(shapes.values(), max_unavailable)
        ledger = Ledger(ws.settings, "bench", clock, offload=False)
        ex = Executor(plan, ws, ledger, driver, MemoryImages(), clock=clock,
                      options=ExecOptions(run_id="bench", rollout=Rollout(parallelism=hosts,
                                                                          max_unavailable=max_unavailable)))
        t0 = time.perf_counter()
        summary = asyncio.run(clock.drive(ex.run()))
        wall = time.perf_counter() - t0
        converged = sum(1 for o in summary.hosts.values() if o.status == HOST_CONVERGED)
        longest = max(s.path_seconds for s in shapes.values())
        down = sum(s.downtime_seconds for s in shapes.values())
        print(f"makespan: {len(shapes)} hosts with work ({hosts} in the fleet), max-unavailable {max_unavailable}, "
              f"{converged} converged")
        print(f"  makespan {clock.now / 60:.1f} min (virtual), lower bound {bound / 60:.1f} min = max(longest host "
              f"path {longest / 60:.1f} min, total downtime {down / 60:.0f} min / {max_unavailable}) -> "
              f"{clock.now / bound:.3f}x the bound (target <= 1.05x)")
        print(f"  peak hosts out of service (power log): {fleet.peak_down()}; plan {plan_s:.2f} s, "
              f"executor {wall:.1f} s real for {len(plan.steps)} steps, {ledger.writes} state writes")
        # resets per host against the plan's count
        mismatched = []
        for hp in plan.hosts:
            seen = Counter(e["kind"] for e in fleet.of("reset", hp.name))
            want = Counter({"host-reboot": hp.resets.host_reboots, "bmc-reset": hp.resets.bmc_resets,
                            "ac-cycle": hp.resets.ac_cycles})
            if seen != +want:
                mismatched.append((hp.name, dict(seen), dict(+want)))
        total_seen = Counter(e["kind"] for e in fleet.of("reset"))
        total_plan = Counter({"host-reboot": plan.summary.host_reboots, "bmc-reset": plan.summary.bmc_resets,
                              "ac-cycle": plan.summary.ac_cycles})
        print(f"resets: seen {dict(sorted(total_seen.items()))}, plan {dict(sorted(total_plan.items()))}; "
              f"hosts whose resets differ from the plan: {len(mismatched)}"
              + (f" {mismatched[:3]}" if mismatched else ""))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _HostTimes:
    """The fleet as one driver sees it, with that host's reset durations = plan estimates."""

    def __init__(self, fleet, resets) -> None:  # type: ignore[no-untyped-def]
        self._fleet = fleet
        self.reset_seconds = {**fleet.reset_seconds, **resets}

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self._fleet, name)


def upload_memory(size: int) -> None:
    import yaml

    from hwfw.apply.driver import FlashRequest
    from hwfw.apply.drivers import make_driver
    from hwfw.clock import SystemClock
    from hwfw.config import load_workspace
    from hwfw.config.model import RepositoryEntry
    from hwfw.connect import connect
    from hwfw.plan.model import Image, Step
    from hwfw.sim.images import make_image
    from hwfw.sim.runtime import start_fleet_process

    tmp = Path(tempfile.mkdtemp(prefix="hwfw-bench-upload-"))
    try:
        fleet = {"seed": 1, "defaults": {"credentials": {"username": "admin", "password": "password"}},
                 "hosts": {"up-01": {"profile": "generic", "model": "Contoso OpenServer 2",
                                     "firmware": {"bmc": "2.15.0", "bios": "1.0.5"},
                                     "options": {"max_image_size": 2 * size}}}}
        (tmp / "fleet.yaml").write_text(yaml.safe_dump(fleet))
        image = tmp / "big-bios.bin"
        t0 = time.perf_counter()
        digest = make_image("generic", "Contoso OpenServer 2", "bios", "1.1.0", size, image)
        print(f"upload: made a {image.stat().st_size / 2**30:.2f} GiB image in {time.perf_counter() - t0:.1f} s")
        inv = tmp / "inventory.yaml"
        with start_fleet_process(tmp / "fleet.yaml", tmp / "sim", args=["--speed", "200", "--write-inventory", str(inv),
                                                                       "--port", "8443"]):
            ws_dir = tmp / "ws"
            shutil.copytree(REPO / "examples" / "lab", ws_dir, ignore=shutil.ignore_patterns(".hwfw"))
            (ws_dir / "inventory.yaml").write_text(inv.read_text())
            os.environ["HWFW_SIM_PASSWORD"] = "password"
            ws = load_workspace(ws_dir)
            entry = RepositoryEntry(id="big-bios", vendor="generic", component="bios", version="1.1.0",
                                    models=("Contoso OpenServer 2",), source=str(image), sha256=digest,
                                    size=image.stat().st_size, apply_times=("OnReset",), method="multipart")
            step = Step(id="up-01/flash/bios", host="up-01", kind="flash", component="bios", from_version="1.0.5",
                        to_version="1.1.0", image=Image("big-bios", digest), apply_time="OnReset",
                        activation="host-reboot", estimate_seconds=120.0, rollback="irreversible")

            async def push() -> tuple[float, float, float, str]:
                async with connect(ws, clock=SystemClock()) as conn:
                    driver = await make_driver(conn.hosts["up-01"], workspace=ws, clock=conn.clock)
                    async with driver:
                        base = _rss_mib()
                        peak = [base]
                        stop = threading.Event()

                        def sample() -> None:
                            while not stop.is_set():
                                peak[0] = max(peak[0], _rss_mib())
                                stop.wait(0.005)

                        th = threading.Thread(target=sample, daemon=True)
                        th.start()
                        t = time.perf_counter()
                        try:
                            result = await driver.flash(FlashRequest("bench", step, "bios", "bios", entry, image),
                                                        lambda p, m: None)
                            outcome = f"{result.status} via {result.method}"
                        except Exception as exc:  # the upload itself is what is measured
                            outcome = f"failed after upload: {exc}"
                        took = time.perf_counter() - t
                        stop.set()
                        th.join()
                        return base, peak[0], took, outcome

            base, peak, took, outcome = asyncio.run(push())
            print(f"  1 GiB upload through the driver: {outcome}; {took:.1f} s ({size / 2**20 / took:.0f} MiB/s incl. "
                  f"the BMC's task); peak RSS {peak:.1f} MiB vs baseline {base:.1f} MiB: +{peak - base:.1f} MiB "
                  f"(target <= 16 MiB)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--max-unavailable", type=int, default=20)
    ap.add_argument("--upload-bytes", type=int, default=1 << 30)
    ap.add_argument("--skip-upload", action="store_true")
    args = ap.parse_args()
    makespan(args.hosts, args.max_unavailable)
    if not args.skip_upload:
        upload_memory(args.upload_bytes)


if __name__ == "__main__":
    main()
