"""State, lock, intents and audit of a workspace in a PostgreSQL database.

Several workspaces share one database: tables live in `settings.backend.schema`
(default `hwfw`) and rows are keyed by the workspace's row id, found or created from
`settings.backend.workspace` (default "default").

* State: one row per workspace holding the document byte for byte; a write is one
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE serial = expected` statement: rowcount 0
  means another writer won, and the write is refused (StaleStateError).
* Lock: a session-level advisory lock (two int4 keys: a key of the schema name and the
  workspace id) taken on a connection of its own, outside the pool: a pooled
  connection returned with the lock held would hand it to the next borrower. The
  session ends when the holder dies (even by SIGKILL: the server sees the socket
  close), which frees the lock. A `lock_holders` row says who holds it. While the lock
  is held, every write goes through that same connection: if the session is lost, the
  writes fail instead of racing the next holder.
* Journals: one INSERT per record, committed before the call returns (a commit is
  what an fsync is for the files).

psycopg is imported only by this package (the `postgres` extra).
"""

from __future__ import annotations

import asyncio
import os
import uuid
import zlib
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, AsyncIterator, Iterable

from hwfw import __version__
from hwfw.clock import utc_now_iso
from hwfw.config.model import Settings
from hwfw.errors import LockHeldError, StaleStateError, StateError
from hwfw.invocation import command
from hwfw.logs import get_logger, redactor
from hwfw.state.journal import audit_entry, intent_record, resolution_record
from hwfw.state.lock import LockInfo, operator
from hwfw.state.model import State
from hwfw.state.postgres.dsn import mask_dsn, resolve_dsn
from hwfw.state.postgres.schema import ensure_schema
from hwfw.state.store import (
    check_successor,
    encode_state,
    next_state,
    parse_state_document,
    state_from_json,
    state_to_json,
)

log = get_logger("state.postgres")

POOL_MAX = 4
CONNECT_TIMEOUT = 10
# Server-side TCP keepalives on the lock's session: a holder whose host vanished
# (no FIN ever sent) loses the lock after about idle + interval * count seconds.
KEEPALIVE = {"tcp_keepalives_idle": 60, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 6}


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StateError("settings.backend.type postgres needs psycopg, which is not installed",
                         hint="pip install 'hwfw[postgres]'") from None
    return psycopg


def schema_lock_key(schema: str) -> int:
    """First advisory-lock key: the schema name's CRC-32 as a non-negative int4. A
    collision between two schemas of one database can only make a lock look taken
    (never two holders at once)."""
    return zlib.crc32(schema.encode()) & 0x7FFFFFFF


class PostgresBackend:
    kind = "postgres"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.backend
        self.schema = self.cfg.schema
        self.checkout = str(settings.runtime_dir.parent)   # the checkout, as a place for people
        self._dsn: str | None = None
        self._pool: Any = None
        self._workspace_id: int | None = None
        self._lock_conn: Any = None          # the session holding the advisory lock
        self._lock_mutex = asyncio.Lock()    # one statement at a time on it

    # -- connecting
    def dsn(self) -> str:
        if self._dsn is None:
            self._dsn = resolve_dsn(self.cfg)
        return self._dsn

    def describe(self) -> str:
        try:
            where = mask_dsn(self.dsn())
        except StateError:
            where = "postgresql://(unresolved)"
        return f"PostgreSQL {where}, schema {self.schema}, workspace {self.cfg.workspace!r}"

    def _fail(self, exc: Exception, doing: str) -> StateError:
        return StateError(f"{doing} ({self.describe()}): {redactor(str(exc).strip())}",
                          hint="check that the database is reachable and settings.backend's connection string")

    async def _connect(self, **extra: Any) -> Any:
        psycopg = _psycopg()
        kwargs: dict[str, Any] = {"autocommit": True, **extra}
        if "connect_timeout" not in self.dsn():
            kwargs["connect_timeout"] = CONNECT_TIMEOUT
        try:
            return await psycopg.AsyncConnection.connect(self.dsn(), **kwargs)
        except psycopg.Error as exc:
            raise self._fail(exc, "cannot connect to the state database") from None

    async def _ready(self) -> int:
        """Connect (schema migrated, workspace row found or made); the workspace id."""
        if self._workspace_id is not None:
            return self._workspace_id
        psycopg = _psycopg()
        conn = await self._connect(application_name="hwfw")
        try:
            await ensure_schema(conn, self.schema, self.describe())
            q = self._q()
            await conn.execute(f"INSERT INTO {q}.workspaces (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                               (self.cfg.workspace,))
            cur = await conn.execute(f"SELECT id FROM {q}.workspaces WHERE name = %s", (self.cfg.workspace,))
            row = await cur.fetchone()
        except psycopg.Error as exc:
            raise self._fail(exc, "cannot prepare the state database") from None
        finally:
            await conn.close()
        from psycopg_pool import AsyncConnectionPool

        async def configure(c: Any) -> None:
            await c.execute(f"SET search_path TO {self._q()}")

        self._pool = AsyncConnectionPool(self.dsn(), min_size=1, max_size=POOL_MAX, open=False,
                                         kwargs={"autocommit": True, "application_name": "hwfw",
                                                 "connect_timeout": CONNECT_TIMEOUT},
                                         configure=configure, name="hwfw-state")
        await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        self._workspace_id = int(row[0])
        return self._workspace_id

    def _q(self) -> str:
        return f'"{self.schema}"'

    @asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        """A connection for one operation: the lock's session while it is held (writes
        then fail if the lock was lost), else one from the pool."""
        await self._ready()
        psycopg = _psycopg()
        try:
            if self._lock_conn is not None:
                async with self._lock_mutex:
                    yield self._lock_conn
            else:
                async with self._pool.connection() as conn:
                    yield conn
        except psycopg.Error as exc:
            raise self._fail(exc, "state database error") from None

    async def aclose(self) -> None:
        if self._lock_conn is not None:
            await self._lock_conn.close()
            self._lock_conn = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self._workspace_id = None

    # -- state
    async def read_document(self) -> bytes | None:
        wid = await self._ready()
        async with self._conn() as conn:
            cur = await conn.execute("SELECT body FROM states WHERE workspace_id = %s", (wid,))
            row = await cur.fetchone()
        return row[0].encode() if row else None

    async def load(self) -> State:
        body = await self.read_document()
        if body is None:
            return State(lineage="", serial=0, hwfw_version=__version__)
        return state_from_json(parse_state_document(body, f"in {self.describe()}"))

    async def write(self, state: State) -> State:
        wid = await self._ready()
        new = next_state(state)
        params = {"w": wid, "lineage": new.lineage, "serial": new.serial, "expected": state.serial,
                  "body": encode_state(state_to_json(new)).decode()}
        async with self._conn() as conn:
            if state.serial == 0:
                cur = await conn.execute(
                    "INSERT INTO states (workspace_id, lineage, serial, body) VALUES (%(w)s, %(lineage)s, "
                    "%(serial)s, %(body)s) ON CONFLICT (workspace_id) DO UPDATE SET lineage = EXCLUDED.lineage, "
                    "serial = EXCLUDED.serial, body = EXCLUDED.body, updated_at = now() "
                    "WHERE states.serial = 0", params)
            else:
                cur = await conn.execute(
                    "UPDATE states SET lineage = %(lineage)s, serial = %(serial)s, body = %(body)s, "
                    "updated_at = now() WHERE workspace_id = %(w)s AND serial = %(expected)s "
                    "AND lineage = %(lineage)s", params)
            if cur.rowcount == 1:
                return new
            cur = await conn.execute("SELECT lineage, serial FROM states WHERE workspace_id = %s", (wid,))
            row = await cur.fetchone()
        lineage, serial = (row[0], int(row[1])) if row else ("", 0)
        check_successor(lineage, serial, state, f"in {self.describe()}")
        raise StaleStateError(f"state in {self.describe()} changed during the write",
                              hint="run the command again")

    async def replace_document(self, doc: dict[str, Any]) -> None:
        wid = await self._ready()
        async with self._conn() as conn:
            await conn.execute(
                "INSERT INTO states (workspace_id, lineage, serial, body) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (workspace_id) DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial, "
                "body = EXCLUDED.body, updated_at = now()",
                (wid, doc["lineage"], int(doc["serial"]), encode_state(doc).decode()))

    # -- lock
    def _keys(self, wid: int) -> tuple[int, int]:
        return schema_lock_key(self.schema), wid

    @asynccontextmanager
    async def lock(self, operation: str) -> AsyncIterator[LockInfo]:
        info = await self._acquire(operation)
        try:
            yield info
        finally:
            await self._release(info)

    async def _acquire(self, operation: str) -> LockInfo:
        wid = await self._ready()
        if self._lock_conn is not None:
            raise StateError("this process already holds the workspace lock", hint="a bug: please report it")
        psycopg = _psycopg()
        conn = await self._connect(application_name=f"hwfw {operation}"[:63])
        k1, k2 = self._keys(wid)
        try:
            await conn.execute(f"SET search_path TO {self._q()}")
            for name, value in KEEPALIVE.items():
                await conn.execute(f"SET {name} = {int(value)}")
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s, %s), pg_backend_pid()", (k1, k2))
            got, backend_pid = await cur.fetchone()
            if not got:
                await conn.close()
                holder = await self.lock_info()
                who = holder.describe() if holder else "another hwfw process"
                raise LockHeldError(
                    f"the workspace is locked: {who}",
                    hint="wait for it to finish; a holder that dies frees the lock when its database session "
                         "ends. If its process hangs: "
                         f"{command('state', 'force-unlock', holder.id if holder else 'ID', '--force')} "
                         "(ends that session)")
            info = LockInfo(id=str(uuid.uuid4()), operation=operation, who=operator(), pid=os.getpid(),
                            created=utc_now_iso())
            await conn.execute(
                "INSERT INTO lock_holders (workspace_id, lock_id, operation, who, pid, checkout, created, "
                "backend_pid) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (workspace_id) DO UPDATE SET "
                "lock_id = EXCLUDED.lock_id, operation = EXCLUDED.operation, who = EXCLUDED.who, "
                "pid = EXCLUDED.pid, checkout = EXCLUDED.checkout, created = EXCLUDED.created, "
                "backend_pid = EXCLUDED.backend_pid",
                (wid, info.id, info.operation, info.who, info.pid, self.checkout, info.created, backend_pid))
        except psycopg.Error as exc:
            await conn.close()
            raise self._fail(exc, "cannot take the workspace lock") from None
        self._lock_conn = conn
        return replace(info, who=f"{info.who} in {self.checkout}")   # as lock_info() reads it back

    async def _release(self, info: LockInfo) -> None:
        conn, self._lock_conn = self._lock_conn, None
        if conn is None:
            return
        psycopg = _psycopg()
        wid = await self._ready()
        try:
            await conn.execute("DELETE FROM lock_holders WHERE workspace_id = %s AND lock_id = %s", (wid, info.id))
            await conn.execute("SELECT pg_advisory_unlock(%s, %s)", self._keys(wid))
        except psycopg.Error as exc:  # the session is gone: so is its lock
            log.warning("releasing the workspace lock: %s", redactor(str(exc)))
        finally:
            await conn.close()

    async def _holder(self) -> tuple[LockInfo | None, int | None, bool]:
        """(holder row, its session pid, whether the advisory lock is held now)."""
        wid = await self._ready()
        k1, k2 = self._keys(wid)
        async with self._conn() as conn:
            cur = await conn.execute(
                "SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.classid = %s::oid "
                "AND l.objid = %s::oid AND l.objsubid = 2 AND l.granted", (k1, k2))
            lock_row = await cur.fetchone()
            cur = await conn.execute("SELECT lock_id, operation, who, pid, checkout, created, backend_pid "
                                     "FROM lock_holders WHERE workspace_id = %s", (wid,))
            row = await cur.fetchone()
        if row is None:
            if lock_row is None:
                return None, None, False
            return (LockInfo(id="(unknown)", operation="unknown", who=f"database session {lock_row[0]}", pid=0,
                             created="?"), int(lock_row[0]), True)
        info = LockInfo(id=row[0], operation=row[1], who=f"{row[2]} in {row[4]}", pid=int(row[3]), created=row[5])
        return info, int(row[6]), lock_row is not None and int(lock_row[0]) == int(row[6])

    async def lock_info(self) -> LockInfo | None:
        info, _, held = await self._holder()
        return info if held else None

    async def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        info, session, held = await self._holder()
        if info is None:
            raise StateError("the workspace is not locked", hint="nothing to unlock")
        if info.id != lock_id:
            raise StateError(f"lock id {lock_id} does not match the current lock ({info.describe()})",
                             hint=f"check the id; the current one is {info.id}")
        if held and not force:
            raise StateError(
                f"the lock holder's database session (backend pid {session}) is alive: {info.describe()}",
                hint="the lock is freed when that session ends (the holder finishing or dying). If the "
                     f"holder hangs, end its session with: {command('state', 'force-unlock', lock_id, '--force')}")
        wid = await self._ready()
        async with self._conn() as conn:
            if held:
                await conn.execute("SELECT pg_terminate_backend(%s, %s)", (session, 5000))
            await conn.execute("DELETE FROM lock_holders WHERE workspace_id = %s AND lock_id = %s", (wid, lock_id))
        return info

    # -- journals
    async def open_intent(self, *, run_id: str, host: str, component: str, action: str,
                          image_sha256: str | None = None, **details: Any) -> str:
        record = intent_record(run_id=run_id, host=host, component=component, action=action,
                               image_sha256=image_sha256, **details)
        await self.append_journal("intents", [record])
        return str(record["intent"])

    async def resolve_intent(self, intent_id: str, outcome: str, **details: Any) -> None:
        await self.append_journal("intents", [resolution_record(intent_id, outcome, **details)])

    async def open_intents(self) -> list[dict[str, Any]]:
        wid = await self._ready()
        async with self._conn() as conn:
            cur = await conn.execute(
                "SELECT record FROM intents i WHERE workspace_id = %s AND NOT resolves AND NOT EXISTS "
                "(SELECT 1 FROM intents r WHERE r.workspace_id = i.workspace_id AND r.intent_id = i.intent_id "
                "AND r.resolves) ORDER BY seq", (wid,))
            return [r[0] for r in await cur.fetchall()]

    async def audit(self, *, run_id: str, host: str, component: str, action: str, outcome: str,
                    before: str | None = None, after: str | None = None, image_sha256: str | None = None,
                    message: str | None = None) -> None:
        await self.append_journal("audit", [audit_entry(
            run_id=run_id, host=host, component=component, action=action, outcome=outcome, before=before,
            after=after, image_sha256=image_sha256, message=message)])

    async def journal(self, name: str) -> list[dict[str, Any]]:
        wid = await self._ready()
        column = _journal_column(name)
        async with self._conn() as conn:
            cur = await conn.execute(f"SELECT {column} FROM {name} WHERE workspace_id = %s ORDER BY seq", (wid,))
            return [r[0] for r in await cur.fetchall()]

    async def append_journal(self, name: str, records: Iterable[dict[str, Any]]) -> None:
        from psycopg.types.json import Jsonb

        wid = await self._ready()
        rows = list(records)
        params: list[tuple[Any, ...]]
        if name == "intents":
            sql = "INSERT INTO intents (workspace_id, intent_id, resolves, record) VALUES (%s, %s, %s, %s)"
            params = [(wid, r.get("intent") or r.get("resolves"), "resolves" in r, Jsonb(r)) for r in rows]
        else:
            _journal_column(name)
            sql = "INSERT INTO audit (workspace_id, entry) VALUES (%s, %s)"
            params = [(wid, Jsonb(r)) for r in rows]
        async with self._conn() as conn:
            async with conn.transaction():
                async with conn.cursor() as cur:
                    await cur.executemany(sql, params)


def _journal_column(name: str) -> str:
    if name == "intents":
        return "record"
    if name == "audit":
        return "entry"
    raise StateError(f"no journal {name!r}", hint="journals are: intents, audit")
