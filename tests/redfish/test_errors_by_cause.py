"""A BMC failure says what went wrong and what to check: authentication, TLS, connection.

A certificate that does not verify is never retried (the hint names ca_bundle and
--insecure); a refused password is "authentication failed for user X", never an
unreachable host and never the password; a refused connection is retried and says
what to check. Time is a FakeClock: a retry would show as a backoff sleep.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from hwfw.clock import FakeClock
from hwfw.errors import BmcAuthError, BmcConnectionError, BmcTlsError
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from tests.redfish.fakebmc import FakeBmc, make_tls, serve

BACKENDS = ["aiohttp", "httpx"]


def session(url: str, clock: FakeClock, backend: str, password: str = "secret-pw") -> RedfishSession:
    client = RedfishClient(url, host="bmc-1", clock=clock, options=ClientOptions(backend=backend))  # type: ignore[arg-type]
    return RedfishSession(client, "admin", password)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_tls_verification_failure_is_not_retried_and_says_ca_bundle_or_insecure(tmp_path: Path,
                                                                               backend: str) -> None:
    server_ctx, _ = make_tls(tmp_path)
    clock = FakeClock()

    async def body() -> None:
        async with serve(FakeBmc(), ssl_context=server_ctx) as server:  # a CA the client does not trust
            with pytest.raises(BmcTlsError) as info:
                async with session(server.url, clock, backend):
                    pass
        assert clock.monotonic() == 0.0  # no backoff wait: not retried
        assert "TLS certificate verification failed" in info.value.message
        assert "ca_bundle" in (info.value.hint or "") and "--insecure" in (info.value.hint or "")
        assert not info.value.retryable

    asyncio.run(body())


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_wrong_password_is_authentication_failed_for_the_user_never_the_password(backend: str) -> None:
    clock = FakeClock()

    async def body() -> None:
        async with serve(FakeBmc()) as server:
            with pytest.raises(BmcAuthError) as info:
                async with session(server.url, clock, backend, password="Wr0ng-Pa55"):
                    pass
        text = str(info.value)
        assert "authentication failed for user 'admin'" in text and "HTTP 401" in text
        assert info.value.username == "admin" and info.value.kind == "auth"
        assert "not a network problem" in (info.value.hint or "")
        assert "Wr0ng-Pa55" not in text + (info.value.hint or "")

    asyncio.run(body())


def test_a_refused_connection_is_retried_and_says_what_to_check() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FakeClock()

    async def body() -> None:
        with pytest.raises(BmcConnectionError) as info:
            async with session(f"http://127.0.0.1:{port}", clock, "aiohttp"):
                pass
        assert info.value.message == f"bmc-1: connection refused (http://127.0.0.1:{port}/redfish/v1/)"
        assert "check the BMC's URL" in (info.value.hint or "") and info.value.retryable

    asyncio.run(body())
    assert clock.monotonic() > 0  # backed off between attempts: a booting BMC may answer later
