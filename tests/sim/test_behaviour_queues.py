"""The simulator over raw HTTP: a second update while one runs, vendor queues (HPE task queue,
Dell job queue)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim.support import advance, client, control, events, host, image, login, multipart, run, sim_fleet

pytestmark = pytest.mark.slow

QUEUE = "/redfish/v1/UpdateService/UpdateTaskQueue"


def test_second_update_refused_and_stuck_update_mode(tmp_path: Path) -> None:
    """Dell RED014 for a second job on the same component; iLO busy while flashing;
    Supermicro stuck "update mode" (405) that only a BMC cold reset clears."""
    dell = image(tmp_path, "dell", "bios", "1.12.1")
    hpe = image(tmp_path, "hpe", "bmc", "2.81 Mar 27 2023")
    smc = image(tmp_path, "supermicro", "bios", "1.6")

    async def main() -> None:
        hosts = {"d1": host("dell"), "h1": host("hpe"), "s1": host("supermicro", faults={"update_mode_stuck": True})}
        async with sim_fleet(tmp_path, hosts) as sim, control(sim) as ctl:
            async with client(sim, "d1") as c:
                first = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                                     files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, dell))
                assert first.status_code == 202
                second = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                                      files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, dell))
                assert second.status_code == 400 and second.json()["error"]["code"] == "IDRAC.2.8.RED014"
            async with client(sim, "h1", auth=None) as c:
                token, _ = await login(c)
                files = {"sessionKey": (None, token), "parameters": (None, json.dumps({"UpdateTarget": True})),
                         "file": (hpe.name, hpe.read_bytes(), "application/octet-stream")}
                assert (await c.post("/cgi-bin/uploadFile", files=files)).status_code == 200
                busy = await c.post("/cgi-bin/uploadFile", files=files)
                assert busy.status_code == 503 and busy.json()["error"]["code"].endswith("UpdateServiceBusy")
            params = {"Targets": ["/redfish/v1/Systems/1/Bios"]}
            async with client(sim, "s1") as c:
                r = await c.post("/redfish/v1/UpdateService/upload", files=multipart(params, smc))
                assert r.status_code == 405 and r.json()["error"]["code"] == "SMC.1.0.OemFirmwareAlreadyInUpdateMode"
                await advance(ctl, 3600)
                pushed = await c.post("/redfish/v1/UpdateService/upload", files=multipart(params, smc))
                assert pushed.status_code == 405
                await c.post("/redfish/v1/Managers/1/Actions/Manager.Reset", json={"ResetType": "GracefulRestart"})
            await advance(ctl, 300)
            async with client(sim, "s1") as c:
                pushed = await c.post("/redfish/v1/UpdateService/upload", files=multipart(params, smc))
                assert pushed.status_code == 202

    run(main())


def test_hpe_task_queue_strict_order(tmp_path: Path) -> None:
    """Strict order; a Uefi head item blocks until reboot (then runs in POST); an Exception
    blocks until deleted; a Pending item past its Expire becomes Expired."""
    rom = image(tmp_path, "hpe", "bios", "U30 v2.80 (10/03/2023)")
    ilo = image(tmp_path, "hpe", "bmc", "2.81 Mar 27 2023")
    wrong = image(tmp_path, "hpe", "cpld", "0x14", model="ProLiant DL360 Gen10 Plus")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, control(sim) as ctl:
            async with client(sim, "h1") as c:  # Basic auth: a session would idle out over the hours below
                token, _ = await login(c)
                for img in (rom, ilo, wrong):
                    files = {"sessionKey": (None, token), "parameters": (None, json.dumps({"UpdateRepository": True})),
                             "file": (img.name, img.read_bytes(), "application/octet-stream")}
                    assert (await c.post("/cgi-bin/uploadFile", files=files)).status_code == 200
                items = [{"Name": "rom", "Filename": rom.name, "UpdatableBy": ["Uefi"]},
                         {"Name": "ilo", "Filename": ilo.name, "UpdatableBy": ["Bmc"]}]
                for item in items:
                    assert (await c.post(QUEUE, json=item)).status_code == 201
                await advance(ctl, 3600)
                states = await _states(c)
                assert states == {"rom": "Pending", "ilo": "Pending"}  # the Uefi head blocks the iLO item
                repo = (await c.get("/redfish/v1/UpdateService/ComponentRepository", params={"$expand": "."})).json()
                assert all(m["Locked"] for m in repo["Members"] if m["Filename"] in (rom.name, ilo.name))
                await c.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
                await advance(ctl, 250)
                assert (await _states(c))["rom"] == "Complete"
                await advance(ctl, 30)
                assert (await _states(c))["ilo"] == "InProgress"
            await advance(ctl, 600)
            async with client(sim, "h1") as c:
                assert await _states(c) == {"rom": "Complete", "ilo": "Complete"}
                r = await c.post(QUEUE, json={"Name": "bad", "Filename": wrong.name, "UpdatableBy": ["Bmc"]})
                assert r.status_code == 201
                await c.post(QUEUE, json={"Name": "wait", "Command": "Wait", "WaitTimeSeconds": 10})
                await c.post(QUEUE, json={"Name": "late", "Filename": rom.name, "UpdatableBy": ["Uefi"],
                                          "ExpireAfter": "10m"})
                await advance(ctl, 1200)
                states = await _states(c)
                assert (states["bad"], states["wait"]) == ("Exception", "Pending")  # the Exception blocks
                await c.delete(f"{QUEUE}/{await _id(c, 'bad')}")
                await advance(ctl, 20)
                states = await _states(c)
                assert states["wait"] == "Complete" and states["late"] == "Expired"

    async def _states(c) -> dict[str, str]:  # type: ignore[no-untyped-def]
        r = await c.get(QUEUE, params={"$expand": "."})
        assert r.status_code == 200, r.text
        return {m["Name"]: m["State"] for m in r.json()["Members"]}

    async def _id(c, name: str) -> str:  # type: ignore[no-untyped-def]
        r = await c.get(QUEUE, params={"$expand": "."})
        return next(m["Id"] for m in r.json()["Members"] if m["Name"] == name)

    run(main())


def test_dell_job_queue(tmp_path: Path) -> None:
    """RID reboot jobs; scheduled jobs run on any host reboot (here an IPMI-style power cycle
    for another reason); jobs survive an iDRAC reboot; JID_CLEARALL empties the queue."""
    bios = image(tmp_path, "dell", "bios", "1.12.1")
    nic = image(tmp_path, "dell", "nic", "22.41.1000")
    svc = "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/DellJobService/Actions/DellJobService."

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, control(sim) as ctl:
            async with client(sim, "d1") as c:
                r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                                 files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, bios))
                jid = r.headers["location"].rsplit("/", 1)[1]
                await ctl.post("/__sim/machine", json={"bmc": "d1", "action": "bmc-reset"})
            await advance(ctl, 400)
            async with client(sim, "d1") as c:
                assert (await c.get(f"/redfish/v1/JobService/Jobs/{jid}")).json()["JobState"] == "Scheduled"
                sim.fleet.machines["d1"].ipmi_power("cycle")  # a power cycle for another reason
            await advance(ctl, 900)
            async with client(sim, "d1") as c:
                assert (await c.get(f"/redfish/v1/JobService/Jobs/{jid}")).json()["JobState"] == "Completed"
                r = await c.post(f"{svc}CreateRebootJob", json={"RebootJobType": "GracefulRebootWithForcedShutdown"})
                rid = r.headers["location"].rsplit("/", 1)[1]
                assert rid.startswith("RID_")
                await c.post("/redfish/v1/UpdateService/MultipartUpload",
                             files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, nic))
                await advance(ctl, 20)
                assert (await c.post(f"{svc}DeleteJobQueue", json={"JobID": "JID_CLEARALL"})).status_code == 200
                assert (await c.get("/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs")).json()["Members"] == []
                await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"})
                await advance(ctl, 900)
                assert [e["component"] for e in await events(c, "flash-started")] == ["bios"]

    run(main())
