"""State backend benchmark: what a state write, a lock round-trip and an intent cost,
on the local files and on PostgreSQL.

    python benchmarks/bench_state_backend.py [--hosts 200] [--rounds 50] [--dsn-env VAR]

For each backend (`local`: files in a temporary directory on this machine's disk;
`postgres`: a server started for the run from /usr/lib/postgresql/*/bin, like the
tests', or the database whose connection string is in --dsn-env):

* **state write**: one compare-and-set write of a state of `--hosts` hosts with four
  component records each (what the apply ledger's group commit does after a step);
* **lock round-trip**: take and release the workspace lock (a PostgreSQL lock opens its
  own session, so this includes a connection);
* **intent**: open and resolve one intent (two durable appends: fsync or commit).

Printed: median and 95th percentile over `--rounds`, in milliseconds. The throwaway
server runs with fsync off, so its writes are cheaper than a production server's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hwfw.config.model import BackendSettings, Settings  # noqa: E402
from hwfw.state.backend import open_backend  # noqa: E402
from hwfw.state.model import ComponentRecord, State  # noqa: E402


def _state(hosts: int) -> State:
    rec = ComponentRecord(version="1.12.1", status="ok", image_sha256="a" * 64, image_id="dell-bios-1.12.1",
                          previous_version="1.10.2", updated_at="2026-01-01T00:00:00Z", run_id="0123456789ab")
    return State(lineage="", hosts={f"host-{i:05d}": {k: rec for k in ("bmc", "bios", "cpld", "nic:NIC.1")}
                                    for i in range(hosts)})


async def _timed(rounds: int, op: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await op()
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def measure(settings: Settings, hosts: int, rounds: int) -> dict[str, list[float]]:
    async with open_backend(settings) as backend:
        current = await backend.write(_state(hosts))        # connects, migrates, first write

        async def write() -> None:
            nonlocal current
            current = await backend.write(current)

        async def lock() -> None:
            async with backend.lock("bench"):
                pass

        async def intent() -> None:
            iid = await backend.open_intent(run_id="bench", host="host-00000", component="bios", action="flash")
            await backend.resolve_intent(iid, "done")

        return {"state write": await _timed(rounds, write), "lock round-trip": await _timed(rounds, lock),
                "intent open+resolve": await _timed(rounds, intent)}


def report(kind: str, figures: dict[str, list[float]], hosts: int) -> None:
    for what, ms in figures.items():
        p95 = sorted(ms)[max(0, int(len(ms) * 0.95) - 1)]
        extra = f" ({hosts} hosts)" if what == "state write" else ""
        print(f"{kind:8s} {what + extra:28s} median {statistics.median(ms):7.2f} ms   p95 {p95:7.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--dsn-env", default=None, help="use this database instead of a throwaway server")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hwfw-bench-state-") as tmp:
        local = Settings(state_path=Path(tmp) / ".hwfw" / "state.json", runtime_dir=Path(tmp) / ".hwfw")
        report("local", asyncio.run(measure(local, args.hosts, args.rounds)), args.hosts)
        server = None
        env = args.dsn_env
        if env is None:
            from tests.pgserver import start_server

            server = start_server()
            env = "HWFW_BENCH_PG_DSN"
            os.environ[env] = server.dsn
        try:
            pg = replace(local, backend=BackendSettings(type="postgres", dsn_env=env,
                                                        schema=f"bench_{os.getpid()}"))
            report("postgres", asyncio.run(measure(pg, args.hosts, args.rounds)), args.hosts)
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
