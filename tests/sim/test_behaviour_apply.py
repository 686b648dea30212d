"""The simulator over raw HTTP: apply times (Immediate, OnReset, OnStartUpdateRequest), staging,
when versions change, pending BIOS settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim.support import advance, client, control, events, host, image, login, multipart, run, sim_fleet, until

pytestmark = pytest.mark.slow

SYS = {"generic": "/redfish/v1/Systems/system", "dell": "/redfish/v1/Systems/System.Embedded.1",
       "hpe": "/redfish/v1/Systems/1", "supermicro": "/redfish/v1/Systems/1"}
BIOS = {"generic": "1.1.0", "dell": "1.12.1", "hpe": "U30 v2.80 (10/03/2023)", "supermicro": "1.6"}


async def _push_bios(c, profile: str, img: Path) -> None:  # type: ignore[no-untyped-def]
    if profile == "hpe":
        token, _ = await login(c)
        files = {"sessionKey": (None, token), "parameters": (None, json.dumps({"UpdateTarget": True}),
                                                             "application/json"),
                 "file": (img.name, img.read_bytes(), "application/octet-stream")}
        assert (await c.post("/cgi-bin/uploadFile", files=files)).status_code == 200
        return
    uri = {"generic": "/redfish/v1/UpdateService/update", "dell": "/redfish/v1/UpdateService/MultipartUpload",
           "supermicro": "/redfish/v1/UpdateService/upload"}[profile]
    targets = ["/redfish/v1/Systems/1/Bios"] if profile == "supermicro" else []
    r = await c.post(uri, files=multipart({"Targets": targets, "@Redfish.OperationApplyTime": "Immediate"}, img))
    assert r.status_code == 202


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
@pytest.mark.parametrize("profile", ["generic", "dell", "hpe", "supermicro"])
def test_immediate_bios_is_vendor_specific(tmp_path: Path, profile: str) -> None:
    """Immediate BIOS: Dell reboots the host itself (RID job), Supermicro flashes then restarts
    the host, HPE (type B) and plain DMTF flash now and activate at the next (client) reboot."""
    img = image(tmp_path, profile, "bios", BIOS[profile])

    async def main() -> None:
        async with sim_fleet(tmp_path, {"b1": host(profile)}) as sim, client(sim, "b1") as c:
            await _push_bios(c, profile, img)
            await advance(c, 1200)
            resets = await events(c, "reset")
            version = (await c.get(SYS[profile])).json()["BiosVersion"]
            if profile in ("dell", "supermicro"):
                assert [e["kind"] for e in resets] == ["host-reboot"]
                assert resets[0]["cause"].startswith("dell-reboot-job" if profile == "dell" else "smc-bios-update")
                assert version == BIOS[profile]
            else:
                assert resets == [] and version != BIOS[profile]
                assert [e["component"] for e in await events(c, "flash-finished")] == ["bios"]
                await c.post(f"{SYS[profile]}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
                await advance(c, 600)
                assert (await c.get(SYS[profile])).json()["BiosVersion"] == BIOS[profile]

    run(main())


def test_onreset_waits_then_flashes_during_post_and_cancel_by_delete(tmp_path: Path) -> None:
    """Dell OnReset job sits Scheduled (JCP001, 0 %) until a reset; the flash runs in POST
    (POST takes longer); deleting the job cancels it (no flash at the next reboot)."""
    img = image(tmp_path, "dell", "bios", "1.12.1")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell"), "d2": host("dell")}) as sim, control(sim) as ctl:
            jobs = {}
            for name in ("d1", "d2"):
                async with client(sim, name) as c:
                    r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                                     files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, img))
                    jobs[name] = r.headers["location"].rsplit("/", 1)[1]
            await advance(ctl, 5000)
            async with client(sim, "d1") as c:
                job = (await c.get(f"/redfish/v1/JobService/Jobs/{jobs['d1']}")).json()
                seen = (job["JobState"], job["MessageId"].split(".")[-1], job["PercentComplete"])
                assert seen == ("Scheduled", "JCP001", 0)
            async with client(sim, "d2") as c:
                r = await c.delete(f"/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/{jobs['d2']}")
                assert r.status_code == 200
            for name in ("d1", "d2"):
                async with client(sim, name) as c:
                    await c.post(f"{SYS['dell']}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await advance(ctl, 900)
            posts = {e["bmc"]: e["t"] for e in await events(ctl, "post-finished")}
            assert posts["d1"] - posts["d2"] == pytest.approx(300)  # the BIOS flash ran inside d1's POST
            flashed = {e["bmc"] for e in await events(ctl, "flash-started")}
            assert flashed == {"d1"}

    run(main())


def test_on_start_update_request(tmp_path: Path) -> None:
    """Dell SimpleUpdate with OnStartUpdateRequest stays Scheduled until StartUpdate;
    StartUpdate with nothing staged is an error (Dell 400, Supermicro 400 SMC message)."""
    img = image(tmp_path, "dell", "bmc", "7.10.30.00")

    async def main() -> None:
        from tests.sim.fileserver import serve_files

        async with sim_fleet(tmp_path, {"d1": host("dell"), "s1": host("supermicro")}) as sim, \
                client(sim, "d1") as d, client(sim, "s1") as s:
            assert (await d.post("/redfish/v1/UpdateService/Actions/UpdateService.StartUpdate",
                                 json={})).status_code == 400
            r = await s.post("/redfish/v1/UpdateService/Actions/UpdateService.StartUpdate", json={})
            assert r.status_code == 400 and r.json()["error"]["code"].startswith("SMC.")
            async with serve_files(img.parent) as base:
                r = await d.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 json={"ImageURI": f"{base}/{img.name}",
                                       "@Redfish.OperationApplyTime": "OnStartUpdateRequest"})
                assert r.status_code == 202
                task = r.headers["location"]
                await until(d, lambda: _job_state(d, task, "Scheduled"), step=2)
            await advance(d, 3000)
            assert (await d.get(task)).json()["Oem"]["Dell"]["JobState"] == "Scheduled"
            assert await events(d, "flash-started") == []
            assert (await d.post("/redfish/v1/UpdateService/Actions/UpdateService.StartUpdate",
                                 json={})).status_code == 204
            await advance(d, 30)
            assert (await d.get(task)).json()["Oem"]["Dell"]["JobState"] == "Running"

    async def _job_state(c, uri: str, state: str) -> bool:  # type: ignore[no-untyped-def]
        r = await c.get(uri)
        return r.status_code == 200 and r.json()["Oem"]["Dell"]["JobState"] == state

    run(main())


def test_unsupported_apply_time_and_advertised_support(tmp_path: Path) -> None:
    """Unsupported apply times get 400; each vendor advertises exactly what it supports."""
    img = image(tmp_path, "supermicro", "bmc", "01.03.12")

    async def main() -> None:
        hosts = {"d1": host("dell"), "h1": host("hpe"), "s1": host("supermicro"), "g1": host("generic")}
        async with sim_fleet(tmp_path, hosts) as sim:
            async with client(sim, "d1") as c:
                svc = (await c.get("/redfish/v1/UpdateService")).json()
                support = svc["Actions"]["#UpdateService.SimpleUpdate"]["@Redfish.OperationApplyTimeSupport"]
                assert support["SupportedValues"] == ["Immediate", "OnReset", "OnStartUpdateRequest"]
            async with client(sim, "h1") as c:
                svc = (await c.get("/redfish/v1/UpdateService")).json()
                assert "@Redfish.OperationApplyTimeSupport" not in json.dumps(svc)
                r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 json={"ImageURI": "http://127.0.0.1:9/x.bin",
                                       "@Redfish.OperationApplyTime": "OnReset"})
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterValueNotInList")
            async with client(sim, "s1") as c:
                svc = (await c.get("/redfish/v1/UpdateService")).json()
                assert svc["MultipartHttpPushUri@Redfish.OperationApplyTimeSupport"]["SupportedValues"] == \
                    ["Immediate", "OnStartUpdateRequest"]
                r = await c.post("/redfish/v1/UpdateService/upload", files=multipart(
                    {"Targets": ["/redfish/v1/Managers/1"], "@Redfish.OperationApplyTime": "OnReset"}, img))
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("PropertyValueNotInList")
            async with client(sim, "g1") as c:
                r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 json={"ImageURI": "http://127.0.0.1:9/x.bin",
                                       "@Redfish.OperationApplyTime": "AtMaintenanceWindowStart"})
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterValueNotInList")

    run(main())


def test_versions_flip_only_on_activation(tmp_path: Path) -> None:
    """Inventory, Manager.FirmwareVersion and the IPMI-facing bmc_version change only when the
    BMC is back; Dell Installed-/Previous- ids change (HPE ROM swap: test_hpe_profile)."""
    img = image(tmp_path, "dell", "bmc", "7.10.30.00")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, control(sim) as ctl:
            machine = sim.fleet.machines["d1"]
            async with client(sim, "d1") as c:
                await c.post("/redfish/v1/UpdateService/MultipartUpload", files=multipart({}, img))
                await advance(ctl, 252)  # flashed, not yet reset
                assert (await c.get("/redfish/v1/Managers/iDRAC.Embedded.1")).json()["FirmwareVersion"] == "6.10.30.00"
                state = (await c.get("/__sim/state")).json()["components"]["bmc"]
                assert state["version"] == "6.10.30.00" and state["pending"]["version"] == "7.10.30.00"
                assert machine.bmc_version == "6.10.30.00"
            await advance(ctl, 60)  # rebooting
            assert machine.bmc_version == "6.10.30.00"
            await advance(ctl, 70)  # back
            assert machine.bmc_version == "7.10.30.00"
            async with client(sim, "d1") as c:
                ids = [m["@odata.id"].rsplit("/", 1)[1]
                       for m in (await c.get("/redfish/v1/UpdateService/FirmwareInventory")).json()["Members"]]
                assert "Installed-25227-7.10.30.00__iDRAC.Embedded.1-1" in ids
                assert "Previous-25227-6.10.30.00__iDRAC.Embedded.1-1" in ids
                assert "Installed-25227-6.10.30.00__iDRAC.Embedded.1-1" not in ids

    run(main())


def test_pending_bios_settings_apply_at_reboot(tmp_path: Path) -> None:
    """Pending values survive (even a BMC reset) until a host reboot; then @Redfish.Settings
    Time/ETag change and the unknown attribute fails in Messages."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, control(sim) as ctl:
            async with client(sim, "g1") as c:
                before = (await c.get("/redfish/v1/Systems/system/Bios")).json()
                r = await c.patch("/redfish/v1/Systems/system/Bios/Settings",
                                  json={"Attributes": {"ProcTurboMode": "Disabled", "NoSuchKnob": "On"}})
                assert r.status_code == 204
                pending = (await c.get("/redfish/v1/Systems/system/Bios/Settings")).json()["Attributes"]
                assert pending["ProcTurboMode"] == "Disabled"
                await ctl.post("/__sim/machine", json={"bmc": "g1", "action": "bmc-reset"})
            await advance(ctl, 300)
            async with client(sim, "g1") as c:
                bios = (await c.get("/redfish/v1/Systems/system/Bios")).json()
                assert bios["Attributes"]["ProcTurboMode"] == "Enabled"
                await c.post("/redfish/v1/Systems/system/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"})
                await advance(ctl, 300)
                after = (await c.get("/redfish/v1/Systems/system/Bios")).json()
                assert after["Attributes"]["ProcTurboMode"] == "Disabled"
                settings, old = after["@Redfish.Settings"], before["@Redfish.Settings"]
                assert settings["Time"] != old["Time"] and settings["ETag"] != old["ETag"]
                assert settings["Messages"][0]["RelatedProperties"] == ["#/Attributes/NoSuchKnob"]

    run(main())
