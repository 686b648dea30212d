"""An update the BMC refuses because the same component's update is still on it (iDRAC
RED014): hwfw follows that update instead of failing or sending another image. It is
what a killed run leaves behind when its upload, still in the socket buffers, reaches
the BMC after the next run looked and found nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hwfw.apply.driver import FLASH_PENDING
from tests.apply.drivers.support import LAB_FLEET, Rig, flash_request, with_rig

pytestmark = pytest.mark.slow

DELL_R750 = "PowerEdge R750"


def _request(rig: Rig, run_id: str) -> object:
    path, entry = rig.image("dell", DELL_R750, "bios", "1.12.1")
    return flash_request("lab-dell-01", "bios", entry, path, current="1.10.2", apply_time="OnReset",
                         activation="host-reboot", run_id=run_id)


def test_a_second_push_of_a_staged_component_follows_the_job_already_there(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    shutil.copy(LAB_FLEET, fleet)

    async def body(rig: Rig) -> None:
        first = await (await rig.driver("lab-dell-01")).flash(_request(rig, "run-killed"), rig.progress)
        assert first.status == FLASH_PENDING and first.task_uri
        mark = rig.mark()
        second = await (await rig.driver("lab-dell-01")).flash(_request(rig, "run-next"), rig.progress)
        job = first.task_uri.rstrip("/").rsplit("/", 1)[-1]
        assert second.status == FLASH_PENDING
        assert second.task_uri and second.task_uri.rstrip("/").rsplit("/", 1)[-1] == job  # the job already there
        assert any("already updating bios" in m for _, m in rig.progress_log)
        assert {e["id"] for e in rig.events("lab-dell-01", "task", since=mark)} <= {job}  # no job of its own

    with_rig(tmp_path, fleet, body)
