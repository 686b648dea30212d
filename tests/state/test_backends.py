"""State, lock, intents, audit and resume on both state backends (one parametrised suite).

`local` is the files under `.hwfw/`; `postgres` is a real PostgreSQL server started
for the session (tests/pgserver.py), each test in a schema of its own.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import jsonschema
import pytest

from hwfw.config.model import BackendSettings, Settings
from hwfw.errors import LockHeldError, StaleStateError, StateError
from hwfw.state.backend import StateBackend, open_backend
from hwfw.state.model import ComponentRecord, State
from tests.helpers import REPO_ROOT

T = TypeVar("T")
BACKENDS = ["local", pytest.param("postgres", marks=pytest.mark.slow)]  # a PostgreSQL server


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = Settings(state_path=tmp_path / ".hwfw" / "state.json", runtime_dir=tmp_path / ".hwfw")
    if request.param == "local":
        return base
    request.getfixturevalue("pg_dsn")
    return replace(base, backend=BackendSettings(type="postgres", dsn_env="HWFW_PG_DSN",
                                                 schema=request.getfixturevalue("pg_schema")))


def run(settings: Settings, body: Callable[[StateBackend], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_backend(settings) as backend:
            return await body(backend)

    return asyncio.run(main())


def test_first_write_sets_lineage_and_serial_grows(settings: Settings) -> None:
    async def body(b: StateBackend) -> None:
        empty = await b.load()
        assert (empty.lineage, empty.serial) == ("", 0)
        first = await b.write(empty)
        assert first.lineage and first.serial == 1
        rec = ComponentRecord(version="1.12.1", status="pending-activation", image_sha256="a" * 64)
        second = await b.write(State(lineage=first.lineage, serial=first.serial, hosts={"h1": {"bios": rec}}))
        assert (second.lineage, second.serial) == (first.lineage, 2)
        loaded = await b.load()
        assert loaded.serial == 2 and loaded.record("h1", "bios") == rec
        assert json.loads(await b.read_document() or b"{}")["lineage"] == first.lineage

    run(settings, body)


def test_a_stale_serial_write_is_refused(settings: Settings) -> None:
    async def body(b: StateBackend) -> None:
        first = await b.write(await b.load())
        mine, theirs = await b.load(), await b.load()
        await b.write(replace(theirs, checkpoints={"note": "theirs"}))
        with pytest.raises(StaleStateError, match="serial 2, but this write is based on serial 1"):
            await b.write(replace(mine, checkpoints={"note": "mine"}))
        with pytest.raises(StaleStateError, match="lineage"):
            await b.write(State(lineage="another-lineage", serial=2))
        with pytest.raises(StaleStateError):
            await b.write(State(lineage="", serial=0))       # a fresh state over an existing one
        stored = await b.load()
        assert (stored.lineage, stored.serial, dict(stored.checkpoints)) == (first.lineage, 2, {"note": "theirs"})

    run(settings, body)


@pytest.mark.slow
def test_a_stale_write_from_another_process_is_refused(settings: Settings) -> None:
    """Two processes read serial 1; the second to write fails loudly."""
    run(settings, lambda b: b.write(State(lineage="")))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(_write_once, (_portable(settings), 1)) == 2
    lineage = _lineage(settings)
    with pytest.raises(StaleStateError):
        run(settings, lambda b: b.write(State(lineage=lineage, serial=1)))


def _lineage(settings: Settings) -> str:
    return run(settings, lambda b: b.load()).lineage


def _portable(settings: Settings) -> tuple[Path, Path, BackendSettings]:
    """What a spawned process needs to rebuild `settings` (Settings itself does not pickle)."""
    return settings.state_path, settings.runtime_dir, settings.backend


def _rebuild(portable: tuple[Path, Path, BackendSettings]) -> Settings:
    state_path, runtime_dir, backend = portable
    return Settings(state_path=state_path, runtime_dir=runtime_dir, backend=backend)


def _write_once(portable: tuple[Path, Path, BackendSettings], serial: int) -> int:
    settings = _rebuild(portable)
    lineage = _lineage(settings)
    return run(settings, lambda b: b.write(State(lineage=lineage, serial=serial))).serial


def _hold_lock(portable: tuple[Path, Path, BackendSettings], ready: Any) -> None:
    settings = _rebuild(portable)

    async def main() -> None:
        async with open_backend(settings) as backend, backend.lock("apply"):
            ready.set()
            await asyncio.get_running_loop().create_future()   # until killed

    asyncio.run(main())


@pytest.mark.slow
def test_second_lock_fails_at_once_naming_the_holder_and_dying_frees_it(settings: Settings) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(_portable(settings), ready))
    proc.start()
    try:
        assert ready.wait(30)

        async def second(b: StateBackend) -> None:
            async with b.lock("apply"):
                raise AssertionError("two holders")

        with pytest.raises(LockHeldError) as info:
            run(settings, second)
        assert f"pid {proc.pid}" in str(info.value) and "apply by" in str(info.value)
        holder = run(settings, lambda b: b.lock_info())
        assert holder is not None and holder.pid == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    # The holder's death freed the lock (the kernel's record lock; the database session):
    # no force-unlock. The server notices a killed client's closed socket on its own time.
    _until(lambda: run(settings, lambda b: b.lock_info()) is None)

    async def third(b: StateBackend) -> int:
        async with b.lock("apply") as info:
            assert (await b.lock_info()) == info
            return info.pid

    assert run(settings, third) == os.getpid()


def _until(cond: Callable[[], bool], timeout: float = 20) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.02)   # polling the backend for the condition, not a synchronisation delay


def test_force_unlock_needs_the_right_id(settings: Settings) -> None:
    async def body(holder: StateBackend) -> None:
        async with holder.lock("apply") as held, open_backend(settings) as other:
            with pytest.raises(StateError, match="does not match"):
                await other.force_unlock("wrong-id", force=True)
            if settings.backend.type == "postgres":   # the holder's session is alive: not without --force
                with pytest.raises(StateError, match="session .* is alive"):
                    await other.force_unlock(held.id)
            assert (await other.force_unlock(held.id, force=True)).id == held.id
            assert await other.lock_info() is None
            with pytest.raises(StateError, match="not locked"):
                await other.force_unlock(held.id)

    run(settings, body)


def test_open_intents_are_those_without_resolution(settings: Settings) -> None:
    async def body(b: StateBackend) -> None:
        a = await b.open_intent(run_id="r1", host="h1", component="bios", action="upload", image_sha256="b" * 64)
        c = await b.open_intent(run_id="r1", host="h1", component="bmc", action="update", to_version="2.0")
        await b.resolve_intent(a, "ok")
        (left,) = await b.open_intents()
        assert left["intent"] == c and left["details"] == {"to_version": "2.0"}
        assert [r.get("intent") or r.get("resolves") for r in await b.journal("intents")] == [a, c, a]
        journal_schema = json.loads((REPO_ROOT / "schemas" / "journal.schema.json").read_text())
        for record in await b.journal("intents"):   # each backend stores the same documents
            jsonschema.validate(record, journal_schema)

    run(settings, body)


def test_audit_records_match_their_schema(settings: Settings) -> None:
    schema = json.loads((REPO_ROOT / "schemas" / "audit.schema.json").read_text())

    async def body(b: StateBackend) -> None:
        await b.audit(run_id="r1", host="h1", component="bios", action="flash", outcome="pending-activation",
                      before="1.10.2", after="1.12.1", image_sha256="c" * 64)
        (entry,) = await b.journal("audit")
        jsonschema.validate(entry, schema)
        assert "@" in entry["operator"]

    run(settings, body)


# ---------------------------------------------------------------- resume, through the apply ledger

class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs in the dying run."""


def test_killed_after_the_bmc_accepted_a_staged_image_is_never_flashed_again(settings: Settings,
                                                                               make_rig: Any) -> None:
    from tests.apply.support import generic_hosts

    rig = make_rig(generic_hosts(1))
    rig.with_settings(backend=settings.backend)
    fleet = rig.fleet
    real_log = fleet.log

    def log_then_die(host: str, type_: str, **fields: Any) -> None:
        real_log(host, type_, **fields)
        if type_ == "flash" and fields.get("key") == "bios":
            raise Killed

    fleet.log = log_then_die
    with pytest.raises(Killed):
        rig.apply()
    fleet.log = real_log
    fleet.bmcs["edge-000"].staged["bios"] = ("1.1.0", "host-reboot")   # the BMC had accepted it
    assert [(i["component"], i["action"]) for i in rig.open_intents()] == [("bios", "flash")]
    report, ledger = rig.settle("run2")
    assert [v for _, _, v in report.settled] == ["done"] and not report.blocked
    assert ledger.record("edge-000", "bios").status == "pending-activation"
    assert rig.open_intents() == []
    plan = rig.plan()
    assert [s.id for s in plan.steps] == ["edge-000/activate/host-reboot#1", "edge-000/verify/bios"]
    summary, _ = rig.apply(plan, run_id="run3")
    assert summary.exit_code == 0
    assert Counter(e["key"] for e in fleet.of("flash", "edge-000")) == Counter({"bmc": 1, "bios": 1})
    audit = run(rig.workspace.settings, lambda b: b.journal("audit"))
    assert {e["action"] for e in audit} >= {"flash", "settle:flash", "activate:host-reboot"}
