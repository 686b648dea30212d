"""Benchmark: `hwfw serve` under load: a 1,000-host workspace with an apply of 200 hosts running.

Starts `hwfw sim serve` with 1,000 simulated BMCs (the lab's vendor mix, 50 times faster
than real hardware, the workspace's waits scaled to match) in its own process, a copy of
the lab whose inventory names them, and `hwfw serve` on it as a real process. Once the
server has read the fleet, a plan of 200 hosts is made, approved and applied; while the
run goes on:

- one client asks `GET /api/firmware/status` over and over (a new request as soon as the
  last answered, a keep-alive connection) and records each latency;
- 100 WebSocket clients (in two processes) follow the run; each live event carries the
  time the server published it, and the lag of every event at every client is recorded
  (events sent from the store when a client connected are not counted).

Targets: status p99 <= 50 ms; WebSocket lag p99 <= 200 ms. Prints the figures.

    python benchmarks/bench_serve.py [--hosts 1000] [--apply 200] [--clients 100] [--apply-in thread] [--check]

On a shared machine, `nice -n -10 python benchmarks/bench_serve.py` gives the benchmark
(server, simulator and clients alike) the CPU it asks for; the figures in docs/server.md
say which way they were taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

STATUS_P99_MS, LAG_P99_MS = 50.0, 200.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ws_child(url: str, token: str, clients: int, out: Path) -> None:
    """`clients` WebSocket clients on one run; writes [[seq, lag_seconds], ...] per client."""
    from websockets.asyncio.client import connect

    async def one() -> list[tuple[int, float]]:
        lags = []
        async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None,
                           open_timeout=60) as ws:
            async for message in ws:
                now = time.time()
                doc = json.loads(message)
                if "end" in doc:
                    break
                lags.extend((item["seq"], now - item["published"]) for item in doc["events"] if "published" in item)
        return lags

    async def main() -> list[list[tuple[int, float]]]:
        return list(await asyncio.gather(*(one() for _ in range(clients))))

    out.write_text(json.dumps(asyncio.run(main())))


# Real-world waits (README, "Settings"); the workspace divides them by the simulator's speed.
REAL_WORLD = {"poll_interval": 10, "stability_interval": 30, "bmc_ready_timeout": 600, "post_timeout": 1200,
              "graceful_shutdown_timeout": 300}
REAL_DEADLINES = {"bmc": 1800, "bios": 2700, "cpld": 2700, "nic": 1800}


def timing_block(speed: float) -> str:
    lines = ["  simulator:", f"    speed: {speed:g}", "  timing:", f"    time_scale: {speed:g}",
             "    request_timeout: 30s", "    stability_checks: 3"]
    lines += [f"    {k}: {v / speed * 1000:.0f}ms" for k, v in REAL_WORLD.items()]
    lines += ["    component_deadlines:"] + [f"      {k}: {v / speed:.0f}s" for k, v in REAL_DEADLINES.items()]
    return "\n".join(lines) + "\n"


def build(work: Path, hosts: int, speed: float, apply_in: str) -> tuple[Any, Path, dict[str, str]]:
    from bench_plan_live import generate_fleet, host_names

    from hwfw.sim.runtime import start_fleet_process

    fleet = work / "fleet.yaml"
    generate_fleet(fleet, host_names(hosts))
    inventory = work / "served-inventory.yaml"
    env = {"HWFW_CACHE": str(work / "cache"), "HWFW_SIM_PASSWORD": "password"}
    sim = start_fleet_process(fleet, work / "sim-state", args=["--speed", f"{speed:g}", "--write-inventory",
                                                               str(inventory)], env=env, timeout=300)
    workspace = work / "lab"
    shutil.copytree(REPO / "examples" / "lab", workspace, ignore=shutil.ignore_patterns(".hwfw"))
    (workspace / "inventory.yaml").write_text(inventory.read_text())
    text = (workspace / "hwfw.yaml").read_text()
    text = text[:text.index("  simulator:")] + timing_block(speed)      # the lab's waits are for speed 200
    text = text.replace("\nsettings:\n", f"\nsettings:\n  allowed_roots: [{work / 'sim-state'}]\n"
                                         f"  plan_concurrency: 200\n  server:\n    apply_in: {apply_in}\n", 1)
    (workspace / "hwfw.yaml").write_text(text)
    return sim, workspace, env


def run(args: argparse.Namespace) -> int:
    import httpx

    from tests.server.harness import make_tokens, start_server, wait_for

    work = Path(tempfile.mkdtemp(prefix="hwfw-bench-serve-"))
    sim, workspace, env = build(work, args.hosts, args.speed, args.apply_in)
    os.environ.update(env)
    served = None
    try:
        tokens = make_tokens(workspace, env)
        served = start_server(workspace, tokens, env=env, timeout=600)
        op = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {tokens['operator']}"}, timeout=600)
        ap = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {tokens['approver']}"}, timeout=60)
        viewer = httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {tokens['viewer']}"},
                              timeout=60)
        t0 = time.monotonic()
        status = wait_for("the fleet read", lambda: (s := viewer.get("/api/firmware/status").json())["inventory"]
                          ["time"] and not s["inventory"]["scanning"] and s, timeout=900, interval=0.5)
        print(f"workspace: {status['summary']['hosts']} hosts, fleet read in {time.monotonic() - t0:.1f} s")
        names = [h["name"] for h in viewer.get("/api/firmware/hosts", params={"status": "behind"}).json()["hosts"]]
        targets = names[:args.apply]
        t0 = time.monotonic()
        made = op.post("/api/firmware/plans", json={"targets": targets, "rollout": {"parallelism": args.apply}})
        made.raise_for_status()
        plan_id = made.json()["plan"]["plan_id"]
        print(f"plan of {len(targets)} hosts, {made.json()['plan']['document']['summary']['steps']} steps: "
              f"{time.monotonic() - t0:.1f} s")
        ap.post(f"/api/firmware/plans/{plan_id}/approve").raise_for_status()
        started = op.post("/api/firmware/update", json={"plan_id": plan_id})
        started.raise_for_status()
        run_id = started.json()["run"]["run_id"]
        ws_url = served.ws_url(f"/api/firmware/runs/{run_id}/ws")
        outs = [work / f"lags-{i}.json" for i in range(2)]
        children = [subprocess.Popen([sys.executable, __file__, "--ws-child", ws_url, tokens["viewer"],
                                      str(args.clients // 2), str(out)]) for out in outs]
        latencies: list[float] = []
        done = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {tokens['viewer']}"},
                              timeout=120) as c:
                while not done.is_set():
                    t = time.perf_counter()
                    r = c.get("/api/firmware/status")
                    latencies.append(time.perf_counter() - t)
                    if r.json()["current_run"] is None:
                        done.set()

        poller = threading.Thread(target=poll)
        t0, cpu0, load0 = time.monotonic(), cpu_seconds(served.process.pid), os.getloadavg()[0]
        poller.start()
        for child in children:
            child.wait()
        done.set()
        poller.join()
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(served.process.pid) - cpu0
        load1 = os.getloadavg()[0]
        view = viewer.get(f"/api/firmware/runs/{run_id}").json()
        lags = [lag for out in outs for client in json.loads(out.read_text()) for _, lag in client]
        events = view["progress"]["last_seq"]
        status_ms = [x * 1000 for x in latencies]
        lag_ms = [x * 1000 for x in lags]
        print(f"run {run_id} (apply in a {args.apply_in}): {view['run']['status']}, {view['progress']['counts']}, "
              f"{events} events, {elapsed:.1f} s")
        print(f"hwfw serve used {cpu:.0f} s of CPU in {elapsed:.0f} s ({cpu / elapsed:.0%} of a core); machine load "
              f"average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} CPUs (figures need the CPU the server asks for)")
        print(f"GET /api/firmware/status during the run: {len(status_ms)} requests, p50 {pct(status_ms, 50):.1f} ms, "
              f"p99 {pct(status_ms, 99):.1f} ms, max {max(status_ms):.1f} ms (target p99 <= {STATUS_P99_MS:.0f} ms)")
        print(f"WebSocket, {args.clients} clients: {len(lag_ms)} live deliveries, lag p50 {pct(lag_ms, 50):.1f} ms, "
              f"p99 {pct(lag_ms, 99):.1f} ms, max {max(lag_ms, default=float('nan')):.1f} ms "
              f"(target p99 <= {LAG_P99_MS:.0f} ms)")
        ok = pct(status_ms, 99) <= STATUS_P99_MS and pct(lag_ms, 99) <= LAG_P99_MS and view["run"]["status"] == \
            "succeeded"
        return 0 if ok or not args.check else 1
    finally:
        if served is not None:
            served.stop()
        sim.stop()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--ws-child":
        ws_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--apply", type=int, default=200)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--speed", type=float, default=50,
                        help="simulator speed (the workspace's waits are scaled to it); default 50")
    parser.add_argument("--apply-in", choices=("process", "thread"), default="process",
                        help="settings.server.apply_in: the apply in a worker process (default) or a thread")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server log, workspace)")
    sys.exit(run(parser.parse_args()))


if __name__ == "__main__":
    main()
