"""Task state is a hint, BMCs vanish and come back, and some never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.apply.driver import FLASH_ACTIVE, FLASH_PENDING, FLASH_SKIPPED_SAME
from hwfw.errors import ApplyError, BmcUnreachable
from tests.apply.drivers.support import (
    DELL,
    GEN,
    HPE,
    SMC,
    Rig,
    Stopwatch,
    flash_request,
    primary_resets,
    with_rig,
    write_fleet,
)

pytestmark = pytest.mark.slow


def test_vanished_task_monitor_falls_back_to_the_version(tmp_path: Path) -> None:
    """Monitor and Task 404 as soon as the task completes (ironcore metal-operator#668):
    the driver reads the version instead of failing."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": {**GEN, "faults": {"monitor_vanish": True}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        path, entry = rig.image("generic", GEN["model"], "bios", "1.1.0")
        req = flash_request("g1", "bios", entry, path, current="1.0.5", apply_time="Immediate",
                            activation="host-reboot")
        result = await drv.flash(req, rig.progress)
        assert result.status == FLASH_PENDING and "vanished" in result.message
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.1.0"

    with_rig(tmp_path, fleet, body)


def test_vanished_task_after_a_bmc_self_update_reads_the_running_version(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": {**GEN, "faults": {"monitor_vanish": True}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        path, entry = rig.image("generic", GEN["model"], "bmc", "2.15.0")
        req = flash_request("g1", "bmc", entry, path, current="2.14.0", apply_time="Immediate",
                            activation="bmc-reset")
        result = await drv.flash(req, rig.progress)
        assert result.status in (FLASH_PENDING, FLASH_ACTIVE)
        mark = rig.mark()
        await drv.activate("bmc-reset", rig.progress)
        assert (await drv.read_versions())["bmc"] == "2.15.0"
        assert len(primary_resets(rig.events("g1"))) == 1 and not await rig.requested_resets("g1")
        assert not primary_resets(rig.events("g1", since=mark)) or await rig.requested_resets("g1") == []

    with_rig(tmp_path, fleet, body)


@pytest.mark.parametrize("spec, vendor, component, version, current, activation", [
    (GEN, "generic", "bmc", "2.15.0", "2.14.0", "bmc-reset"),
    (DELL, "dell", "bios", "1.12.1", "1.10.2", "host-reboot"),
])
def test_503_storm_is_tolerated(tmp_path: Path, spec: dict, vendor: str, component: str, version: str,
                                current: str, activation: str) -> None:
    """A quarter of all requests (uploads, polls, logins, resets) answer 503 + Retry-After."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        rig.faults("h1", error_rate=0.25, error_status=503)
        path, entry = rig.image(vendor, spec["model"], component, version)
        req = flash_request("h1", component, entry, path, current=current,
                            apply_time="Immediate" if component == "bmc" else "OnReset", activation=activation)
        await drv.flash(req, rig.progress)
        await drv.activate(activation, rig.progress)
        rig.sim.fleet.clear_faults("h1")
        assert (await drv.read_versions())[component] == version
        errors = [e for e in rig.events("h1", "fault") if e.get("status") == 503]
        assert len(errors) >= 5
        assert len(rig.events("h1", "image-received")) == 1
        assert len(primary_resets(rig.events("h1"))) == 1

    with_rig(tmp_path, fleet, body, timeout=90)


def test_bmc_that_never_returns_is_a_clear_error_within_bmc_ready_timeout(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": {**GEN, "faults": {"bmc_down_extra": "forever"}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        limit = rig.settings.timing.bmc_ready_timeout
        watch = Stopwatch()
        with pytest.raises(BmcUnreachable) as info:
            await drv.activate("bmc-reset", rig.progress)
        # bmc_ready_timeout from the moment the BMC went away (plus one probe's timeout)
        assert watch.elapsed < limit + rig.settings.timing.request_timeout + 1.0
        assert f"did not come back within {limit:g}s" in info.value.message
        assert "bmc_ready_timeout" in (info.value.hint or "")
        assert [r["kind"] for r in primary_resets(rig.events("g1"))] == ["bmc-reset"]

    with_rig(tmp_path, fleet, body)


def test_flapping_bmc_needs_consecutive_healthy_answers(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": {**GEN, "faults": {"flap": 2}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        await drv.activate("bmc-reset", rig.progress)
        # Back only after the last flap: every down/up the simulator scheduled has happened.
        ups = rig.events("g1", "bmc-up")
        downs = rig.events("g1", "bmc-down")
        assert len(downs) == 3 and len(ups) == 3
        assert rig.sim.fleet.machines["g1"].bmc_state == "up"
        assert [r["kind"] for r in primary_resets(rig.events("g1"))] == ["bmc-reset"]

    with_rig(tmp_path, fleet, body)


def test_same_version_is_success(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL, "h1": HPE, "g1": GEN})

    async def body(rig: Rig) -> None:
        for host, vendor, spec, comp, version in (("d1", "dell", DELL, "bios", "1.10.2"),
                                                  ("h1", "hpe", HPE, "bios", "U30 v2.68 (07/14/2022)"),
                                                  ("g1", "generic", GEN, "bios", "1.0.5")):
            drv = await rig.driver(host)
            path, entry = rig.image(vendor, spec["model"], comp, version)
            req = flash_request(host, comp, entry, path, current=version, apply_time="Immediate",
                                activation="host-reboot")
            result = await drv.flash(req, rig.progress)
            assert result.status == FLASH_SKIPPED_SAME, (host, result)
            assert not primary_resets(rig.events(host))

    with_rig(tmp_path, fleet, body)


def test_wrong_image_fails_with_the_bmc_message(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL, "s1": SMC})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("d1")
        path, entry = rig.image("dell", "PowerEdge R650", "bios", "1.12.1")   # another model's BIOS
        req = flash_request("d1", "bios", entry, path, current="1.10.2", apply_time="OnReset",
                            activation="host-reboot")
        with pytest.raises(ApplyError, match="UpdateNotApplicable|SUP029|VerificationFailed"):
            await drv.flash(req, rig.progress)
        smc = await rig.driver("s1")
        path, entry = rig.image("supermicro", "SYS-221H-TNR", "bmc", "01.03.12")
        req = flash_request("s1", "bmc", entry, path, current="01.01.10", apply_time="Immediate",
                            activation="bmc-reset")
        with pytest.raises(ApplyError) as info:
            await smc.flash(req, rig.progress)
        assert "UpdateNotApplicable" in info.value.message or "VerificationFailed" in info.value.message
        assert not rig.events("s1", "flash-started")

    with_rig(tmp_path, fleet, body)


def test_supermicro_missing_licence_is_named(tmp_path: Path) -> None:
    spec = {**SMC, "licenses": {"dcms": False},
            "firmware": {**SMC["firmware"], "nic": {"NIC1": "1.0.0"}}}
    fleet = write_fleet(tmp_path / "fleet.yaml", {"s1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("s1")
        rig.sim.app.request_log = []
        report = await drv.preflight(known_tasks=(), allow_pending=False)
        assert report.facts["licensed"] is False
        assert any("SFT-DCMS-SINGLE" in w for w in report.warnings)
        probes = [r for r in rig.sim.app.request_log if r.method == "GET" and r.path.endswith("/upload")]
        assert len(probes) == 1, probes  # the licence is probed once per pre-flight
        rig.sim.app.request_log = None
        versions = await drv.read_versions()
        key = next(k for k in versions if k.startswith("nic"))
        path, entry = rig.image("supermicro", SMC["model"], "nic", "1.1.0")
        req = flash_request("s1", key, entry, path, current="1.0.0", apply_time="Immediate",
                            activation="host-reboot")
        with pytest.raises(ApplyError) as info:
            await drv.flash(req, rig.progress)
        assert "licence" in info.value.message and "SFT-DCMS-SINGLE" in info.value.message
        assert "OemLicenseNotPassed" in info.value.message
        assert "activate" in (info.value.hint or "")

    with_rig(tmp_path, fleet, body)


def test_task_exception_reports_the_message(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {
        "g1": {**GEN, "faults": {"task_exception": {"component": "bmc", "at_percent": 40, "message": "ApplyFailed"}}}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        path, entry = rig.image("generic", GEN["model"], "bmc", "2.15.0")
        req = flash_request("g1", "bmc", entry, path, current="2.14.0", apply_time="Immediate",
                            activation="bmc-reset")
        with pytest.raises(ApplyError, match="ApplyFailed") as info:
            await drv.flash(req, rig.progress)
        assert "Exception" in info.value.message
        assert (await drv.read_versions())["bmc"] == "2.14.0"

    with_rig(tmp_path, fleet, body)



