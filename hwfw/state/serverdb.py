"""The server's records in one SQLite database beside the state (`.hwfw/server.db`).

SQLite in WAL mode: readers never wait for the writer, and other processes (the CLI
recording its runs, `hwfw token create` while the server runs) can use the same file;
`busy_timeout` makes a second writer wait its turn instead of failing. Each store has
one connection used from one worker thread (a single-thread executor), so its
statements never interleave and the event loop never blocks on a write or an fsync.
The file is created 0600: it holds token digests and the audit trail.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from hwfw.errors import StaleStateError, StateError
from hwfw.state.files import make_runtime_dir
from hwfw.state.serverstore import (
    ApprovalRecord,
    AuditRecord,
    PlanRecord,
    RunRecord,
    TokenRecord,
    check_record,
    plan_doc,
    run_doc,
)

__all__ = ["SqliteServerStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    plan_id TEXT PRIMARY KEY, created TEXT NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS approvals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, plan_id TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS approvals_by_plan ON approvals (plan_id, seq);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, created TEXT NOT NULL, status TEXT NOT NULL, version INTEGER NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created);
CREATE TABLE IF NOT EXISTS run_events (
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (run_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_tokens (
    token_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS server_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS server_audit_by_target ON server_audit (target, seq);
"""


def _in_transaction(c: sqlite3.Connection, body: Callable[[], T]) -> T:
    """`body()` inside BEGIN IMMEDIATE ... COMMIT (the write lock taken up front, so a
    read-modify-write never races another process); rolled back if it raises."""
    c.execute("BEGIN IMMEDIATE")
    try:
        result = body()
    except BaseException:
        c.execute("ROLLBACK")
        raise
    c.execute("COMMIT")
    return result


def _dumps(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SqliteServerStore:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._executor: ThreadPoolExecutor | None = None

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    # ------------------------------------------------------------------ plumbing

    def _open(self) -> sqlite3.Connection:
        if self._conn is None:
            make_runtime_dir(self.path.parent)
            fresh = not self.path.exists()
            if fresh:
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            try:
                conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=10000")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    conn.close()
                    raise StateError(f"{self.describe()} was written by a newer hwfw (schema {version}, this hwfw "
                                     f"knows {SCHEMA_VERSION})", hint="upgrade hwfw on this machine")
                conn.executescript(SCHEMA)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            except sqlite3.Error as exc:
                raise StateError(f"cannot open {self.describe()}: {exc}",
                                 hint="check the file's permissions, or move it aside to start afresh") from None
            self._conn = conn
        return self._conn

    async def _run(self, func: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hwfw-serverdb")

        def call() -> T:
            conn = self._open()
            try:
                return func(conn)
            except sqlite3.Error as exc:
                raise StateError(f"{self.describe()}: {exc}", hint="check the disk and the file's permissions") \
                    from None

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def aclose(self) -> None:
        if self._executor is not None:
            executor, self._executor = self._executor, None

            def close() -> None:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

            await asyncio.get_running_loop().run_in_executor(executor, close)
            executor.shutdown(wait=True)

    # ------------------------------------------------------------------ plans and approvals

    async def save_plan(self, plan: PlanRecord) -> None:
        doc = plan_doc(plan)
        await self._run(lambda c: c.execute("INSERT OR REPLACE INTO plans (plan_id, created, doc) VALUES (?, ?, ?)",
                                            (plan.plan_id, plan.created, _dumps(doc))))

    async def get_plan(self, plan_id: str) -> PlanRecord | None:
        row = await self._run(lambda c: c.execute("SELECT doc FROM plans WHERE plan_id = ?", (plan_id,)).fetchone())
        return PlanRecord.from_json(json.loads(row[0])) if row else None

    async def list_plans(self, *, limit: int = 50) -> list[PlanRecord]:
        rows = await self._run(lambda c: c.execute(
            "SELECT doc FROM plans ORDER BY created DESC, plan_id LIMIT ?", (limit,)).fetchall())
        return [PlanRecord.from_json(json.loads(r[0])) for r in rows]

    async def add_approval(self, approval: ApprovalRecord) -> None:
        doc = check_record("approval", approval.to_json())
        await self._run(lambda c: c.execute("INSERT INTO approvals (plan_id, doc) VALUES (?, ?)",
                                            (approval.plan_id, _dumps(doc))))

    async def approvals(self, plan_id: str) -> list[ApprovalRecord]:
        rows = await self._run(lambda c: c.execute(
            "SELECT doc FROM approvals WHERE plan_id = ? ORDER BY seq", (plan_id,)).fetchall())
        return [ApprovalRecord.from_json(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord) -> None:
        doc = run_doc(run)

        def insert(c: sqlite3.Connection) -> None:
            try:
                c.execute("INSERT INTO runs (run_id, created, status, version, doc) VALUES (?, ?, ?, ?, ?)",
                          (run.run_id, run.created, run.status, run.version, _dumps(doc)))
            except sqlite3.IntegrityError:
                raise StateError(f"run {run.run_id} already exists in {self.describe()}",
                                 hint="run ids are unique; start the run again") from None

        await self._run(insert)

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord:
        new = replace(run, version=expected_version + 1)
        doc = run_doc(new)
        cur = await self._run(lambda c: c.execute(
            "UPDATE runs SET status = ?, version = ?, doc = ? WHERE run_id = ? AND version = ?",
            (new.status, new.version, _dumps(doc), run.run_id, expected_version)))
        if cur.rowcount != 1:
            raise StaleStateError(f"run {run.run_id} changed since version {expected_version} was read",
                                  hint="read the run again and retry")
        return new

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = await self._run(lambda c: c.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone())
        return RunRecord.from_json(json.loads(row[0])) if row else None

    async def list_runs(self, *, limit: int = 50, statuses: Sequence[str] = ()) -> list[RunRecord]:
        if statuses:
            marks = ", ".join("?" for _ in statuses)
            sql = f"SELECT doc FROM runs WHERE status IN ({marks}) ORDER BY created DESC, run_id LIMIT ?"
            params: tuple[Any, ...] = (*statuses, limit)
        else:
            sql, params = "SELECT doc FROM runs ORDER BY created DESC, run_id LIMIT ?", (limit,)
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [RunRecord.from_json(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------------ events

    async def append_event(self, run_id: str, event: dict[str, Any]) -> int:
        def insert(c: sqlite3.Connection) -> int:
            seq = int(c.execute("SELECT coalesce(max(seq), 0) + 1 FROM run_events WHERE run_id = ?",
                                (run_id,)).fetchone()[0])
            c.execute("INSERT INTO run_events (run_id, seq, doc) VALUES (?, ?, ?)", (run_id, seq, _dumps(event)))
            return seq

        return await self._run(lambda c: _in_transaction(c, lambda: insert(c)))

    async def append_events(self, run_id: str, events: Sequence[tuple[int, dict[str, Any]]]) -> None:
        rows = [(run_id, seq, _dumps(ev)) for seq, ev in events]

        def insert(c: sqlite3.Connection) -> None:
            try:
                _in_transaction(c, lambda: c.executemany("INSERT INTO run_events (run_id, seq, doc) VALUES (?, ?, ?)",
                                                         rows))
            except sqlite3.IntegrityError:
                raise StateError(f"run {run_id}: an event number was stored twice",
                                 hint="a bug: please report it") from None

        if rows:
            await self._run(insert)

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._run(lambda c: c.execute(
            "SELECT seq, doc FROM run_events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (run_id, after, limit)).fetchall())
        return [(int(seq), json.loads(doc)) for seq, doc in rows]

    async def last_seq(self, run_id: str) -> int:
        row = await self._run(lambda c: c.execute(
            "SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = ?", (run_id,)).fetchone())
        return int(row[0])

    # ------------------------------------------------------------------ tokens

    async def add_token(self, token: TokenRecord) -> None:
        doc = check_record("api-token", token.to_json())
        await self._run(lambda c: c.execute("INSERT INTO api_tokens (token_id, doc) VALUES (?, ?)",
                                            (token.token_id, _dumps(doc))))

    async def get_token(self, token_id: str) -> TokenRecord | None:
        row = await self._run(lambda c: c.execute("SELECT doc FROM api_tokens WHERE token_id = ?",
                                                  (token_id,)).fetchone())
        return TokenRecord.from_json(json.loads(row[0])) if row else None

    async def list_tokens(self) -> list[TokenRecord]:
        rows = await self._run(lambda c: c.execute("SELECT doc FROM api_tokens ORDER BY token_id").fetchall())
        return sorted((TokenRecord.from_json(json.loads(r[0])) for r in rows), key=lambda t: (t.created, t.name))

    async def revoke_token(self, token_id: str, when: str) -> TokenRecord | None:
        token = await self.get_token(token_id)
        if token is None:
            return None
        if token.revoked is None:
            token = replace(token, revoked=when)
            doc = check_record("api-token", token.to_json())
            await self._run(lambda c: c.execute("UPDATE api_tokens SET doc = ? WHERE token_id = ?",
                                                (_dumps(doc), token_id)))
        return token

    # ------------------------------------------------------------------ audit

    async def add_audit(self, record: AuditRecord) -> int:
        check_record("server-audit", record.to_json())

        def insert(c: sqlite3.Connection) -> int:
            seq = int(c.execute("INSERT INTO server_audit (target, doc) VALUES (?, '{}')", (record.target,)).lastrowid
                      or 0)
            c.execute("UPDATE server_audit SET doc = ? WHERE seq = ?", (_dumps({**record.to_json(), "seq": seq}), seq))
            return seq

        return await self._run(lambda c: _in_transaction(c, lambda: insert(c)))

    async def audit(self, *, limit: int = 200, target: str | None = None) -> list[AuditRecord]:
        params: tuple[object, ...]
        if target is None:
            sql, params = "SELECT doc FROM server_audit ORDER BY seq DESC LIMIT ?", (limit,)
        else:
            sql, params = "SELECT doc FROM server_audit WHERE target = ? ORDER BY seq DESC LIMIT ?", (target, limit)
        rows = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [AuditRecord.from_json(json.loads(r[0])) for r in rows]
