"""Shared fixtures: the bundled lab workspace, copied so tests never touch the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB = REPO_ROOT / "examples" / "lab"


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
