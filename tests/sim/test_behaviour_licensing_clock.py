"""The simulator over raw HTTP: the Supermicro licence gate, seeded replay, the fault API and the
virtual clock's speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.sim.fileserver import serve_files
from tests.sim.support import advance, client, control, events, host, image, login, multipart, run, sim_fleet

pytestmark = pytest.mark.slow

SMC_FW = {"bmc": "01.02.04", "bios": "2.0", "cpld": "F1.02", "nic": {"NIC1": "1.0"}}


def test_supermicro_licence_gate(tmp_path: Path) -> None:
    """Without DCMS: SimpleUpdate, NIC uploads and the push-URI probe answer 405
    SMC OemLicenseNotPassed; BMC/BIOS uploads stay Standard. Licensed boards are not gated."""
    bios = image(tmp_path, "supermicro", "bios", "2.1", model="SYS-221H-TNR")
    nic = image(tmp_path, "supermicro", "nic", "2.0", model="SYS-221H-TNR")

    async def main() -> None:
        hosts = {"plain": host("supermicro", model="SYS-221H-TNR", firmware=SMC_FW, licenses={"dcms": False}),
                 "dcms": host("supermicro", model="SYS-221H-TNR", firmware=SMC_FW, licenses={"dcms": True})}
        async with sim_fleet(tmp_path, hosts) as sim:
            async with client(sim, "plain") as c:
                probe = await c.get("/redfish/v1/UpdateService/upload")
                assert probe.status_code == 405 and probe.json()["error"]["code"] == "SMC.1.0.OemLicenseNotPassed"
                r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 json={"ImageURI": "http://127.0.0.1:9/x.bin", "Targets": ["/redfish/v1/Managers/1"]})
                assert r.status_code == 405 and r.json()["error"]["code"] == "SMC.1.0.OemLicenseNotPassed"
                r = await c.post("/redfish/v1/UpdateService/upload", files=multipart(
                    {"Targets": ["/redfish/v1/UpdateService/FirmwareInventory/NIC1"]}, nic))
                assert r.status_code == 405 and r.json()["error"]["code"] == "SMC.1.0.OemLicenseNotPassed"
                r = await c.post("/redfish/v1/UpdateService/upload",
                                 files=multipart({"Targets": ["/redfish/v1/Systems/1/Bios"]}, bios))
                assert r.status_code == 202
            async with client(sim, "dcms") as c:
                probe = await c.get("/redfish/v1/UpdateService/upload")
                assert probe.status_code == 405 and probe.headers["allow"] == "POST"
                assert "OemLicenseNotPassed" not in probe.text
                async with serve_files(bios.parent) as base:
                    r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                     json={"ImageURI": f"{base}/{bios.name}", "Targets": ["/redfish/v1/Systems/1"]})
                    assert r.status_code == 202 and r.json()["Accepted"]

    run(main())


def _replay_signature(evts: list[dict]) -> list[tuple]:  # type: ignore[type-arg]
    keep = ("component", "from", "to", "kind", "state", "id", "user", "reason", "version", "sha256")
    return [(e["t"], e["bmc"], e["type"], tuple(e.get(k) for k in keep)) for e in evts]


def test_seeded_replay_is_identical(tmp_path: Path) -> None:
    """The same fleet and the same requests give the same ids, tokens and event log."""
    img = image(tmp_path, "dell", "bmc", "7.10.30.00")

    async def scenario(state: str) -> tuple[list[tuple], dict[str, str]]:  # type: ignore[type-arg]
        hosts = {"d1": host("dell", faults={"error_rate": 0.3}), "g1": host("generic")}
        async with sim_fleet(tmp_path, hosts, state=state) as sim, control(sim) as ctl:
            seen: dict[str, str] = {}
            async with client(sim, "d1") as c:
                statuses = [(await c.get("/redfish/v1/Systems")).status_code for _ in range(12)]
                seen["statuses"] = str(statuses)
                await ctl.post("/__sim/faults", json={"bmc": "d1", "error_rate": 0})
                seen["token"] = (await login(c))[0]
                r = await c.post("/redfish/v1/UpdateService/MultipartUpload", files=multipart({}, img))
                seen["job"] = r.headers["location"]
            await advance(ctl, 600)
            async with client(sim, "d1") as c:
                seen["serial"] = (await c.get("/redfish/v1/Systems/System.Embedded.1")).json()["SerialNumber"]
            return _replay_signature(await events(ctl)), seen

    async def main() -> None:
        first = await scenario("run1")
        second = await scenario("run2")
        assert first == second
        assert "503" in first[1]["statuses"] and "200" in first[1]["statuses"]

    run(main())


def test_fault_api_and_virtual_speed(tmp_path: Path) -> None:
    """Faults scheduled at run time (a longer outage, a task failing at a chosen %), and a
    fast clock: at speed 1000 a 6-minute BIOS flash takes well under a second of real time."""
    img = image(tmp_path, "generic", "bios", "1.1.0")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "g2": host("generic")}) as sim, control(sim) as ctl:
            r = await ctl.post("/__sim/faults", json={"bmc": "g1", "bmc_down_extra": "10m"})
            assert r.status_code == 200
            bad = await ctl.post("/__sim/faults", json={"bmc": "g1", "no_such_fault": 1})
            assert bad.status_code == 400
            await ctl.post("/__sim/machine", json={"bmc": "g1", "action": "bmc-reset"})
            await advance(ctl, 300)
            assert (await ctl.get("/__sim/state", params={"bmc": "g1"})).json()["bmc"] == "down"
            await advance(ctl, 600)
            assert (await ctl.get("/__sim/state", params={"bmc": "g1"})).json()["bmc"] == "up"
            await ctl.post("/__sim/faults", json={"bmc": "g2", "task_exception": {"at_percent": 40,
                                                                                  "message": "VerificationFailed"}})
            async with client(sim, "g2") as c:
                pushed = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, img))
                monitor = pushed.headers["location"]
                await advance(ctl, 400)
                task = (await c.get(monitor)).json()
                assert (task["TaskState"], task["PercentComplete"]) == ("Exception", 40)
                assert task["Messages"][-1]["MessageId"].endswith("VerificationFailed")
                assert [e["result"] for e in await events(c, "flash-finished")] == ["failed"]
                await ctl.delete("/__sim/faults")
                pushed = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, img))
                monitor = pushed.headers["location"]
                await ctl.post("/__sim/clock", json={"speed": 1000})
                started = time.monotonic()
                for _ in range(5000):  # bounded poll, no sleeps: virtual time runs at 1000x
                    r = await c.get(monitor)
                    if r.status_code in (200, 204) or r.json()["TaskState"] == "Completed":
                        break
                elapsed = time.monotonic() - started
                assert r.json()["TaskState"] == "Completed"
                assert elapsed < 2.0  # 250 virtual seconds at speed 1000 = 0.25 s

    run(main())
