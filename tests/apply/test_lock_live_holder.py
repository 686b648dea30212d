"""Two applies on one workspace while the first holds the lock (issue 17, point 2).

The first `hwfw apply` is held inside its pre-host hook, which signals through a FIFO
that it started and then waits on another FIFO (no sleeps): while it holds the lock,
`hwfw state force-unlock` is refused (with and without --force), a second apply is
refused without a hint to break the lock, and once the first finishes no BMC has
received an image twice (the simulator's event log).
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from hwfw.state.lock import read_lock_info
from tests.apply.support import ServedLab, serve_lab
from tests.helpers import edit, run_hwfw

pytestmark = pytest.mark.slow

HOOK = 'exec 3<>go.fifo; echo "$HWFW_HOST" > started.fifo; read line <&3'


def _wait_for_hook(fd: int, apply: subprocess.Popen[str], timeout: float = 120) -> str:
    """The host name the hook wrote into started.fifo; fails if apply ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 1.0)  # wakes as soon as the hook writes
        if readable:
            data = os.read(fd, 256).decode()
            if data:
                return data.strip()
        if apply.poll() is not None:
            raise AssertionError(f"apply ended (exit {apply.returncode}) before its hook: "
                                 f"{apply.stderr.read()[-3000:]}")
    raise AssertionError("the pre-host hook never started")


def _release_hook(workspace: Path) -> None:
    fd = os.open(workspace / "go.fifo", os.O_WRONLY | os.O_NONBLOCK)  # the hook holds it open (fd 3)
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)


def _held_lab(tmp_path: Path) -> ServedLab:
    lab = serve_lab(tmp_path, ["lab-gen-01"])
    os.mkfifo(lab.workspace / "started.fifo")
    os.mkfifo(lab.workspace / "go.fifo")
    edit(lab.workspace / "hwfw.yaml", "  policies:\n",
         f"  hooks:\n    pre_host: [sh, -c, '{HOOK}']\n    timeout: 10m\n  policies:\n")
    return lab


def test_a_live_apply_keeps_its_lock_and_a_second_apply_is_refused(tmp_path: Path) -> None:
    lab = _held_lab(tmp_path)
    ws = lab.workspace
    started = os.open(ws / "started.fifo", os.O_RDONLY | os.O_NONBLOCK)
    first = subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(ws), "--auto-approve", "--format", "json"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **lab.env})
    released = False
    try:
        assert _wait_for_hook(started, first) == "lab-gen-01"
        info = read_lock_info(ws / ".hwfw" / "lock")
        assert info is not None and info.pid == first.pid and info.operation == "apply"

        for extra in ((), ("--force",)):
            unlock = run_hwfw("-C", str(ws), "state", "force-unlock", info.id, *extra, env=lab.env)
            assert unlock.returncode == 1, unlock.stderr
            assert f"pid {first.pid} holds the lock on this host" in unlock.stderr
            assert "Traceback" not in unlock.stderr
        assert read_lock_info(ws / ".hwfw" / "lock") == info

        second = run_hwfw("apply", str(ws), "--auto-approve", "--format", "json", env=lab.env, timeout=120)
        assert second.returncode == 1, second.stdout[-2000:] + second.stderr[-2000:]
        assert f"the workspace is locked: apply by {info.who} (pid {first.pid})" in second.stderr
        assert "force-unlock" not in second.stderr

        _release_hook(ws)
        released = True
        out, err = first.communicate(timeout=180)
        assert first.returncode == 0, err[-3000:]
        events = lab.events()
        received = Counter((e["bmc"], e["sha256"]) for e in events if e["type"] == "image-received")
        assert received and max(received.values()) == 1, received
        flashed = Counter((e["bmc"], e["component"], e.get("to")) for e in events if e["type"] == "flash-started")
        assert flashed and max(flashed.values()) == 1, flashed
        assert read_lock_info(ws / ".hwfw" / "lock") is None  # released by the first apply itself
    finally:
        os.close(started)
        if first.poll() is None:
            if not released:
                try:
                    _release_hook(ws)
                except OSError:
                    pass
            first.kill()
            first.wait()
        lab.process.stop()
