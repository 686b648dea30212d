"""The Redfish client against the real simulator over loopback sockets.

Every test runs a fleet with its virtual clock frozen; the client's `SimClock` moves
it only when the client waits (backoff, Retry-After, polling), so BMC reboots and
task progress happen exactly between requests. The `sim_sessions` fixture fails any
test that leaves a session open on any simulated BMC.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from hwfw.errors import BmcError, BmcUnreachable
from hwfw.logs import REDACTED, redactor
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.tasks import FollowPolicy, follow_task
from hwfw.redfish.transport import ssl_context
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow


def session(sim: Any, name: str, clock: SimClock | None = None, *, verify: Any = None,
            **options: Any) -> RedfishSession:
    client = RedfishClient(sim.url(name), host=name, clock=clock or SimClock(sim.fleet),
                           options=ClientOptions(**options), verify=verify)
    return RedfishSession(client, *CREDENTIALS)


def events(sim: Any, name: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in sim.fleet.events.query(name, None, 0) if e["type"] == kind]


@pytest.mark.parametrize("name", ["dell-1", "hpe-1", "smc-1", "gen-1"])
def test_login_and_logout_on_every_profile(tmp_path: Path, sim_sessions: NoLeakedSessions, name: str) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            async with session(sim, name) as s:
                assert s.token and not s.basic
                token = s.token
                assert redactor(f"X {token} Y") == f"X {REDACTED} Y"          # the live token is redacted
                assert len(sim.fleet.bmcs[name].sessions.live()) == 1
                systems = await s.members("/redfish/v1/Systems")
                assert systems and systems[0].get("SerialNumber")
            assert sim.fleet.bmcs[name].sessions.live() == []
            closed = events(sim, name, "session-closed")
            assert [e["reason"] for e in closed] == ["logout"]
            # a dead token is forgotten: a server holding every token it ever had would pay
            # for each of them in every text it redacts
            assert token not in redactor._ordered and redactor(f"X {token} Y") == f"X {token} Y"
    asyncio.run(body())


def test_relogin_after_bmc_reset(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            clock = SimClock(sim.fleet)
            async with session(sim, "dell-1", clock, retries=12, deadline=3600) as s:
                first = s.token
                sim.fleet.machines["dell-1"].bmc_reset("test")  # drops every session
                # Down, then partially up, then up: the client backs off (moving the
                # virtual clock) until the BMC answers, gets 401 and logs in again.
                doc = await s.get_json("/redfish/v1/Managers/iDRAC.Embedded.1")
                assert doc["FirmwareVersion"] == "6.10.30.00"
                assert s.relogins == 1 and s.token != first
                assert clock.monotonic() >= 90  # waited out the (virtual) reboot
            reasons = [e["reason"] for e in events(sim, "dell-1", "session-closed")]
            assert reasons == ["bmc-reset", "logout"]
    asyncio.run(body())


def test_503_with_retry_after_is_retried_then_reported(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            clock = SimClock(sim.fleet)
            async with session(sim, "gen-1", clock, retries=3) as s:
                sim.fleet.set_faults("gen-1", {"error_rate": 1.0, "error_status": 503})
                try:
                    with pytest.raises(BmcError) as info:
                        await s.get_json("/redfish/v1/Systems/system")
                finally:
                    sim.fleet.clear_faults("gen-1")
                err = info.value
                assert err.status == 503 and err.message_id and err.message_id.endswith("ServiceTemporarilyUnavailable")
                assert "gen-1" in str(err) and "/redfish/v1/Systems/system" in str(err)
                assert clock.monotonic() == pytest.approx(15)  # three waits of Retry-After: 5
    asyncio.run(body())


def test_503_during_a_reboot_then_success(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            clock = SimClock(sim.fleet)
            sim.fleet.set_faults("gen-1", {"down_mode": "503"})
            async with session(sim, "gen-1", clock, retries=10, deadline=3600) as s:
                sim.fleet.machines["gen-1"].bmc_reset("test")
                doc = await s.get_json("/redfish/v1/Managers/bmc")
                assert doc["FirmwareVersion"] == "2.14.0"
    asyncio.run(body())


def test_connection_refused_names_host_and_url(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            sim.fleet.set_faults("smc-1", {"down_mode": "refused", "bmc_down_extra": "forever"})
            sim.fleet.machines["smc-1"].bmc_reset("test")
            with pytest.raises(BmcUnreachable) as info:
                async with session(sim, "smc-1", retries=2):
                    pass
            assert "smc-1: connection refused" in str(info.value)
            assert info.value.url == sim.url("smc-1") + "/redfish/v1/"
    asyncio.run(body())


def test_tls_verification_with_the_simulator_ca(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, tls=True) as sim:
            assert sim.url("hpe-1").startswith("https://") and sim.ca_bundle is not None
            with pytest.raises(BmcUnreachable) as info:
                async with session(sim, "hpe-1", retries=0):
                    pass
            assert "TLS certificate verification failed" in str(info.value)
            async with session(sim, "hpe-1", verify=ssl_context(sim.ca_bundle)) as s:
                assert (await s.get_json("/redfish/v1/Managers/1"))["FirmwareVersion"]
            async with session(sim, "hpe-1", verify=ssl_context(insecure=True)) as s:
                assert (await s.get_json("/redfish/v1/Systems/1"))["Id"] == "1"
    asyncio.run(body())


@pytest.mark.parametrize("name,path", [("dell-1", "/redfish/v1/Systems/System.Embedded.2"),
                                       ("hpe-1", "/redfish/v1/Systems/2"), ("gen-1", "/redfish/v1/NoSuch")])
def test_errors_name_host_url_status_and_message_id(tmp_path: Path, sim_sessions: NoLeakedSessions,
                                                    name: str, path: str) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            async with session(sim, name) as s:
                with pytest.raises(BmcError) as info:
                    await s.get_json(path)
            err = info.value
            assert err.status == 404 and err.host == name and err.url == sim.url(name) + path
            assert err.message_id and err.message_id.endswith("ResourceNotFound")
            assert f"[{err.message_id}]" in str(err) and "HTTP 404" in str(err)
    asyncio.run(body())


@pytest.mark.parametrize("monitor", ["spec", "bmcweb"])
def test_follow_a_multipart_update_task(tmp_path: Path, sim_sessions: NoLeakedSessions, monitor: str) -> None:
    from hwfw.sim.images import make_image

    fleet = ("seed: 1\ndefaults:\n  credentials: {username: admin, password: password}\nhosts:\n"
             f"  g:\n    profile: generic\n    model: Contoso OpenServer 2\n    options: {{task_monitor: {monitor}}}\n"
             "    firmware: {bmc: \"2.14.0\", bios: \"1.0.5\"}\n")
    image = tmp_path / "bios.bin"
    make_image("generic", "Contoso OpenServer 2", "bios", "1.1.0", 4096, image)

    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet) as sim:
            clock = SimClock(sim.fleet)
            async with session(sim, "g", clock, deadline=7200) as s:
                us = await s.get_json("/redfish/v1/UpdateService")
                url = s.client.url_for(us["MultipartHttpPushUri"])
                params = json.dumps({"Targets": [], "@Redfish.OperationApplyTime": "Immediate"})
                with image.open("rb") as fh:
                    response = await s.client.http.post(
                        url, headers=s.client.auth_headers,
                        files={"UpdateParameters": (None, params, "application/json"),
                               "UpdateFile": ("bios.bin", fh, "application/octet-stream")})
                assert response.status_code == 202, response.text
                outcome = await follow_task(s, response, clock=clock,
                                            policy=FollowPolicy(poll_interval=10, max_wait=3600))
                assert outcome.ok is True and outcome.state == "Completed"
                assert outcome.status == (204 if monitor == "bmcweb" else 200)
    asyncio.run(body())


def test_http_client_is_shared_per_bmc_and_pooled(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim, session(sim, "gen-1", max_in_flight=2) as s:
            assert isinstance(s.client.http, httpx.AsyncClient)
            await asyncio.gather(*(s.get_json("/redfish/v1/Systems/system") for _ in range(8)))
    asyncio.run(body())
