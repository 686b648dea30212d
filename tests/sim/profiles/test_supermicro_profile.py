"""Supermicro X12/X13 profile over raw HTTP: Verify task, StartUpdate, staging, licence gate."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.sim.support import advance, client, control, events, host, image, multipart, run, sim_fleet, until

pytestmark = pytest.mark.slow

US = "/redfish/v1/UpdateService"
INV = f"{US}/FirmwareInventory"


def test_complete_bios_update_with_start_update(tmp_path: Path) -> None:
    img = image(tmp_path, "supermicro", "bios", "1.6")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"s1": host("supermicro")}) as sim, client(sim, "s1") as c:
            params = {"Targets": ["/redfish/v1/Systems/1/Bios"], "@Redfish.OperationApplyTime": "OnStartUpdateRequest",
                      "Oem": {"Supermicro": {"BIOS": {"PreserveME": True, "PreserveNVRAM": True, "PreserveSMBIOS": True,
                                                      "BackupBIOS": False, "PreserveOA": True, "Unknown": 1}}}}
            r = await c.post(f"{US}/upload", files=multipart(params, img))
            assert r.status_code == 202
            task_uri = r.headers["location"]
            info = r.json()["Accepted"]["@Message.ExtendedInfo"][0]
            assert info["MessageArgs"] == [task_uri] and info["RelatedProperties"] == ["BiosVerifyAccepted"]
            task = (await c.get(task_uri)).json()
            assert task["Name"] == "BIOS Verify" and task["HidePayload"] is True and task["Oem"] == {}
            assert task["TaskMonitor"].startswith("/redfish/v1/TaskMonitor/")
            assert task["Messages"][0] == {"MessageId": "", "Message": "", "MessageArgs": [""], "Severity": "",
                                           "Resolution": ""}
            await advance(c, 3)
            assert 0 < (await c.get(task_uri)).json()["PercentComplete"] < 100
            await advance(c, 10)
            assert (await c.get(task_uri)).json()["TaskState"] == "Completed"
            assert (await c.get(f"{INV}/Staging_BIOS")).json()["Version"] == "1.6"
            await advance(c, 3600)
            assert (await c.get(f"{INV}/BIOS")).json()["Version"] == "1.4"  # nothing happens until StartUpdate
            r = await c.post(f"{US}/Actions/UpdateService.StartUpdate", json={})
            assert r.status_code == 202
            update_uri = r.headers["location"]
            assert (await c.get(update_uri)).json()["Name"] == "BIOS Update"
            await until(c, lambda: _done(c, update_uri), step=30)
            await until(c, lambda: _bios(c, "1.6"), step=30)  # the BMC restarts the host itself
            assert [e["kind"] for e in await events(c, "reset")] == ["host-reboot"]
            assert (await c.get(f"{INV}/Backup_BIOS")).json()["Version"] == "1.4"
            again = await c.post(f"{US}/Actions/UpdateService.StartUpdate", json={})
            assert again.status_code == 400 and again.json()["error"]["code"].startswith("SMC.")

    async def _done(c: httpx.AsyncClient, uri: str) -> bool:
        return (await c.get(uri)).json()["TaskState"] == "Completed"

    async def _bios(c: httpx.AsyncClient, version: str) -> bool:
        return (await c.get("/redfish/v1/Systems/1")).json()["BiosVersion"] == version

    run(main())


def test_complete_bmc_update_immediate(tmp_path: Path) -> None:
    img = image(tmp_path, "supermicro", "bmc", "01.03.12")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"s1": host("supermicro")}) as sim, client(sim, "s1") as c, control(sim) as ctl:
            params = {"Targets": ["/redfish/v1/Managers/1"], "@Redfish.OperationApplyTime": "Immediate",
                      "Oem": {"Supermicro": {"BMC": {"PreserveCfg": True}}}}
            r = await c.post(f"{US}/upload", files=multipart(params, img))
            task_uri = r.headers["location"]
            await advance(ctl, 10)
            assert (await c.get(task_uri)).json()["Name"] == "BMC Update"
            busy = await c.post(f"{US}/upload", files=multipart({"Targets": ["/redfish/v1/Managers/1"]}, img))
            assert busy.status_code == 405 and busy.json()["error"]["code"] == "SMC.1.0.OemFirmwareAlreadyInUpdateMode"
            await advance(ctl, 300)
            assert (await c.get(task_uri)).json()["TaskState"] == "Completed"
            await advance(ctl, 300)
            async with client(sim, "s1") as back:
                assert (await back.get("/redfish/v1/Managers/1")).json()["FirmwareVersion"] == "01.03.12"
                r = await back.post("/redfish/v1/Managers/1/Actions/Manager.Reset",
                                    json={"ResetType": "GracefulRestart"})
                assert r.status_code == 200 and "Success" in r.json()

    run(main())
