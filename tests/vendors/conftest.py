"""Shares the simulator fixture (no leaked sessions after any test) with tests/redfish."""

from __future__ import annotations

from tests.redfish.conftest import sim_sessions

__all__ = ["sim_sessions"]
