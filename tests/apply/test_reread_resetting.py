"""The re-read of hosts an interrupted run left resetting (hwfw.apply.resume.reread_resetting)
reads them as the first read did: their BIOS settings and attribute registries too, and
the registries the first read found are kept. (Without either, the plan of a resumed run
refused every BIOS setting: "the attribute registry was not read".)"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hwfw.apply.events import ApplyEvents
from hwfw.apply.resume import reread_resetting
from hwfw.clock import SystemClock
from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.inventory.model import HostInventory, Inventory
from tests.apply.drivers.support import LAB_FLEET

pytestmark = pytest.mark.slow


class Opens:
    """A driver opener whose drivers log in at once (the BMC is back)."""

    def __call__(self, name: str) -> Opens:
        return self

    async def __aenter__(self) -> Opens:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None


def test_a_host_read_again_after_its_reset_keeps_bios_settings_and_registries(tmp_path: Path) -> None:
    from hwfw.sim.runtime import EmbeddedFleet

    fleet = tmp_path / "fleet.yaml"
    shutil.copy(LAB_FLEET, fleet)
    settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
    clock = SystemClock()

    async def main() -> Inventory:
        async with EmbeddedFleet(fleet, tmp_path / "sim-state") as sim:
            hosts = {n: ResolvedHost(Host(name=n, bmc=f"sim://{n}"), sim.url(n), "admin", "password")
                     for n in ("lab-dell-01", "lab-hpe-02")}
            first = await collect([hosts["lab-hpe-02"]], settings=settings, clock=clock, bios_hosts=["lab-hpe-02"])
            assert first.registries    # what the first read found
            resetting = HostInventory(host="lab-dell-01", reachable=False, error="connection refused",
                                      error_kind="connection")
            inventory = Inventory({**first.hosts, "lab-dell-01": resetting}, dict(first.registries))
            ledger = SimpleNamespace(settings=settings, clock=clock,
                                     checkpoint=lambda name: {"status": "open"})
            again = await reread_resetting(inventory, ledger, Opens(), hosts, insecure=False,  # type: ignore[arg-type]
                                           events=ApplyEvents(None, clock, "run-2"),
                                           bios_hosts=["lab-dell-01", "lab-hpe-02"])
            assert set(first.registries) <= set(again.registries)
            return again

    again = asyncio.run(main())
    dell = again.hosts["lab-dell-01"]
    assert dell.reachable and dell.bios is not None
    assert len(again.registries) >= 2   # the Dell BIOS registry was read too
