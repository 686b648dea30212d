"""One complete update per vendor through its native flow, against the simulator.

One table: per row, the host, the image, the activations run after the flash, and what
the simulator's event log must show: the method the image arrived by, the resets a
person would count (kind, and cause where it is certain), the reset requests hwfw
sent, and the version visible only after the activation. Rows with vendor specifics
(Dell jobs, iLO results, Supermicro verify/update tasks, image-server fetches) add a
check of their own.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import pytest

from hwfw.apply.driver import FLASH_ACTIVE, FLASH_PENDING, FlashResult
from hwfw.apply.imageserver import ImageServer
from hwfw.clock import SystemClock
from hwfw.config.model import RepositoryEntry
from tests.apply.drivers.support import HPE, LAB_FLEET, Rig, flash_request, primary_resets, with_rig, write_fleet

pytestmark = pytest.mark.slow


@dataclass
class Flashed:
    """What a row's check sees after the flash."""

    rig: Rig
    drv: Any
    host: str
    entry: RepositoryEntry
    path: Path
    result: FlashResult
    mark: int
    server: ImageServer | None = None
    url: str | None = None


Check = Callable[[Flashed], Awaitable[None]]


@dataclass(frozen=True)
class Flow:
    host: str
    driver: str                       # the driver class make_driver picks
    vendor: str
    model: str
    component: str
    current: str
    to: str
    apply_time: str
    activations: tuple[str, ...]
    method: str                       # FlashResult.method
    statuses: tuple[str, ...]         # acceptable FlashResult.status
    resets: tuple[str, ...]           # primary resets from the flash on: "kind" or "kind/cause"
    requested: tuple[str, ...]        # reset requests hwfw sent (the BMC's own resets are not requests)
    pending_after_flash: bool = False  # the old version still runs (and nothing was reset) until activation
    entry_method: str = "auto"
    pull: bool = False                # an image server runs
    publish: bool = False             # the image is published on it beforehand (the executor's way)
    size: int = 65536
    fleet: dict[str, Any] | None = None  # a one-host fleet instead of the lab
    after_flash: Check | None = None
    after_activation: Check | None = None


async def dell_job_scheduled(f: Flashed) -> None:
    """iDRAC: the multipart push created a JID job, Scheduled (JCP001) with its Task view
    Pending, until our host reboot; the reboot activated exactly the BIOS."""
    rig, host, result = f.rig, f.host, f.result
    assert result.task_uri and "JID_" in result.task_uri
    received = rig.events(host, "image-received")
    assert [(e["method"], e["sha256"], e["valid"]) for e in received] == [("multipart", f.entry.sha256, True)]
    job = result.task_uri.rsplit("/", 1)[-1]
    last = [e for e in rig.events(host, "task") if e["id"] == job][-1]
    assert last["state"] == "Scheduled" and last.get("task_state", "Pending") == "Pending"
    assert rig.sim.fleet.bmcs[host].tasks.tasks[job].oem["JobState"] == "Scheduled"


async def dell_activated_bios(f: Flashed) -> None:
    activated = f.rig.events(f.host, "activated", since=f.mark)
    assert [(a["component"], a["to"], a["via"]) for a in activated] == [("bios", "1.12.1", "host-reboot")]


async def idrac_back_with_lc_ready(f: Flashed) -> None:
    """After its self-update the iDRAC is up and its Lifecycle Controller Ready."""
    assert f.rig.sim.fleet.machines[f.host].bmc_state == "up"
    assert await f.drv.quirks.ready_problem() is None


async def ilo_form_result(f: Flashed) -> None:
    """iLO: /cgi-bin/uploadFile form (sessionKey, parameters, file), Oem.Hpe.State
    followed to Complete + SystemResetRequired."""
    assert "SystemResetRequired" in f.result.message
    assert [e["method"] for e in f.rig.events(f.host, "image-received")] == ["hpe-form"]


async def smc_verify_then_update(f: Flashed) -> None:
    """X12/X13: multipart with Targets + Oem.Supermicro preserve flags and
    OnStartUpdateRequest -> "BMC Verify" task -> StartUpdate -> "BMC Update" task."""
    rig, host = f.rig, f.host
    tasks = [(e["name"], e["state"]) for e in rig.events(host, "task", since=f.mark)]
    assert tasks.index(("BMC Verify", "Completed")) < tasks.index(("BMC Update", "Running"))
    assert [e["method"] for e in rig.events(host, "image-received", since=f.mark)] == ["multipart"]
    update = [t for t in rig.sim.fleet.bmcs[host].tasks.tasks.values() if t.name == "BMC Update"]
    if update:  # the task list survives only until the BMC resets
        assert update[0].data["preserve"] == {"PreserveCfg": True, "PreserveSdr": True, "PreserveSsl": True,
                                              "BackupBMC": True}


async def pulled_from_the_image_server(f: Flashed) -> None:
    """SimpleUpdate with ImageURI on hwfw's image server: the BMC fetched exactly that URL."""
    assert f.server is not None and f.url is not None
    received = f.rig.events(f.host, "image-received")
    assert [(e["method"], e["uri"], e["sha256"]) for e in received] == [("simple-update", f.url, f.entry.sha256)]
    fetches = f.server.fetches(sha256=f.entry.sha256)
    assert len(fetches) == 1
    assert fetches[0].path == urlsplit(f.url).path and fetches[0].status == 200 and fetches[0].complete
    assert fetches[0].bytes_sent == f.path.stat().st_size
    # Which BMC fetched: the remote address. (The simulator pulls from 127.0.0.1, not from
    # its BMC's own loopback address; the unique URL identifies the image.)
    assert fetches[0].remote in ("127.0.0.1", f.rig.sim.addresses[f.host])


async def pulled_after_413(f: Flashed) -> None:
    """iLO takes one upload section (32 MiB on iLO 5; here 1 MiB): a larger image is
    refused (413) and then pulled with SimpleUpdate from the image server."""
    assert f.server is not None
    assert [e["method"] for e in f.rig.events(f.host, "image-received")] == ["simple-update"]
    assert f.server.fetches(sha256=f.entry.sha256, complete=True)


DELL_R750 = "PowerEdge R750"
DL380 = "ProLiant DL380 Gen10"
CONTOSO = "Contoso OpenServer 2"
GRACEFUL = "ComputerSystem.Reset GracefulRestart"

FLOWS = [
    pytest.param(Flow("lab-dell-01", "DellDriver", "dell", DELL_R750, "bios", "1.10.2", "1.12.1", "OnReset",
                      ("host-reboot",), "multipart", (FLASH_PENDING,), ("host-reboot/redfish",), (GRACEFUL,),
                      pending_after_flash=True, after_flash=dell_job_scheduled,
                      after_activation=dell_activated_bios),
                 id="dell-bios-job-staged-on-reset"),
    # iDRAC Immediate: the job completes and iDRAC resets itself; the activation only
    # waits (for Lifecycle Controller readiness too) and sends no reset of its own.
    pytest.param(Flow("lab-dell-01", "DellDriver", "dell", DELL_R750, "bmc", "6.10.30.00", "7.10.30.00",
                      "Immediate", ("bmc-reset",), "multipart", (FLASH_PENDING, FLASH_ACTIVE),
                      ("bmc-reset/firmware-update",), (), after_activation=idrac_back_with_lc_ready),
                 id="dell-idrac-resets-itself-once"),
    # The CPLD job runs during the next POST, then needs a virtual AC cycle
    # (PendingActivation / UserIntervention): one host reboot, then one AC cycle.
    pytest.param(Flow("lab-dell-01", "DellDriver", "dell", DELL_R750, "cpld", "1.0.6", "1.0.9", "OnReset",
                      ("host-reboot", "ac-cycle"), "multipart", (FLASH_PENDING,), ("host-reboot", "ac-cycle"),
                      (GRACEFUL, "DellOemChassis.ExtendedReset PowerCycle"), pending_after_flash=True),
                 id="dell-cpld-reboot-then-one-virtual-ac-cycle"),
    pytest.param(Flow("lab-hpe-01", "HpeDriver", "hpe", DL380, "bios", "U30 v2.68 (07/14/2022)",
                      "U30 v2.80 (10/03/2023)", "Immediate", ("host-reboot",), "hpe-form", (FLASH_PENDING,),
                      ("host-reboot",), (GRACEFUL,), pending_after_flash=True, after_flash=ilo_form_result),
                 id="hpe-system-rom-through-the-ilo-form"),
    pytest.param(Flow("lab-hpe-01", "HpeDriver", "hpe", DL380, "cpld", "0x11", "0x14", "Immediate", ("ac-cycle",),
                      "hpe-form", (FLASH_PENDING,), ("ac-cycle",), ("HpeComputerSystemExt.SystemReset AuxCycle",),
                      pending_after_flash=True),
                 id="hpe-cpld-one-aux-cycle"),
    pytest.param(Flow("h1", "HpeDriver", "hpe", HPE["model"], "bmc", "2.72 Sep 04 2022", "2.81 Mar 27 2023",
                      "Immediate", ("bmc-reset",), "simple-update", (FLASH_PENDING, FLASH_ACTIVE), ("bmc-reset",), (),
                      pull=True, size=(1 << 20) + 4096,
                      fleet={"h1": {**HPE, "options": {"max_image_size": 1 << 20}}}, after_flash=pulled_after_413),
                 id="hpe-image-above-one-upload-section-is-pulled"),
    # The BMC resets itself once after StartUpdate; the new version runs after it.
    pytest.param(Flow("lab-smc-01", "SupermicroDriver", "supermicro", "SYS-120U-TNR", "bmc", "01.01.10",
                      "01.03.12", "Immediate", ("bmc-reset",), "smc-startupdate", (FLASH_PENDING, FLASH_ACTIVE),
                      ("bmc-reset/firmware-update",), (), after_flash=smc_verify_then_update),
                 id="supermicro-bmc-verify-then-start-update"),
    # No DCMS licence on lab-smc-02: BIOS uploads are standard features; the BMC
    # restarts the host itself.
    pytest.param(Flow("lab-smc-02", "SupermicroDriver", "supermicro", "SYS-221H-TNR", "bios", "2.0", "2.1",
                      "Immediate", ("host-reboot",), "smc-startupdate", (FLASH_PENDING, FLASH_ACTIVE),
                      ("host-reboot",), ()),
                 id="supermicro-bios-host-restarted-by-the-bmc"),
    pytest.param(Flow("lab-gen-01", "GenericDriver", "generic", CONTOSO, "bios", "1.0.5", "1.1.0", "OnReset",
                      ("host-reboot",), "simple-update", (FLASH_PENDING,), ("host-reboot",), (GRACEFUL,),
                      pending_after_flash=True, entry_method="simple-update", pull=True, publish=True,
                      after_flash=pulled_from_the_image_server),
                 id="generic-simple-update-pulls-from-the-image-server"),
    pytest.param(Flow("lab-gen-01", "GenericDriver", "generic", CONTOSO, "bmc", "2.14.0", "2.15.0", "Immediate",
                      ("bmc-reset",), "multipart", (FLASH_PENDING, FLASH_ACTIVE), ("bmc-reset",), ()),
                 id="generic-default-is-multipart"),
]


@pytest.mark.parametrize("flow", FLOWS)
def test_native_flow_flash_activate_resets(tmp_path: Path, flow: Flow) -> None:
    if flow.fleet is None:
        fleet = tmp_path / "fleet.yaml"
        shutil.copy(LAB_FLEET, fleet)
    else:
        fleet = write_fleet(tmp_path / "fleet.yaml", flow.fleet)

    async def body(rig: Rig) -> None:
        server = await rig.stack.enter_async_context(ImageServer(rig.settings, SystemClock())) if flow.pull else None
        drv = await rig.driver(flow.host, image_server=server)
        assert type(drv).__name__ == flow.driver
        key = flow.component
        path, entry = rig.image(flow.vendor, flow.model, key, flow.to, size=flow.size, method=flow.entry_method)
        url = await server.publish_async(path, entry.sha256) if server is not None and flow.publish else None
        req = flash_request(flow.host, key, entry, path, current=flow.current, apply_time=flow.apply_time,
                            activation=flow.activations[-1], image_url=url)
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.method == flow.method and result.status in flow.statuses, result
        flashed = Flashed(rig, drv, flow.host, entry, path, result, mark, server, url)
        if flow.after_flash is not None:
            await flow.after_flash(flashed)
        if flow.pending_after_flash:
            assert (await drv.read_versions())[key] == flow.current       # staged, not running
            assert not primary_resets(rig.events(flow.host, since=mark))
        for activation in flow.activations[:-1]:       # the image runs only after the last one
            await drv.activate(activation, rig.progress)
            assert (await drv.read_versions())[key] == flow.current
        await drv.activate(flow.activations[-1], rig.progress)
        assert (await drv.read_versions())[key] == flow.to
        resets = primary_resets(rig.events(flow.host, since=mark))
        assert [r["kind"] if "/" not in want else f"{r['kind']}/{r['cause']}"
                for r, want in zip(resets, flow.resets,
                                   strict=False)] == list(flow.resets) and len(resets) == len(flow.resets)
        assert await rig.requested_resets(flow.host, since=mark) == list(flow.requested)
        if flow.after_activation is not None:
            await flow.after_activation(flashed)

    with_rig(tmp_path, fleet, body)
