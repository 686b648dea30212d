"""State file, lock and journals: atomic, durable, and explicit about who holds what."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from hwfw.errors import LockHeldError, StateError
from hwfw.state.files import append_json_line, read_json_lines
from hwfw.state.journal import AuditLog, IntentLog
from hwfw.state.lock import WorkspaceLock, force_unlock, read_lock_info
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import StateStore


def test_first_write_sets_lineage_and_serial_grows(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    empty = store.load()
    assert (empty.lineage, empty.serial) == ("", 0)
    first = store.write(empty)
    assert first.lineage and first.serial == 1
    rec = ComponentRecord(version="1.12.1", status="pending-activation", image_sha256="a" * 64)
    second = store.write(State(lineage=first.lineage, serial=first.serial, hosts={"h1": {"bios": rec}}))
    assert (second.lineage, second.serial) == (first.lineage, 2)
    loaded = store.load()
    assert loaded.serial == 2 and loaded.record("h1", "bios") == rec
    assert json.loads((tmp_path / "state.json").read_text())["lineage"] == first.lineage


def test_a_corrupt_state_file_is_an_error_not_a_fresh_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"lineage": "x", "serial": ')
    with pytest.raises(StateError, match="cannot read state file"):
        StateStore(path).load()


def test_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.json")
    store.write(store.load())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def _hold_lock(runtime: str, ready: multiprocessing.synchronize.Event) -> None:
    with WorkspaceLock(Path(runtime), "apply"):
        ready.set()
        signal.pause()


@pytest.mark.slow
def test_second_lock_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(tmp_path), ready))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockHeldError) as info:
            WorkspaceLock(tmp_path, "apply").acquire()
        assert f"pid {proc.pid}" in str(info.value) and "apply by" in str(info.value)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    # The kernel released the POSIX lock when the holder died: no force-unlock needed.
    with WorkspaceLock(tmp_path, "apply") as lock:
        assert lock.info is not None and lock.info.pid == os.getpid()


def test_force_unlock_needs_the_right_id(tmp_path: Path) -> None:
    lock = WorkspaceLock(tmp_path, "apply")
    lock.acquire()
    info = read_lock_info(tmp_path / "lock")
    assert info is not None
    with pytest.raises(StateError, match="does not match"):
        force_unlock(tmp_path, "wrong-id")
    assert force_unlock(tmp_path, info.id).id == info.id
    assert not (tmp_path / "lock").exists()
    lock.release()


def test_open_intents_are_those_without_resolution(tmp_path: Path) -> None:
    log = IntentLog(tmp_path / "intents.jsonl")
    a = log.open(run_id="r1", host="h1", component="bios", action="upload", image_sha256="b" * 64)
    b = log.open(run_id="r1", host="h1", component="bmc", action="update")
    log.resolve(a, "ok")
    assert [i["intent"] for i in log.open_intents()] == [b]


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    append_json_line(path, {"a": 1})
    with path.open("ab") as fh:
        fh.write(b'{"b": ')
    assert read_json_lines(path) == [{"a": 1}]


def test_audit_records_match_their_schema(tmp_path: Path) -> None:
    import jsonschema

    from tests.helpers import REPO_ROOT

    schema = json.loads((REPO_ROOT / "schemas" / "audit.schema.json").read_text())
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(run_id="r1", host="h1", component="bios", action="flash", outcome="pending-activation",
               before="1.10.2", after="1.12.1", image_sha256="c" * 64)
    (entry,) = log.entries()
    jsonschema.validate(entry, schema)
    assert "@" in entry["operator"]
