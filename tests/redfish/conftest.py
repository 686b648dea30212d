"""Fixtures for tests that run the real simulator: no test may leave a session open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redfish.simfleet import HAVE_SIM, NoLeakedSessions


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
