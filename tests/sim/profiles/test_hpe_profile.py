"""HPE iLO 5 profile over raw HTTP: upload form, Oem.Hpe progress, ROM swap, queue."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.sim.support import (
    advance,
    client,
    control,
    events,
    host,
    image,
    login,
    run,
    sim_fleet,
    until,
)

pytestmark = pytest.mark.slow

US = "/redfish/v1/UpdateService"
INV = f"{US}/FirmwareInventory"


async def hpe_state(c: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    return (await c.get(US)).json()["Oem"]["Hpe"]


async def by_description(c: httpx.AsyncClient) -> dict[str, str]:
    r = await c.get(INV, params={"$expand": "."})
    return {m["Description"]: m["Version"] for m in r.json()["Members"]}


def form(token: str, img: Path, parameters: dict) -> dict:  # type: ignore[type-arg]
    return {"sessionKey": (None, token), "parameters": (None, json.dumps(parameters), "application/json"),
            "file": (img.name, img.read_bytes(), "application/octet-stream")}


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
def test_complete_system_rom_update_with_active_backup_swap(tmp_path: Path) -> None:
    img = image(tmp_path, "hpe", "bios", "U30 v2.80 (10/03/2023)")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1", auth=None) as c:
            token, _ = await login(c)
            c.headers["X-Auth-Token"] = token
            assert (await hpe_state(c))["State"] == "Idle"
            c.cookies.set("sessionKey", token)
            r = await c.post("/cgi-bin/uploadFile",
                             files=form(token, img, {"UpdateRepository": True, "UpdateTarget": True}))
            assert r.status_code == 200
            envelope = r.json()["error"]
            assert envelope["code"] == "iLO.0.10.ExtendedInfo"
            assert envelope["@Message.ExtendedInfo"][0]["MessageId"] == "Base.1.4.Success"
            assert (await hpe_state(c))["State"] == "Verifying"
            await advance(c, 60)
            mid = await hpe_state(c)
            assert mid["State"] == "Writing" and 0 < mid["FlashProgressPercent"] < 100
            await advance(c, 100)
            done = await hpe_state(c)
            assert done["State"] == "Complete" and done["Result"]["MessageId"] == "iLO.2.25.SystemResetRequired"
            assert (await c.get("/redfish/v1/TaskService/Tasks")).json()["Members"] == []  # no Task on iLO 5
            before = await by_description(c)
            assert before["SystemRomActive"] == "U30 v2.68 (07/14/2022)"
            repo = (await c.get(f"{US}/ComponentRepository", params={"$expand": "."})).json()["Members"]
            assert [m["Filename"] for m in repo] == [img.name]
            r = await c.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
            assert r.status_code == 200
            assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"] == "Base.1.4.Success"
            await until(c, lambda: _rom(c, "U30 v2.80 (10/03/2023)"), step=30)
            after = await by_description(c)
            assert after["SystemRomBackup"] == "U30 v2.68 (07/14/2022)"  # active/backup swapped
            assert (await c.get("/redfish/v1/Systems/1")).json()["BiosVersion"] == "U30 v2.80 (10/03/2023)"

    async def _rom(c: httpx.AsyncClient, version: str) -> bool:
        return (await by_description(c))["SystemRomActive"] == version

    run(main())


def test_complete_ilo_update_by_simple_update(tmp_path: Path) -> None:
    img = image(tmp_path, "hpe", "bmc", "2.81 Mar 27 2023")

    async def main() -> None:
        from tests.sim.fileserver import serve_files

        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c, control(sim) as ctl:
            async with serve_files(img.parent) as base:
                r = await c.post(f"{US}/Actions/UpdateService.SimpleUpdate", json={"ImageURI": f"{base}/{img.name}"})
                assert r.status_code == 200 and r.json()["error"]["code"] == "iLO.0.10.ExtendedInfo"
                await until(ctl, lambda: _state_is(c, "Writing"), step=5)
            await advance(ctl, 200)
            assert [e["kind"] for e in await events(ctl, "reset") if e["bmc"] == "h1"] == ["bmc-reset"]
            await advance(ctl, 100)
            async with client(sim, "h1") as back:
                manager = (await back.get("/redfish/v1/Managers/1")).json()
                # As real iLO 5 says it: "iLO 5 v2.81", the build date in Oem.Hpe.Firmware.Current.
                assert manager["FirmwareVersion"] == "iLO 5 v2.81"
                assert manager["Oem"]["Hpe"]["Firmware"]["Current"]["Date"] == "Mar 27 2023"
                assert (await by_description(back))["SystemBMC"] == "2.81 Mar 27 2023"

    async def _state_is(c: httpx.AsyncClient, state: str) -> bool:
        return (await hpe_state(c))["State"] == state

    run(main())


def test_inventory_uris_end_with_a_slash_from_ilo_5_2_90(tmp_path: Path) -> None:
    newer = {**host("hpe")["firmware"], "bmc": "2.96 Aug 17 2023"}
    hosts = {"old": host("hpe"), "new": host("hpe", firmware=newer),
             "forced": host("hpe", options={"trailing_slash": True})}

    async def main() -> None:
        async with sim_fleet(tmp_path, hosts) as sim:
            for name, slash in (("old", False), ("new", True), ("forced", True)):
                async with client(sim, name) as c:
                    members = (await c.get(INV)).json()["Members"]
                    assert members and all(m["@odata.id"].endswith("/") is slash for m in members), name
                    first = (await c.get(members[0]["@odata.id"])).json()
                    assert first["@odata.id"] == members[0]["@odata.id"] and first["Description"] == "SystemBMC"

    run(main())
