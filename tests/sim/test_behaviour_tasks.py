"""The simulator over raw HTTP: task monitors, task states, tasks that disappear, messages
that ask for an action (docs/vendor-behaviour.md, "Asynchronous operations and tasks")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.support import advance, client, control, events, host, image, multipart, run, sim_fleet

pytestmark = pytest.mark.slow

PUSH = {"generic": "/redfish/v1/UpdateService/update", "dell": "/redfish/v1/UpdateService/MultipartUpload",
        "supermicro": "/redfish/v1/UpdateService/upload"}
BIOS_TARGET = {"generic": [], "dell": [], "supermicro": ["/redfish/v1/Systems/1/Bios"]}
VERSIONS = {"generic": "1.1.0", "dell": "1.12.1", "supermicro": "1.6"}


@pytest.mark.parametrize("variant", ["spec", "bmcweb", "dell", "supermicro"])
def test_accepted_monitor_and_completion_variants(tmp_path: Path, variant: str) -> None:
    """202 + Location; while running the monitor says 202 + Retry-After (spec); completion:
    (a) spec 200 + Task, (b) bmcweb 204 once then 404, (c) Dell Task URI 200 throughout,
    (d) Supermicro task named in the 202 body."""
    profile = "generic" if variant in ("spec", "bmcweb") else variant
    img = image(tmp_path, profile, "bios", VERSIONS[profile])

    async def main() -> None:
        options = {"task_monitor": variant} if profile == "generic" else {}
        async with sim_fleet(tmp_path, {"b1": host(profile, options=options)}) as sim, client(sim, "b1") as c:
            r = await c.post(PUSH[profile], files=multipart({"Targets": BIOS_TARGET[profile]}, img))
            assert r.status_code == 202
            location = r.headers["location"]
            await advance(c, 30)
            running = await c.get(location)
            if variant == "dell":
                assert running.status_code == 200 and running.json()["Id"].startswith("JID_")
                await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"})
                await advance(c, 200)
                assert (await c.get(location)).status_code == 200  # still running, still 200
                await advance(c, 170)  # t=400: the flash in POST ended at 383 s
                done = await c.get(location)
                assert done.status_code == 200 and done.json()["TaskState"] == "Completed"
                await advance(c, 100)  # the Task is purged 60 s after completion, the job stays
                assert (await c.get(location)).status_code == 404
                jid = location.rsplit("/", 1)[1]
                assert (await c.get(f"/redfish/v1/JobService/Jobs/{jid}")).json()["JobState"] == "Completed"
                return
            if variant == "supermicro":
                assert r.json()["Accepted"]["@Message.ExtendedInfo"][0]["MessageArgs"] == [location]
                assert running.status_code == 200  # the Task resource itself
                monitor = running.json()["TaskMonitor"]
                assert (await c.get(monitor)).status_code == 202
                await advance(c, 600)
                assert (await c.get(monitor)).status_code == 200
                assert (await c.get(location)).json()["TaskState"] == "Completed"
                return
            assert running.status_code == 202 and running.headers["retry-after"]
            assert running.json()["TaskState"] == "Running"
            await advance(c, 300)
            final = await c.get(location)
            if variant == "spec":
                assert final.status_code == 200 and final.json()["TaskState"] == "Completed"
                await advance(c, 400)
                assert (await c.get(location)).status_code == 404  # monitor gone after a while
            else:
                assert final.status_code == 204 and final.content == b""
                assert (await c.get(location)).status_code == 404

    run(main())


def test_task_state_sequences(tmp_path: Path) -> None:
    """New -> Running (rising %, Update.* messages) -> Completed/OK; corrupt image ->
    Exception/Critical VerificationFailed; injected ApplyFailed; DELETE on the monitor -> Cancelled.
    (Dell UserIntervention: test_behaviour_availability's AC-cycle test; SMC placeholder: test_supermicro_profile.)"""
    good = image(tmp_path, "generic", "bios", "1.1.0")
    bad = tmp_path / "corrupt.bin"
    raw = bytearray(good.read_bytes())
    raw[-10] ^= 0xFF
    bad.write_bytes(bytes(raw))

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "g2": host("generic"), "g3": host("generic"),
                                        "g4": host("generic", faults={"task_exception": {"at_percent": 60}})}) as sim, \
                control(sim) as ctl:
            monitors = {}
            for name, img, when in (("g1", good, "Immediate"), ("g2", bad, "Immediate"), ("g3", good, "OnReset"),
                                    ("g4", good, "Immediate")):
                async with client(sim, name) as c:
                    r = await c.post(PUSH["generic"], files=multipart({"@Redfish.OperationApplyTime": when}, img))
                    monitors[name] = r.headers["location"]
                    assert r.json()["TaskState"] == "New"
            percents = []
            async with client(sim, "g1") as c:
                for _ in range(6):
                    await advance(ctl, 30)
                    percents.append((await c.get(monitors["g1"])).json()["PercentComplete"])
            assert percents == sorted(percents) and percents[0] < percents[-1]
            async with client(sim, "g3") as c:
                r = await c.delete(monitors["g3"])
                assert r.status_code == 204
            await advance(ctl, 400)
            states = {}
            for name in monitors:
                async with client(sim, name) as c:
                    states[name] = (await c.get(monitors[name].replace("TaskMonitors", "Tasks"))).json()
            # Completed; Warning because the BIOS still needs a reset (Base.ResetRequired is a Warning)
            assert states["g1"]["TaskState"] == "Completed" and states["g1"]["TaskStatus"] == "Warning"
            assert any(m["MessageId"].startswith("Update.") for m in states["g1"]["Messages"])
            assert states["g2"]["TaskState"] == "Exception" and states["g2"]["TaskStatus"] == "Critical"
            assert states["g2"]["Messages"][-1]["MessageId"].endswith("VerificationFailed")
            assert states["g4"]["TaskState"] == "Exception" and states["g4"]["PercentComplete"] == 60
            assert states["g4"]["Messages"][-1]["MessageId"].endswith("ApplyFailed")
            assert states["g3"]["TaskState"] == "Cancelled"
            assert states["g3"]["Messages"][-1]["MessageId"].split(".")[::3] == ["TaskEvent", "TaskCancelled"]
            g1_states = [e["state"] for e in await events(ctl) if e["type"] == "task" and e["bmc"] == "g1"]
            assert g1_states == ["Running", "Completed"]

    run(main())


def test_task_disappearance(tmp_path: Path) -> None:
    """Dell Task purged ~60 s after completion while the job stays; 404 right after creation;
    bounded task list evicts the oldest; the task list is wiped by a BMC reboot."""
    bios = image(tmp_path, "dell", "bmc", "7.10.30.00")
    gen = image(tmp_path, "generic", "bios", "1.1.0")

    async def main() -> None:
        hosts = {"d1": host("dell", faults={"job_404": 5}), "g1": host("generic", options={"max_tasks": 2})}
        async with sim_fleet(tmp_path, hosts) as sim, control(sim) as ctl:
            async with client(sim, "d1") as d:
                r = await d.post(PUSH["dell"], files=multipart({}, bios))
                task = r.headers["location"]
                jid = task.rsplit("/", 1)[1]
                assert (await d.get(task)).status_code == 404
                await advance(ctl, 6)
                assert (await d.get(task)).status_code == 200
                await advance(ctl, 246)  # completed at 250 s, iDRAC reboots at 255 s
                assert (await d.get(task)).json()["TaskState"] == "Completed"
            await advance(ctl, 400)
            async with client(sim, "d1") as d:
                assert (await d.get(task)).status_code == 404
                assert (await d.get(f"/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/{jid}")).status_code == 200
            async with client(sim, "g1") as g:
                first = (await g.post(PUSH["generic"], files=multipart({}, gen))).headers["location"]
                await advance(ctl, 400)
                for _ in range(2):
                    r = await g.post(PUSH["generic"], files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, gen))
                    assert r.status_code == 202
                assert (await g.get(first.replace("TaskMonitors", "Tasks"))).status_code == 404  # evicted
                assert len((await g.get("/redfish/v1/TaskService/Tasks")).json()["Members"]) == 2
                await ctl.post("/__sim/machine", json={"bmc": "g1", "action": "bmc-reset"})
            await advance(ctl, 300)
            async with client(sim, "g1") as g:
                assert (await g.get("/redfish/v1/TaskService/Tasks")).json()["Members"] == []

    run(main())


def test_completion_messages_that_require_action(tmp_path: Path) -> None:
    """Base.ResetRequired [reset URI, ResetType] + Update.AwaitToActivate (generic BIOS);
    OperationTransitionedToJob with the Dell Job URI; iLO Result SystemResetRequired."""
    gen = image(tmp_path, "generic", "bios", "1.1.0")
    dell = image(tmp_path, "dell", "bios", "1.12.1")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "d1": host("dell")}) as sim, control(sim) as ctl:
            async with client(sim, "g1") as g, client(sim, "d1") as d:
                r = await g.post(PUSH["generic"], files=multipart({}, gen))
                rd = await d.post(PUSH["dell"], files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, dell))
                await advance(ctl, 300)
                task = (await g.get(r.headers["location"])).json()
                ids = [m["MessageId"].split(".")[-1] for m in task["Messages"]]
                assert ids[-2:] == ["AwaitToActivate", "ResetRequired"]
                assert task["Messages"][-1]["MessageArgs"] == [
                    "/redfish/v1/Systems/system/Actions/ComputerSystem.Reset", "ForceRestart"]
                job_msg = (await d.get(rd.headers["location"])).json()["Messages"][0]
                assert job_msg["MessageId"].endswith("OperationTransitionedToJob")
                job_uri = job_msg["MessageArgs"][0]
                assert (await d.get(job_uri)).json()["JobState"] == "Scheduled"

    run(main())
