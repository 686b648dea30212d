"""Acceptance (issue 5, point 3): SIGKILL a running `hwfw apply` at several points and
resume, against `hwfw sim serve` running as its own process.

The moments are detected from the simulator's event log and the workspace's intent
log (no sleeps): during an upload, right after the BMC accepted an image, during a
BMC task, during a reboot wait. After each kill the state file must parse; the last
apply must converge, and no image may have been flashed twice on any host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from hwfw.state.files import read_json_lines
from hwfw.state.store import StateStore
from tests.apply.support import ServedLab, serve_lab

pytestmark = pytest.mark.slow

HOSTS = ["lab-dell-01", "lab-hpe-02", "lab-smc-01", "lab-gen-01"]


def _start_apply(lab: ServedLab) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **lab.env})


def _open_flash_intents(lab: ServedLab) -> list[dict[str, Any]]:
    records = read_json_lines(lab.workspace / ".hwfw" / "intents.jsonl")
    resolved = {r["resolves"] for r in records if "resolves" in r}
    return [r for r in records if "intent" in r and r["intent"] not in resolved and r["action"] == "flash"]


def _kill_when(lab: ServedLab, proc: subprocess.Popen[str], cond: Callable[[list[dict[str, Any]]], bool],
               since: int, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"apply ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-2000:]}")
        if cond(lab.events(since)):
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        time.sleep(0.005)  # polling the simulator's log, not a synchronisation delay
    proc.kill()
    raise AssertionError(f"never saw {what}")


def _state_parses(lab: ServedLab) -> None:
    path = lab.workspace / ".hwfw" / "state.json"
    if path.exists():
        json.loads(path.read_text())
        StateStore(path).load()


def _last_seq(lab: ServedLab) -> int:
    events = lab.events()
    return events[-1]["seq"] if events else 0


def test_sigkill_at_four_points_then_resume_converges_without_double_flash(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, HOSTS)
    try:
        # 1. during an upload: lab-dell-01's uploads crawl; kill while its flash intent is open
        lab.faults("lab-dell-01", upload_rate=20000)
        since = _last_seq(lab)
        proc = _start_apply(lab)
        _kill_when(lab, proc, lambda ev: any(i["host"] == "lab-dell-01" for i in _open_flash_intents(lab))
                   and not any(e["bmc"] == "lab-dell-01" and e["type"] == "image-received" for e in ev),
                   since, "an upload to lab-dell-01")
        _state_parses(lab)
        lab.clear_faults("lab-dell-01")
        # 2. right after a BMC accepted an image
        since = _last_seq(lab)
        proc = _start_apply(lab)
        _kill_when(lab, proc, lambda ev: any(e["type"] == "image-received" for e in ev), since,
                   "a BMC accepting an image")
        _state_parses(lab)
        # 3. during a BMC task
        since = _last_seq(lab)
        proc = _start_apply(lab)
        _kill_when(lab, proc, lambda ev: any(e["type"] == "task" and e.get("state") == "Running" for e in ev),
                   since, "a running task")
        _state_parses(lab)
        # 4. during a reboot wait
        since = _last_seq(lab)
        proc = _start_apply(lab)
        _kill_when(lab, proc, lambda ev: any(e["type"] == "reset" and e.get("kind") == "host-reboot" for e in ev),
                   since, "a host reboot")
        _state_parses(lab)
        # resume to the end
        final = subprocess.run([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                                "--format", "json"], capture_output=True, text=True, env={**os.environ, **lab.env},
                               timeout=180)
        finished = "\n".join(line for line in final.stdout.splitlines() if "host-finished" in line)
        assert final.returncode == 0, final.stderr[-3000:] + finished
        _state_parses(lab)
        events = lab.events()
        flashed = Counter((e["bmc"], e["component"], e.get("instance"), e.get("to"))
                          for e in events if e["type"] == "flash-started")
        assert flashed and max(flashed.values()) == 1, flashed
        received = Counter((e["bmc"], e["sha256"]) for e in events if e["type"] == "image-received")
        assert max(received.values()) == 1, received
        again = subprocess.run([sys.executable, "-m", "hwfw", "plan", str(lab.workspace), "--detailed-exitcode"],
                               capture_output=True, text=True, env={**os.environ, **lab.env}, timeout=120)
        assert again.returncode == 0, again.stdout[-2000:]
    finally:
        lab.process.stop()
