"""BIOS settings staged after a flash whose host reboot the BMC made by itself get a
reboot of their own. (A resumed run found the new BIOS already running, its activation
step sent nothing, and the next activation took that earlier reboot for its own: the
settings were never applied.)"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from tests.apply.drivers.support import LAB_FLEET, Rig, flash_request, primary_resets, with_rig

pytestmark = pytest.mark.slow


def test_settings_staged_after_the_bmcs_own_reboot_are_applied_by_a_reboot_of_their_own(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(LAB_FLEET, fleet)

    async def body(rig: Rig) -> None:
        drv = await rig.driver("lab-dell-01")
        path, entry = rig.image("dell", "PowerEdge R750", "bios", "1.12.1")
        # Immediate: the iDRAC reboots the host itself to run the new BIOS.
        await drv.flash(flash_request("lab-dell-01", "bios", entry, path, current="1.10.2",
                                      apply_time="Immediate", activation="host-reboot"), rig.progress)
        # As a resumed run's activation step does when the new BIOS already runs: nothing
        # is sent. (The test waits for the BMC's reboot the way that step would find it.)
        while (await drv.read_versions())["bios"] != "1.12.1":
            await asyncio.sleep(0.05)   # polling the BMC for the state, not a synchronisation delay
        before = (await drv.read_bios_settings()).attributes["LogicalProc"]
        wanted = "Disabled" if before == "Enabled" else "Enabled"
        await drv.stage_bios_settings({"LogicalProc": wanted}, rig.progress)
        mark = rig.mark()
        await drv.activate("host-reboot", rig.progress)
        assert [r["kind"] for r in primary_resets(rig.events("lab-dell-01", since=mark))] == ["host-reboot"]
        assert (await drv.read_bios_settings()).attributes["LogicalProc"] == wanted

    with_rig(tmp_path, fleet, body)
