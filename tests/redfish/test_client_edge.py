"""Redfish client edge cases against a byte-exact fake BMC (tests/redfish/fakebmc.py).

The simulator covers vendor behaviour (test_client_sim.py); this file covers what real
services do that no profile models: Basic-only BMCs, 204/200 logins, HTTP/1.0, HTML
error pages, lying counts, foreign redirects. Every test checks that the fake holds no
session afterwards.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from hwfw.clock import FakeClock
from hwfw.errors import BmcAuthError, BmcError, BmcUnreachable
from hwfw.redfish.client import ClientOptions, RedfishClient, same_uri
from hwfw.redfish.errors import RedirectRefused, message_id_matches
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.transport import ssl_context
from tests.redfish.fakebmc import (
    FakeBmc,
    GatedBmc,
    RawHttpServer,
    Request,
    Response,
    make_tls,
    running_hwfw_tasks,
    serve,
)

BACKENDS = ["aiohttp", "httpx", "native"]


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def session_for(url: str, *, clock: FakeClock | None = None, backend: str = "aiohttp", password: str = "secret-pw",
                verify: Any = None, **options: Any) -> RedfishSession:
    client = RedfishClient(url, host="bmc-1", clock=clock or FakeClock(),
                           options=ClientOptions(backend=backend, **options),  # type: ignore[arg-type]
                           verify=verify)
    return RedfishSession(client, "admin", password)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("status", [201, 200, 204])
def test_login_uses_token_and_logs_out(backend: str, status: int) -> None:
    bmc = FakeBmc(session_status=status)

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url, backend=backend) as s:
                assert s.token and len(bmc.sessions) == 1
                doc = await s.get_json("/redfish/v1/Systems/1")
                assert doc["Model"] == "OpenServer 2"
            assert bmc.sessions == {}
            gets = [r for r in server.requests if r.method == "GET" and r.path.startswith("/redfish/v1/Systems")]
            assert all(r.headers.get("x-auth-token") for r in gets)
            assert not any("authorization" in r.headers for r in server.requests)
    run(body())


@pytest.mark.slow
def test_absolute_location_is_accepted_for_logout() -> None:
    bmc = FakeBmc(location_absolute=True)

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                assert s.session_uri == "/redfish/v1/SessionService/Sessions/1"
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_basic_auth_only_when_there_is_no_session_service() -> None:
    bmc = FakeBmc(session_service=False)

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                assert s.basic and s.token is None
                assert (await s.get_json("/redfish/v1/Managers/BMC"))["FirmwareVersion"] == "2.14.0"
            assert not any(r.method == "POST" for r in server.requests)
            assert server.requests[-1].headers["authorization"].startswith("Basic ")
    run(body())


@pytest.mark.slow
def test_failed_login_is_an_error_never_a_switch_to_basic() -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc) as server:
            with pytest.raises(BmcAuthError) as info:
                async with session_for(server.url, password="wrong-password"):
                    pass
            assert not any("authorization" in r.headers for r in server.requests)
            assert info.value.status == 401
            assert info.value.message_id == "Base.1.8.ResourceAtUriUnauthorized"
            assert "login failed" in str(info.value) and "bmc-1" in str(info.value)
            assert "wrong-password" not in str(info.value)
    run(body())


@pytest.mark.slow
def test_401_after_bmc_reset_logs_in_again_once() -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                first = s.token
                bmc.reset_bmc()  # the BMC forgot every session
                doc = await s.get_json("/redfish/v1/Systems/1")
                assert doc["Id"] == "1"
                assert s.token != first and s.relogins == 1 and bmc.logins == 2
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_requests_in_flight_together_share_one_relogin() -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url, max_in_flight=8) as s:
                bmc.reset_bmc()  # every request in flight now gets a 401
                docs = await asyncio.gather(*(s.get_json("/redfish/v1/Systems/1") for _ in range(6)))
                assert all(d["Id"] == "1" for d in docs)
                assert s.relogins == 1 and bmc.logins == 2
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_401_again_after_relogin_is_reported() -> None:
    bmc = FakeBmc()
    unauthorised = Response(401, {"error": {"code": "Base.1.8.InsufficientPrivilege", "message": "no"}})

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1", unauthorised, unauthorised)
                with pytest.raises(BmcAuthError) as info:
                    await s.get_json("/redfish/v1/Systems/1")
                assert info.value.message_id == "Base.1.8.InsufficientPrivilege"
                assert s.relogins == 1
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
@pytest.mark.parametrize("retry_after", ["7", "date"])
def test_503_is_retried_honouring_retry_after(retry_after: str) -> None:
    bmc = FakeBmc()
    clock = FakeClock()
    header = retry_after if retry_after != "date" else email.utils.format_datetime(
        clock.wall() + timedelta(seconds=7), usegmt=True)
    busy = Response(503, {"error": {"code": "Base.1.8.ServiceTemporarilyUnavailable", "message": "busy"}},
                    headers={"Retry-After": header})

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url, clock=clock) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1", busy, busy)
                start = clock.monotonic()
                doc = await s.get_json("/redfish/v1/Systems/1")
                assert doc["Id"] == "1"
                # Seconds wait 7 + 7; an HTTP date is absolute, so the second wait is 0.
                expected = 14 if retry_after != "date" else 7
                assert clock.monotonic() - start == pytest.approx(expected, abs=0.01)
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_503_retries_are_bounded_and_reported_with_message_id() -> None:
    bmc = FakeBmc()
    busy = Response(503, {"error": {"code": "Base.1.8.GeneralError", "message": "x", "@Message.ExtendedInfo": [
        {"MessageId": "Base.1.8.ServiceTemporarilyUnavailable", "Message": "Try later.", "Severity": "Critical"}]}})

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url, retries=2) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1", busy, busy, busy, busy)
                with pytest.raises(BmcError) as info:
                    await s.get_json("/redfish/v1/Systems/1")
                err = info.value
                assert err.status == 503 and err.message_id == "Base.1.8.ServiceTemporarilyUnavailable"
                assert err.url and err.url.endswith("/redfish/v1/Systems/1")
                assert "Try later." in str(err) and "bmc-1" in str(err)
                assert len(bmc.faults[("GET", "/redfish/v1/Systems/1")]) == 1  # 1 try + 2 retries
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_html_error_page_is_reported_without_crashing() -> None:
    bmc = FakeBmc()
    page = Response(500, raw=b"<html><body><h1>500 Internal Server Error</h1></body></html>",
                    headers={"Content-Type": "text/html"})

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1", page)
                with pytest.raises(BmcError) as info:
                    await s.get_json("/redfish/v1/Systems/1")
                assert info.value.status == 500 and info.value.message_id is None
                assert "non-JSON body" in str(info.value)
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_connection_refused_names_host_and_url(backend: str) -> None:
    async def body() -> None:
        async with RawHttpServer(FakeBmc()) as server:
            url = server.url
        clock = FakeClock()
        with pytest.raises(BmcUnreachable) as info:
            async with session_for(url, clock=clock, backend=backend, retries=2):
                pass
        err = info.value
        assert err.host == "bmc-1" and err.url == f"{url}/redfish/v1/"
        assert "connection refused" in str(err) and url in str(err)
        assert clock.monotonic() > 0  # backed off (on the fake clock) between attempts
    run(body())


@pytest.mark.slow
@pytest.mark.parametrize("expand", [True, False])
def test_members_trusts_members_not_the_count(expand: bool) -> None:
    bmc = FakeBmc(count_lies=True, expand=expand)

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                members = await s.members("/redfish/v1/UpdateService/FirmwareInventory")
                assert sorted(m["Id"] for m in members) == ["BIOS", "BMC"]
            member_gets = [r for r in server.requests
                           if r.path.startswith("/redfish/v1/UpdateService/FirmwareInventory/")]
            assert len(member_gets) == (0 if expand else 2)
            assert any("$expand" in r.path for r in server.requests) == expand
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_expand_rejected_falls_back_to_member_gets() -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url) as s:
                original = bmc.__call__

                async def no_expand(req: Request) -> Response:
                    if "$expand" in req.path:
                        return Response(501, {"error": {"code": "Base.1.8.QueryNotSupported", "message": "no"}})
                    return await original(req)
                server.handler = no_expand
                members = await s.members("/redfish/v1/UpdateService/FirmwareInventory")
                assert sorted(m["Id"] for m in members) == ["BIOS", "BMC"]
                assert s.expand_query is None
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_redirect_within_the_bmc_is_followed_elsewhere_refused() -> None:
    bmc = FakeBmc()
    other = FakeBmc()

    async def body() -> None:
        async with serve(other) as elsewhere, serve(bmc) as server:
            async with session_for(server.url) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1/", Response(307, headers={"Location": "/redfish/v1/Systems/1"}))
                assert (await s.get_json("/redfish/v1/Systems/1/"))["Id"] == "1"
                foreign = elsewhere.url.replace("127.0.0.1", "localhost") + "/redfish/v1/Systems/1"
                bmc.fault("GET", "/redfish/v1/Systems/1", Response(302, headers={"Location": foreign}))
                with pytest.raises(RedirectRefused) as info:
                    await s.get_json("/redfish/v1/Systems/1")
                assert "another origin" in str(info.value) and info.value.status == 302
            assert elsewhere.requests == []  # nothing, and no token, ever went there
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_http10_server_without_keep_alive(backend: str) -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc, http10=True) as server:
            async with session_for(server.url, backend=backend) as s:
                members = await s.members("/redfish/v1/Systems")
                assert members[0]["SerialNumber"] == "CSO123"
                await s.get_json("/redfish/v1/Managers/BMC")
            assert server.connections == len(server.requests)  # one connection per request
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_tls_verification_is_on_by_default(tmp_path: Path, backend: str) -> None:
    server_ctx, ca = make_tls(tmp_path)
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc, ssl_context=server_ctx) as server:
            with pytest.raises(BmcUnreachable) as info:
                async with session_for(server.url, backend=backend, retries=0):
                    pass
            assert "TLS certificate verification failed" in str(info.value)
            assert "ca_bundle" in (info.value.hint or "")
            async with session_for(server.url, backend=backend, verify=ssl_context(ca)) as s:
                assert (await s.get_json("/redfish/v1/Systems/1"))["Id"] == "1"
            async with session_for(server.url, backend=backend, verify=ssl_context(insecure=True)) as s:
                assert (await s.get_json("/redfish/v1/Systems/1"))["Id"] == "1"
            assert bmc.sessions == {}
    run(body())


def test_ssl_context_is_shared() -> None:
    assert ssl_context() is ssl_context()
    assert ssl_context(insecure=True) is not ssl_context()


@pytest.mark.slow
def test_logout_happens_when_the_body_is_cancelled() -> None:
    bmc = FakeBmc()
    arrived = asyncio.Event()
    never = asyncio.Event()

    async def body() -> None:
        async with serve(bmc) as server:
            original = bmc.__call__

            async def hang(req: Request) -> Response:
                if req.path == "/redfish/v1/Systems/1":
                    arrived.set()
                    await never.wait()
                return await original(req)
            server.handler = hang

            async def work() -> None:
                async with session_for(server.url) as s:
                    await s.get_json("/redfish/v1/Systems/1")

            task = asyncio.create_task(work())
            await arrived.wait()
            assert len(bmc.sessions) == 1
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert bmc.sessions == {}
            never.set()
    run(body())


@pytest.mark.slow
def test_logout_happens_when_the_body_raises() -> None:
    bmc = FakeBmc()

    async def body() -> None:
        async with serve(bmc) as server:
            with pytest.raises(BmcError):
                async with session_for(server.url) as s:
                    await s.get_json("/redfish/v1/NoSuchThing")
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_per_bmc_deadline_stops_retrying() -> None:
    bmc = FakeBmc()
    clock = FakeClock()
    busy = Response(503, {"error": {"code": "Base.1.8.ServiceTemporarilyUnavailable", "message": "busy"}},
                    headers={"Retry-After": "100"})

    async def body() -> None:
        async with serve(bmc) as server:
            async with session_for(server.url, clock=clock, deadline=150.0, retries=10) as s:
                bmc.fault("GET", "/redfish/v1/Systems/1", *([busy] * 5))
                with pytest.raises(BmcError) as info:
                    await s.get_json("/redfish/v1/Systems/1")
                assert info.value.status == 503
                assert clock.monotonic() <= 150.0
            assert bmc.sessions == {}
    run(body())


@pytest.mark.slow
def test_requests_in_flight_are_bounded_per_bmc() -> None:
    bmc = FakeBmc()
    in_flight = 0
    peak = 0

    async def body() -> None:
        nonlocal in_flight, peak
        async with serve(bmc) as server:
            original = bmc.__call__

            async def counting(req: Request) -> Response:
                nonlocal in_flight, peak
                in_flight += 1
                peak = max(peak, in_flight)
                for _ in range(20):
                    await asyncio.sleep(0)
                in_flight -= 1
                return await original(req)
            server.handler = counting
            async with session_for(server.url, max_in_flight=2) as s:
                await asyncio.gather(*(s.get_json("/redfish/v1/Systems/1") for _ in range(10)))
            assert bmc.sessions == {}
    run(body())
    assert 1 <= peak <= 2


def test_message_ids_compare_without_version() -> None:
    assert message_id_matches("Base.1.8.ResetRequired", "Base.ResetRequired")
    assert message_id_matches("SMC.1.0.OemLicenseNotPassed", "OemLicenseNotPassed")
    assert not message_id_matches("Base.1.8.ResetRequired", "Update.ResetRequired")
    assert not message_id_matches(None, "Base.Success")


def test_trailing_slash_uris_are_equal() -> None:
    assert same_uri("/redfish/v1/UpdateService/FirmwareInventory/1/", "/redfish/v1/UpdateService/FirmwareInventory/1")
    assert not same_uri("/redfish/v1/Systems/1", "/redfish/v1/Systems/10")


Check = Callable[[], None]


@pytest.mark.slow
def test_members_cancels_the_other_member_reads_when_one_fails() -> None:
    """One member answers 500 while another is still being read: members() raises only
    after the other read was cancelled (nothing keeps talking to the BMC behind it)."""
    fi = "/redfish/v1/UpdateService/FirmwareInventory"
    bmc = GatedBmc(held=f"{fi}/BIOS", failing=f"{fi}/BMC", expand=False)

    async def body() -> None:
        async with serve(bmc) as server:
            try:
                async with session_for(server.url) as s:
                    with pytest.raises(BmcError) as failure:
                        await s.members(fi)
                    assert failure.value.status == 500
                    assert bmc.holding.is_set()
                    assert running_hwfw_tasks() == []
            finally:
                bmc.release.set()
            assert bmc.sessions == {}
    run(body())
