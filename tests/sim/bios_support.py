"""Helpers for the BIOS settings tests: URIs per profile, BIOS flashing, registry discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.sim.support import advance, login, multipart, until

SYS = {"generic": "/redfish/v1/Systems/system", "dell": "/redfish/v1/Systems/System.Embedded.1",
       "hpe": "/redfish/v1/Systems/1", "supermicro": "/redfish/v1/Systems/1"}
SETTINGS = {"generic": f"{SYS['generic']}/Bios/Settings", "dell": f"{SYS['dell']}/Bios/Settings",
            "hpe": f"{SYS['hpe']}/Bios/settings", "supermicro": f"{SYS['supermicro']}/Bios/SD"}
# The lab's target BIOS for each profile's default model (examples/lab/baselines.yaml).
TARGET = {"generic": "1.1.0", "dell": "1.12.1", "hpe": "U30 v2.80 (10/03/2023)", "supermicro": "1.6"}
PROFILES = ["generic", "dell", "hpe", "supermicro"]


async def discover(c: httpx.AsyncClient, profile: str) -> tuple[dict[str, Any], dict[str, Any], httpx.Response]:
    """Bios, the registry document and its raw response, found as a client must find them:
    Bios.AttributeRegistry -> /redfish/v1/Registries member (Id or Registry) -> Location[].Uri."""
    bios = (await c.get(f"{SYS[profile]}/Bios")).json()
    files = (await c.get("/redfish/v1/Registries")).json()
    assert files["@odata.type"] == "#MessageRegistryFileCollection.MessageRegistryFileCollection"
    entries = [(await c.get(m["@odata.id"])).json() for m in files["Members"]]
    entry = next(e for e in entries if bios["AttributeRegistry"] in (e["Id"], e["Registry"]))
    uri = next(loc["Uri"] for loc in entry["Location"] if loc["Language"] == "en")
    raw = await c.get(uri)
    assert raw.status_code == 200, raw.text
    return bios, raw.json(), raw


def attribute(registry: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in registry["RegistryEntries"]["Attributes"] if a["AttributeName"] == name), None)


async def push_bios(c: httpx.AsyncClient, profile: str, img: Path) -> None:
    """Upload a BIOS image the vendor's way (HPE: form upload with a session, logged out after)."""
    if profile == "hpe":
        token, location = await login(c)
        parameters = (None, json.dumps({"UpdateTarget": True}), "application/json")
        files = {"sessionKey": (None, token), "parameters": parameters,
                 "file": (img.name, img.read_bytes(), "application/octet-stream")}
        assert (await c.post("/cgi-bin/uploadFile", files=files)).status_code == 200
        assert (await c.delete(location, headers={"X-Auth-Token": token})).status_code in (200, 204)
        return
    uri = {"generic": "/redfish/v1/UpdateService/update", "dell": "/redfish/v1/UpdateService/MultipartUpload",
           "supermicro": "/redfish/v1/UpdateService/upload"}[profile]
    targets = ["/redfish/v1/Systems/1/Bios"] if profile == "supermicro" else []
    r = await c.post(uri, files=multipart({"Targets": targets, "@Redfish.OperationApplyTime": "Immediate"}, img))
    assert r.status_code == 202, r.text


async def flash_bios(c: httpx.AsyncClient, ctl: httpx.AsyncClient, profile: str, img: Path) -> None:
    """Push a BIOS image and reboot the host where the vendor waits for the client to do so."""
    await push_bios(c, profile, img)
    await advance(ctl, 900)
    if profile in ("generic", "hpe"):  # these activate at the next (client) reboot
        await reboot(c, profile)


async def reboot(c: httpx.AsyncClient, profile: str) -> None:
    r = await c.post(f"{SYS[profile]}/Actions/ComputerSystem.Reset", json={"ResetType": "ForceRestart"})
    assert r.status_code in (200, 204), r.text


async def booted(c: httpx.AsyncClient, ctl: httpx.AsyncClient, profile: str) -> None:
    """Advance virtual time until the host has finished POST and booted its OS."""
    await advance(ctl, 5)

    async def up() -> bool:
        return (await c.get(SYS[profile])).json()["BootProgress"]["LastState"] == "OSRunning"

    await until(ctl, up)


async def reboot_and_wait(c: httpx.AsyncClient, ctl: httpx.AsyncClient, profile: str) -> None:
    await reboot(c, profile)
    await booted(c, ctl, profile)


async def etag(c: httpx.AsyncClient, profile: str) -> str:
    return str((await c.get(SETTINGS[profile])).json()["@odata.etag"])


def kinds(evts: list[dict[str, Any]], *types: str) -> list[str]:
    """The event types, in order, keeping only the given ones (a trace tests can compare)."""
    return [e["type"] for e in evts if e["type"] in types]
