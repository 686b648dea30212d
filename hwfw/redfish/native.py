"""HTTP/1.1 to one BMC on plain asyncio protocols, for the small JSON reads of an inventory.

Reading a fleet costs client CPU per request and per connection, and at thousands of
BMCs that CPU, not the BMCs' latency, sets the wall time. Measured on the 2-core
development machine against the simulator: a keep-alive GET costs about 40 us of CPU
here against about 180 us through aiohttp's client session with httpx's response on
top, and a new connection about 180 us against 480 us (benchmarks/bench_plan_live.py
measures the whole read). What makes the difference is what this transport leaves out:
no cookie jar, no URL objects, no per-request context managers, no redirect or auth
machinery (the Redfish client does those itself), and the response parsed by
httptools (the llhttp C parser uvicorn uses).

What it does: one origin; up to `max_connections` kept-alive connections, reused
newest first and dropped after `keepalive_expiry` idle seconds; TLS through the shared
SSLContext (verification as configured there), run on memory BIOs inside the
connection's own protocol: asyncio's TLS transport keeps a 256 KiB read buffer per
connection (2.5 GiB for 10,000 BMCs) and costs twice the CPU per request; bodies
delimited by Content-Length,
chunked encoding or the end of the connection; interim 1xx answers skipped; a request
on a reused connection the BMC had already closed is sent again on a new one when its
method is idempotent. Request bodies are bytes: a streamed body (an image upload) goes
through `handle_async_request` only when the caller already read it. Failures are
httpx's exceptions, so `hwfw.redfish.errors` describes them as for the other backends.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools
import httpx

__all__ = ["FetchTransport", "LazyRequestResponse", "NativeTransport"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 64 * 1024 * 1024  # a BMC answer this large is broken, not big
_TLS_READ = 64 * 1024


class _Closed(Exception):
    """The connection ended before a complete response; `received` says whether any byte came."""

    def __init__(self, received: bool, cause: BaseException | None = None) -> None:
        super().__init__("server closed the connection before answering completely")
        self.received = received
        self.cause = cause


class _Expired(Exception):
    """The read timeout of a request ran out."""


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())


def _retrieved(future: asyncio.Future[Any]) -> None:
    """Mark a failed future's exception as seen: a handshake that fails after its
    connect timed out (nobody awaits it any more) is not an error to log at exit."""
    if not future.cancelled():
        future.exception()


def _succeeded(future: asyncio.Future[Any]) -> bool:
    """Done with a result: not pending, not failed, and not cancelled (a connect timeout
    cancels the handshake it was waiting for)."""
    return future.done() and not future.cancelled() and future.exception() is None


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection (TLS on memory BIOs when given a context): send a
    request, collect its response."""

    def __init__(self, tls: ssl.SSLContext | None = None, server_hostname: str | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready.add_done_callback(_retrieved)  # whoever awaits it still gets the exception
        self._tls: ssl.SSLObject | None = None
        self._tls_in: ssl.MemoryBIO | None = None
        self._tls_out: ssl.MemoryBIO | None = None
        if tls is not None:
            self._tls_in, self._tls_out = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._tls = tls.wrap_bio(self._tls_in, self._tls_out, server_hostname=server_hostname)
        self.parser: Any = None
        self.waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]] | None = None
        self.closed = False
        self.idle_since = 0.0
        self.requests = 0
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._header_bytes = 0
        self._received = False
        self._head = False
        self._eof_delimited = False
        self._keep_alive = False

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._tls is None:
            self.ready.set_result(None)
        else:
            self._handshake()

    def data_received(self, data: bytes) -> None:
        if self._tls is None:
            self._http_received(data)
            return
        assert self._tls_in is not None
        self._tls_in.write(data)
        if not self.ready.done():
            self._handshake()
            if not self.ready.done() or self.closed:
                return
        plain: list[bytes] = []
        while True:
            try:
                chunk = self._tls.read(_TLS_READ)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:  # close_notify: the end of the connection's data
                break
            except ssl.SSLError as exc:
                self._fail(httpx.ReadError(f"TLS error: {exc}"))
                return
            if not chunk:
                break
            plain.append(chunk)
        self._flush_tls()
        if plain:
            self._http_received(b"".join(plain))

    def _http_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            self._abort()  # bytes nobody asked for: the connection cannot be trusted any more
            return
        self._received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("the BMC switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        self._ended(None)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionResetError("connection closed during the TLS handshake"))
        self._ended(exc)

    def _handshake(self) -> None:
        assert self._tls is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._flush_tls()
            return
        except (ssl.SSLError, ssl.CertificateError) as exc:
            self.ready.set_exception(exc)
            self._abort()
            return
        self._flush_tls()
        self.ready.set_result(None)

    def _flush_tls(self) -> None:
        assert self._tls_out is not None
        if self._tls_out.pending and self.transport is not None and not self.transport.is_closing():
            self.transport.write(self._tls_out.read())

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > _MAX_HEADER_BYTES:
            raise httptools.HttpParserError("response headers too large")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._status = self.parser.get_status_code()
        self._keep_alive = bool(self.parser.should_keep_alive())
        if 100 <= self._status < 200 and self._status != 101:
            return
        names = {name.lower() for name, _ in self._headers}
        self._eof_delimited = b"content-length" not in names and b"transfer-encoding" not in names \
            and self._status not in (204, 304)
        if self._head:  # no body follows whatever the headers say; not reusable (parser state)
            self._keep_alive = False
            self._complete()

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > _MAX_BODY_BYTES:
            raise httptools.HttpParserError("response body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self._status < 200 and self._status != 101:
            self._headers = []  # an interim answer (100 Continue): the real one follows
            self._header_bytes = 0
            return
        self._complete()

    # -- use ---------------------------------------------------------------------------

    def send(self, request: bytes, head: bool) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes, bool]]:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.parser = httptools.HttpResponseParser(self)
        self._status, self._headers, self._body, self._size, self._header_bytes = 0, [], [], 0, 0
        self._received = self._eof_delimited = self._keep_alive = False
        self._head = head
        self.requests += 1
        if self._tls is None:
            self.transport.write(request)
        else:
            self._tls.write(request)
            self._flush_tls()
        return self.waiter

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep_alive and self.transport is not None \
            and not self.transport.is_closing()

    def close(self) -> None:
        if self._tls is not None and _succeeded(self.ready) and not self.closed:
            try:  # close_notify, as TLS asks; the BMC's own answer to it is not waited for
                self._tls.unwrap()
            except ssl.SSLError:
                pass
            self._flush_tls()
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _complete(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self._status, self._headers, b"".join(self._body), self._keep_alive))

    def _fail(self, exc: BaseException) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        self._abort()

    def _abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def _ended(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self._eof_delimited and exc is None and self._status:
            self._keep_alive = False
            self._complete()  # an HTTP/1.0-style body ends with the connection
            return
        waiter.set_exception(_Closed(self._received, exc))


class FetchTransport(httpx.AsyncBaseTransport):
    """A transport whose work is `fetch(method, url, headers, data, timeout)`: the
    Redfish client calls that directly (no `httpx.Request` built per request), and
    httpx's own entry point is adapted to it here."""

    # Headers the transport writes itself.
    own_headers: frozenset[bytes] = frozenset()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw
                   if k.lower() not in self.own_headers]
        response = await self.fetch(request.method, str(request.url), headers, await self.request_body(request),
                                    request.extensions.get("timeout") or {})
        response.request = request
        return response

    async def request_body(self, request: httpx.Request) -> Any:
        """What `fetch` takes as `data` for this request."""
        raise NotImplementedError

    async def fetch(self, method: str, url: str, headers: Any, data: Any,
                    timeout: Mapping[str, float | None]) -> httpx.Response:
        raise NotImplementedError


class NativeTransport(FetchTransport):
    """Kept-alive HTTP/1.1 connections to one BMC (see the module docstring)."""

    own_headers = frozenset({b"host", b"content-length", b"transfer-encoding"})

    def __init__(self, verify: ssl.SSLContext | None, limits: httpx.Limits) -> None:
        self._ssl = verify
        self._max = max(1, limits.max_connections or 1)
        self._expiry = limits.keepalive_expiry if limits.keepalive_expiry is not None else 5.0
        self._idle: list[_Connection] = []
        self._origin: tuple[str, str, int] | None = None
        self._prefix = ""
        self._host_header = ""
        self._closed = False

    async def request_body(self, request: httpx.Request) -> Any:
        try:
            return request.content or None
        except httpx.RequestNotRead:
            return await request.aread() or None  # a streamed body, read whole (small bodies only)

    async def fetch(self, method: str, url: str, headers: Any, data: Any,
                    timeout: Mapping[str, float | None]) -> httpx.Response:
        """Send one request and return the complete response (the same contract as
        `AiohttpTransport.fetch`: `headers` are pairs or a dict, `data` bytes or None)."""
        if data is not None and not isinstance(data, (bytes, bytearray)):
            raise httpx.LocalProtocolError("the native transport sends request bodies as bytes only")
        target = self._target(url)
        request = self._serialise(method, target, headers, data)
        head = method == "HEAD"
        conn = self._take_idle()
        reused = conn is not None
        if conn is None:
            conn = await self._connect(timeout.get("connect"))
        try:
            status, raw_headers, body, keep = await self._exchange(conn, request, head, timeout.get("read"))
        except _Closed as closed:
            if not (reused and not closed.received and method in _IDEMPOTENT):
                raise httpx.RemoteProtocolError(str(closed)) from closed.cause
            # The BMC closed the kept-alive connection while it was idle: a new one.
            conn = await self._connect(timeout.get("connect"))
            try:
                status, raw_headers, body, keep = await self._exchange(conn, request, head, timeout.get("read"))
            except _Closed as again:
                raise httpx.RemoteProtocolError(str(again)) from again.cause
        if keep and conn.reusable and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
            if len(self._idle) > self._max:
                self._idle.pop(0).close()
        else:
            conn.close()
        return LazyRequestResponse.complete(status, raw_headers, body, (method, url, headers))

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- internals ---------------------------------------------------------------------

    def _target(self, url: str) -> str:
        if self._origin is None:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            port = parts.port or (443 if scheme == "https" else 80)
            host = parts.hostname or ""
            self._origin = (scheme, host, port)
            netloc = parts.netloc.rsplit("@", 1)[-1]
            self._prefix = f"{parts.scheme}://{parts.netloc}"
            self._host_header = netloc
        if url.startswith(self._prefix) and url[len(self._prefix):len(self._prefix) + 1] in ("/", ""):
            return url[len(self._prefix):] or "/"
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        if (parts.scheme.lower(), parts.hostname or "", port) != self._origin:
            raise httpx.UnsupportedProtocol(f"{url} is not on this transport's origin")
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def _serialise(self, method: str, target: str, headers: Any, data: bytes | bytearray | None) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self._host_header}"]
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        for name, value in pairs:
            text = f"{name}: {value}"
            if "\r" in text or "\n" in text:
                raise httpx.LocalProtocolError(f"header {name!r} contains a line break")
            lines.append(text)
        if data is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(data or b'')}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + bytes(data) if data else head

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable and now - conn.idle_since < self._expiry:
                return conn
            conn.close()
        return None

    async def _connect(self, connect_timeout: float | None) -> _Connection:
        assert self._origin is not None
        scheme, host, port = self._origin
        loop = asyncio.get_running_loop()
        tls = self._ssl if scheme == "https" else None
        conn: _Connection | None = None
        try:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(lambda: _Connection(tls, host if tls else None), host, port)
                await conn.ready
        except TimeoutError as exc:
            if conn is not None:
                conn.close()
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} within {connect_timeout}s") from exc
        except (OSError, ssl.SSLError, ssl.CertificateError) as exc:
            if conn is not None:
                conn.close()
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except asyncio.CancelledError:
            if conn is not None:
                conn.close()
            raise
        return conn

    async def _exchange(self, conn: _Connection, request: bytes, head: bool,
                        read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        waiter = conn.send(request, head)
        # A timer that fails the waiter (cheaper than a timeout scope per request).
        timer = asyncio.get_running_loop().call_later(read_timeout, _expire, waiter) \
            if read_timeout is not None else None
        try:
            return await waiter
        except _Expired as exc:
            conn.close()
            raise httpx.ReadTimeout(f"no complete answer within {read_timeout}s") from exc
        except asyncio.CancelledError:
            conn.close()  # half a response may still arrive: never reuse it
            raise
        except (OSError, ssl.SSLError) as exc:
            conn.close()
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if timer is not None:
                timer.cancel()


class LazyRequestResponse(httpx.Response):
    """An `httpx.Response` whose `request` is built only when someone asks for it
    (error messages and logs do; the success path of an inventory read does not)."""

    _lazy_request: tuple[str, str, Any] | None = None

    @classmethod
    def complete(cls, status: int, headers: Any, body: bytes, request: tuple[str, str, Any],
                 extensions: dict[str, Any] | None = None) -> LazyRequestResponse:
        """A response whose body was read whole. Built through httpx's `stream=`
        constructor, which does not re-encode and re-read the body as `content=` does
        (2 us instead of 13 us a response)."""
        response = cls(status, headers=headers, stream=httpx.ByteStream(body),
                       extensions=extensions if extensions is not None else {"http_version": b"HTTP/1.1"})
        response._content = body
        response.is_stream_consumed = True
        response.is_closed = True
        response._lazy_request = request
        return response

    @property
    def request(self) -> httpx.Request:
        if self._request is None and self._lazy_request is not None:
            method, url, headers = self._lazy_request
            self._request = httpx.Request(method, url, headers=headers)
        return super().request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value
