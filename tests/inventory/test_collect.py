"""collect(): many hosts at once, failures per host, IPMI, snapshot schema, rendering.

Uses the byte-exact fake BMC and the IPMI simulator (hwfw.sim.ipmi) directly; the lab
fleet on the full simulator is in test_collect_lab.py, sushy-tools in test_sushy_tools.py.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from rich.console import Console

from hwfw.clock import FakeClock
from hwfw.config.model import Host, Settings, Timing
from hwfw.inventory.collect import CollectStats, ResolvedHost, collect
from hwfw.inventory.model import Inventory
from hwfw.render.inventory import render_inventory_text
from tests.redfish.fakebmc import FakeBmc, Response, serve

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def settings(tmp_path: Path, **timing: Any) -> Settings:
    timing = {"request_timeout": 5.0, "connect_timeout": 2.0, **timing}
    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path, retries=1, timing=Timing(**timing))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host(name: str, url: str, protocol: str = "redfish", **kw: Any) -> Host:
    return Host(name=name, bmc=url, protocol=protocol, **kw)


def test_collect_reports_unreachable_hosts_and_reads_the_others(tmp_path: Path) -> None:
    bmcs = [FakeBmc() for _ in range(3)]
    bmcs[1].resources["/redfish/v1/UpdateService/FirmwareInventory/BIOS"]["Version"] = "1.1.0"
    dead = f"http://127.0.0.1:{closed_port()}"
    stats = CollectStats()

    async def body() -> Inventory:
        async with serve(bmcs[0]) as a, serve(bmcs[1]) as b, serve(bmcs[2]) as c:
            hosts = [ResolvedHost(host(f"h{i}", s.url), s.url, "admin", "secret-pw") for i, s in enumerate((a, b, c))]
            hosts.append(ResolvedHost(host("dead", dead), dead, "admin", "secret-pw"))
            inv = await collect(hosts, settings=settings(tmp_path), clock=FakeClock(), concurrency=2, stats=stats)
        assert all(b.sessions == {} for b in bmcs)
        return inv

    inv = asyncio.run(body())
    assert sorted(inv.hosts) == ["dead", "h0", "h1", "h2"]
    assert {c.key: c.version for c in inv.hosts["h1"].components} == {"bmc": "2.14.0", "bios": "1.1.0"}
    h0 = inv.hosts["h0"]
    assert h0.reachable and h0.vendor == "generic" and h0.model == "OpenServer 2" and h0.serial == "CSO123"
    assert h0.manufacturer == "Contoso" and h0.bmc_firmware == "2.14.0"
    assert h0.preflight is not None and h0.preflight.power_state == "On" and h0.preflight.health == "OK"
    assert h0.capabilities is not None and h0.capabilities.update_methods == ("simple-update",)
    assert h0.capabilities.system_reset_types == ("On", "ForceOff", "ForceRestart")
    dead_inv = inv.hosts["dead"]
    assert not dead_inv.reachable and dead_inv.components == ()
    assert dead_inv.error is not None
    assert dead_inv.error.startswith("dead: connection refused") and dead in dead_inv.error
    assert stats.unreachable == 1 and stats.per_host_requests["h0"] <= 8


def test_auth_failure_is_a_per_host_error_naming_message_id(tmp_path: Path) -> None:
    bmc = FakeBmc()

    async def body() -> Inventory:
        async with serve(bmc) as s:
            return await collect([ResolvedHost(host("h", s.url), s.url, "admin", "bad-password")],
                                 settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    inv = asyncio.run(body())
    err = inv.hosts["h"].error or ""
    assert "login failed" in err and "HTTP 401" in err and "[Base.1.8.ResourceAtUriUnauthorized]" in err
    assert "bad-password" not in err


def test_firmware_inventory_failure_other_than_404_fails_the_host(tmp_path: Path) -> None:
    bmc = FakeBmc()
    bmc.fault("GET", "/redfish/v1/UpdateService/FirmwareInventory",
              *[Response(500, {"error": {"code": "Base.1.8.InternalError", "message": "boom"}})] * 4)

    async def body() -> Inventory:
        async with serve(bmc) as s:
            inv = await collect([ResolvedHost(host("h", s.url), s.url, "admin", "secret-pw")],
                                settings=settings(tmp_path), clock=FakeClock(), concurrency=4)
        assert bmc.sessions == {}
        return inv

    inv = asyncio.run(body())
    assert not inv.hosts["h"].reachable and "[Base.1.8.InternalError]" in (inv.hosts["h"].error or "")


def test_missing_firmware_inventory_uses_the_fallbacks(tmp_path: Path) -> None:
    bmc = FakeBmc()
    del bmc.resources["/redfish/v1/UpdateService/FirmwareInventory"]

    async def body() -> Inventory:
        async with serve(bmc) as s:
            return await collect([ResolvedHost(host("h", s.url), s.url, "admin", "secret-pw")],
                                 settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    inv = asyncio.run(body())
    assert {c.key: c.version for c in inv.hosts["h"].components} == {"bmc": "2.14.0", "bios": "1.0.5"}


# --------------------------------------------------------------------------- IPMI

@dataclass
class IpmiMachine:
    """The members hwfw.sim.ipmi needs (see IpmiMachine protocol there)."""

    bmc_version: str = "6.10.30.00"
    power_state: str = "On"
    ipmi_ids: tuple[int, int] = (674, 256)
    ipmi_credentials: dict[str, str] = field(default_factory=lambda: {"admin": "password"})

    def ipmi_power(self, action: str) -> None:
        self.power_state = "On" if action == "on" else "Off"

    def bmc_reset(self) -> None:
        pass


def _ipmi_available() -> bool:
    try:
        import hwfw.ipmi.client
        import hwfw.sim.ipmi  # noqa: F401
    except ImportError:
        return False
    return True




def test_ipmi_only_host_reports_bmc_version_and_unknown_bios(tmp_path: Path) -> None:
    from hwfw.sim.ipmi import start_ipmi

    async def body() -> Inventory:
        async with await start_ipmi(IpmiMachine(), "127.0.0.1", 0) as srv:
            url = f"ipmi://127.0.0.1:{srv.port}"
            return await collect([ResolvedHost(host("i", url, "ipmi"), url, "admin", "password")],
                                 settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    h = asyncio.run(body()).hosts["i"]
    assert h.reachable and h.protocol == "ipmi" and h.vendor == "dell"
    comps = {c.key: c.version for c in h.components}
    assert comps["bmc"] and comps["bmc"].startswith("6.10") and comps["bios"] is None
    assert h.preflight is not None and h.preflight.power_state == "On"


def test_auto_falls_back_to_ipmi_when_redfish_is_unreachable(tmp_path: Path) -> None:
    from hwfw.sim.ipmi import start_ipmi

    async def body() -> Inventory:
        async with await start_ipmi(IpmiMachine(power_state="Off"), "127.0.0.1", 0) as srv:
            url = f"http://127.0.0.1:{closed_port()}"
            rh = ResolvedHost(host("a", url, "auto"), url, "admin", "password", ipmi=("127.0.0.1", srv.port))
            return await collect([rh], settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    h = asyncio.run(body()).hosts["a"]
    assert h.reachable and h.protocol == "ipmi" and h.preflight and h.preflight.power_state == "Off"


def test_broken_ipmi_handshake_is_a_clean_host_error(tmp_path: Path) -> None:
    async def body() -> Inventory:
        loop = asyncio.get_running_loop()

        class Garbage(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.transport.sendto(b"\x06\x00\xff\x07" + b"\x00" * 5 + b"garbage", addr)

        transport, _ = await loop.create_datagram_endpoint(Garbage, local_addr=("127.0.0.1", 0))
        try:
            port = transport.get_extra_info("sockname")[1]
            url = f"ipmi://127.0.0.1:{port}"
            return await collect([ResolvedHost(host("g", url, "ipmi"), url, "admin", "password")],
                                 settings=settings(tmp_path, request_timeout=1.0), clock=FakeClock(), concurrency=4)
        finally:
            transport.close()

    h = asyncio.run(body()).hosts["g"]
    assert not h.reachable and h.protocol == "ipmi" and h.error and h.error.startswith("g:")


# --------------------------------------------------------------------------- snapshot + rendering

def test_snapshot_matches_its_schema_and_round_trips(tmp_path: Path) -> None:
    bmc = FakeBmc()

    async def body() -> Inventory:
        async with serve(bmc) as s:
            dead = f"http://127.0.0.1:{closed_port()}"
            return await collect([ResolvedHost(host("ok", s.url), s.url, "admin", "secret-pw"),
                                  ResolvedHost(host("dead", dead), dead, "admin", "secret-pw")],
                                 settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    inv = asyncio.run(body())
    doc = json.loads(json.dumps(inv.to_json("2026-01-01T00:00:00Z")))
    schema = json.loads((REPO / "schemas" / "inventory-snapshot.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(doc)
    again = Inventory.from_json(doc)
    assert again.hosts["ok"] == inv.hosts["ok"]
    assert again.hosts["ok"].fingerprint() == inv.hosts["ok"].fingerprint()


def test_render_text_lists_components_and_unreachable_hosts(tmp_path: Path) -> None:
    bmc = FakeBmc()

    async def body() -> Inventory:
        async with serve(bmc) as s:
            dead = f"http://127.0.0.1:{closed_port()}"
            return await collect([ResolvedHost(host("ok", s.url), s.url, "admin", "secret-pw"),
                                  ResolvedHost(host("dead", dead), dead, "admin", "secret-pw")],
                                 settings=settings(tmp_path), clock=FakeClock(), concurrency=4)

    out = io.StringIO()
    render_inventory_text(asyncio.run(body()), Console(file=out, width=120, color_system=None))
    text = out.getvalue()
    assert "ok" in text and "generic · OpenServer 2 · S/N CSO123 · BMC 2.14.0" in text
    assert "bios" in text and "1.0.5" in text
    assert "dead  unreachable: dead: connection refused" in text
    assert "1 of 2 host(s) read; 1 unreachable" in text


# --------------------------------------------------------------------------- guessed URIs


def _paths(server: Any) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("?")[0]) for r in server.requests]


def test_firmware_inventory_away_from_the_standard_uri_is_found_by_discovery(tmp_path: Path) -> None:
    bmc = FakeBmc()
    moved = "/redfish/v1/UpdateService/FwInv"
    standard = "/redfish/v1/UpdateService/FirmwareInventory"
    for uri in [u for u in bmc.resources if u.startswith(standard)]:
        doc = json.loads(json.dumps(bmc.resources.pop(uri)).replace(standard, moved))
        bmc.resources[uri.replace(standard, moved)] = doc
    bmc.resources["/redfish/v1/UpdateService"]["FirmwareInventory"] = {"@odata.id": moved}
    stats = CollectStats()

    async def body() -> tuple[Inventory, list[tuple[str, str]]]:
        async with serve(bmc) as s:
            inv = await collect([ResolvedHost(host("h", s.url), s.url, "admin", "secret-pw")],
                                settings=settings(tmp_path), clock=FakeClock(), stats=stats,
                                needs_preflight=lambda inv: False)
            return inv, _paths(s)

    inv, paths = asyncio.run(body())
    assert {c.key: c.version for c in inv.hosts["h"].components} == {"bmc": "2.14.0", "bios": "1.0.5"}
    # The standard URI answered 404 (expanded, then plain: a 404 may be a refused $expand);
    # the UpdateService (with the Manager, in the same round) named the real one: three
    # more round trips, for this BMC only, and $expand still in use for it.
    assert paths.index(("GET", "/redfish/v1/UpdateService/FirmwareInventory")) < paths.index(("GET", moved))
    assert ("GET", "/redfish/v1/UpdateService") in paths and ("GET", "/redfish/v1/Managers") in paths
    assert ("GET", f"{moved}/BMC") not in paths  # read expanded, not member by member
    assert stats.per_host_rounds["h"] == 6 and bmc.sessions == {}


def test_a_preflight_source_guessed_wrong_is_read_where_the_bmc_links_it(tmp_path: Path) -> None:
    bmc = FakeBmc()
    bmc.root = lambda: {**FakeBmc.root(bmc), "Vendor": "HPE"}  # type: ignore[method-assign]
    queue = "/redfish/v1/UpdateService/Queue2"
    bmc.resources["/redfish/v1/UpdateService"]["Oem"] = {"Hpe": {"UpdateTaskQueue": {"@odata.id": queue}}}
    bmc.resources[queue] = {"@odata.id": queue, "Members": [{"@odata.id": f"{queue}/1"}]}
    bmc.resources[f"{queue}/1"] = {"@odata.id": f"{queue}/1", "Id": "1", "Name": "ilo5_290.fwpkg",
                                   "Command": "ApplyUpdate", "State": "Pending"}

    async def body() -> tuple[Inventory, list[tuple[str, str]]]:
        async with serve(bmc) as s:
            inv = await collect([ResolvedHost(host("h", s.url), s.url, "admin", "secret-pw")],
                                settings=settings(tmp_path), clock=FakeClock(), needs_preflight=lambda inv: True)
            return inv, _paths(s)

    inv, paths = asyncio.run(body())
    h = inv.hosts["h"]
    assert h.vendor == "hpe" and h.preflight is not None
    assert h.preflight.pending_jobs == ("ilo5_290.fwpkg ApplyUpdate (Pending)",)
    assert ("GET", "/redfish/v1/UpdateService/UpdateTaskQueue") in paths  # the usual place, tried first
    assert not any("UpdateTaskQueue" in w for w in h.preflight.warnings)  # its 404 is not a fact
    assert bmc.sessions == {}


def test_eager_login_on_a_service_without_sessions_falls_back_to_basic(tmp_path: Path) -> None:
    bmc = FakeBmc(session_service=False)  # answers the standard login URI with 401

    async def body() -> Inventory:
        async with serve(bmc) as s:
            return await collect([ResolvedHost(host("h", s.url), s.url, "admin", "secret-pw")],
                                 settings=settings(tmp_path), clock=FakeClock())

    h = asyncio.run(body()).hosts["h"]
    assert h.reachable, h.error
    assert {c.key: c.version for c in h.components} == {"bmc": "2.14.0", "bios": "1.0.5"}
    assert h.capabilities is not None and h.capabilities.session_service is False
