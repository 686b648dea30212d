"""Generic (plain DMTF) profile: complete updates over raw HTTP, spec task monitors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.support import advance, client, events, host, image, multipart, run, sim_fleet, until

pytestmark = pytest.mark.slow

INV = "/redfish/v1/UpdateService/FirmwareInventory"


def test_complete_bmc_update_by_multipart_push(tmp_path: Path) -> None:
    """Upload -> task -> BMC self-reset -> new version only once the BMC is back."""
    img = image(tmp_path, "generic", "bmc", "2.15.0")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c:
            svc = (await c.get("/redfish/v1/UpdateService")).json()
            push = svc["MultipartHttpPushUri"]
            apply_times = svc["MultipartHttpPushUri@Redfish.OperationApplyTimeSupport"]["SupportedValues"]
            assert apply_times == ["Immediate", "OnReset"]
            r = await c.post(push, files=multipart({"Targets": ["/redfish/v1/Managers/bmc"],
                                                    "@Redfish.OperationApplyTime": "Immediate"}, img))
            assert r.status_code == 202
            monitor = r.headers["location"]
            assert monitor.startswith("/redfish/v1/TaskService/TaskMonitors/") and r.headers["retry-after"]
            await advance(c, 60)
            running = await c.get(monitor)
            assert running.status_code == 202 and running.json()["TaskState"] == "Running"
            assert 0 < running.json()["PercentComplete"] < 100
            assert (await c.get(f"{INV}/BMC")).json()["Version"] == "2.14.0"
            await advance(c, 131)  # t=191: flash done (0.5 + 10 verify + 180 flash), reset due at 195.5
            done = await c.get(monitor)
            assert done.status_code == 200 and done.json()["TaskState"] == "Completed"
            assert (await c.get(f"{INV}/BMC")).json()["Version"] == "2.14.0"  # not active before the reset
            await advance(c, 10)  # BMC down (generic answers 503 + Retry-After)
            down = await c.get("/redfish/v1/Managers/bmc")
            assert down.status_code == 503 and down.headers["retry-after"]
            await until(c, lambda: _version_is(c, "2.15.0"))
            kinds = [e["kind"] for e in await events(c, "reset")]
            assert kinds == ["bmc-reset"]
            started = await events(c, "flash-started")
            assert [(e["component"], e["from"], e["to"]) for e in started] == [("bmc", "2.14.0", "2.15.0")]

    async def _version_is(c, version: str) -> bool:  # type: ignore[no-untyped-def]
        r = await c.get("/redfish/v1/Managers/bmc")
        return r.status_code == 200 and r.json()["FirmwareVersion"] == version

    run(main())


def test_bios_onreset_by_simple_update_pull(tmp_path: Path) -> None:
    """SimpleUpdate really fetches ImageURI; OnReset waits Pending until a host reset."""
    img = image(tmp_path, "generic", "bios", "1.1.0")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "files": host("generic")}) as sim, \
                client(sim, "g1") as c:
            from tests.sim.fileserver import serve_files

            async with serve_files(img.parent) as base:
                r = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                 json={"ImageURI": f"{base}/{img.name}", "Targets": ["/redfish/v1/Systems/system"],
                                       "@Redfish.OperationApplyTime": "OnReset"})
                assert r.status_code == 202
                monitor = r.headers["location"]
                await until(c, lambda: _state(c, monitor, "Pending"), step=5)
            received = await events(c, "image-received")
            assert received[0]["method"] == "simple-update" and received[0]["version"] == "1.1.0"
            task = (await c.get(monitor)).json()
            assert task["Messages"][-1]["MessageId"].endswith("AwaitToActivate")
            await advance(c, 3600)
            assert (await c.get("/redfish/v1/Systems/system")).json()["BiosVersion"] == "1.0.5"
            r = await c.post("/redfish/v1/Systems/system/Actions/ComputerSystem.Reset",
                             json={"ResetType": "ForceRestart"})
            assert r.status_code == 204
            await until(c, lambda: _state(c, monitor, "Completed"), step=30)
            await until(c, lambda: _bios(c, "1.1.0"), step=10)  # the new BIOS runs once POST gets there
            assert len(await events(c, "flash-started")) == 1
            assert [e["via"] for e in await events(c, "activated")] == ["host-reboot"]

    async def _state(c, monitor: str, state: str) -> bool:  # type: ignore[no-untyped-def]
        r = await c.get(monitor)
        return r.status_code in (200, 202) and r.json()["TaskState"] == state

    async def _bios(c, version: str) -> bool:  # type: ignore[no-untyped-def]
        return (await c.get("/redfish/v1/Systems/system")).json()["BiosVersion"] == version

    run(main())


def test_bmcweb_monitor_answers_204_once_then_404(tmp_path: Path) -> None:
    img = image(tmp_path, "generic", "bios", "1.1.0")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic", options={"task_monitor": "bmcweb"})}) as sim, \
                client(sim, "g1") as c:
            r = await c.post("/redfish/v1/UpdateService/update", files=multipart({}, img))
            monitor = r.headers["location"]
            assert (await c.get(monitor)).status_code == 202
            await advance(c, 300)  # done at ~251 s (verify 10 + BIOS flash 240)
            assert (await c.get(monitor)).status_code == 204
            assert (await c.get(monitor)).status_code == 404
            task_uri = monitor.replace("TaskMonitors", "Tasks")
            assert (await c.get(task_uri)).json()["TaskState"] == "Completed"

    run(main())
