"""Fixtures of the apply tests; the test doubles they build are in tests/apply/support.py."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Callable, Mapping

import pytest

from hwfw.clock import DiscreteClock
from hwfw.config import load_workspace
from tests.apply.support import LAB_HOSTS, MemoryFleet, Rig, write_workspace


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
