"""A service that offers no sessions (issue 20, item 1).

Captured payloads served by a static mockup server keep the root's `Links.Sessions`,
but the login POST answers 404 (the collection was not captured) or 405 (the server
does not create resources). hwfw falls back to HTTP Basic, says so once, and still
refuses to guess when the credentials themselves are refused.
"""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path

import pytest

from hwfw.config.model import Host, Settings
from hwfw.errors import BmcAuthError
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow


def fleet(mode: str) -> str:
    return textwrap.dedent(f"""\
        seed: 7
        defaults:
          credentials: {{username: admin, password: password}}
        hosts:
          mock-1:
            profile: generic
            model: Contoso OpenServer 2
            firmware: {{bmc: "2.14.0", bios: "1.0.5"}}
            options: {{sessions: "{mode}"}}
        """)


def session(sim: object, password: str = CREDENTIALS[1]) -> RedfishSession:
    client = RedfishClient(sim.url("mock-1"), host="mock-1", clock=SimClock(sim.fleet),  # type: ignore[attr-defined]
                           options=ClientOptions(retries=0))
    return RedfishSession(client, CREDENTIALS[0], password)


@pytest.mark.parametrize("mode", ["404", "405"])
def test_login_falls_back_to_basic_and_says_so_once(tmp_path: Path, sim_sessions: NoLeakedSessions,
                                                    caplog: pytest.LogCaptureFixture, mode: str) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet(mode)) as sim:
            async with session(sim) as s:
                assert s.basic and s.token is None
                systems = await s.members("/redfish/v1/Systems")
                assert systems[0]["BiosVersion"] == "1.0.5"
                await s.login_again()  # after a BMC reset hwfw logs in again: still Basic, no second note
                assert s.basic
                assert (await s.get_json("/redfish/v1/Managers/bmc"))["FirmwareVersion"] == "2.14.0"
            assert sim.fleet.events.query("mock-1", "session-opened") == []

    with caplog.at_level(logging.INFO, logger="hwfw"):
        asyncio.run(body())
    notes = [r for r in caplog.records if "offers no sessions" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING
    assert f"HTTP {mode}" in notes[0].getMessage() and "/SessionService/Sessions" in notes[0].getMessage()


def test_wrong_password_is_still_an_error(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("404")) as sim:
            async with session(sim, password="not-the-password") as s:
                with pytest.raises(BmcAuthError) as info:
                    await s.get_json("/redfish/v1/Systems")
                assert info.value.status == 401

    asyncio.run(body())


def test_inventory_of_a_service_without_sessions(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> object:
        async with sim_sessions.fleet(tmp_path, fleet("405")) as sim:
            host = ResolvedHost(Host(name="mock-1", bmc="sim://mock-1"), sim.url("mock-1"), *CREDENTIALS)
            settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
            return await collect([host], settings=settings, clock=SimClock(sim.fleet))

    inv = asyncio.run(body())
    h = inv.hosts["mock-1"]  # type: ignore[attr-defined]
    assert h.reachable, h.error
    assert {c.key: c.version for c in h.components} == {"bmc": "2.14.0", "bios": "1.0.5"}
    assert h.capabilities is not None and h.capabilities.session_service is False
