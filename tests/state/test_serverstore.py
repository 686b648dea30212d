"""The server's store (hwfw.state.serverstore) behaves the same on SQLite and PostgreSQL:
records round-trip and are schema-checked, a run's update is a compare-and-set, events
are numbered from 1 per run and resumable after any number, workspaces sharing a
PostgreSQL schema never see each other's records."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.config.model import BackendSettings, Settings
from hwfw.errors import StaleStateError, StateError
from hwfw.state.serverstore import (
    ApprovalRecord,
    AuditRecord,
    PlanRecord,
    RunRecord,
    ServerStore,
    TokenRecord,
    open_server_store,
)

PLAN_DOC = {"format_version": 1, "hosts": [], "steps": []}


def _settings(tmp_path: Path, kind: str, schema: str = "", workspace: str = "default") -> Settings:
    backend = BackendSettings(type="postgres", dsn_env="HWFW_PG_DSN", schema=schema, workspace=workspace) \
        if kind == "postgres" else BackendSettings()
    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path / ".hwfw", backend=backend)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.slow)])  # a PostgreSQL server
def make_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Settings]:
    if request.param == "sqlite":
        return lambda workspace="default": _settings(tmp_path, "sqlite")
    request.getfixturevalue("pg_dsn")
    schema = request.getfixturevalue("pg_schema")
    return lambda workspace="default": _settings(tmp_path, "postgres", schema, workspace)


def _run(body: Callable[[ServerStore], Any], settings: Settings) -> Any:
    async def main() -> Any:
        store = open_server_store(settings)
        try:
            return await body(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


def _run_record(run_id: str = "r1", **kw: Any) -> RunRecord:
    return RunRecord(run_id=run_id, plan_id=None, status="queued", created="2026-01-01T00:00:00Z",
                     created_by="alice (operator)", hosts=("h1", "h2"), **kw)


def test_records_round_trip(make_settings: Callable[..., Settings]) -> None:
    plan = PlanRecord("0123456789abcdef", "2026-01-01T00:00:00Z", "alice (operator)", 3, PLAN_DOC, commit="abc",
                      rollout={"parallelism": 4, "canary": 1})
    approval = ApprovalRecord("0123456789abcdef", "bob (approver)", "2026-01-01T00:01:00Z", "approved", "ok")
    token = TokenRecord("00112233aabb", "ci", "viewer", "a" * 64, "2026-01-01T00:00:00Z", "root@h")

    async def body(store: ServerStore) -> None:
        await store.save_plan(plan)
        await store.add_approval(approval)
        await store.create_run(_run_record(owner={"pid": 7, "host": "h"}))
        await store.add_token(token)
        assert await store.get_plan(plan.plan_id) == plan
        assert await store.list_plans() == [plan]
        assert await store.approvals(plan.plan_id) == [approval]
        assert await store.get_run("r1") == _run_record(owner={"pid": 7, "host": "h"})
        assert await store.get_token(token.token_id) == token
        assert await store.get_plan("ffffffffffffffff") is None and await store.get_run("nope") is None
        revoked = await store.revoke_token(token.token_id, "2026-01-02T00:00:00Z")
        assert revoked is not None and revoked.revoked == "2026-01-02T00:00:00Z"
        assert await store.list_tokens() == [revoked]
        first = await store.add_audit(AuditRecord("t", "alice (operator)", "plan-created", plan.plan_id))
        second = await store.add_audit(AuditRecord("t", "bob (approver)", "plan-approved", plan.plan_id, {"x": 1}))
        assert second > first
        trail = await store.audit()
        assert [(a.seq, a.action) for a in trail] == [(second, "plan-approved"), (first, "plan-created")]
        assert [a.action for a in await store.audit(target="other")] == []

    _run(body, make_settings())


def test_a_run_update_is_a_compare_and_set(make_settings: Callable[..., Settings]) -> None:
    async def body(store: ServerStore) -> None:
        run = _run_record()
        await store.create_run(run)
        running = await store.update_run(replace(run, status="running"), expected_version=1)
        assert running.version == 2 and (await store.get_run("r1")) == running
        with pytest.raises(StaleStateError):
            await store.update_run(replace(run, status="failed"), expected_version=1)   # a stale writer loses
        assert (await store.get_run("r1")).status == "running"
        with pytest.raises(StateError, match="already exists"):
            await store.create_run(run)
        later = replace(_run_record("r2"), created="2026-01-02T00:00:00Z")
        await store.create_run(later)
        assert [r.run_id for r in await store.list_runs()] == ["r2", "r1"]
        assert [r.run_id for r in await store.list_runs(statuses=["running"])] == ["r1"]

    _run(body, make_settings())


def test_a_record_that_breaks_its_schema_is_refused(make_settings: Callable[..., Settings]) -> None:
    async def body(store: ServerStore) -> None:
        with pytest.raises(StateError, match="schemas/run.schema.json"):
            await store.create_run(replace(_run_record(), status="exploded"))
        with pytest.raises(StateError, match="schemas/approval.schema.json"):
            await store.add_approval(ApprovalRecord("0123456789abcdef", "bob", "t", "maybe"))
        assert await store.list_runs() == []

    _run(body, make_settings())


def test_events_are_numbered_per_run_and_resumable(make_settings: Callable[..., Settings]) -> None:
    async def body(store: ServerStore) -> None:
        await store.append_events("r1", [(1, {"type": "run-started"}), (2, {"type": "host-started"})])
        assert await store.append_event("r1", {"type": "step-started"}) == 3
        assert await store.append_event("r2", {"type": "run-started"}) == 1
        assert await store.last_seq("r1") == 3 and await store.last_seq("none") == 0
        assert [s for s, _ in await store.events("r1")] == [1, 2, 3]
        assert await store.events("r1", after=1, limit=1) == [(2, {"type": "host-started"})]
        with pytest.raises(StateError, match="stored twice"):
            await store.append_events("r1", [(3, {"type": "again"})])
        assert [e["type"] for _, e in await store.events("r1")] == ["run-started", "host-started", "step-started"]

    _run(body, make_settings())


def test_concurrent_appenders_never_share_a_number(make_settings: Callable[..., Settings]) -> None:
    async def body(store: ServerStore) -> None:
        seqs = await asyncio.gather(*(store.append_event("r", {"i": i}) for i in range(20)))
        assert sorted(seqs) == list(range(1, 21))

    _run(body, make_settings())


@pytest.mark.slow
def test_workspaces_sharing_a_postgres_schema_are_separate(tmp_path: Path, pg_dsn: str, pg_schema: str) -> None:
    first, second = _settings(tmp_path, "postgres", pg_schema, "a"), _settings(tmp_path, "postgres", pg_schema, "b")
    _run(lambda s: s.create_run(_run_record()), first)
    assert _run(lambda s: s.list_runs(), second) == []
    _run(lambda s: s.create_run(_run_record()), second)            # the same run id, in the other workspace
    assert [r.run_id for r in _run(lambda s: s.list_runs(), first)] == ["r1"]


def test_the_sqlite_file_is_private_and_in_the_runtime_dir(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "sqlite")
    _run(lambda s: s.create_run(_run_record()), settings)
    db = settings.runtime_dir / "server.db"
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600
    assert (settings.runtime_dir / ".gitignore").read_text().strip().endswith("*")
    # another process (here: another store) sees what the first committed
    assert [r.run_id for r in _run(lambda s: s.list_runs(), settings)] == ["r1"]


def test_a_newer_sqlite_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    settings = _settings(tmp_path, "sqlite")
    _run(lambda s: s.list_runs(), settings)
    with sqlite3.connect(settings.runtime_dir / "server.db") as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(StateError, match="newer hwfw"):
        _run(lambda s: s.list_runs(), settings)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=8), st.integers(min_value=0, max_value=40))
def test_reading_after_any_number_gives_exactly_the_later_events(batches: list[int], after: int) -> None:
    """Hypothesis: events appended in batches of any sizes read back from any `after`
    as exactly the events numbered above it, in order (SQLite)."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        settings_ = _settings(Path(d), "sqlite")

        async def body(store: ServerStore) -> list[int]:
            seq = 0
            for size in batches:
                await store.append_events("r", [(seq + i + 1, {"n": seq + i + 1}) for i in range(size)])
                seq += size
            return [s for s, ev in await store.events("r", after=after) if ev["n"] == s]

        total = sum(batches)
        assert _run(body, settings_) == list(range(after + 1, total + 1))
