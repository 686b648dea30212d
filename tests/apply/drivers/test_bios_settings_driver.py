"""Staging BIOS settings with each vendor's mechanism, against the simulator: Dell's one
configuration job (a second staging is refused with SYS011, naming the job; deleting the
job frees the queue), Supermicro's If-Match, a DMTF service that demands If-Match only
after a 428, HPE's deferred validation (the 200 answer proves nothing; the failure is in
`@Redfish.Settings.Messages` after the reboot, behind a leading Success)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from hwfw.apply.driver import SettingsRejected
from tests.apply.drivers.support import DELL, GEN, HPE, SMC, Rig, with_rig, write_fleet

pytestmark = pytest.mark.slow


def test_dell_stages_one_job_and_a_second_staging_names_it_with_sys011(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL})

    async def body(rig: Rig) -> None:
        rig.faults("d1", job_404=0)   # the new job is listed at once (iDRAC hides new jobs for a few seconds)
        drv = await rig.driver("d1")
        staged = await drv.stage_bios_settings({"ProcCStates": "Disabled", "LogicalProc": "Disabled"}, rig.progress)
        assert staged.method == "dell-config-job" and staged.job_uri and "JID_" in staged.job_uri
        assert await drv.staged_settings_job() == staged.job_uri
        [event] = rig.events("d1", "bios-settings-staged")
        assert event["values"] == {"ProcCStates": "Disabled", "LogicalProc": "Disabled"}   # one PATCH, one job
        assert event["job"] and event["job"] in staged.job_uri
        with pytest.raises(SettingsRejected) as refused:
            await drv.stage_bios_settings({"AcPwrRcvryUserDelay": 120}, rig.progress)
        assert "SYS011" in refused.value.message and staged.job_uri in refused.value.message
        assert any(m.message_id.endswith("SYS011") for m in refused.value.messages)
        assert len(rig.events("d1", "bios-settings-staged")) == 1
        # deleting hwfw's own job (rollback) drops its values and frees the queue
        await drv.discard_bios_settings(staged.job_uri)
        assert await drv.staged_settings_job() is None
        assert (await drv.read_bios_settings()).pending == {}
        again = await drv.stage_bios_settings({"AcPwrRcvryUserDelay": 120}, rig.progress)
        assert again.job_uri and again.job_uri != staged.job_uri

    with_rig(tmp_path, fleet, body)


@pytest.mark.parametrize("spec, method", [
    (SMC, "smc-bios-sd"),                                            # If-Match always
    ({**GEN, "options": {"bios_if_match": "require"}}, "settings-object"),  # If-Match after the 428
])
def test_if_match_where_the_settings_object_demands_it(tmp_path: Path, spec: dict, method: str) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})
    attribute, value = ("QuietBoot_0027", False) if spec is SMC else ("ProcTurboMode", "Disabled")

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        staged = await drv.stage_bios_settings({attribute: value}, rig.progress)
        assert staged.method == method
        assert [e["values"] for e in rig.events("h1", "bios-settings-staged")] == [{attribute: value}]
        assert (await drv.read_bios_settings()).pending == {attribute: value}
        refused = rig.events("h1", "bios-settings-refused")
        # Supermicro gets its ETag up front: never refused; the DMTF service refuses once (428), then takes it
        assert [e["status"] for e in refused] == ([] if spec is SMC else [428])

    with_rig(tmp_path, fleet, body)


def test_hpe_accepts_a_locked_value_and_reports_it_only_after_the_reboot(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": HPE})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        # ProcTurbo is grayed out unless WorkloadProfile is Custom: iLO still answers 200
        staged = await drv.stage_bios_settings({"ProcTurbo": "Disabled"}, rig.progress)
        assert staged.method == "hpe-bios-settings"
        assert (await drv.read_bios_settings()).pending == {"ProcTurbo": "Disabled"}
        await drv.activate("host-reboot", rig.progress)
        # BootProgress says the hardware is initialised before the BIOS writes its values
        # back; iLO's PostState says when POST is over (what post-configuration validation reads)
        deadline = time.monotonic() + 30
        while not (await drv.host_status()).post_done:
            assert time.monotonic() < deadline, "POST never finished"
            await asyncio.sleep(0.005)   # polling the BMC, as hwfw does; not a synchronisation delay
        reading = await drv.read_bios_settings()
        assert reading.attributes["ProcTurbo"] == "Enabled" and reading.pending == {}
        ids = [m.message_id.rsplit(".", 1)[-1] for m in reading.messages]
        assert ids[0] == "Success"                                   # iLO's leading Success ...
        failures = [m for m in reading.messages if not m.ok]
        assert [(m.attributes, m.message_id.rsplit(".", 1)[-1]) for m in failures] == \
            [(("ProcTurbo",), "PropertyNotWritable")]                 # ... and the real answer behind it

    with_rig(tmp_path, fleet, body)


def test_resume_waits_for_a_dell_job_that_is_not_listed_yet_instead_of_staging_twice(tmp_path: Path) -> None:
    """A run killed right after the PATCH: the values are pending and iDRAC has the job,
    but lists it only seconds later. Calling that "not sent" would stage again (SYS011)."""
    fleet = write_fleet(tmp_path / "fleet.yaml", {"d1": DELL})

    async def body(rig: Rig) -> None:
        rig.faults("d1", job_404="30s")   # within the grace: creation_grace_polls (4) x poll_interval (10 s)
        drv = await rig.driver("d1")
        values = {"ProcCStates": "Disabled"}
        staged = await drv.stage_bios_settings(values, rig.progress)
        assert await drv.staged_settings_job() is None          # not listed yet
        intent = {"intent": "i1", "host": "d1", "component": "bios-settings", "action": "configure",
                  "details": {"values": values}}
        assert await drv.settle_intent(intent) == "done"
        assert await drv.staged_settings_job() == staged.job_uri
        assert len(rig.events("d1", "bios-settings-staged")) == 1

    with_rig(tmp_path, fleet, body)
