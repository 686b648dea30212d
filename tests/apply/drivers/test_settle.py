"""settle_intent: what became of a flash interrupted by a crash, decided from the BMC.

Crash points (a kill between "the BMC accepted the image" and "the state was written"):
accepted but nothing recorded, mid-task, staged/pending. A fresh driver (a new process
would have one) settles the intent; the simulator's event log proves the image was
received and flashed exactly once, whatever the verdict led to.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

import pytest

from hwfw.apply.driver import FLASH_PENDING
from hwfw.apply.drivers.base import RedfishDriver
from tests.apply.drivers.support import DELL, GEN, HPE, SMC, Rig, flash_request, with_rig, write_fleet

pytestmark = pytest.mark.slow


def intent(host: str, key: str, to: str, frm: str, activation: str, **details: Any) -> dict[str, Any]:
    """An intent record as the executor writes it (hwfw/state/journal.py)."""
    return {"intent": "i-1", "run_id": "run-1", "host": host, "component": key, "action": "flash",
            "image_sha256": "0" * 64,
            "details": {"step": f"{host}/flash/{key}", "image_id": "img", "from_version": frm, "to_version": to,
                        "activation": activation, "apply_time": "OnReset", "rollback": False, **details}}


async def crash_flash(rig: Rig, drv: RedfishDriver, req: Any, when: Callable[[str, float | None], bool]) -> None:
    """Run a flash and kill it (cancel, like SIGKILL of the run) as soon as `when` holds."""
    task: asyncio.Task[Any] | None = None

    def progress(percent: float | None, message: str) -> None:
        rig.progress(percent, message)
        if when(message, percent) and task is not None:
            task.cancel()

    task = asyncio.ensure_future(drv.flash(req, progress))
    with pytest.raises(asyncio.CancelledError):
        await task


# What the BMC does by itself that can change a verdict (our own requests log session
# events; those change nothing).
BMC_WORK = frozenset({"task", "flash-started", "flash-finished", "activated", "reset", "bmc-down", "bmc-partial",
                      "bmc-up", "post-started", "post-finished", "image-received"})


async def bmc_worked(rig: Rig, host: str, since: int, timeout: float) -> None:
    """Return as soon as the simulator logged work of `host`'s BMC after event `since`
    (at once if it already has); fail after `timeout` seconds of no work at all."""
    loop = asyncio.get_running_loop()
    worked = asyncio.Event()

    def listener(event: dict[str, Any]) -> None:
        if event["bmc"] == host and event["type"] in BMC_WORK:
            loop.call_soon_threadsafe(worked.set)

    rig.sim.fleet.events.listeners.append(listener)
    try:
        if not any(e["type"] in BMC_WORK for e in rig.events(host, since=since)):
            async with asyncio.timeout(timeout):
                await worked.wait()
    finally:
        rig.sim.fleet.events.listeners.remove(listener)


async def settle_until_final(rig: Rig, drv: RedfishDriver, record: dict[str, Any], limit: int = 400) -> list[str]:
    """What resume does: ask again while the verdict is in-flight; here each time the
    BMC did something (a task moved, a flash ended, it reset) since the last answer."""
    host = record["host"]
    mark = rig.mark()
    verdicts = [await drv.settle_intent(record)]
    while verdicts[-1].startswith("in-flight:") and len(verdicts) < limit:
        await bmc_worked(rig, host, mark, timeout=drv.timing.deadline_for(record["component"].split(":")[0]))
        mark = rig.mark()
        verdicts.append(await drv.settle_intent(record))
    return verdicts


CASES = [
    # host spec, vendor, key, from, to, apply time, activation
    pytest.param(DELL, "dell", "bios", "1.10.2", "1.12.1", "OnReset", "host-reboot", id="dell-bios"),
    pytest.param(GEN, "generic", "bios", "1.0.5", "1.1.0", "OnReset", "host-reboot", id="generic-bios"),
    pytest.param(SMC, "supermicro", "bmc", "01.01.10", "01.03.12", "Immediate", "bmc-reset", id="smc-bmc"),
    pytest.param(HPE, "hpe", "bios", "U30 v2.68 (07/14/2022)", "U30 v2.80 (10/03/2023)", "Immediate",
                 "host-reboot", id="hpe-bios"),
]


@pytest.mark.parametrize("spec, vendor, key, frm, to, apply_time, activation", CASES)
def test_crash_right_after_the_bmc_accepted_the_image(tmp_path: Path, spec: dict, vendor: str, key: str, frm: str,
                                                       to: str, apply_time: str, activation: str) -> None:
    """Killed the moment the BMC accepted the image; the intent has no task URI."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        path, entry = rig.image(vendor, spec["model"], key, to)
        req = flash_request("h1", key, entry, path, current=frm, apply_time=apply_time, activation=activation)
        await crash_flash(rig, drv, req, lambda m, p: m.startswith("accepted by the BMC"))
        fresh = await rig.driver("h1")   # the resumed run's driver
        verdicts = await settle_until_final(rig, fresh, intent("h1", key, to, frm, activation))
        assert verdicts[-1] == "done", verdicts
        assert all(v == "done" or v.startswith("in-flight:") for v in verdicts)
        await fresh.activate(activation, rig.progress)
        assert (await fresh.read_versions())[key] == to
        assert len(rig.events("h1", "image-received")) == 1
        assert len(rig.events("h1", "flash-started")) == 1

    with_rig(tmp_path, fleet, body)


@pytest.mark.parametrize("spec, vendor, key, frm, to", [
    pytest.param(GEN, "generic", "bmc", "2.14.0", "2.15.0", id="generic-bmc"),
    pytest.param(DELL, "dell", "bmc", "6.10.30.00", "7.10.30.00", id="dell-idrac"),
])
def test_crash_during_the_task_reattaches(tmp_path: Path, spec: dict, vendor: str, key: str, frm: str,
                                          to: str) -> None:
    """Killed while the BMC writes the image: in flight (re-attach), then done."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        path, entry = rig.image(vendor, spec["model"], key, to)
        req = flash_request("h1", key, entry, path, current=frm, apply_time="Immediate", activation="bmc-reset")
        uris: list[str] = []
        drv.on_accepted = uris.append
        await crash_flash(rig, drv, req, lambda m, p: bool(rig.events("h1", "flash-started")))
        assert rig.events("h1", "flash-started") and not rig.events("h1", "flash-finished")
        fresh = await rig.driver("h1")
        first = await fresh.settle_intent(intent("h1", key, to, frm, "bmc-reset", task_uri=uris[0]))
        assert first.startswith("in-flight:"), first
        verdicts = await settle_until_final(rig, fresh, intent("h1", key, to, frm, "bmc-reset", task_uri=uris[0]))
        assert verdicts[-1] == "done", verdicts
        await fresh.activate("bmc-reset", rig.progress)
        assert (await fresh.read_versions())[key] == to
        assert len(rig.events("h1", "image-received")) == 1
        assert len(rig.events("h1", "flash-finished")) == 1

    with_rig(tmp_path, fleet, body)


def test_crash_after_flash_pending_is_done(tmp_path: Path) -> None:
    """The flash returned FLASH_PENDING (Dell job Scheduled) but the state was never
    written: done; the activation then runs the staged job exactly once."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("d1")
        path, entry = rig.image("dell", DELL["model"], "bios", "1.12.1")
        req = flash_request("d1", "bios", entry, path, current="1.10.2", apply_time="OnReset",
                            activation="host-reboot")
        assert (await drv.flash(req, rig.progress)).status == FLASH_PENDING
        fresh = await rig.driver("d1")
        assert await fresh.settle_intent(intent("d1", "bios", "1.12.1", "1.10.2", "host-reboot")) == "done"
        # the activate intent of a reset that never happened is not-sent (redo it)
        act = {**intent("d1", "bios", "1.12.1", "1.10.2", "host-reboot"), "action": "activate"}
        assert await fresh.settle_intent(act) == "not-sent"
        await fresh.activate("host-reboot", rig.progress)
        assert await fresh.settle_intent(act) == "done"
        assert (await fresh.read_versions())["bios"] == "1.12.1"
        assert len(rig.events("d1", "image-received")) == 1
        assert len(rig.events("d1", "flash-started")) == 1

    with_rig(tmp_path, fleet, body)


@pytest.mark.parametrize("spec, vendor, key, frm, to", [
    pytest.param(DELL, "dell", "bios", "1.10.2", "1.12.1", id="dell"),
    pytest.param(GEN, "generic", "bios", "1.0.5", "1.1.0", id="generic"),
    pytest.param(HPE, "hpe", "bios", "U30 v2.68 (07/14/2022)", "U30 v2.80 (10/03/2023)", id="hpe"),
])
def test_nothing_sent_is_not_sent(tmp_path: Path, spec: dict, vendor: str, key: str, frm: str, to: str) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        assert await drv.settle_intent(intent("h1", key, to, frm, "host-reboot")) == "not-sent"
        assert rig.events("h1", "image-received") == []

    with_rig(tmp_path, fleet, body)


def test_failed_task_is_failed(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {
        "g1": {**GEN, "faults": {"task_exception": {"component": "bmc", "at_percent": 30, "message": "ApplyFailed"}}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        path, entry = rig.image("generic", GEN["model"], "bmc", "2.15.0")
        req = flash_request("g1", "bmc", entry, path, current="2.14.0", apply_time="Immediate",
                            activation="bmc-reset")
        uris: list[str] = []
        drv.on_accepted = uris.append
        await crash_flash(rig, drv, req, lambda m, p: m.startswith("accepted by the BMC"))
        fresh = await rig.driver("g1")
        verdicts = await settle_until_final(rig, fresh, intent("g1", "bmc", "2.15.0", "2.14.0", "bmc-reset",
                                                          task_uri=uris[0]))
        assert verdicts[-1].startswith("failed:"), verdicts
        assert "ApplyFailed" in verdicts[-1] or "failed" in verdicts[-1].lower(), \
            verdicts

    with_rig(tmp_path, fleet, body)
