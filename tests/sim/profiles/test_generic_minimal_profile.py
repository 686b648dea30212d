"""The generic profile's "minimal" variant over raw HTTP: what it serves and what it lacks."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from hwfw.sim.profiles import service_class
from hwfw.sim.profiles.generic import GenericService
from tests.sim.support import client, events, host, run, sim_fleet

pytestmark = pytest.mark.slow

MINIMAL = host("generic", options={"variant": "minimal"})


def test_minimal_is_a_variant_of_the_generic_profile() -> None:
    cls = service_class("generic", "minimal")
    assert issubclass(cls, GenericService) and cls.VENDOR == "generic"


def test_minimal_serves_versions_only_on_system_and_manager_and_no_bmc_reset(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"m1": MINIMAL}) as sim, client(sim, "m1") as c:
            us = (await c.get("/redfish/v1/UpdateService")).json()
            assert "FirmwareInventory" not in us and "MultipartHttpPushUri" not in us and "HttpPushUri" not in us
            assert list(us["Actions"]) == ["#UpdateService.SimpleUpdate"]
            assert (await c.get("/redfish/v1/UpdateService/FirmwareInventory")).status_code == 404
            manager = (await c.get("/redfish/v1/Managers/bmc")).json()
            assert manager["FirmwareVersion"] == "2.14.0" and "Actions" not in manager
            reset = await c.post("/redfish/v1/Managers/bmc/Actions/Manager.Reset", json={"ResetType": "ForceRestart"})
            assert reset.status_code == 404
            assert (await c.get("/redfish/v1/Systems/system")).json()["BiosVersion"] == "1.0.5"
            systems = (await c.get("/redfish/v1/Systems")).json()
            assert len(systems["Members"]) == 1 and systems["Members@odata.count"] == 2

    run(main())


def test_minimal_acknowledges_simple_update_with_204_and_changes_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"m1": MINIMAL}) as sim, client(sim, "m1") as c:
            answer = await c.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                                  json={"ImageURI": "http://192.0.2.1/bios.bin",
                                        "Targets": ["/redfish/v1/Systems/system"]})
            assert answer.status_code == 204 and "location" not in answer.headers and not answer.content
            assert (await c.get("/redfish/v1/TaskService/Tasks")).json()["Members"] == []
            (ignored,) = await events(c, "update-ignored")
            assert ignored["uri"] == "http://192.0.2.1/bios.bin"
            assert (await c.get("/redfish/v1/Systems/system")).json()["BiosVersion"] == "1.0.5"

    run(main())


def test_minimal_answers_as_http_1_0_and_closes_the_connection(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"m1": MINIMAL, "g1": host("generic")}) as sim:
            for name, status_line, closes in (("m1", b"HTTP/1.0 200 OK", True), ("g1", b"HTTP/1.1 200 OK", False)):
                parts = urlsplit(sim.url(name))
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(b"GET /redfish/v1 HTTP/1.1\r\nHost: bmc\r\n\r\n")
                await writer.drain()
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                assert head.split(b"\r\n", 1)[0] == status_line, name
                assert (b"connection: close" in head.lower()) == closes, name
                if closes:  # the server ends the connection after the body
                    length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")))
                    await reader.readexactly(length)
                    assert await asyncio.wait_for(reader.read(), 10) == b""
                writer.close()

    run(main())
