"""The simulator over raw HTTP on loopback sockets: a resetting BMC (down modes, partly up,
flapping), the POST window, AC cycles, slow and oversized uploads."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.sim.support import advance, client, control, events, host, image, multipart, run, sim_fleet

pytestmark = pytest.mark.slow

RESET = "/redfish/v1/Managers/bmc/Actions/Manager.Reset"


async def _reset_bmc(c: httpx.AsyncClient, ctl: httpx.AsyncClient, mode: str) -> None:
    r = await ctl.post("/__sim/faults", json={"bmc": "g1", "down_mode": mode})
    assert r.status_code == 200
    assert (await c.post(RESET, json={"ResetType": "GracefulRestart"})).status_code == 204
    await advance(ctl, 5)


@pytest.mark.parametrize("mode", ["refused", "timeout", "hang", "503", "500", "html"])
def test_bmc_reset_down_sub_modes(tmp_path: Path, mode: str) -> None:
    """After Manager.Reset the BMC is down in the configured way, then back."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c, control(sim) as ctl:
            await _reset_bmc(c, ctl, mode)
            async with client(sim, "g1", timeout=httpx.Timeout(0.3)) as probe:
                if mode == "refused":
                    with pytest.raises(httpx.ConnectError):
                        await probe.get("/redfish/v1/")
                elif mode in ("timeout", "hang"):
                    with pytest.raises(httpx.TimeoutException):
                        await probe.get("/redfish/v1/")
                else:
                    r = await probe.get("/redfish/v1/")
                    assert r.status_code == (500 if mode == "500" else 503)
                    if mode == "html":
                        assert r.headers["content-type"].startswith("text/html") and "<html>" in r.text
                    elif mode == "503":
                        assert r.headers["retry-after"]
                        assert r.json()["error"]["code"].endswith("ServiceTemporarilyUnavailable")
            await advance(ctl, 200)
            async with client(sim, "g1") as back:
                assert (await back.get("/redfish/v1/Managers/bmc")).status_code == 200
            kinds = [e["type"] for e in await events(ctl) if e["type"].startswith("bmc-")]
            assert kinds == ["bmc-down", "bmc-partial", "bmc-up"]

    run(main())


def test_partially_up_vendor_answers(tmp_path: Path) -> None:
    """Root answers while vendor services are not ready (iLO InvalidOperationForSystemState,
    generic 503 Retry-After); Dell SYS518 + LCStatus is covered in test_dell_profile."""

    async def main() -> None:
        hosts = {"h1": host("hpe"), "g1": host("generic")}
        async with sim_fleet(tmp_path, hosts) as sim, control(sim) as ctl:
            for name in hosts:
                await ctl.post("/__sim/machine", json={"bmc": name, "action": "bmc-reset"})
            await advance(ctl, 65)  # iLO: back after 60 s, services ready 20 s later
            async with client(sim, "h1") as h, client(sim, "g1") as g:
                assert (await h.get("/redfish/v1/")).status_code == 200
                r = await h.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("InvalidOperationForSystemState")
                await advance(ctl, 30)  # generic: back after 90 s, auth ready 20 s later
                assert (await g.get("/redfish/v1/")).status_code == 200
                r = await g.get("/redfish/v1/Systems")
                assert r.status_code == 503 and r.headers["retry-after"]

    run(main())


def test_flapping_bmc(tmp_path: Path) -> None:
    """Up/down/up after a reset when the `flap` fault is set."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic", faults={"flap": 2})}) as sim, control(sim) as ctl:
            await ctl.post("/__sim/machine", json={"bmc": "g1", "action": "bmc-reset"})
            await advance(ctl, 400)
            seq = [e["type"] for e in await events(ctl) if e["type"] in ("bmc-down", "bmc-up")]
            assert seq == ["bmc-down", "bmc-up", "bmc-down", "bmc-up", "bmc-down", "bmc-up"]

    run(main())


def test_post_window_and_network_adapters(tmp_path: Path) -> None:
    """BootProgress advances; iLO refuses PATCH during POST; Dell NICs vanish while in POST."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe"), "d1": host("dell")}) as sim, \
                client(sim, "h1") as h, client(sim, "d1") as d:
            await h.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await d.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                         json={"ResetType": "ForceRestart"})
            seen = set()
            for _ in range(10):
                seen.add((await h.get("/redfish/v1/Systems/1")).json()["BootProgress"]["LastState"])
                await advance(h, 20)
            assert {"PrimaryProcessorInitializationStarted", "MemoryInitializationStarted"} <= seen
            await h.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            await advance(h, 30)
            assert (await h.get("/redfish/v1/Systems/1")).json()["Oem"]["Hpe"]["PostState"] == "InPost"
            r = await h.patch("/redfish/v1/Systems/1/Bios/settings", json={"Attributes": {"ProcTurboMode": "Disabled"}})
            assert r.status_code == 400 and r.json()["error"]["code"].endswith("UnableToModifyDuringSystemPOST")
            await d.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                         json={"ResetType": "ForceRestart"})
            nics = (await d.get("/redfish/v1/Chassis/System.Embedded.1/NetworkAdapters")).json()
            assert nics["Members"] == []
            await advance(h, 600)
            assert (await h.get("/redfish/v1/Systems/1")).json()["BootProgress"]["LastState"] == "OSRunning"
            r = await h.patch("/redfish/v1/Systems/1/Bios/settings", json={"Attributes": {"ProcTurboMode": "Disabled"}})
            assert r.status_code == 200
            assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("SystemResetRequired")
            nics = (await d.get("/redfish/v1/Chassis/System.Embedded.1/NetworkAdapters")).json()
            assert len(nics["Members"]) == 1

    run(main())


def test_pldm_nic_update_fails_until_host_reboot_after_bmc_update(tmp_path: Path) -> None:
    """With the option on, a NIC update right after a BMC update fails (OpenStack ironic bug 2141574)."""
    bmc = image(tmp_path, "generic", "bmc", "2.15.0")
    nic = image(tmp_path, "generic", "nic", "2.0")

    async def main() -> None:
        firmware = {"bmc": "2.14.0", "bios": "1.0.5", "nic": {"NIC.Slot.1-1": "1.0"}}
        hosts = {"g1": host("generic", firmware=firmware, options={"pldm_nic_needs_reboot_after_bmc": True})}
        async with sim_fleet(tmp_path, hosts) as sim, control(sim) as ctl:
            async with client(sim, "g1") as c:
                await c.post("/redfish/v1/UpdateService/update", files=multipart({}, bmc))
            await advance(ctl, 400)
            async with client(sim, "g1") as c:
                r = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, nic))
                monitor = r.headers["location"]
                await advance(ctl, 30)
                task = (await c.get(monitor)).json()
                assert task["TaskState"] == "Exception" and task["Messages"][-1]["MessageId"].endswith("ApplyFailed")
                await c.post("/redfish/v1/Systems/system/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"})
                await advance(ctl, 300)
                r = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, nic))
                await advance(ctl, 30)
                assert (await c.get(r.headers["location"])).json()["TaskState"] == "Running"

    run(main())


def test_ac_cycle_drops_host_and_bmc_and_activates_cpld(tmp_path: Path) -> None:
    """Dell CPLD job ends in UserIntervention@100 %; the virtual AC cycle drops
    Redfish, turns the host back On and only then shows the new CPLD version."""
    img = image(tmp_path, "dell", "cpld", "1.0.9")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell")}) as sim, client(sim, "d1") as c, control(sim) as ctl:
            r = await c.post("/redfish/v1/UpdateService/MultipartUpload",
                             files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, img))
            task_uri = r.headers["location"]
            await advance(ctl, 20)
            await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                         json={"ResetType": "ForceRestart"})
            await advance(ctl, 400)
            task = (await c.get(task_uri)).json()
            assert task["TaskState"] == "UserIntervention" and task["PercentComplete"] == 100
            assert "virtual AC" in task["Messages"][-1]["Message"]
            r = await c.post("/redfish/v1/Chassis/System.Embedded.1/Actions/Oem/DellOemChassis.ExtendedReset",
                             json={"ResetType": "PowerCycle", "FinalPowerState": "On"})
            assert r.status_code == 204
            await advance(ctl, 5)
            async with client(sim, "d1", timeout=1) as probe:
                with pytest.raises(httpx.ConnectError):
                    await probe.get("/redfish/v1/")
            state = (await ctl.get("/__sim/state", params={"bmc": "d1"})).json()
            assert state["power"] == "Off" and state["bmc"] == "down"
            await advance(ctl, 200)
            async with client(sim, "d1") as back:
                system = (await back.get("/redfish/v1/Systems/System.Embedded.1")).json()
                assert system["PowerState"] == "On"
                inventory = (await back.get("/redfish/v1/UpdateService/FirmwareInventory")).json()
                ids = [m["@odata.id"] for m in inventory["Members"]]
                assert any("Installed-27763-1.0.9" in i for i in ids)
                job = (await back.get(f"/redfish/v1/JobService/Jobs/{task_uri.rsplit('/', 1)[1]}")).json()
                assert job["JobState"] == "Completed"
            kinds = [e["kind"] for e in await events(ctl, "reset")]
            assert "ac-cycle" in kinds

    run(main())


def test_upload_limits_and_busy(tmp_path: Path) -> None:
    """411 without Content-Length, 413 above MaxImageSizeBytes, 503 while another flash runs,
    and a slow upload (upload_rate fault) runs into the client's timeout."""
    small = image(tmp_path, "generic", "bios", "1.1.0", size=4096)
    big = image(tmp_path, "generic", "bmc", "2.15.0", size=600_000)

    async def main() -> None:
        hosts = {"g1": host("generic", options={"max_image_size": 100_000}), "g2": host("generic")}
        async with sim_fleet(tmp_path, hosts) as sim, client(sim, "g1") as c:
            svc = (await c.get("/redfish/v1/UpdateService")).json()
            assert svc["MaxImageSizeBytes"] == 100_000

            async def chunks():  # type: ignore[no-untyped-def]
                yield b"--x\r\n"

            r = await c.post("/redfish/v1/UpdateService/update", content=chunks(),
                             headers={"content-type": "multipart/form-data; boundary=x"})
            assert r.status_code == 411
            r = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, big))
            assert r.status_code == 413 and r.json()["error"]["code"].endswith("PayloadTooLarge")
            r = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, small))
            assert r.status_code == 202
            await advance(c, 30)
            busy = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, small))
            assert busy.status_code == 503 and busy.headers["retry-after"]
            await c.post("/__sim/faults", json={"bmc": "g2", "upload_rate": 20_000})
            with pytest.raises(httpx.TimeoutException):
                async with client(sim, "g2", timeout=httpx.Timeout(0.4)) as slow:
                    await slow.post("/redfish/v1/UpdateService/update", files=multipart({}, small, extra={
                        "pad": ("pad.bin", b"\0" * 90_000, "application/octet-stream")}))

    run(main())
