"""The server's records in the team's PostgreSQL database (settings.backend.type postgres).

The same schema, pool and workspace row as the state (PostgresBackend): tables from
migration 0002 (plans, approvals, runs, run_events, api_tokens, server_audit), every
row keyed by the workspace id, so workspaces sharing a schema never see each other's
plans or runs. A run's update is one `UPDATE ... WHERE version = expected` (rowcount 0:
someone else won). See hwfw.state.serverstore for the contract.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Sequence

from hwfw.config.model import Settings
from hwfw.errors import StaleStateError, StateError
from hwfw.state.postgres.backend import PostgresBackend, _psycopg
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

__all__ = ["PostgresServerStore"]


class PostgresServerStore:
    kind = "postgres"

    def __init__(self, settings: Settings) -> None:
        self._db = PostgresBackend(settings)

    def describe(self) -> str:
        return self._db.describe()

    async def aclose(self) -> None:
        await self._db.aclose()

    async def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        wid = await self._db._ready()
        async with self._db._conn() as conn:
            cur = await conn.execute(sql, (wid, *params))
            return list(await cur.fetchall()) if cur.description else []

    async def _execute(self, sql: str, params: Sequence[Any]) -> int:
        wid = await self._db._ready()
        async with self._db._conn() as conn:
            cur = await conn.execute(sql, (wid, *params))
            return int(cur.rowcount)

    @staticmethod
    def _jsonb(doc: dict[str, Any]) -> Any:
        from psycopg.types.json import Jsonb

        return Jsonb(doc)

    # ------------------------------------------------------------------ plans and approvals

    async def save_plan(self, plan: PlanRecord) -> None:
        await self._execute("INSERT INTO plans (workspace_id, plan_id, created, doc) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT (workspace_id, plan_id) DO UPDATE SET doc = EXCLUDED.doc",
                            (plan.plan_id, plan.created, self._jsonb(plan_doc(plan))))

    async def get_plan(self, plan_id: str) -> PlanRecord | None:
        rows = await self._rows("SELECT doc FROM plans WHERE workspace_id = %s AND plan_id = %s", (plan_id,))
        return PlanRecord.from_json(rows[0][0]) if rows else None

    async def list_plans(self, *, limit: int = 50) -> list[PlanRecord]:
        rows = await self._rows("SELECT doc FROM plans WHERE workspace_id = %s ORDER BY created DESC, plan_id "
                                "LIMIT %s", (limit,))
        return [PlanRecord.from_json(r[0]) for r in rows]

    async def add_approval(self, approval: ApprovalRecord) -> None:
        doc = check_record("approval", approval.to_json())
        await self._execute("INSERT INTO approvals (workspace_id, plan_id, doc) VALUES (%s, %s, %s)",
                            (approval.plan_id, self._jsonb(doc)))

    async def approvals(self, plan_id: str) -> list[ApprovalRecord]:
        rows = await self._rows("SELECT doc FROM approvals WHERE workspace_id = %s AND plan_id = %s ORDER BY seq",
                                (plan_id,))
        return [ApprovalRecord.from_json(r[0]) for r in rows]

    # ------------------------------------------------------------------ runs

    async def create_run(self, run: RunRecord) -> None:
        psycopg = _psycopg()
        try:
            await self._execute("INSERT INTO runs (workspace_id, run_id, created, status, version, doc) "
                                "VALUES (%s, %s, %s, %s, %s, %s)",
                                (run.run_id, run.created, run.status, run.version, self._jsonb(run_doc(run))))
        except StateError as exc:
            if isinstance(exc.__context__, psycopg.errors.UniqueViolation) or "duplicate key" in str(exc):
                raise StateError(f"run {run.run_id} already exists in {self.describe()}",
                                 hint="run ids are unique; start the run again") from None
            raise

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord:
        new = replace(run, version=expected_version + 1)
        count = await self._update(new, run.run_id, expected_version)
        if count != 1:
            raise StaleStateError(f"run {run.run_id} changed since version {expected_version} was read",
                                  hint="read the run again and retry")
        return new

    async def _update(self, new: RunRecord, run_id: str, expected_version: int) -> int:
        wid = await self._db._ready()
        async with self._db._conn() as conn:
            cur = await conn.execute(
                "UPDATE runs SET status = %s, version = %s, doc = %s WHERE workspace_id = %s AND run_id = %s "
                "AND version = %s", (new.status, new.version, self._jsonb(run_doc(new)), wid, run_id,
                                     expected_version))
            return int(cur.rowcount)

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._rows("SELECT doc FROM runs WHERE workspace_id = %s AND run_id = %s", (run_id,))
        return RunRecord.from_json(rows[0][0]) if rows else None

    async def list_runs(self, *, limit: int = 50, statuses: Sequence[str] = ()) -> list[RunRecord]:
        if statuses:
            rows = await self._rows("SELECT doc FROM runs WHERE workspace_id = %s AND status = ANY(%s) "
                                    "ORDER BY created DESC, run_id LIMIT %s", (list(statuses), limit))
        else:
            rows = await self._rows("SELECT doc FROM runs WHERE workspace_id = %s ORDER BY created DESC, run_id "
                                    "LIMIT %s", (limit,))
        return [RunRecord.from_json(r[0]) for r in rows]

    # ------------------------------------------------------------------ events

    async def append_event(self, run_id: str, event: dict[str, Any]) -> int:
        wid = await self._db._ready()
        async with self._db._conn() as conn:
            async with conn.transaction():
                # one numbering per run: serialise appenders of this run for the transaction
                await conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (wid, run_id))
                cur = await conn.execute("INSERT INTO run_events (workspace_id, run_id, seq, doc) SELECT %s, %s, "
                                         "coalesce(max(seq), 0) + 1, %s FROM run_events WHERE workspace_id = %s "
                                         "AND run_id = %s RETURNING seq",
                                         (wid, run_id, self._jsonb(event), wid, run_id))
                row = await cur.fetchone()
        return int(row[0])

    async def append_events(self, run_id: str, events: Sequence[tuple[int, dict[str, Any]]]) -> None:
        if not events:
            return
        psycopg = _psycopg()
        wid = await self._db._ready()
        try:
            async with self._db._conn() as conn:
                async with conn.transaction():
                    async with conn.cursor() as cur:
                        await cur.executemany(
                            "INSERT INTO run_events (workspace_id, run_id, seq, doc) VALUES (%s, %s, %s, %s)",
                            [(wid, run_id, seq, self._jsonb(ev)) for seq, ev in events])
        except StateError as exc:
            if isinstance(exc.__context__, psycopg.errors.UniqueViolation) or "duplicate key" in str(exc):
                raise StateError(f"run {run_id}: an event number was stored twice",
                                 hint="a bug: please report it") from None
            raise

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._rows("SELECT seq, doc FROM run_events WHERE workspace_id = %s AND run_id = %s AND seq > %s "
                                "ORDER BY seq LIMIT %s", (run_id, after, limit))
        return [(int(seq), doc) for seq, doc in rows]

    async def last_seq(self, run_id: str) -> int:
        rows = await self._rows("SELECT coalesce(max(seq), 0) FROM run_events WHERE workspace_id = %s AND run_id = %s",
                                (run_id,))
        return int(rows[0][0])

    # ------------------------------------------------------------------ tokens

    async def add_token(self, token: TokenRecord) -> None:
        doc = check_record("api-token", token.to_json())
        await self._execute("INSERT INTO api_tokens (workspace_id, token_id, doc) VALUES (%s, %s, %s)",
                            (token.token_id, self._jsonb(doc)))

    async def get_token(self, token_id: str) -> TokenRecord | None:
        rows = await self._rows("SELECT doc FROM api_tokens WHERE workspace_id = %s AND token_id = %s", (token_id,))
        return TokenRecord.from_json(rows[0][0]) if rows else None

    async def list_tokens(self) -> list[TokenRecord]:
        rows = await self._rows("SELECT doc FROM api_tokens WHERE workspace_id = %s", ())
        return sorted((TokenRecord.from_json(r[0]) for r in rows), key=lambda t: (t.created, t.name))

    async def revoke_token(self, token_id: str, when: str) -> TokenRecord | None:
        token = await self.get_token(token_id)
        if token is None:
            return None
        if token.revoked is None:
            token = replace(token, revoked=when)
            await self._set_token(token)
        return token

    async def _set_token(self, token: TokenRecord) -> int:
        wid = await self._db._ready()
        doc = check_record("api-token", token.to_json())
        async with self._db._conn() as conn:
            cur = await conn.execute("UPDATE api_tokens SET doc = %s WHERE workspace_id = %s AND token_id = %s",
                                     (self._jsonb(doc), wid, token.token_id))
            return int(cur.rowcount)

    # ------------------------------------------------------------------ audit

    async def add_audit(self, record: AuditRecord) -> int:
        check_record("server-audit", record.to_json())
        wid = await self._db._ready()
        async with self._db._conn() as conn:
            async with conn.transaction():
                cur = await conn.execute("INSERT INTO server_audit (workspace_id, target, doc) VALUES (%s, %s, '{}') "
                                         "RETURNING seq", (wid, record.target))
                row = await cur.fetchone()
                seq = int(row[0])
                await conn.execute("UPDATE server_audit SET doc = %s WHERE seq = %s",
                                   (self._jsonb({**record.to_json(), "seq": seq}), seq))
        return seq

    async def audit(self, *, limit: int = 200, target: str | None = None) -> list[AuditRecord]:
        if target is None:
            rows = await self._rows("SELECT doc FROM server_audit WHERE workspace_id = %s ORDER BY seq DESC LIMIT %s",
                                    (limit,))
        else:
            rows = await self._rows("SELECT doc FROM server_audit WHERE workspace_id = %s AND target = %s "
                                    "ORDER BY seq DESC LIMIT %s", (target, limit))
        return [AuditRecord.from_json(r[0]) for r in rows]
