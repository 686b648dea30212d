"""PostgreSQL-only properties of the state backend: migrations under concurrency, the
lock session carrying the holder's writes, psycopg imported only when used, and the
connection string's credentials kept out of every message."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hwfw.config.model import BackendSettings, Settings
from hwfw.errors import StateError
from hwfw.logs import redactor
from hwfw.state.backend import open_backend
from hwfw.state.postgres.dsn import mask_dsn, register_secrets


def _pg(tmp_path: Path, schema: str) -> Settings:
    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path,
                    backend=BackendSettings(type="postgres", dsn_env="HWFW_PG_DSN", schema=schema))


@pytest.mark.slow
def test_processes_starting_together_apply_each_migration_once(pg_dsn: str, pg_schema: str) -> None:
    import psycopg

    from hwfw.state.postgres.schema import ensure_schema, latest_version, migrations

    async def one() -> int:
        conn = await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
        try:
            return await ensure_schema(conn, pg_schema, "test")
        finally:
            await conn.close()

    async def many() -> list[int]:
        return await asyncio.gather(*(one() for _ in range(6)))

    assert asyncio.run(many()) == [latest_version()] * 6
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(f"SELECT version, name FROM {pg_schema}.schema_version ORDER BY version").fetchall()
    assert rows == [(1, "0001_init.sql"), (2, "0002_server.sql")] == [(v, name) for v, name, _ in migrations()]


@pytest.mark.slow
def test_a_holder_whose_session_was_ended_cannot_write_any_more(tmp_path: Path, pg_dsn: str,
                                                                 pg_schema: str) -> None:
    settings = _pg(tmp_path, pg_schema)

    async def main() -> None:
        async with open_backend(settings) as holder, open_backend(settings) as other:
            state = await holder.write(await holder.load())
            async with holder.lock("apply") as held:
                await other.force_unlock(held.id, force=True)           # ends the holder's session
                with pytest.raises(StateError, match="state database error"):
                    await holder.write(state)
                with pytest.raises(StateError):
                    await holder.open_intent(run_id="r", host="h", component="bios", action="flash")
                async with other.lock("apply"):                         # the lock is free for others
                    assert (await other.write(state)).serial == 2

    asyncio.run(main())


@pytest.mark.slow
def test_workspaces_sharing_a_schema_have_their_own_state_and_lock(tmp_path: Path, pg_dsn: str,
                                                                   pg_schema: str) -> None:
    east = _pg(tmp_path, pg_schema)
    west = replace(east, backend=replace(east.backend, workspace="west"))

    async def main() -> None:
        async with open_backend(east) as a, open_backend(west) as b:
            await a.write(await a.load())
            assert (await b.load()).serial == 0
            async with a.lock("apply"), b.lock("apply"):
                assert (await a.lock_info()) is not None and (await b.lock_info()) is not None
            await a.open_intent(run_id="r", host="h", component="bios", action="flash")
            assert await b.open_intents() == []

    asyncio.run(main())


@pytest.mark.slow
def test_the_local_backend_never_imports_psycopg(lab_copy: Path) -> None:
    code = ("import asyncio, sys\n"
            "from pathlib import Path\n"
            "import hwfw.apply.run, hwfw.cli.state, hwfw.cli.plan\n"
            "from hwfw.config import load_workspace\n"
            "from hwfw.state.backend import open_backend\n"
            f"ws = load_workspace(Path({str(lab_copy)!r}))\n"
            "async def main():\n"
            "    async with open_backend(ws.settings) as b, b.lock('plan'):\n"
            "        await b.load()\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.startswith('psycopg')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


userinfo = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=4,
                   max_size=24).filter(lambda s: s.strip() == s and "*" not in s)
# (no "*": a password made of the mask's own characters, such as "***@", is found in
# any redacted text by coincidence, not because it leaked)


@hsettings(max_examples=150, deadline=None)
@given(user=st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True), password=userinfo,
       host=st.sampled_from(["db.example", "127.0.0.1", "[::1]"]), port=st.integers(1, 65535))
def test_a_dsn_password_is_never_shown(user: str, password: str, host: str, port: int) -> None:
    dsn = f"postgresql://{user}:{quote(password, safe='')}@{host}:{port}/hwfw"
    with _scratch_redactor():
        register_secrets(dsn, "test")
        assert mask_dsn(dsn) == f"postgresql://***@{host.strip('[]')}:{port}/hwfw"
        message = redactor(f"cannot connect to {dsn}: refused (password {password})")
        assert password not in message and quote(password, safe="") not in message


@contextmanager
def _scratch_redactor() -> Iterator[None]:
    """Secrets registered inside are forgotten after: random ones must not redact other
    tests' output in this process."""
    saved = set(redactor._secrets)
    try:
        yield
    finally:
        for secret in set(redactor._secrets) - saved:
            redactor.forget(secret)


def test_a_malformed_dsn_is_an_error_that_does_not_echo_it() -> None:
    with _scratch_redactor(), pytest.raises(StateError) as info:
        register_secrets("host=db password=hunter2-Secret port", "hwfw.yaml:3:5: settings.backend")
    assert "not a PostgreSQL connection string" in str(info.value)
    assert "hunter2-Secret" not in str(info.value)
