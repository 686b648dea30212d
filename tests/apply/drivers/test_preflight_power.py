"""Pre-flight facts, in-flight work, power control, vendor detection, legacy push, IPMI fallback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hwfw.apply.driver import FLASH_PENDING
from hwfw.apply.drivers import make_driver
from hwfw.clock import SystemClock
from hwfw.config.model import Host
from hwfw.inventory.collect import ResolvedHost
from tests.apply.drivers.support import (
    DELL,
    GEN,
    HPE,
    LAB_FLEET,
    SMC,
    Rig,
    flash_request,
    primary_resets,
    with_rig,
    write_fleet,
)
from tests.inventory.test_collect_lab import HPE_PLATFORM

pytestmark = pytest.mark.slow


def test_vendor_detection_and_read_versions_match_the_planner_keys(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(LAB_FLEET, fleet)

    async def body(rig: Rig) -> None:
        expect = {"lab-dell-01": ("DellDriver", {"bmc": "6.10.30.00", "bios": "1.10.2", "cpld": "1.0.6",
                                                 "nic:NIC.Integrated.1-1": "22.31.6"}),
                  "lab-hpe-02": ("HpeDriver", {"bmc": "2.81 Mar 27 2023", "bios": "U46 v1.42 (06/20/2022)",
                                               "cpld": "0x0C", **HPE_PLATFORM["ProLiant DL360 Gen10 Plus"]}),
                  "lab-smc-01": ("SupermicroDriver", {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02"}),
                  "lab-gen-02": ("GenericDriver", {"bmc": "2.15.0", "bios": "1.1.0"})}
        for host, (cls, versions) in expect.items():
            drv = await rig.driver(host)
            assert type(drv).__name__ == cls
            assert await drv.read_versions() == versions

    with_rig(tmp_path, fleet, body)


def test_preflight_reports_foreign_jobs_pending_bios_and_limits(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL, "g1": GEN})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("d1")
        clean = await drv.preflight(known_tasks=(), allow_pending=False)
        assert clean.blocking == () and clean.power_state == "On" and clean.in_flight == ()
        assert clean.facts["vendor"] == "dell" and "multipart" in clean.facts["update_methods"]
        # someone else's BIOS job is scheduled on the iDRAC
        other = await rig.driver("d1")
        path, entry = rig.image("dell", DELL["model"], "bios", "1.12.1")
        result = await other.flash(flash_request("d1", "bios", entry, path, current="1.10.2", apply_time="OnReset",
                                                 activation="host-reboot"), rig.progress)
        report = await drv.preflight(known_tasks=(), allow_pending=False)
        assert len(report.in_flight) == 1 and report.in_flight[0].state == "Scheduled"
        assert report.in_flight[0].component == "bios"
        assert any("not created by this workspace" in b for b in report.blocking)
        tolerant = await drv.preflight(known_tasks=(), allow_pending=True)
        assert tolerant.blocking == () and tolerant.warnings
        ours = await drv.preflight(known_tasks=(str(result.task_uri),), allow_pending=False)
        assert ours.blocking == ()
        # pending BIOS attribute changes on the generic host
        g = await rig.driver("g1")
        await g.session.patch(g.system_uri + "/Bios/Settings", {"Attributes": {"ProcTurboMode": "Disabled"}})
        pending = await g.preflight(known_tasks=(), allow_pending=False)
        assert any("pending BIOS settings" in b for b in pending.blocking)
        # the same values staged by this workspace (its state record) are not foreign ...
        own = await g.preflight(known_tasks=(), allow_pending=False, known_settings={"ProcTurboMode": "Disabled"})
        assert own.blocking == () and any("staged by this workspace" in w for w in own.warnings)
        # ... but a staged value that differs from what hwfw staged is
        other_value = await g.preflight(known_tasks=(), allow_pending=False,
                                        known_settings={"ProcTurboMode": "Enabled"})
        assert any("pending BIOS settings (ProcTurboMode)" in b for b in other_value.blocking)
        assert pending.facts["max_image_size"] == 256 * 1024 * 1024
        assert g.image_size_problem(pending, 300 * 1024 * 1024)
        assert g.image_size_problem(pending, 1024) is None

    with_rig(tmp_path, fleet, body)


def test_set_power_off_and_on(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": HPE})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        await drv.set_power("Off", rig.progress)
        assert rig.sim.fleet.machines["h1"].power_state == "Off"
        await drv.set_power("Off", rig.progress)                     # already off: nothing sent
        await drv.set_power("On", rig.progress)
        assert rig.sim.fleet.machines["h1"].power_state == "On"
        assert await rig.requested_resets("h1") == ["ComputerSystem.Reset GracefulShutdown",
                                                    "ComputerSystem.Reset On"]

    with_rig(tmp_path, fleet, body)


def test_host_reboot_of_a_powered_off_host_is_one_power_on(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": {**GEN, "power": "Off"}})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("g1")
        path, entry = rig.image("generic", GEN["model"], "bios", "1.1.0")
        req = flash_request("g1", "bios", entry, path, current="1.0.5", apply_time="OnReset", activation="host-reboot")
        assert (await drv.flash(req, rig.progress)).status == FLASH_PENDING
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.1.0"
        assert [r["kind"] for r in primary_resets(rig.events("g1", since=mark))] == ["power-on"]

    with_rig(tmp_path, fleet, body)


def test_dell_legacy_http_push_then_install(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("d1")
        path, entry = rig.image("dell", DELL["model"], "bios", "1.12.1", method="http-push")
        req = flash_request("d1", "bios", entry, path, current="1.10.2", apply_time="OnReset", activation="host-reboot")
        result = await drv.flash(req, rig.progress)
        assert (result.status, result.method) == (FLASH_PENDING, "http-push")
        assert [e["method"] for e in rig.events("d1", "image-received")] == ["http-push"]
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.12.1"

    with_rig(tmp_path, fleet, body)


def test_ac_cycle_falls_back_to_ipmi_when_redfish_cannot(tmp_path: Path) -> None:
    """No Redfish power-cycle reset type: the IPMI chassis power cycle (pyghmi) does it."""
    spec = {**SMC, "ipmi": {"enabled": True, "port": 16623}}
    fleet = write_fleet(tmp_path / "fleet.yaml", {"s1": spec})

    async def body(rig: Rig) -> None:
        rh = rig.resolved("s1")
        rh = ResolvedHost(host=Host(name="s1", bmc="sim://s1"), url=rh.url, username="admin", password="password",
                          ipmi=(rig.sim.addresses["s1"], 16623))
        drv = await make_driver(rh, workspace=rig.settings, clock=SystemClock())
        await rig.stack.enter_async_context(drv)
        drv.bmc.system_reset_action = lambda: (None, [])  # type: ignore[method-assign]
        mark = rig.mark()
        await drv.activate("ac-cycle", rig.progress)
        assert await rig.requested_resets("s1") == ["ipmi cycle"]
        resets = [e for e in rig.events("s1", "reset", since=mark)]
        assert resets and all(e["cause"] == "ipmi" for e in resets)
        assert rig.sim.fleet.machines["s1"].power_state == "On"

    with_rig(tmp_path, fleet, body)


def test_ignored_graceful_restart_is_forced_once(tmp_path: Path) -> None:
    """An OS that ignores the ACPI request: ForceRestart after graceful_shutdown_timeout,
    still exactly one host reboot."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"g1": GEN})

    async def body(rig: Rig) -> None:
        machine = rig.sim.fleet.machines["g1"]
        original = machine.reset_host

        def deaf_os(reset_type: str, cause: str = "redfish") -> None:
            if reset_type != "GracefulRestart":
                original(reset_type, cause)

        machine.reset_host = deaf_os  # type: ignore[method-assign]
        drv = await rig.driver("g1")
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert await rig.requested_resets("g1") == ["ComputerSystem.Reset GracefulRestart",
                                                    "ComputerSystem.Reset ForceRestart"]
        assert [r["kind"] for r in primary_resets(rig.events("g1", since=mark))] == ["host-reboot"]

    with_rig(tmp_path, fleet, body)
