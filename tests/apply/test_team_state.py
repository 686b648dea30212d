"""Acceptance (issue 16): two checkouts of one workspace share a PostgreSQL state backend.

Both copies of the lab point at the same `hwfw sim serve` process (so they drive the
same simulated BMCs, whose event log is the ground truth) and at the same database
schema. While one `hwfw apply` runs, the other exits 1 naming the holder; SIGKILL of the
holder frees the lock when its database session ends (no force-unlock), and the next
apply, from the other checkout, settles the intents the killed run left open: no image
is flashed twice.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from hwfw.config import load_workspace
from hwfw.state.backend import open_backend
from hwfw.state.lock import LockInfo
from tests.apply.support import assert_nothing_flashed_twice, serve_lab
from tests.helpers import use_postgres

pytestmark = pytest.mark.slow

HOSTS = ["lab-dell-01", "lab-hpe-02", "lab-smc-01", "lab-gen-01"]


def _backend_view(workspace: Path) -> Callable[[], tuple[LockInfo | None, list[dict[str, Any]]]]:
    settings = load_workspace(workspace).settings

    async def read() -> tuple[LockInfo | None, list[dict[str, Any]]]:
        async with open_backend(settings) as backend:
            return await backend.lock_info(), await backend.open_intents()

    return lambda: asyncio.run(read())


def _apply(workspace: Path, env: dict[str, str], **kw: Any) -> Any:
    return subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(workspace), "--auto-approve", "--format",
                             "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _until(what: str, cond: Callable[[], bool], proc: subprocess.Popen[str] | None = None,
           timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"apply ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)   # polling the database and the simulator's log, not a synchronisation delay


def test_two_checkouts_one_database_one_apply_at_a_time_and_kill_9_resumes_elsewhere(
        tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    lab = serve_lab(tmp_path, HOSTS)
    try:
        first = lab.workspace
        second = tmp_path / "elsewhere" / "lab"
        shutil.copytree(first, second)
        for ws in (first, second):
            use_postgres(ws, pg_schema)
        env = {**os.environ, **lab.env, "COLUMNS": "160"}
        view = _backend_view(first)
        lab.faults("lab-dell-01", upload_rate=20000)       # keeps the first run busy on one host
        holder = _apply(first, env)
        _until("the first apply holding the lock", lambda: (view()[0] or LockInfo("", "", "", 0, "")).pid
               == holder.pid, holder)

        t0 = time.monotonic()
        refused = subprocess.run([sys.executable, "-m", "hwfw", "apply", str(second), "--auto-approve"],
                                 capture_output=True, text=True, env=env, timeout=60)
        assert refused.returncode == 1 and time.monotonic() - t0 < 20
        assert "the workspace is locked: apply by" in refused.stderr and f"pid {holder.pid}" in refused.stderr
        assert str(first) in refused.stderr                 # which checkout holds it

        _until("a BMC flashing while flash intents are open",
               lambda: any(e["type"] == "flash-started" for e in lab.events())
               and any(i["action"] == "flash" for i in view()[1]), holder)
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
        started = {(e["bmc"], e["component"], e["to"]) for e in lab.events() if e["type"] == "flash-started"}
        # the killed holder's database session ended: the lock is free without force-unlock
        _until("the lock freed by the session's end", lambda: view()[0] is None, timeout=30)
        left_open = view()[1]
        assert any(i["action"] == "flash" for i in left_open)

        lab.clear_faults("lab-dell-01")
        final = _apply(second, env)
        out, err = final.communicate(timeout=240)
        assert final.returncode == 0, err[-3000:]
        assert view() == (None, [])                         # every intent of the killed run settled
        assert_nothing_flashed_twice(lab.events(), started)

        async def audit() -> list[dict[str, Any]]:
            async with open_backend(load_workspace(second).settings) as backend:
                return await backend.journal("audit")

        settled = {e["message"].split()[1] for e in asyncio.run(audit()) if e["action"].startswith("settle:")}
        assert {i["intent"] for i in left_open} <= settled
        again = subprocess.run([sys.executable, "-m", "hwfw", "plan", str(first), "--detailed-exitcode"],
                               capture_output=True, text=True, env=env, timeout=120)
        assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
        # neither checkout wrote local state: the database holds it
        assert not (first / ".hwfw" / "state.json").exists() and not (second / ".hwfw" / "state.json").exists()
    finally:
        lab.process.stop()
