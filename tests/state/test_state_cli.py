"""`hwfw state migrate|pull|push|list` and the backend settings, through the CLI.

The PostgreSQL server is the session's throwaway one (tests/pgserver.py); each test
uses a schema of its own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hwfw.config import load_workspace
from hwfw.state.backend import open_backend
from hwfw.state.model import ComponentRecord, State
from tests.helpers import line_col_of, run_hwfw, use_postgres


def _seed_local(ws: Path) -> None:
    """Two state writes and both journals in the workspace's local files."""
    settings = load_workspace(ws).settings

    async def main() -> None:
        async with open_backend(settings, kind="local") as b:
            first = await b.write(await b.load())
            rec = ComponentRecord(version="1.12.1", status="pending-activation", image_sha256="a" * 64,
                                  previous_version="1.10.2", run_id="r1")
            await b.write(State(lineage=first.lineage, serial=first.serial, hosts={"lab-dell-01": {"bios": rec}},
                                checkpoints={"runs": [{"run_id": "r1"}]}))
            done = await b.open_intent(run_id="r1", host="lab-dell-01", component="bios", action="flash",
                                       image_sha256="a" * 64, to_version="1.12.1", ratio=0.25)
            await b.resolve_intent(done, "pending-activation", task_uri="/redfish/v1/TaskService/Tasks/7")
            await b.open_intent(run_id="r1", host="lab-dell-01", component="bmc", action="flash")
            await b.audit(run_id="r1", host="lab-dell-01", component="bios", action="flash",
                          outcome="pending-activation", before="1.10.2", after="1.12.1", image_sha256="a" * 64)

    asyncio.run(main())


@pytest.mark.slow
def test_migrate_local_to_postgres_to_local_round_trips_byte_for_byte(lab_copy: Path, pg_dsn: str,
                                                                      pg_schema: str) -> None:
    use_postgres(lab_copy, pg_schema)
    _seed_local(lab_copy)
    hw = lab_copy / ".hwfw"
    files = {name: (hw / name).read_bytes() for name in ("state.json", "intents.jsonl", "audit.jsonl")}
    r = run_hwfw("-C", str(lab_copy), "state", "migrate", "--to", "postgres")
    assert r.returncode == 0, r.stderr
    assert "serial 2" in r.stderr and "3 intent record(s) and 1 audit entry(ies)" in r.stderr
    # the database now answers for the workspace: pull prints the same bytes, list reads it
    pulled = run_hwfw("-C", str(lab_copy), "state", "pull")
    assert pulled.returncode == 0 and pulled.stdout.encode() == files["state.json"]
    listed = run_hwfw("-C", str(lab_copy), "state", "list")
    assert "lab-dell-01/bios  1.12.1  pending-activation" in listed.stdout
    for name in files:
        (hw / name).unlink()
    back = run_hwfw("-C", str(lab_copy), "state", "migrate", "--to", "local")
    assert back.returncode == 0, back.stderr
    assert {name: (hw / name).read_bytes() for name in files} == files
    # again: nothing new to copy, nothing duplicated
    again = run_hwfw("-C", str(lab_copy), "state", "migrate", "--to", "local")
    assert again.returncode == 0 and "0 intent record(s) and 0 audit entry(ies)" in again.stderr
    assert {name: (hw / name).read_bytes() for name in files} == files


@pytest.mark.slow
def test_migrate_refuses_a_destination_of_another_lineage(lab_copy: Path, pg_dsn: str, pg_schema: str) -> None:
    use_postgres(lab_copy, pg_schema)
    settings = load_workspace(lab_copy).settings

    async def other_lineage() -> None:
        async with open_backend(settings) as b:
            await b.write(await b.load())

    asyncio.run(other_lineage())
    _seed_local(lab_copy)
    before = (lab_copy / ".hwfw" / "state.json").read_bytes()
    r = run_hwfw("-C", str(lab_copy), "state", "migrate", "--to", "postgres")
    assert r.returncode == 1 and "already holds state of another lineage" in r.stderr
    assert (lab_copy / ".hwfw" / "state.json").read_bytes() == before
    pulled = json.loads(run_hwfw("-C", str(lab_copy), "state", "pull").stdout)
    assert pulled["lineage"] != json.loads(before)["lineage"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "postgres"])
def test_pull_edit_push_is_serial_checked(lab_copy: Path, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgres":
        request.getfixturevalue("pg_dsn")
        use_postgres(lab_copy, request.getfixturevalue("pg_schema"))
        r = run_hwfw("-C", str(lab_copy), "state", "pull")
        assert r.returncode == 1 and "no state yet" in r.stderr
    settings = load_workspace(lab_copy).settings

    async def seed() -> None:
        async with open_backend(settings) as b:
            await b.write(await b.load())

    asyncio.run(seed())
    pulled = run_hwfw("-C", str(lab_copy), "state", "pull")
    doc = json.loads(pulled.stdout)
    doc["hosts"] = {"h1": {"bios": {"version": "1.0", "status": "failed", "error": "fixed by hand"}}}
    edited = lab_copy / "edited.json"
    edited.write_text(json.dumps(doc))
    r = run_hwfw("-C", str(lab_copy), "state", "push", str(edited))
    assert r.returncode == 0, r.stderr
    assert f"is now at serial {doc['serial'] + 1}" in r.stderr
    assert "h1/bios  1.0  failed" in run_hwfw("-C", str(lab_copy), "state", "list").stdout
    stale = run_hwfw("-C", str(lab_copy), "state", "push", str(edited))        # its serial is behind now
    assert stale.returncode == 1 and "changed since the pull" in stale.stderr
    another = "0b5f0c8e-6d1a-4f5e-9a3b-2c7d8e9f0a1b"
    edited.write_text(json.dumps({**doc, "lineage": another, "serial": doc["serial"] + 1}))
    other = run_hwfw("-C", str(lab_copy), "state", "push", str(edited))
    assert other.returncode == 1 and f"lineage {another}" in other.stderr
    edited.write_text("{}")
    bad = run_hwfw("-C", str(lab_copy), "state", "push", str(edited))
    assert bad.returncode == 1 and "does not match schemas/state.schema.json" in bad.stderr


@pytest.mark.slow
def test_an_unset_dsn_variable_is_a_located_error(lab_copy: Path, pg_schema: str) -> None:
    use_postgres(lab_copy, pg_schema, dsn_env="HWFW_TEST_UNSET_DSN")
    line, col = line_col_of(lab_copy / "hwfw.yaml", "HWFW_TEST_UNSET_DSN")
    r = run_hwfw("-C", str(lab_copy), "state", "list")
    assert r.returncode == 1
    assert f"hwfw.yaml:{line}:{col}: settings.backend.dsn_env: environment variable HWFW_TEST_UNSET_DSN " \
           "is not set" in r.stderr


def test_a_backend_setting_of_the_wrong_shape_is_a_located_error(lab_copy: Path) -> None:
    from hwfw.errors import ConfigError

    use_postgres(lab_copy, "hwfw")
    text = (lab_copy / "hwfw.yaml").read_text().replace("dsn_env: HWFW_PG_DSN", "dsn: postgresql://u:p@h/db")
    (lab_copy / "hwfw.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_workspace(lab_copy)
    rendered = str(info.value)
    line, col = line_col_of(lab_copy / "hwfw.yaml", "dsn:")
    assert f"hwfw.yaml:{line}:{col}: error: unknown key 'dsn' in settings.backend" in rendered
    assert "expected: one of: dsn_env, dsn_file, schema, type, workspace" in rendered


@pytest.mark.slow
def test_dsn_credentials_appear_in_no_output_or_log(lab_copy: Path, pg_server, pg_schema: str,  # type: ignore[no-untyped-def]
                                                    tmp_path: Path) -> None:
    password = "pg-Secret-7731"
    good = f"postgresql://postgres:{password}@127.0.0.1:{pg_server.port}/postgres"
    closed = f"postgresql://postgres:{password}@127.0.0.1:1/postgres"
    use_postgres(lab_copy, pg_schema)
    log = tmp_path / "hwfw.log"
    ok = run_hwfw("-vv", "--log-file", str(log), "-C", str(lab_copy), "state", "show", env={"HWFW_PG_DSN": good})
    assert ok.returncode == 0, ok.stderr
    failed = run_hwfw("-vv", "--log-file", str(log), "-C", str(lab_copy), "state", "list",
                      env={"HWFW_PG_DSN": closed})
    assert failed.returncode == 1 and "cannot connect to the state database" in failed.stderr
    assert "postgresql://***@127.0.0.1:1/postgres" in failed.stderr
    for text in (ok.stdout, ok.stderr, failed.stdout, failed.stderr, log.read_text()):
        assert password not in text and "postgres:pg-" not in text


@pytest.mark.slow
def test_a_newer_schema_version_is_refused_with_a_clear_message(lab_copy: Path, pg_dsn: str, pg_schema: str) -> None:
    import psycopg

    use_postgres(lab_copy, pg_schema)
    assert run_hwfw("-C", str(lab_copy), "state", "list").returncode == 0     # creates the schema
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        versions = conn.execute(f"SELECT version, name FROM {pg_schema}.schema_version").fetchall()
        assert versions == [(1, "0001_init.sql"), (2, "0002_server.sql")]
        conn.execute(f"INSERT INTO {pg_schema}.schema_version (version, name) VALUES (99, '0099_future.sql')")
    r = run_hwfw("-C", str(lab_copy), "state", "list")
    assert r.returncode == 1
    assert f"schema '{pg_schema}'" in r.stderr and "version 99, newer than this hwfw knows (version 2)" in r.stderr
    assert "upgrade hwfw" in r.stderr
