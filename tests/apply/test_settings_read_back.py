"""Reading BIOS settings back after the reboot that applies them (SettingsSteps.read_settled).

`Bios` and its settings object are two requests. When the POST ends between them, the
first shows the old values and the second an emptied settings object: nothing looks
pending, yet nothing was applied. The simulator cannot place the POST's end between two
requests on demand, so a driver answering the readings in that order stands in for it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hwfw.apply.driver import BiosReading
from hwfw.apply.settings_run import RECORDS, SettingsSteps
from hwfw.clock import DiscreteClock
from hwfw.config.model import Settings

STAGED_AT = "2026-01-01T00:00:00+00:00"
APPLIED_AT = "2026-01-01T00:05:31+00:00"


def _reading(sriov: str, pending: dict[str, Any], applied_at: str) -> BiosReading:
    return BiosReading(attributes={"Sriov": sriov}, pending=pending, bios_uri="/redfish/v1/Systems/1/Bios",
                       settings_uri="/redfish/v1/Systems/1/Bios/Settings", applied_at=applied_at)


class Readings:
    """A driver whose `read_bios_settings` answers the given readings in turn."""

    def __init__(self, *readings: BiosReading) -> None:
        self.readings = list(readings)
        self.reads = 0

    async def read_bios_settings(self) -> BiosReading:
        self.reads += 1
        return self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]


def _steps(tmp_path: Path, driver: Readings, clock: DiscreteClock) -> SettingsSteps:
    settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
    ledger = SimpleNamespace(extra={RECORDS: {"h1": {"status": "staged", "values": {"Sriov": "Enabled"},
                                                     "settings_time": STAGED_AT}}})
    run = SimpleNamespace(host="h1", ledger=ledger, driver=driver, clock=clock,
                          ex=SimpleNamespace(plan=SimpleNamespace(host=lambda name: None),
                                             workspace=SimpleNamespace(settings=settings)))
    return SettingsSteps(run)  # type: ignore[arg-type]


def _read(tmp_path: Path, driver: Readings) -> BiosReading:
    clock = DiscreteClock()
    steps = _steps(tmp_path, driver, clock)
    return asyncio.run(clock.drive(steps.read_settled(["Sriov"])))


def test_a_torn_read_across_the_posts_end_is_read_again(tmp_path: Path) -> None:
    torn = _reading("Disabled", {}, STAGED_AT)            # old values, emptied settings object
    applied = _reading("Enabled", {}, APPLIED_AT)
    driver = Readings(torn, applied)
    assert _read(tmp_path, driver).attributes["Sriov"] == "Enabled"
    assert driver.reads == 2


def test_values_still_pending_are_waited_for_and_a_new_settings_time_ends_the_wait(tmp_path: Path) -> None:
    driver = Readings(_reading("Disabled", {"Sriov": "Enabled"}, STAGED_AT),
                      _reading("Disabled", {"Sriov": "Enabled"}, STAGED_AT),
                      _reading("Disabled", {"Sriov": "Enabled"}, APPLIED_AT))   # the BIOS dealt with it: rejected
    reading = _read(tmp_path, driver)
    assert reading.applied_at == APPLIED_AT and driver.reads == 3


def test_a_bmc_without_a_settings_time_is_judged_on_the_first_read_with_nothing_pending(tmp_path: Path) -> None:
    clock = DiscreteClock()
    driver = Readings(_reading("Enabled", {}, ""))
    steps = _steps(tmp_path, driver, clock)
    steps.ledger.extra[RECORDS]["h1"]["settings_time"] = None
    reading = asyncio.run(clock.drive(steps.read_settled(["Sriov"])))
    assert reading.attributes["Sriov"] == "Enabled" and driver.reads == 1
