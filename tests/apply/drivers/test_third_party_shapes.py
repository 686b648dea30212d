"""The driver against service shapes hwfw met on BMCs it did not write, reproduced by the
simulator: versions only on the System and Manager (no FirmwareInventory), a SimpleUpdate
whose ActionInfo has no `Targets`, and the generic profile's "minimal" variant (SimpleUpdate
answered 204 with no task and no change, HTTP/1.0, no Manager.Reset).

What the BMC received is read from the simulator's event log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hwfw.apply.driver import FLASH_PENDING, FLASH_UNCONFIRMED
from hwfw.apply.imageserver import ImageServer
from hwfw.clock import SystemClock
from tests.apply.drivers.support import GEN, Rig, flash_request, primary_resets, with_rig, write_fleet

pytestmark = pytest.mark.slow

CONTOSO = GEN["model"]


def _fleet(tmp: Path, **options: Any) -> Path:
    return write_fleet(tmp / "fleet.yaml", {"g1": {**GEN, "options": options}})


async def _pull(rig: Rig, version: str = "1.0.6") -> tuple[Any, Any, Any]:
    """A driver with an image server, and a SimpleUpdate BIOS request."""
    server = await rig.stack.enter_async_context(ImageServer(rig.settings, SystemClock()))
    drv = await rig.driver("g1", image_server=server)
    path, entry = rig.image("generic", CONTOSO, "bios", version, method="simple-update")
    return drv, server, flash_request("g1", "bios", entry, path, current="1.0.5", apply_time="OnReset",
                                      activation="host-reboot")


def test_a_fallback_bios_is_targeted_at_the_system_not_a_made_up_uri(tmp_path: Path) -> None:
    """Without FirmwareInventory the BIOS version comes from ComputerSystem.BiosVersion: the
    SimpleUpdate `Targets` is that ComputerSystem, a resource the service has."""
    async def body(rig: Rig) -> None:
        drv, _, req = await _pull(rig)
        await drv.flash(req, rig.progress)
        (ignored,) = rig.events("g1", "update-ignored")
        assert ignored["targets"] == ["/redfish/v1/Systems/system"]

    with_rig(tmp_path, _fleet(tmp_path, variant="minimal"), body)


def test_no_targets_when_the_action_info_does_not_list_them(tmp_path: Path) -> None:
    """A SimpleUpdate ActionInfo without a `Targets` parameter: hwfw sends none (the
    service refuses the parameter) and the update goes through."""
    async def body(rig: Rig) -> None:
        drv, server, req = await _pull(rig)
        result = await drv.flash(req, rig.progress)
        assert result.status == FLASH_PENDING, result
        assert [e["method"] for e in rig.events("g1", "image-received")] == ["simple-update"]
        assert server.fetches(sha256=req.entry.sha256, complete=True)
        await drv.activate("host-reboot", rig.progress)
        assert (await drv.read_versions())["bios"] == "1.0.6"

    with_rig(tmp_path, _fleet(tmp_path, simple_update_targets=False), body)


def test_a_204_with_no_task_and_no_change_is_not_pending_activation(tmp_path: Path) -> None:
    """The minimal service acknowledges SimpleUpdate with 204 and changes nothing: the
    flash is unconfirmed (never "written, waits for activation"), and says why."""
    async def body(rig: Rig) -> None:
        drv, _, req = await _pull(rig)
        mark = rig.mark()
        result = await drv.flash(req, rig.progress)
        assert result.status == FLASH_UNCONFIRMED and result.task_uri is None, result
        assert "no task" in result.message and "'1.0.5'" in result.message
        assert (await drv.read_versions())["bios"] == "1.0.5"
        assert not primary_resets(rig.events("g1", since=mark))

    with_rig(tmp_path, _fleet(tmp_path, variant="minimal"), body)
