"""Shared TLS context and the per-BMC HTTP client factory.

Two facts measured on the 2-core development machine shape this module: building an
`httpx.AsyncClient` with default verification parses the CA bundle again (~20 ms of CPU
each, 20 s for 1,000 BMCs), so every client gets the same `ssl.SSLContext`; and one
pooled client per BMC scales where a single shared pool degrades with the number of
origins (12 ms per request at 300 BMCs; httpcore's pool bookkeeping grows with the
connections it holds). Behind httpx's API the aiohttp transport costs
less CPU per request, so it is the default (benchmarks/bench_plan_live.py measures both).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx

from hwfw.redfish.native import FetchTransport, LazyRequestResponse, NativeTransport

__all__ = [
    "DEFAULT_BACKEND",
    "READ_BACKEND",
    "Backend",
    "FileLimit",
    "TransportOptions",
    "make_http_client",
    "make_transport",
    "raise_nofile_limit",
    "ssl_context",
]

Backend = Literal["aiohttp", "httpx", "native"]

# Winner of benchmarks/bench_plan_live.py on the 2-core reference machine among the
# transports that stream request bodies (apply uploads images through it).
DEFAULT_BACKEND: Backend = "aiohttp"
# For inventory reads (small JSON answers, thousands of BMCs): hwfw/redfish/native.py,
# a third of aiohttp's client CPU per request and per connection.
READ_BACKEND: Backend = "native"

_contexts: dict[tuple[str | None, bool], ssl.SSLContext] = {}
_nofile: FileLimit | None = None
_NO_LIMIT_KNOWN = 1024


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """How one BMC's HTTP client is built.

    `keepalive_expiry` is above the task poll interval so pollers reuse their TLS
    connection (httpx's default is 5 s, shorter than any sensible poll interval).
    """

    max_connections: int = 4
    keepalive_expiry: float = 60.0
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    backend: Backend | None = None


def ssl_context(ca_bundle: Path | None = None, *, insecure: bool = False) -> ssl.SSLContext:
    """One context per (CA bundle, insecure) for the whole process.

    Verification is on unless `insecure` is asked for explicitly. Without a bundle the
    certifi bundle is used (what httpx would load), falling back to the system store.
    """
    key = (str(Path(ca_bundle).resolve()) if ca_bundle else None, insecure)
    ctx = _contexts.get(key)
    if ctx is not None:
        return ctx
    if insecure:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_bundle is not None:
        ctx = ssl.create_default_context(cafile=str(ca_bundle))
    else:
        try:
            import certifi

            ctx = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            ctx = ssl.create_default_context()
    _contexts[key] = ctx
    return ctx


def make_transport(verify: ssl.SSLContext, options: TransportOptions = TransportOptions()) -> httpx.AsyncBaseTransport:
    """The pooled transport for one BMC origin (aiohttp-backed or httpx's own)."""
    limits = httpx.Limits(max_connections=options.max_connections,
                          max_keepalive_connections=options.max_connections,
                          keepalive_expiry=options.keepalive_expiry)
    backend = options.backend or DEFAULT_BACKEND
    if backend == "aiohttp":
        return _aiohttp_transport(verify, limits)
    if backend == "native":
        return NativeTransport(verify, limits)
    return httpx.AsyncHTTPTransport(verify=verify, limits=limits, retries=0)


def make_http_client(base_url: str, *, verify: ssl.SSLContext, options: TransportOptions = TransportOptions(),
                     transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """A pooled client for exactly one BMC origin.

    Redirects are not followed here (the Redfish client follows same-origin ones
    itself); environment proxies and .netrc are ignored (`trust_env=False`), which also
    keeps httpx from building extra SSL contexts for proxy transports.
    """
    timeout = httpx.Timeout(options.request_timeout, connect=options.connect_timeout)
    return httpx.AsyncClient(base_url=base_url, transport=transport or make_transport(verify, options),
                             timeout=timeout, follow_redirects=False, trust_env=False)


def _aiohttp_transport(verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    return AiohttpTransport(verify, limits)


class AiohttpTransport(FetchTransport):
    """httpx's transport interface on one aiohttp connection pool, for small Redfish bodies.

    Measured on 200 simulated BMCs (client CPU per GET, asyncio loop): raw aiohttp
    0.21 ms, httpx_aiohttp.AiohttpTransport 0.61 ms (httpx.Request in, a streamed
    httpx.Response out), httpx.AsyncClient on top of it 0.94 ms. Most of the gap is the
    per-response streaming wrapper; Redfish answers are a few KiB, so this transport
    reads each body in one call and hands httpx a complete response. Request bodies may
    still stream (uploads). Exceptions are httpx's, via httpx_aiohttp's mapping.
    """

    def __init__(self, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._ssl = verify
        self._limits = limits
        self._session: Any = None
        self._timeouts: dict[tuple[Any, ...], Any] = {}

    def _open(self) -> Any:
        import aiohttp

        # Created lazily inside the running loop. No cookie jar: Redfish authenticates
        # with headers, and a jar costs CPU on every response.
        connector = aiohttp.TCPConnector(limit=self._limits.max_connections or 0,
                                         keepalive_timeout=self._limits.keepalive_expiry or 15.0,
                                         ssl=self._ssl)
        self._session = aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                              auto_decompress=False)
        return self._session

    async def request_body(self, request: httpx.Request) -> Any:
        try:
            return request.content or None
        except httpx.RequestNotRead:  # a streamed upload
            return request.stream

    async def fetch(self, method: str, url: str, headers: Any, data: Any,
                    timeout: Mapping[str, float | None]) -> httpx.Response:
        """Send one request and return the complete response, without building an
        `httpx.Request` first (its URL parsing was ~12 % of the client's CPU in
        benchmarks/bench_plan_live.py); the response builds it on first access.

        `headers` are plain (name, value) pairs or a dict (aiohttp reading an
        httpx.Headers item by item re-decodes every header on each access); `data` is
        bytes, None, or an async iterable for streamed uploads.
        """
        import aiohttp
        from httpx_aiohttp.transport import map_aiohttp_exceptions

        session = self._session or self._open()
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        client_timeout = self._timeouts.get(key)
        if client_timeout is None:
            client_timeout = self._timeouts[key] = aiohttp.ClientTimeout(
                total=None, sock_connect=key[0], sock_read=key[1], connect=key[2])
        if data is not None and not isinstance(data, bytes):
            pairs = headers.items() if isinstance(headers, dict) else headers
            headers = [(k, v) for k, v in pairs if k.lower() != "transfer-encoding"]  # aiohttp frames it
        with map_aiohttp_exceptions():
            async with session.request(method, url, headers=headers, data=data, allow_redirects=False,
                                       timeout=client_timeout) as answer:
                body = await answer.read()
        return LazyRequestResponse.complete(answer.status, answer.raw_headers, body, (method, url, headers),
                                            {"http_version": b"HTTP/1.1",
                                             "reason_phrase": (answer.reason or "").encode()})

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True, slots=True)
class FileLimit:
    """The open-files limit (RLIMIT_NOFILE) of this process: in effect now, before hwfw
    raised it, and the most it may be raised to."""

    soft: int
    original: int
    hard: int


def raise_nofile_limit() -> FileLimit:
    """Raise the soft open-files limit to the hard limit (once per process) and say
    what is in effect.

    1,000 BMCs with a few connections each exceed the usual soft limit of 1,024, and
    the failure mode (EMFILE on accept/connect) looks like unreachable BMCs.
    """
    global _nofile
    if _nofile is not None:
        return _nofile
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        _nofile = FileLimit(_NO_LIMIT_KNOWN, _NO_LIMIT_KNOWN, _NO_LIMIT_KNOWN)
        return _nofile
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    original = soft
    ceiling = max(soft, 1 << 20) if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY:
        soft = ceiling
    elif soft < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
            soft = ceiling
        except (ValueError, OSError):  # pragma: no cover - container limits
            pass
    _nofile = FileLimit(soft, original if original != resource.RLIM_INFINITY else soft, ceiling)
    return _nofile
