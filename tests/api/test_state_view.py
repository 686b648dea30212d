"""`workspace.state.show` and `hwfw state show`: a host's BIOS settings record, validation and watchdog record
sit beside its components, and a host known only through them is still shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hwfw import api
from hwfw.config import load_workspace
from hwfw.state.backend import open_backend
from hwfw.state.model import State
from tests.helpers import run_hwfw

SETTINGS = {"status": "staged", "attributes": {"NumaNodes": 4}, "updated_at": "2026-01-01T00:00:00Z",
            "job": None, "run_id": "r1"}
WATCHDOG = {"armed": True, "fired": True, "action": "power-cycle", "timeout": 1500.0, "problem": None,
            "reset": "host-reboot", "run_id": "r1", "at": "2026-01-01T00:10:00Z"}


@pytest.mark.slow
def test_a_host_with_only_bios_settings_records_is_shown_with_them(lab_copy: Path) -> None:
    async def seed() -> None:
        async with open_backend(load_workspace(lab_copy).settings) as b:
            first = await b.load()
            extra = {"bios_settings": {"lab-gen-01": SETTINGS}, "watchdog": {"lab-gen-01": WATCHDOG}}
            await b.write(State(lineage=first.lineage, serial=first.serial, extra=extra))

    asyncio.run(seed())
    ws = api.open_workspace(lab_copy)
    one = asyncio.run(ws.state.show("lab-gen-01"))
    assert one.hosts == ("lab-gen-01",)
    doc = one.to_json()
    assert doc["components"] == {} and doc["bios_settings"] == SETTINGS and doc["watchdog"] == WATCHDOG
    assert "validation" not in doc                              # none recorded: no key
    every = asyncio.run(ws.state.show())
    assert every.hosts == ("lab-gen-01",)
    text = run_hwfw("state", "show", "lab-gen-01", str(lab_copy)).stdout
    assert "bios-settings staged: NumaNodes=4; run id r1" in text
    assert "watchdog fired (host-reboot, run id r1, 2026-01-01T00:10:00Z)" in text
