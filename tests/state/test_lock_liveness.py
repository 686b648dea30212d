"""force-unlock never breaks a lock whose holder runs: the kernel's view of the POSIX
lock decides (F_GETLK), not whether the recorded pid exists (pids are reused)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwfw.errors import LockHeldError
from hwfw.state.lock import WorkspaceLock, force_unlock, lock_holder, read_lock_info
from tests.state.test_store import _hold_lock


def _start_holder(runtime: Path) -> multiprocessing.Process:
    """Another process that takes the workspace lock of `runtime` and keeps it."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(runtime), ready))
    proc.start()
    assert ready.wait(60)
    return proc


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[multiprocessing.Process]:
    """A holder of the lock of `tmp_path` until the test ends."""
    proc = _start_holder(tmp_path)
    try:
        yield proc
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGKILL)
        proc.join()


def _recorded_as(path: Path, who: str) -> None:
    """Rewrite who the lock file says holds it (a holder on another host of a shared filesystem)."""
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "who": who}) + "\n")


@pytest.mark.slow
def test_the_kernel_names_the_live_holder(tmp_path: Path, holder: multiprocessing.Process) -> None:
    assert lock_holder(tmp_path / "lock") == holder.pid


@pytest.mark.slow
def test_force_unlock_refuses_a_live_holder_even_with_force(tmp_path: Path, holder: multiprocessing.Process) -> None:
    info = read_lock_info(tmp_path / "lock")
    assert info is not None and info.pid == holder.pid
    for force in (False, True):
        with pytest.raises(LockHeldError) as refused:
            force_unlock(tmp_path, info.id, force=force)
        assert f"pid {holder.pid} holds the lock on this host" in str(refused.value)
    assert (tmp_path / "lock").exists()
    with pytest.raises(LockHeldError) as second:  # and the holder still excludes a second run
        WorkspaceLock(tmp_path, "apply").acquire()
    assert "force-unlock" not in str(second.value)  # no hint to break a live lock
    assert "releases the lock when it exits" in str(second.value)


@pytest.mark.slow
def test_a_holder_on_another_host_needs_force(tmp_path: Path, holder: multiprocessing.Process) -> None:
    _recorded_as(tmp_path / "lock", "ops@control-2")
    info = read_lock_info(tmp_path / "lock")
    assert info is not None
    with pytest.raises(LockHeldError) as second:
        WorkspaceLock(tmp_path, "apply").acquire()
    assert f"hwfw state force-unlock {info.id} --force" in str(second.value)
    with pytest.raises(LockHeldError) as refused:
        force_unlock(tmp_path, info.id)
    assert "cannot be seen from here" in str(refused.value) and "images flashed twice" in str(refused.value)
    assert (tmp_path / "lock").exists()
    assert force_unlock(tmp_path, info.id, force=True).id == info.id
    assert not (tmp_path / "lock").exists()


@pytest.mark.slow
def test_a_record_whose_holder_died_is_removed_without_force(tmp_path: Path) -> None:
    proc = _start_holder(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    # The kernel released the lock with the process; the record (an NFS-like leftover) stays.
    (tmp_path / "lock").write_text(json.dumps({"id": "dead-1", "operation": "apply", "who": "ops@elsewhere",
                                               "pid": proc.pid, "created": "2026-01-01T00:00:00Z"}) + "\n")
    assert lock_holder(tmp_path / "lock") is None
    assert force_unlock(tmp_path, "dead-1").id == "dead-1"


def test_a_recorded_pid_that_exists_but_holds_nothing_is_not_a_holder(tmp_path: Path) -> None:
    # pid 1 always exists; it is not the one holding this lock (nobody is): the record is stale.
    (tmp_path / "lock").write_text(json.dumps({"id": "reused", "operation": "apply", "who": "ops@host",
                                               "pid": 1, "created": "2026-01-01T00:00:00Z"}) + "\n")
    assert lock_holder(tmp_path / "lock") is None
    assert force_unlock(tmp_path, "reused").pid == 1


def test_a_lock_file_removed_between_open_and_lock_is_not_the_one_held(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A force-unlock --force that lands between our open() and lockf(): the lock we get is
    # on a file nobody else will open, so acquire must lock the file that is there now.
    import hwfw.state.lock as lock_module

    real_lockf = lock_module.fcntl.lockf
    calls = []

    def racing_lockf(fd: int, cmd: int, *args: int) -> None:
        calls.append(cmd)
        if len(calls) == 1:
            (tmp_path / "lock").unlink()
        real_lockf(fd, cmd, *args)

    monkeypatch.setattr(lock_module.fcntl, "lockf", racing_lockf)
    lock = WorkspaceLock(tmp_path, "apply")
    lock.acquire()
    try:
        assert lock._fd is not None and os.fstat(lock._fd).st_ino == os.stat(tmp_path / "lock").st_ino
        assert read_lock_info(tmp_path / "lock") == lock.info
    finally:
        lock.release()
