"""EmbeddedFleet: loopback addresses, persistence across restarts (also after a kill), TLS."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hwfw.sim.runtime import EmbeddedFleet, loopback_block_for, start_fleet_process
from tests.sim.support import advance, client, host, image, multipart, run, sim_fleet, write_fleet


def test_loopback_block_is_deterministic_and_never_127_0_0(tmp_path: Path) -> None:
    blocks = {loopback_block_for(tmp_path / f"f{i}.yaml") for i in range(300)}
    assert loopback_block_for(tmp_path / "f1.yaml") == loopback_block_for(tmp_path / "f1.yaml")
    assert all(b.startswith("127.") and b.endswith(".0/24") and not b.startswith("127.0.") for b in blocks)
    assert len(blocks) > 250


@pytest.mark.slow
def test_each_bmc_has_its_own_address_on_one_port(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"a": host("dell"), "b": host("hpe"), "c": host("generic")}) as sim:
            urls = sim.urls
            ports = {u.rsplit(":", 1)[1] for u in urls.values()}
            hosts = {u.split("//")[1].rsplit(":", 1)[0] for u in urls.values()}
            assert len(ports) == 1 and len(hosts) == 3
            vendors = []
            for name in urls:
                async with client(sim, name) as c:
                    vendors.append((await c.get("/redfish/v1/")).json()["Vendor"])
            assert vendors == ["Dell", "HPE", "Contoso"]

    run(main())


@pytest.mark.slow
def test_state_persists_across_restarts(tmp_path: Path) -> None:
    """plan/apply/plan: what was flashed and what is pending survives the process."""
    img = image(tmp_path, "dell", "bios", "1.12.1")
    fleet = write_fleet(tmp_path, {"d1": host("dell")})

    async def first() -> None:
        async with EmbeddedFleet(fleet, tmp_path / "st", speed=0) as sim, client(sim, "d1") as c:
            await c.post("/redfish/v1/UpdateService/MultipartUpload",
                         files=multipart({"@Redfish.OperationApplyTime": "OnReset"}, img))
            await advance(c, 30)

    async def second() -> None:
        async with EmbeddedFleet(fleet, tmp_path / "st", speed=0) as sim, client(sim, "d1") as c:
            jobs = (await c.get("/redfish/v1/JobService/Jobs", params={"$expand": "."})).json()["Members"]
            assert [j["JobState"] for j in jobs] == ["Scheduled"]
            await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset", json={"ResetType": "On"})
            await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                         json={"ResetType": "ForceRestart"})
            await advance(c, 900)
            assert (await c.get("/redfish/v1/Systems/System.Embedded.1")).json()["BiosVersion"] == "1.12.1"

    async def third() -> None:
        async with EmbeddedFleet(fleet, tmp_path / "st", speed=0) as sim, client(sim, "d1") as c:
            assert (await c.get("/redfish/v1/Systems/System.Embedded.1")).json()["BiosVersion"] == "1.12.1"
            state = (await c.get("/__sim/state")).json()
            assert state["components"]["bios"]["previous"] == "1.10.2"

    run(first())
    saved = json.loads((tmp_path / "st" / "state.json").read_text())
    assert saved["hosts"]["d1"]["service"]["tasks"][0]["waiting"] == "reset"
    run(second())
    run(third())


@pytest.mark.slow
def test_killed_process_restarts_from_last_persisted_state(tmp_path: Path) -> None:
    """SIGKILL mid-run: the next start restores what the BMC had flashed (debounced writes)."""
    img = image(tmp_path, "generic", "bmc", "2.15.0")
    fleet = write_fleet(tmp_path, {"g1": host("generic")})
    sim = start_fleet_process(fleet, tmp_path / "st", args=["--port", "0", "--speed", "0"])
    try:
        url = sim.urls["g1"]
        with httpx.Client(base_url=url, auth=("admin", "password"), timeout=10) as c:
            assert c.post("/redfish/v1/UpdateService/update", files=multipart({}, img)).status_code == 202
            c.post("/__sim/clock", json={"advance": 500})
            assert c.get("/redfish/v1/Managers/bmc").json()["FirmwareVersion"] == "2.15.0"
            saved: dict = {}  # type: ignore[type-arg]
            for _ in range(3000):  # bounded: wait until the debounced writer has persisted it
                c.get("/__sim/clock")  # a round trip, so the poll is paced by the server, not a sleep
                path = tmp_path / "st" / "state.json"
                saved = json.loads(path.read_text()) if path.exists() else {}
                if saved and saved["hosts"]["g1"]["machine"]["components"][0]["active"] == "2.15.0":
                    break
        os.kill(sim.process.pid, signal.SIGKILL)
        sim.process.wait()
    finally:
        sim.stop()
    assert saved["hosts"]["g1"]["machine"]["components"][0]["active"] == "2.15.0"

    async def again() -> None:
        async with EmbeddedFleet(fleet, tmp_path / "st", speed=0) as sim2, client(sim2, "g1") as c:
            assert (await c.get("/redfish/v1/Managers/bmc")).json()["FirmwareVersion"] == "2.15.0"

    run(again())


@pytest.mark.slow
def test_tls_with_generated_ca(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "g2": host("generic")}, tls=True) as sim:
            assert sim.ca_bundle is not None and sim.url("g1").startswith("https://127.")
            ctx = ssl.create_default_context(cafile=str(sim.ca_bundle))
            async with httpx.AsyncClient(base_url=sim.url("g2"), verify=ctx, auth=("admin", "password")) as c:
                assert (await c.get("/redfish/v1/Systems")).status_code == 200

    run(main())


@pytest.mark.slow
def test_cli_serve_prints_urls_writes_inventory_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    fleet = write_fleet(tmp_path, {"lab-a": host("dell"), "lab-b": host("supermicro")})
    inventory = tmp_path / "inventory.yaml"
    sim = start_fleet_process(fleet, tmp_path / "st", args=["--port", "0", "--listen-block", "127.199.3.0/24",
                                                             "--write-inventory", str(inventory)])
    try:
        assert sim.urls == {"lab-a": f"http://127.199.3.1:{sim.urls['lab-a'].rsplit(':', 1)[1]}",
                            "lab-b": f"http://127.199.3.2:{sim.urls['lab-a'].rsplit(':', 1)[1]}"}
        with httpx.Client(timeout=5) as c:
            assert c.get(sim.urls["lab-b"] + "/redfish/v1/").json()["Vendor"] == "Supermicro"
        import yaml

        inv = yaml.safe_load(inventory.read_text())
        assert inv["defaults"]["credentials"] == {"username": "admin", "password_env": "HWFW_SIM_PASSWORD"}
        assert [h["bmc"] for h in inv["hosts"]] == list(sim.urls.values())
        assert "password:" not in inventory.read_text()
    finally:
        code = sim.stop()
    assert code == 0
    assert json.loads((tmp_path / "st" / "state.json").read_text())["format"] == 1


@pytest.mark.slow
def test_cli_make_image_prints_sha256(tmp_path: Path) -> None:
    out = tmp_path / "x.bin"
    proc = subprocess.run([sys.executable, "-m", "hwfw", "sim", "make-image", "--vendor", "dell", "--model",
                           "PowerEdge R750", "--component", "bios", "--version", "1.12.1", "--size", "1024", "-o",
                           str(out)], capture_output=True, text=True, check=True)
    import hashlib

    assert proc.stdout.strip() == hashlib.sha256(out.read_bytes()).hexdigest()
