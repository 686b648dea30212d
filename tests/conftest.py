"""Shared fixtures: the bundled lab workspace copied so tests never touch the checkout, no
leaked sessions on simulated BMCs; and the check of the `slow` marker (tests/slow_marker.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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
