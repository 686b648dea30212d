"""Shared fixtures: the bundled lab workspace copied so tests never touch the checkout, no
leaked sessions on simulated BMCs, the in-memory apply rig (tests/apply/support.py), a
PostgreSQL server; and the check of the `slow` marker (tests/slow_marker.py)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from hwfw.clock import DiscreteClock
from hwfw.config import load_workspace
from tests.apply.support import LAB_HOSTS, MemoryFleet, Rig, write_workspace
from tests.helpers import LAB
from tests.redfish.simfleet import HAVE_SIM, NoLeakedSessions

# tests/slow_marker.py: a test that starts a subprocess or server must be marked `slow`;
# pytester runs that check on sample tests (tests/test_slow_marker.py).
pytest_plugins = ("tests.slow_marker", "pytester")


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/lab in a temporary directory (run-time files excluded)."""
    dest = tmp_path / "lab"
    shutil.copytree(LAB, dest, ignore=shutil.ignore_patterns(".hwfw"))
    return dest


@pytest.fixture(autouse=True)
def no_leaked_sessions(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Every simulated fleet a test runs in-process must end with no session open: a
    client that leaks sessions locks real BMCs out. Tests that leave sessions on purpose
    (filling a session table, killing a client) are marked `leaves_sessions`."""
    from hwfw.sim.runtime import EmbeddedFleet

    leaks: list[str] = []
    original = EmbeddedFleet.__aexit__

    async def checked_exit(self: EmbeddedFleet, *exc: object) -> None:
        await original(self, *exc)
        leaks.extend(f"{name}: {ids}" for name, ids in sorted(self.leaked_sessions.items()))

    monkeypatch.setattr(EmbeddedFleet, "__aexit__", checked_exit)
    yield
    if leaks and request.node.get_closest_marker("leaves_sessions") is None:
        pytest.fail("sessions left open on simulated BMCs: " + "; ".join(leaks))


@pytest.fixture
def sim_sessions() -> Iterator[NoLeakedSessions]:
    """Start fleets with `async with sim_sessions.fleet(tmp_path) as sim:`; after the test,
    every BMC of every fleet it started must hold zero sessions."""
    if not HAVE_SIM:
        pytest.skip("the BMC simulator (hwfw.sim.runtime) is not available")
    guard = NoLeakedSessions()
    yield guard
    assert guard.fleets, "the test started no simulated fleet"
    assert not guard.leaks, "sessions left open on the simulator:\n" + "\n".join(guard.leaks)


@pytest.fixture(scope="session")
def pg_server():  # type: ignore[no-untyped-def]
    """A PostgreSQL server for the whole session (tests/pgserver.py), started on first use."""
    from tests.pgserver import start_server

    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def pg_dsn(pg_server, monkeypatch: pytest.MonkeyPatch) -> str:  # type: ignore[no-untyped-def]
    """The test server's connection string, also in HWFW_PG_DSN (what dsn_env names)."""
    monkeypatch.setenv("HWFW_PG_DSN", pg_server.dsn)
    return str(pg_server.dsn)


@pytest.fixture
def pg_schema(request: pytest.FixtureRequest) -> str:
    """A schema of its own for each test: tests never see each other's rows."""
    import re
    import uuid

    return "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:8]


@pytest.fixture
def make_rig(tmp_path: Path) -> Callable[..., Rig]:
    counter = itertools.count()

    def build(hosts: Mapping[str, tuple[str, str, dict[str, str]]] | None = None,
              reset_seconds: Mapping[str, float] | None = None) -> Rig:
        hosts = dict(hosts or LAB_HOSTS)
        ws = load_workspace(write_workspace(tmp_path / f"ws{next(counter)}", hosts))
        clock = DiscreteClock()
        fleet = MemoryFleet(clock, {h: fw for h, (_, _, fw) in hosts.items()}, reset_seconds)
        return Rig(ws, fleet, clock, hosts)

    return build
