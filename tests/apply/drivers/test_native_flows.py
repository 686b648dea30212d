"""One complete update per vendor through its native flow, against the simulator.

Each test asserts from the simulator's event log: the method the image arrived by,
the version visible only after the activation, and exactly one reset per activate.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit

from hwfw.apply.driver import FLASH_ACTIVE, FLASH_PENDING
from hwfw.apply.imageserver import ImageServer
from hwfw.clock import SystemClock

from tests.apply.drivers.conftest import (
    LAB_FLEET,
    Rig,
    flash_request,
    primary_resets,
    with_rig,
)


def _lab(tmp_path: Path) -> Path:
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(LAB_FLEET, fleet)
    return fleet


def test_dell_bios_multipart_job_staged_on_reset(tmp_path: Path) -> None:
    """iDRAC: multipart push, JID job Scheduled (staged OnReset) until our host reboot."""
    async def body(rig: Rig) -> None:
        host = "lab-dell-01"
        drv = await rig.driver(host)
        assert type(drv).__name__ == "DellDriver"
        before = await drv.read_versions()
        path, entry = rig.image("dell", "PowerEdge R750", "bios", "1.12.1")
        req = flash_request(host, "bios", entry, path, current=before["bios"], apply_time="OnReset",
                            activation="host-reboot")
        result = await drv.flash(req, rig.progress)
        assert result.status == FLASH_PENDING and result.method == "multipart"
        assert result.task_uri and "JID_" in result.task_uri
        received = rig.events(host, "image-received")
        assert [(e["method"], e["sha256"], e["valid"]) for e in received] == [("multipart", entry.sha256, True)]
        job = result.task_uri.rsplit("/", 1)[-1]
        last = [e for e in rig.events(host, "task") if e["id"] == job][-1]
        # the job is Scheduled (JCP001); its Task view says Pending
        assert last["state"] == "Scheduled" and last.get("task_state", "Pending") == "Pending"
        assert rig.sim.fleet.bmcs[host].tasks.tasks[job].oem["JobState"] == "Scheduled"
        assert (await drv.read_versions())["bios"] == "1.10.2"   # staged, not running
        assert not primary_resets(rig.events(host))

        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.12.1"
        resets = primary_resets(rig.events(host, since=mark))
        assert [(r["kind"], r["cause"]) for r in resets] == [("host-reboot", "redfish")]
        activated = rig.events(host, "activated", since=mark)
        assert [(a["component"], a["to"], a["via"]) for a in activated] == [("bios", "1.12.1", "host-reboot")]
        assert drv.resets_sent == ["ComputerSystem.Reset GracefulRestart"]

    with_rig(tmp_path, _lab(tmp_path), body)


def test_dell_idrac_immediate_resets_itself_once(tmp_path: Path) -> None:
    """iDRAC Immediate: the job completes and iDRAC resets itself; activate only waits
    (for Lifecycle Controller readiness too) and sends no reset of its own."""
    async def body(rig: Rig) -> None:
        host = "lab-dell-01"
        drv = await rig.driver(host)
        path, entry = rig.image("dell", "PowerEdge R750", "bmc", "7.10.30.00")
        req = flash_request(host, "bmc", entry, path, current="6.10.30.00", apply_time="Immediate",
                            activation="bmc-reset")
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.status in (FLASH_PENDING, FLASH_ACTIVE)
        await drv.activate("bmc-reset", rig.progress)
        assert drv.resets_sent == []
        assert (await drv.read_versions())["bmc"] == "7.10.30.00"
        resets = primary_resets(rig.events(host, since=mark))
        assert [(r["kind"], r["cause"]) for r in resets] == [("bmc-reset", "firmware-update")]
        assert rig.sim.fleet.machines[host].bmc_state == "up"
        lc = await drv.vendor_ready_problem()
        assert lc is None

    with_rig(tmp_path, _lab(tmp_path), body)


def test_dell_cpld_user_intervention_then_one_virtual_ac_cycle(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        host = "lab-dell-01"
        drv = await rig.driver(host)
        path, entry = rig.image("dell", "PowerEdge R750", "cpld", "1.0.9")
        req = flash_request(host, "cpld", entry, path, current="1.0.6", apply_time="OnReset", activation="ac-cycle")
        result = await drv.flash(req, rig.progress)
        assert result.status == FLASH_PENDING
        # The CPLD job runs during the next POST and then needs a virtual AC cycle
        # (PendingActivation / UserIntervention): one host reboot, then one AC cycle.
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["cpld"] == "1.0.6"
        await drv.activate("ac-cycle", rig.progress)
        assert (await drv.read_versions())["cpld"] == "1.0.9"
        resets = primary_resets(rig.events(host, since=mark))
        assert [r["kind"] for r in resets] == ["host-reboot", "ac-cycle"]
        assert drv.resets_sent[-1] == "DellOemChassis.ExtendedReset PowerCycle"

    with_rig(tmp_path, _lab(tmp_path), body)


def test_hpe_system_rom_through_the_ilo_form(tmp_path: Path) -> None:
    """iLO: /cgi-bin/uploadFile form (sessionKey, parameters, file), Oem.Hpe.State
    followed to Complete + SystemResetRequired; active after one host reboot."""
    async def body(rig: Rig) -> None:
        host = "lab-hpe-01"
        drv = await rig.driver(host)
        assert type(drv).__name__ == "HpeDriver"
        path, entry = rig.image("hpe", "ProLiant DL380 Gen10", "bios", "U30 v2.80 (10/03/2023)")
        req = flash_request(host, "bios", entry, path, current="U30 v2.68 (07/14/2022)", apply_time="Immediate",
                            activation="host-reboot")
        result = await drv.flash(req, rig.progress)
        assert (result.status, result.method) == (FLASH_PENDING, "hpe-form")
        assert "SystemResetRequired" in result.message
        assert [e["method"] for e in rig.events(host, "image-received")] == ["hpe-form"]
        assert (await drv.read_versions())["bios"] == "U30 v2.68 (07/14/2022)"
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "U30 v2.80 (10/03/2023)"
        assert [r["kind"] for r in primary_resets(rig.events(host, since=mark))] == ["host-reboot"]

    with_rig(tmp_path, _lab(tmp_path), body)


def test_hpe_cpld_activated_by_one_aux_cycle(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        host = "lab-hpe-01"
        drv = await rig.driver(host)
        path, entry = rig.image("hpe", "ProLiant DL380 Gen10", "cpld", "0x14")
        req = flash_request(host, "cpld", entry, path, current="0x11", apply_time="Immediate", activation="ac-cycle")
        assert (await drv.flash(req, rig.progress)).status == FLASH_PENDING
        mark = rig.mark()
        await drv.activate("ac-cycle", rig.progress)
        assert (await drv.read_versions())["cpld"] == "0x14"
        assert [r["kind"] for r in primary_resets(rig.events(host, since=mark))] == ["ac-cycle"]
        assert drv.resets_sent == ["HpeComputerSystemExt.SystemReset AuxCycle"]

    with_rig(tmp_path, _lab(tmp_path), body)


def test_supermicro_bmc_verify_then_start_update(tmp_path: Path) -> None:
    """X12/X13: multipart with Targets + Oem.Supermicro preserve flags and
    OnStartUpdateRequest -> "BMC Verify" task -> StartUpdate -> "BMC Update" task; the
    BMC resets itself once and the new version runs after it."""
    async def body(rig: Rig) -> None:
        host = "lab-smc-01"
        drv = await rig.driver(host)
        assert type(drv).__name__ == "SupermicroDriver"
        path, entry = rig.image("supermicro", "SYS-120U-TNR", "bmc", "01.03.12")
        req = flash_request(host, "bmc", entry, path, current="01.01.10", apply_time="Immediate",
                            activation="bmc-reset")
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.method == "smc-startupdate"
        tasks = [(e["name"], e["state"]) for e in rig.events(host, "task", since=mark)]
        assert tasks.index(("BMC Verify", "Completed")) < tasks.index(("BMC Update", "Running"))
        received = rig.events(host, "image-received", since=mark)
        assert [e["method"] for e in received] == ["multipart"]
        op = next(t for t in rig.sim.fleet.bmcs[host].tasks.tasks.values() if t.name == "BMC Update").data \
            if any(t.name == "BMC Update" for t in rig.sim.fleet.bmcs[host].tasks.tasks.values()) else None
        if op is not None:  # the task list survives only until the BMC resets
            assert op["preserve"] == {"PreserveCfg": True, "PreserveSdr": True, "PreserveSsl": True,
                                      "BackupBMC": True}
        await drv.activate("bmc-reset", rig.progress)
        assert (await drv.read_versions())["bmc"] == "01.03.12"
        assert [(r["kind"], r["cause"]) for r in primary_resets(rig.events(host, since=mark))] == \
            [("bmc-reset", "firmware-update")]
        assert drv.resets_sent == []

    with_rig(tmp_path, _lab(tmp_path), body)


def test_supermicro_bios_host_restarted_by_the_bmc(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        host = "lab-smc-02"   # no DCMS licence: BIOS uploads are standard features
        drv = await rig.driver(host)
        path, entry = rig.image("supermicro", "SYS-221H-TNR", "bios", "2.1")
        req = flash_request(host, "bios", entry, path, current="2.0", apply_time="Immediate",
                            activation="host-reboot")
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.method == "smc-startupdate"
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "2.1"
        assert [r["kind"] for r in primary_resets(rig.events(host, since=mark))] == ["host-reboot"]
        assert drv.resets_sent == []           # the BMC restarted the host itself

    with_rig(tmp_path, _lab(tmp_path), body)


def test_generic_simple_update_pulls_from_the_image_server(tmp_path: Path) -> None:
    """Generic: SimpleUpdate with ImageURI on hwfw's image server; the BMC fetched exactly
    that URL (access log), the version runs only after the BMC reset."""
    async def body(rig: Rig) -> None:
        host = "lab-gen-01"
        server = await rig.stack.enter_async_context(ImageServer(rig.settings, SystemClock()))
        drv = await rig.driver(host, image_server=server)
        assert type(drv).__name__ == "GenericDriver"
        path, entry = rig.image("generic", "Contoso OpenServer 2", "bios", "1.1.0", method="simple-update")
        url = await server.publish_async(path, entry.sha256)
        req = flash_request(host, "bios", entry, path, current="1.0.5", apply_time="OnReset",
                            activation="host-reboot", image_url=url)
        result = await drv.flash(req, rig.progress)
        assert (result.status, result.method) == (FLASH_PENDING, "simple-update")
        received = rig.events(host, "image-received")
        assert [(e["method"], e["uri"], e["sha256"]) for e in received] == [("simple-update", url, entry.sha256)]
        fetches = server.fetches(sha256=entry.sha256)
        assert len(fetches) == 1
        assert fetches[0].path == urlsplit(url).path and fetches[0].status == 200 and fetches[0].complete
        assert fetches[0].bytes_sent == path.stat().st_size
        # Which BMC fetched: the remote address. (The simulator pulls from 127.0.0.1, not from
        # its BMC's own loopback address - reported; the unique URL identifies the image.)
        assert fetches[0].remote in ("127.0.0.1", rig.sim.addresses[host])
        assert (await drv.read_versions())["bios"] == "1.0.5"
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.1.0"
        assert [r["kind"] for r in primary_resets(rig.events(host, since=mark))] == ["host-reboot"]

    with_rig(tmp_path, _lab(tmp_path), body)


def test_generic_default_is_multipart_with_target_and_on_reset(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        host = "lab-gen-01"
        drv = await rig.driver(host)
        path, entry = rig.image("generic", "Contoso OpenServer 2", "bmc", "2.15.0")
        req = flash_request(host, "bmc", entry, path, current="2.14.0", apply_time="Immediate",
                            activation="bmc-reset")
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.method == "multipart"
        await drv.activate("bmc-reset", rig.progress)
        assert (await drv.read_versions())["bmc"] == "2.15.0"
        assert [r["kind"] for r in primary_resets(rig.events(host, since=mark))] == ["bmc-reset"]

    with_rig(tmp_path, _lab(tmp_path), body)


def test_hpe_image_above_one_upload_section_is_pulled(tmp_path: Path) -> None:
    """iLO takes one upload section (32 MiB on iLO 5; here 1 MiB); a larger image is refused
    (413) and then pulled with SimpleUpdate from the image server (the section protocol is
    not used)."""
    from tests.apply.drivers.conftest import HPE, write_fleet

    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": {**HPE, "options": {"max_image_size": 1 << 20}}})

    async def body(rig: Rig) -> None:
        server = await rig.stack.enter_async_context(ImageServer(rig.settings, SystemClock()))
        drv = await rig.driver("h1", image_server=server)
        path, entry = rig.image("hpe", HPE["model"], "bmc", "2.81 Mar 27 2023", size=(1 << 20) + 4096)
        req = flash_request("h1", "bmc", entry, path, current="2.72 Sep 04 2022", apply_time="Immediate",
                            activation="bmc-reset")
        result = await drv.flash(req, rig.progress)
        assert result.method == "simple-update"
        assert [e["method"] for e in rig.events("h1", "image-received")] == ["simple-update"]
        assert server.fetches(sha256=entry.sha256, complete=True)
        await drv.activate("bmc-reset", rig.progress)
        assert (await drv.read_versions())["bmc"] == "2.81 Mar 27 2023"
        assert len(primary_resets(rig.events("h1"))) == 1 and drv.resets_sent == []

    with_rig(tmp_path, fleet, body)
