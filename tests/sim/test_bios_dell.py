"""Dell iDRAC9 BIOS configuration over raw HTTP: pending values need a BIOS configuration
job, one staged job at a time (SYS011), job deletion drops the values, the job runs in
the next POST, early validation, SysProfile locks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sim.bios_support import SETTINGS, SYS, TARGET, booted, kinds, reboot_and_wait
from tests.sim.support import advance, client, control, events, host, image, multipart, run, sim_fleet

pytestmark = pytest.mark.slow

MGR = "/redfish/v1/Managers/iDRAC.Embedded.1"
ON_RESET = {"@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}}


async def job(c: Any, jid: str) -> dict[str, Any]:
    r = await c.get(f"{MGR}/Oem/Dell/Jobs/{jid}")
    assert r.status_code == 200, r.text
    return dict(r.json())


async def staged_job(c: Any, ctl: Any, attrs: dict[str, Any], **apply_time: Any) -> str:
    r = await c.patch(SETTINGS["dell"], json={"Attributes": attrs, **(apply_time or ON_RESET)})
    assert r.status_code == 202, r.text
    jid = r.headers["location"].rsplit("/", 1)[-1]
    assert r.headers["location"] == f"/redfish/v1/TaskService/Tasks/{jid}" and jid.startswith("JID_")
    await advance(ctl, 5)  # a new job is briefly invisible
    return jid


def test_plain_patch_only_parks_values_a_reboot_applies_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await c.patch(SETTINGS["dell"], json={"Attributes": {"LogicalProc": "Disabled"}})
            assert r.status_code == 200
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {"LogicalProc": "Disabled"}
            await reboot_and_wait(c, ctl, "dell")
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["LogicalProc"] == "Enabled"
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {"LogicalProc": "Disabled"}
            assert not await events(ctl, "bios-settings-applied")

    run(main())


def test_one_staged_bios_job_at_a_time_until_it_runs(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"LogicalProc": "Disabled", "AcPwrRcvryUserDelay": 120})
            first = await job(c, jid)
            assert (first["JobType"], first["JobState"]) == ("BIOSConfiguration", "Scheduled")
            assert first["Message"] == "Task successfully scheduled."
            task = (await c.get(f"/redfish/v1/TaskService/Tasks/{jid}")).json()
            assert task["Messages"][0]["Message"] == "Task successfully scheduled."
            for body in ({"Attributes": {"MemTest": "Enabled"}}, {"Attributes": {"MemTest": "Enabled"}, **ON_RESET}):
                r = await c.patch(SETTINGS["dell"], json=body)
                assert r.status_code == 400
                info = r.json()["error"]["@Message.ExtendedInfo"][0]
                assert info["MessageId"] == "IDRAC.2.8.SYS011"
                assert info["Message"] == "Pending configuration values are already committed, unable to perform " \
                                          "another set operation."
                assert info["RelatedProperties"] == ["#/Attributes/MemTest"]
            r = await c.post(f"{MGR}/Jobs", json={"TargetSettingsURI": SETTINGS["dell"]})
            assert r.status_code == 400 and "SYS011" in r.text
            await reboot_and_wait(c, ctl, "dell")
            done = await job(c, jid)
            assert (done["JobState"], done["Message"], done["PercentComplete"]) == \
                ("Completed", "Job completed successfully.", 100)
            attrs = (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]
            assert (attrs["LogicalProc"], attrs["AcPwrRcvryUserDelay"]) == ("Disabled", 120)
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {}
            states = [e["state"] for e in await events(ctl, "task") if e["id"] == jid]
            assert states[-2:] == ["Running", "Completed"]
            log = await events(ctl)
            assert kinds(log, "bios-settings-staged", "bios-settings-refused", "reset", "bios-settings-applied") == \
                ["bios-settings-staged", "bios-settings-refused", "bios-settings-refused", "bios-settings-refused",
                 "reset", "bios-settings-applied"]
            assert next(e for e in log if e["type"] == "bios-settings-staged")["job"] == jid
            await staged_job(c, ctl, {"MemTest": "Enabled"})  # the job ran: the next one is accepted

    run(main())


def test_deleting_the_job_drops_its_values_and_unblocks(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"LogicalProc": "Disabled"})
            assert (await c.delete(f"{MGR}/Oem/Dell/Jobs/{jid}")).status_code == 200
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {}
            cleared = await events(ctl, "bios-settings-cleared")
            assert [(e["reason"], e["job"], e["attributes"]) for e in cleared] == \
                [("job-deleted", jid, ["LogicalProc"])]
            second = await staged_job(c, ctl, {"MemTest": "Enabled"})
            assert (await c.delete(f"{MGR}/Jobs/{second}")).status_code == 200  # the Managers/…/Jobs alias
            await reboot_and_wait(c, ctl, "dell")
            attrs = (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]
            assert (attrs["LogicalProc"], attrs["MemTest"]) == ("Enabled", "Disabled")

    run(main())


def test_legacy_flow_pending_values_then_a_job_for_the_settings_uri(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await c.post(f"{MGR}/Jobs", json={"TargetSettingsURI": SETTINGS["dell"]})
            assert r.status_code == 400 and r.json()["error"]["code"] == "IDRAC.2.8.BIOS012"
            for attrs in ({"LogicalProc": "Disabled"}, {"MemTest": "Enabled"}):  # plain PATCHes accumulate
                assert (await c.patch(SETTINGS["dell"], json={"Attributes": attrs})).status_code == 200
            r = await c.post(f"{MGR}/Jobs", json={"TargetSettingsURI": SETTINGS["dell"]})
            assert r.status_code == 200
            jid = r.headers["location"].rsplit("/", 1)[-1]
            await advance(ctl, 5)
            assert (await c.get(f"{MGR}/Jobs/{jid}")).json()["JobType"] == "BIOSConfiguration"
            for queue in (f"{MGR}/Jobs", f"{MGR}/Oem/Dell/Jobs"):  # both views, expanded too
                members = (await c.get(queue, params={"$expand": "*($levels=1)"})).json()["Members"]
                assert [m["@odata.id"] for m in members] == [f"{queue}/{jid}"] and members[0]["Id"] == jid
            clear = (await c.get(SETTINGS["dell"])).json()["Actions"]["Oem"]["#DellManager.ClearPending"]["target"]
            r = await c.post(clear, json={})
            assert r.status_code == 400 and "SYS011" in r.text  # the job holds the values
            await reboot_and_wait(c, ctl, "dell")
            attrs = (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]
            assert (attrs["LogicalProc"], attrs["MemTest"]) == ("Disabled", "Enabled")
            assert (await c.patch(SETTINGS["dell"], json={"Attributes": {"MemTest": "Disabled"}})).status_code == 200
            assert (await c.post(clear, json={})).status_code == 200
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {}

    run(main())


def test_immediate_apply_time_makes_idrac_reboot_the_host(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"SriovGlobalEnable": "Enabled"},
                                   **{"@Redfish.SettingsApplyTime": {"ApplyTime": "Immediate"}})
            await booted(c, ctl, "dell")
            assert (await job(c, jid))["JobState"] == "Completed"
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["SriovGlobalEnable"] == "Enabled"
            reboots = [e for e in await events(ctl, "reset") if e["kind"] == "host-reboot"]
            assert len(reboots) == 1 and reboots[0]["cause"].startswith("dell-reboot-job")

    run(main())


def test_bad_values_are_refused_at_patch_time_with_base_messages(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            cases = {"ProcTurboMode": ("Fast", "PropertyValueNotInList"),
                     "AcPwrRcvryUserDelay": ("120", "PropertyValueTypeError"),
                     "SystemServiceTag": ("ABC1234", "PropertyNotWritable"),
                     "NoSuchKnob": ("On", "PropertyUnknown"),
                     "PcieAspmL1": ("Enabled", "PropertyUnknown")}  # only the target BIOS has it
            for name, (value, key) in cases.items():
                r = await c.patch(SETTINGS["dell"], json={"Attributes": {name: value}, **ON_RESET})
                assert r.status_code == 400, name
                info = r.json()["error"]["@Message.ExtendedInfo"][0]
                assert info["MessageId"] == f"Base.1.12.{key}" and info["RelatedProperties"] == [f"#/Attributes/{name}"]
            r = await c.patch(SETTINGS["dell"], json={"Attributes": {"AcPwrRcvryUserDelay": 30}})
            assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("PropertyValueOutOfRange")
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {}
            assert not await events(ctl, "bios-settings-staged")
            assert len(await events(ctl, "bios-settings-refused")) == len(cases) + 1

    run(main())


def test_sys_profile_locks_power_settings_unless_custom_in_the_same_job(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"ProcTurboMode": "Disabled", "LogicalProc": "Disabled"})
            await reboot_and_wait(c, ctl, "dell")
            done = await job(c, jid)
            assert done["JobState"] == "CompletedWithErrors" and done["MessageId"].endswith("PropertyNotWritable")
            bios = (await c.get(f"{SYS['dell']}/Bios")).json()
            assert (bios["Attributes"]["ProcTurboMode"], bios["Attributes"]["LogicalProc"]) == ("Enabled", "Disabled")
            assert [m["RelatedProperties"] for m in bios["@Redfish.Settings"]["Messages"]] == \
                [["#/Attributes/ProcTurboMode"]]
            jid = await staged_job(c, ctl, {"ProcTurboMode": "Disabled", "SysProfile": "Custom"})
            await reboot_and_wait(c, ctl, "dell")
            assert (await job(c, jid))["JobState"] == "Completed"
            attrs = (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]
            assert (attrs["ProcTurboMode"], attrs["SysProfile"]) == ("Disabled", "Custom")
            await staged_job(c, ctl, {"SysProfile": "PerfOptimized"})
            await reboot_and_wait(c, ctl, "dell")
            attrs = (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]
            assert (attrs["ProcTurboMode"], attrs["ProcCStates"]) == ("Enabled", "Disabled")  # the profile's values

    run(main())


def test_a_staged_job_and_its_values_survive_a_simulator_restart(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"LogicalProc": "Disabled"})
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            assert (await job(c, jid))["JobState"] == "Scheduled"
            assert (await c.get(SETTINGS["dell"])).json()["Attributes"] == {"LogicalProc": "Disabled"}
            await reboot_and_wait(c, ctl, "dell")
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["LogicalProc"] == "Disabled"

    run(main())


def test_settings_share_the_bios_update_reboot_then_the_new_attribute_needs_the_new_bios(tmp_path: Path) -> None:
    """A BIOS update job and a BIOS configuration job (attributes both versions have) run in
    one reboot: the BIOS activates first, then the settings apply. The attribute only the new
    BIOS has is refused until that BIOS is active, then it applies in a second job."""
    img = image(tmp_path, "dell", "bios", TARGET["dell"])

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                             files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, img))
            assert r.status_code == 202
            r = await c.patch(SETTINGS["dell"], json={"Attributes": {"PcieAspmL1": "Enabled"}, **ON_RESET})
            assert r.status_code == 400 and r.json()["error"]["code"].endswith("PropertyUnknown")
            await staged_job(c, ctl, {"LogicalProc": "Disabled"})
            await advance(ctl, 60)
            await reboot_and_wait(c, ctl, "dell")
            bios = (await c.get(f"{SYS['dell']}/Bios")).json()
            assert (bios["Attributes"]["SystemBiosVersion"], bios["Attributes"]["LogicalProc"]) == \
                (TARGET["dell"], "Disabled")
            log = await events(ctl)
            assert kinds(log, "reset", "activated", "bios-settings-applied") == \
                ["reset", "activated", "bios-settings-applied"]
            assert next(e for e in log if e["type"] == "bios-settings-applied")["bios_version"] == TARGET["dell"]
            jid = await staged_job(c, ctl, {"PcieAspmL1": "Enabled"})
            await reboot_and_wait(c, ctl, "dell")
            assert (await job(c, jid))["JobState"] == "Completed"
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["PcieAspmL1"] == "Enabled"
            assert len([e for e in await events(ctl, "reset") if e["kind"] == "host-reboot"]) == 2

    run(main())


def test_stuck_job_queue_keeps_the_bios_job_until_an_idrac_reset(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell", faults={"stuck_jobs": True})}) as sim, \
                client(sim, "d1") as c, control(sim) as ctl:
            jid = await staged_job(c, ctl, {"LogicalProc": "Disabled"})
            await reboot_and_wait(c, ctl, "dell")
            assert (await job(c, jid))["JobState"] == "Scheduled"
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["LogicalProc"] == "Enabled"
            await ctl.post("/__sim/machine", json={"bmc": "d1", "action": "bmc-reset"})
            await advance(ctl, 600)  # a cold reset unsticks the queue; the job is kept
            await reboot_and_wait(c, ctl, "dell")
            assert (await job(c, jid))["JobState"] == "Completed"
            assert (await c.get(f"{SYS['dell']}/Bios")).json()["Attributes"]["LogicalProc"] == "Disabled"

    run(main())
