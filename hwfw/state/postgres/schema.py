"""Versioned migrations of the backend's tables: numbered SQL files in
hwfw/state/migrations (0001_init.sql, ...), recorded in `schema_version`.

Each pending file runs in its own transaction under a transaction-level advisory lock
on a fixed key, so processes starting together never apply one twice; the lock ends
with the transaction. A database whose version is newer than the newest file this
hwfw knows is refused: an older hwfw must not write tables it does not understand.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from hwfw.errors import StateError

# "hwfw-mig" as a big-endian bigint: the key of the migration lock (one key for every
# schema: the schema itself may not exist yet; migrations are rare and short).
MIGRATION_LOCK_KEY = int.from_bytes(b"hwfw-mig", "big")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    out = []
    for entry in resources.files("hwfw.state").joinpath("migrations").iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            out.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    out.sort()
    if [v for v, _, _ in out] != list(range(1, len(out) + 1)):
        raise StateError("hwfw/state/migrations is not numbered 0001, 0002, ... without gaps",
                         hint="reinstall hwfw")
    return out


def latest_version() -> int:
    return len(migrations())


async def schema_version(conn: Any, schema: str) -> int:
    """The version recorded in `schema` (0: no tables yet)."""
    cur = await conn.execute("SELECT to_regclass(%s)", (f"{_quote(schema)}.schema_version",))
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return 0
    cur = await conn.execute(f"SELECT coalesce(max(version), 0) FROM {_quote(schema)}.schema_version")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def refuse_newer(found: int, known: int, schema: str, where: str) -> None:
    if found > known:
        raise StateError(
            f"the PostgreSQL schema {schema!r} at {where} is at version {found}, newer than this hwfw "
            f"knows (version {known})",
            hint="a newer hwfw migrated it: upgrade hwfw here (this one must not write tables it does not know)")


async def ensure_schema(conn: Any, schema: str, where: str) -> int:
    """Bring `schema` to the newest version (autocommit connection); return it."""
    shipped = migrations()
    known = len(shipped)
    found = await schema_version(conn, schema)
    refuse_newer(found, known, schema, where)
    if found == known:
        return found
    q = _quote(schema)
    for version, name, sql in shipped:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {q}.schema_version (version integer PRIMARY KEY, "
                               "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
            current = await schema_version(conn, schema)
            refuse_newer(current, known, schema, where)
            if current >= version:
                continue
            await conn.execute(f"SET LOCAL search_path TO {q}")
            await conn.execute(sql.encode())
            await conn.execute(f"INSERT INTO {q}.schema_version (version, name) VALUES (%s, %s)", (version, name))
    return known


def _quote(schema: str) -> str:
    # settings.backend.schema is checked against ^[a-z_][a-z0-9_]{0,62}$ by the schema of
    # hwfw.yaml; quoting keeps a reserved word (e.g. "user") usable.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise StateError(f"settings.backend.schema {schema!r} is not a plain lower-case name",
                         hint="use letters, digits and underscores, starting with a letter")
    return f'"{schema}"'
