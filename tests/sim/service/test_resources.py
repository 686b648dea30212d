"""Resource tree conformance checks that need no validator run: @odata.type versions exist in
DMTF's CSDL (or our OEM CSDL), $metadata references them, $expand, trailing slashes, 405 Allow.
Pure-protocol checks use the in-process ASGI app (httpx.ASGITransport)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.sim.support import REPO, host, run, sim_fleet

pytestmark = pytest.mark.slow

OEM_CSDL = REPO / "hwfw" / "sim" / "csdl"


def csdl_dir() -> Path:
    return REPO / "third_party" / "dmtf-redfish-csdl"  # DMTF's schema bundle, vendored (BSD 3-Clause)


def known_namespaces() -> set[str]:
    names: set[str] = set()
    for folder in (csdl_dir(), OEM_CSDL):
        for path in folder.glob("*.xml"):
            names.update(re.findall(r'Namespace="([A-Za-z0-9_.]+)"', path.read_text()))
    return names


async def crawl(c: httpx.AsyncClient) -> dict[str, dict]:  # type: ignore[type-arg]
    seen: dict[str, dict] = {}  # type: ignore[type-arg]
    todo = ["/redfish/v1"]
    while todo:
        uri = todo.pop()
        if uri in seen or "#" in uri:
            continue
        r = await c.get(uri)
        if r.status_code != 200 or not r.headers["content-type"].startswith("application/json"):
            continue
        seen[uri] = r.json()
        todo.extend(re.findall(r'"@odata.id":\s*"([^"]+)"', r.text))
    return seen


def test_every_odata_type_exists_in_the_schemas(tmp_path: Path) -> None:
    async def main() -> None:
        namespaces = known_namespaces()
        profiles = ("dell", "hpe", "supermicro", "generic")
        async with sim_fleet(tmp_path, {p: host(p) for p in profiles}) as sim:
            for profile in profiles:
                transport = httpx.ASGITransport(app=sim.app.for_bmc(profile))
                async with httpx.AsyncClient(transport=transport, base_url="http://bmc",
                                             auth=("admin", "password")) as c:
                    pages = await crawl(c)
                    assert len(pages) > 15
                    types = set(re.findall(r'"@odata.type":\s*"#([A-Za-z0-9_.]+)\.[A-Za-z0-9]+"',
                                           str(pages).replace("'", '"')))
                    missing = {t for t in types if t not in namespaces}
                    assert not missing, (profile, missing)
                    metadata = (await c.get("/redfish/v1/$metadata")).text
                    referenced = set(re.findall(r'Include Namespace="([^"]+)"', metadata))
                    assert types <= referenced, (profile, types - referenced)
                    for uri in re.findall(r'Reference Uri="(/redfish/v1/Schemas/[^"]+)"', metadata):
                        assert (await c.get(uri)).status_code == 200

    run(main())


def test_expand_trailing_slash_and_allow(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim:
            transport = httpx.ASGITransport(app=sim.app.for_bmc("h1"))
            async with httpx.AsyncClient(transport=transport, base_url="http://bmc", auth=("admin", "password")) as c:
                plain = (await c.get("/redfish/v1/UpdateService/FirmwareInventory/")).json()
                assert all(set(m) == {"@odata.id"} for m in plain["Members"])
                for query in ("*($levels=1)", "."):
                    expanded = (await c.get("/redfish/v1/UpdateService/FirmwareInventory",
                                            params={"$expand": query})).json()
                    versions = [m["Version"] for m in expanded["Members"]]
                    assert versions[:2] == ["2.72 Sep 04 2022", "U30 v2.68 (07/14/2022)"]
                systems = (await c.get("/redfish/v1/Systems", params={"$expand": "."})).json()
                assert systems["Members"][0]["PowerState"] == "On"
                root = (await c.get("/redfish/v1/", auth=None)).json()
                assert root["ProtocolFeaturesSupported"]["ExpandQuery"]["MaxLevels"] == 1
                assert (await c.get("/redfish", auth=None)).json() == {"v1": "/redfish/v1/"}
                r = await c.delete("/redfish/v1/Systems/1")
                assert r.status_code == 405 and "GET" in r.headers["allow"]
                r = await c.get("/redfish/v1/Systems", auth=None)
                assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
                etag = (await c.get("/redfish/v1/Managers/1")).headers["etag"]
                assert etag.startswith('"') and etag.endswith('"')

    run(main())


def test_control_api_reports_sessions_and_events(tmp_path: Path) -> None:
    """The ground truth tests lean on: live sessions now, and no session left behind."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "g2": host("generic")}) as sim:
            transport = httpx.ASGITransport(app=sim.app.for_bmc("g1"))
            async with httpx.AsyncClient(transport=transport, base_url="http://bmc") as c:
                r = await c.post("/redfish/v1/SessionService/Sessions",
                                 json={"UserName": "admin", "Password": "password"})
                sid = r.headers["location"]
                live = (await c.get("/__sim/sessions")).json()["sessions"]
                assert [s["user"] for s in live] == ["admin"]
                await c.delete(sid, headers={"X-Auth-Token": r.headers["x-auth-token"]})
                assert (await c.get("/__sim/sessions")).json()["sessions"] == []
                fleet_wide = (await c.get("/__sim/sessions", params={"bmc": "*"})).json()
                assert fleet_wide == {"g1": [], "g2": []}
                types = [e["type"] for e in (await c.get("/__sim/events")).json()["events"]]
                assert types == ["session-opened", "session-closed"]
                index = (await c.get("/__sim")).json()["endpoints"]
                assert any("/__sim/faults" in line for line in index)
                fleet = (await c.get("/__sim/fleet")).json()
                assert [b["name"] for b in fleet["bmcs"]] == ["g1", "g2"] and fleet["bmcs"][0]["url"].startswith("http://127.")

    run(main())
