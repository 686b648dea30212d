"""Dell iDRAC9 profile over raw HTTP: JID jobs, version-bearing inventory ids, LC readiness."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.sim.support import advance, client, control, events, host, image, multipart, run, sim_fleet, until

pytestmark = pytest.mark.slow

SYS = "/redfish/v1/Systems/System.Embedded.1"
MGR = "/redfish/v1/Managers/iDRAC.Embedded.1"
INV = "/redfish/v1/UpdateService/FirmwareInventory"
LC = "/redfish/v1/Dell/Managers/iDRAC.Embedded.1/DellLCService/Actions/DellLCService.GetRemoteServicesAPIStatus"


async def inventory_ids(c: httpx.AsyncClient) -> list[str]:
    r = await c.get(INV)
    return [m["@odata.id"].rsplit("/", 1)[1] for m in r.json()["Members"]]


def test_complete_idrac_update_then_lc_ready(tmp_path: Path) -> None:
    """Multipart -> JID Task -> iDRAC reboot (refused) -> version -> LC Ready only later."""
    img = image(tmp_path, "dell", "bmc", "7.10.30.00")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            assert "Installed-25227-6.10.30.00__iDRAC.Embedded.1-1" in await inventory_ids(c)
            r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                             files=multipart({"Targets": [], "@Redfish.OperationApplyTime": "Immediate", "Oem": {}},
                                             img))
            assert r.status_code == 202
            task_uri = r.headers["location"]
            jid = task_uri.rsplit("/", 1)[1]
            assert task_uri.startswith("/redfish/v1/TaskService/Tasks/JID_") and len(jid) == 16
            assert (await c.get(task_uri)).status_code == 404  # the job is not visible yet (race)
            await advance(ctl, 30)
            task = (await c.get(task_uri)).json()
            assert task["Name"] == "Firmware Update: iDRAC with Lifecycle Controller"
            assert task["Oem"]["Dell"]["JobState"] == "Running"
            await advance(ctl, 222)  # t=252: flash done at 250 s (download 10 + flash 240), reboot at 255 s
            job = (await c.get(f"{MGR}/Oem/Dell/Jobs/{jid}")).json()
            assert job["JobState"] == "Completed" and job["MessageId"].endswith("PR19")
            await advance(ctl, 10)
            async with client(sim, "d1") as fresh:
                try:
                    await fresh.get("/redfish/v1/")
                    raise AssertionError("iDRAC answered while rebooting")
                except httpx.ConnectError:
                    pass
            await advance(ctl, 125)  # Redfish back, LC not ready yet
            async with client(sim, "d1") as back:
                assert (await back.get(MGR)).json()["FirmwareVersion"] == "7.10.30.00"
                assert (await back.post(LC, json={})).json()["LCStatus"] == "NotReady"
                busy = await back.post("/redfish/v1/UpdateService/MultipartUpload", files=multipart({}, img))
                assert busy.status_code == 503 and busy.json()["error"]["code"].endswith("SYS518")
                assert (await back.get(task_uri)).status_code == 404  # Task view gone after the reboot
                assert (await back.get(f"/redfish/v1/JobService/Jobs/{jid}")).json()["JobState"] == "Completed"
                await advance(ctl, 60)
                assert (await back.post(LC, json={})).json()["LCStatus"] == "Ready"
                ids = await inventory_ids(back)
                assert "Installed-25227-7.10.30.00__iDRAC.Embedded.1-1" in ids
                assert "Previous-25227-6.10.30.00__iDRAC.Embedded.1-1" in ids

    run(main())


def test_complete_bios_update_immediate_reboots_the_host(tmp_path: Path) -> None:
    """Immediate BIOS: Scheduled JCP001, iDRAC creates a RID reboot job, flash in POST."""
    img = image(tmp_path, "dell", "bios", "1.12.1")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c:
            r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                             files=multipart({"@Redfish.OperationApplyTime": "Immediate"}, img))
            jid = r.headers["location"].rsplit("/", 1)[1]
            await until(c, lambda: _job(c, jid, "Completed"), step=20)
            jobs = (await c.get(f"{MGR}/Oem/Dell/Jobs")).json()["Members"]
            assert any("/RID_" in m["@odata.id"] for m in jobs)
            await until(c, lambda: _bios(c, "1.12.1"), step=20)
            assert [e["kind"] for e in await events(c, "reset")] == ["host-reboot"]
            assert "Installed-159-1.12.1__BIOS.Setup.1-1" in await inventory_ids(c)
            assert "Installed-159-1.10.2__BIOS.Setup.1-1" not in await inventory_ids(c)

    async def _job(c: httpx.AsyncClient, jid: str, state: str) -> bool:
        r = await c.get(f"{MGR}/Oem/Dell/Jobs/{jid}")
        return r.status_code == 200 and r.json()["JobState"] == state

    async def _bios(c: httpx.AsyncClient, version: str) -> bool:
        return (await c.get(SYS)).json()["BiosVersion"] == version

    run(main())


def test_rollback_uses_the_previous_member_uri(tmp_path: Path) -> None:
    img = image(tmp_path, "dell", "nic", "22.41.1000")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c:
            await c.post("/redfish/v1/UpdateService/MultipartUpload",
                         files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, img))
            await advance(c, 20)
            await c.post(f"{SYS}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await until(c, lambda: _has(c, "Previous-102573-22.31.6__NIC.Integrated.1-1"), step=30)
            r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                             json={"ImageURI": f"{INV}/Previous-102573-22.31.6__NIC.Integrated.1-1",
                                   "@Redfish.OperationApplyTime": "OnReset"})
            assert r.status_code == 202
            await advance(c, 20)
            task = (await c.get(r.headers["location"])).json()
            assert task["Name"].startswith("Firmware Rollback") and task["Oem"]["Dell"]["JobState"] == "Scheduled"
            await c.post(f"{SYS}/Actions/ComputerSystem.Reset", json={"ResetType": "GracefulRestart"})
            await until(c, lambda: _has(c, "Installed-102573-22.31.6__NIC.Integrated.1-1"), step=30)
            bad = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                               json={"ImageURI": f"{INV}/Previous-1-0.0__Nothing"})
            assert bad.status_code == 400 and bad.json()["error"]["code"].endswith("SUP024")

    async def _has(c: httpx.AsyncClient, fid: str) -> bool:
        return fid in await inventory_ids(c)

    run(main())


def test_legacy_http_push_needs_if_match_and_gives_available(tmp_path: Path) -> None:
    img = image(tmp_path, "dell", "bios", "1.12.1")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c:
            svc = (await c.get("/redfish/v1/UpdateService")).json()
            assert svc["HttpPushUri"] == INV
            files = {"file": (img.name, img.read_bytes(), "application/octet-stream")}
            assert (await c.post(INV, files=files)).status_code == 428
            assert (await c.post(INV, files=files, headers={"If-Match": '"nope"'})).status_code == 412
            etag = (await c.get(INV)).headers["etag"]
            r = await c.post(INV, files=files, headers={"If-Match": etag})
            assert r.status_code == 201 and r.json()["Id"] == "Available-159-1.12.1"
            assert r.json()["Oem"]["Dell"]["DellSoftwareInventory"]["Status"] == "AvailableForInstallation"
            assert (await events(c, "image-received"))[0]["method"] == "http-push"
            r = await c.post("/redfish/v1/UpdateService/Actions/Oem/DellUpdateService.Install",
                             json={"SoftwareIdentityURIs": [f"{INV}/Available-159-1.12.1"],
                                   "InstallUpon": "NextReboot"})
            assert r.status_code == 202
            await advance(c, 20)  # the job is Scheduled once its package is handled (~10 s)
            await c.post(f"{SYS}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await until(c, lambda: _gone(c), step=30)

    async def _gone(c: httpx.AsyncClient) -> bool:
        ids = await inventory_ids(c)
        return "Available-159-1.12.1" not in ids and "Installed-159-1.12.1__BIOS.Setup.1-1" in ids

    run(main())
