"""A thin, tolerant HTTP layer for one BMC: retries, deadlines, redirects, error mapping.

`RedfishClient` owns one pooled `httpx.AsyncClient` for one BMC origin and knows
nothing about vendors or sessions; `RedfishSession` (session.py) adds authentication.
What it does for every request:

- at most `max_in_flight` requests on the wire per BMC (a semaphore: BMCs answer 503 or
  fall over under load; docs/vendor-behaviour.md has the limits seen);
- bounded retries with exponential backoff and jitter on 503/429 and on connection
  errors, honouring `Retry-After` (seconds or HTTP date), by the rules of hwfw/retry.py;
  non-idempotent requests are retried only when they certainly never reached the BMC;
- a per-request timeout and a per-BMC deadline measured on the injected clock;
- redirects followed by hand and only within the BMC's own origin, so credentials
  never travel to another host;
- every failure raised as a `BmcError` naming host, URL, HTTP status and MessageId.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from dataclasses import dataclass
from logging import DEBUG
from typing import Any

import httpx

from hwfw.bmcstats import note_request
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import BmcError, BmcUnreachable
from hwfw.logs import get_logger
from hwfw.redfish.errors import (
    TRANSPORT_ERRORS,
    RedirectRefused,
    error_for_response,
    is_connect_failure,
    transport_failure,
)
from hwfw.redfish.trace import RequestTrace
from hwfw.redfish.transport import (
    Backend,
    TransportOptions,
    make_http_client,
    make_transport,
    ssl_context,
)
from hwfw.retry import Attempts, Backoff, RetryPolicy, parse_retry_after

__all__ = ["ClientOptions", "RedfishClient", "same_uri"]

log = get_logger("redfish.client")

_RETRY_STATUSES = (429, 503)
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
_DEFAULT_HEADERS = {"OData-Version": "4.0", "Accept": "application/json"}
_RNG = random.Random()  # backoff jitter; seeding one per BMC would cost more than it buys


@dataclass(frozen=True, slots=True)
class ClientOptions:
    """Per-BMC request policy. `deadline` bounds everything done with one BMC."""

    request_timeout: float = 30.0
    connect_timeout: float = 10.0
    deadline: float = 300.0
    retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    max_in_flight: int = 4
    keepalive_expiry: float = 60.0
    max_redirects: int = 5
    backend: Backend | None = None

    @staticmethod
    def from_settings(settings: Settings, *, backend: Backend | None = None) -> ClientOptions:
        t = settings.timing
        return ClientOptions(
            request_timeout=t.request_timeout, connect_timeout=t.connect_timeout,
            deadline=t.host_read_deadline, retries=settings.retries,
            max_in_flight=max(1, settings.requests_per_bmc),
            # Above the poll interval, so task pollers keep their (TLS) connection.
            keepalive_expiry=max(60.0, 2 * t.poll_interval + 5.0), backend=backend)

    def retry_policy(self, retries: int | None = None) -> RetryPolicy:
        """The retry rules of one request (`retries` overrides the count)."""
        return RetryPolicy(retries=self.retries if retries is None else retries,
                           backoff=Backoff(base=self.backoff_base, cap=self.backoff_max),
                           retry_after_max=self.retry_after_max)

    def transport(self) -> TransportOptions:
        return TransportOptions(max_connections=self.max_in_flight, keepalive_expiry=self.keepalive_expiry,
                                connect_timeout=self.connect_timeout, request_timeout=self.request_timeout,
                                backend=self.backend)


def same_uri(a: str | None, b: str | None) -> bool:
    """Redfish URIs compare equal with or without a trailing slash (older iLO 5)."""
    if a is None or b is None:
        return False
    return a.rstrip("/") == b.rstrip("/")


class RedfishClient:
    """HTTP to one BMC. The session sets `auth_headers` (X-Auth-Token or Basic).

    Requests go straight to the client's pooled transport as `httpx.Request` objects:
    `AsyncClient.send` adds a cookie-jar pass (urllib objects per response), auth and
    redirect generators and base-URL merging, about a third of the client CPU per
    request in benchmarks/bench_plan_live.py, none of which Redfish needs. The
    `AsyncClient` (`http`) owns the transport and serves streaming uploads.
    """

    def __init__(self, base_url: str, *, host: str, clock: Clock, options: ClientOptions = ClientOptions(),
                 verify: ssl.SSLContext | None = None, rng: random.Random | None = None) -> None:
        self.host = host
        self.clock = clock
        self.options = options
        base = httpx.URL(base_url)
        self.base_url = base.copy_with(path="/", query=None, fragment=None)
        self._prefix = str(self.base_url).rstrip("/")
        self._origin = (self.base_url.scheme, self.base_url.host, self.base_url.port)
        self._verify = verify or ssl_context()
        self._transport = make_transport(self._verify, options.transport())
        self._fetch: Callable[..., Awaitable[httpx.Response]] | None = getattr(self._transport, "fetch", None)
        self._http: httpx.AsyncClient | None = None
        self._timeouts = self._timeout_ext(options.request_timeout)
        self._gate = asyncio.Semaphore(max(1, options.max_in_flight))
        self._rng = rng or _RNG
        self.deadline = clock.monotonic() + options.deadline
        self.auth_headers: dict[str, str] = {}
        self.request_count = 0
        self.trace = RequestTrace()

    @property
    def http(self) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` on this BMC's pool (built on first use: inventory never
        needs it, and building one per BMC costs CPU)."""
        if self._http is None:
            self._http = make_http_client(str(self.base_url), verify=self._verify, options=self.options.transport(),
                                          transport=self._transport)
        return self._http

    def _timeout_ext(self, seconds: float) -> dict[str, float]:
        return {"connect": min(seconds, self.options.connect_timeout), "read": seconds, "write": seconds,
                "pool": seconds}

    # -- URLs -------------------------------------------------------------------------

    def url_for(self, uri: str) -> str:
        """Absolute URL for a path or URL; refuses anything outside the BMC's origin."""
        if uri.startswith("/") and not uri.startswith("//"):
            return self._prefix + uri  # the common case, without parsing
        url = self.base_url.join(uri)
        if (url.scheme, url.host, url.port) != self._origin:
            raise RedirectRefused(f"refusing to send a request to another origin "
                                  f"({url.scheme}://{url.netloc.decode()})",
                                  host=self.host, url=str(url),
                                  hint="the BMC pointed outside itself; credentials are only sent to its own address")
        return str(url)

    def uri_of(self, url: str | httpx.URL) -> str:
        """The path (+query) of an absolute or relative URL, as the BMC names resources."""
        text = str(url)
        if text.startswith("/") and not text.startswith("//"):
            return text
        u = self.base_url.join(text)
        return u.raw_path.decode("ascii", "replace")

    # -- requests ---------------------------------------------------------------------

    async def request(self, method: str, uri: str, *, json_body: Any = None,
                      content: bytes | AsyncIterable[bytes] | None = None,
                      headers: Mapping[str, str] | None = None, timeout: float | None = None,
                      check: bool = True, retries: int | None = None,
                      ignore_deadline: bool = False) -> httpx.Response:
        """Send one request (with retries and same-origin redirects) and return the answer.

        `check=True` raises the translated error for 4xx/5xx; with `check=False` the
        caller inspects the status (the session does, for 401 re-login).
        """
        method = method.upper()
        url = self.url_for(uri)
        for _ in range(self.options.max_redirects + 1):
            response = await self._send_with_retries(method, url, json_body=json_body, content=content,
                                                     headers=headers, timeout=timeout, retries=retries,
                                                     ignore_deadline=ignore_deadline)
            # Requests go to the transport directly (not through httpx.AsyncClient.send), so
            # httpx's own request log never fires: -vv and --log-file rely on this line.
            if log.isEnabledFor(DEBUG):
                log.debug("%s: %s %s -> HTTP %d", self.host, method, url, response.status_code)
            if response.status_code not in _REDIRECT_STATUSES or "location" not in response.headers:
                break
            target = httpx.URL(url).join(response.headers["location"])
            if (target.scheme, target.host, target.port) != self._origin:
                raise RedirectRefused(
                    f"{method} redirected to another origin ({target.scheme}://{target.netloc.decode()}); not followed",
                    host=self.host, url=url, status=response.status_code,
                    hint="credentials are only sent to the BMC's own address; check the BMC's address")
            log.debug("%s: %s %s redirected to %s", self.host, method, url, target)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                method, json_body, content = "GET", None, None
            url = str(target)
        else:
            raise BmcError(f"{method} failed: more than {self.options.max_redirects} redirects",
                           host=self.host, url=url)
        if check and response.status_code >= 400:
            raise error_for_response(self.host, method, url, response)
        return response

    async def _send_with_retries(self, method: str, url: str, *, json_body: Any,
                                 content: bytes | AsyncIterable[bytes] | None,
                                 headers: Mapping[str, str] | None, timeout: float | None,
                                 retries: int | None, ignore_deadline: bool) -> httpx.Response:
        attempts: Attempts | None = None  # the retry state, made on the first failure (most requests have none)
        while True:
            self._check_deadline(url, ignore_deadline)
            try:
                response = await self._send_once(method, url, json_body=json_body, content=content,
                                                 headers=headers, timeout=timeout)
            except BmcUnreachable as exc:
                cause = exc.__cause__
                # A certificate that does not verify never will: fail at once (no backoff).
                retryable = exc.retryable and cause is not None and (method in _IDEMPOTENT
                                                                     or is_connect_failure(cause))
                attempts = attempts or self._attempts(retries, ignore_deadline)
                delay = attempts.next_delay() if retryable else None
                if delay is None:
                    raise
                log.debug("%s: %s %s failed (%s); retry %d in %.2fs", self.host, method, url, exc.message,
                          attempts.retries, delay)
            else:
                if response.status_code not in _RETRY_STATUSES:
                    return response
                attempts = attempts or self._attempts(retries, ignore_deadline)
                delay = attempts.next_delay(parse_retry_after(response.headers.get("retry-after"), self.clock))
                if delay is None:  # retries used up, or waiting would overrun the deadline
                    return response  # the caller reports the 503 itself
                log.debug("%s: %s %s answered %d; retry %d in %.2fs", self.host, method, url,
                          response.status_code, attempts.retries, delay)
            await self.clock.sleep(delay)

    def _attempts(self, retries: int | None, ignore_deadline: bool) -> Attempts:
        return self.options.retry_policy(retries).attempts(
            self.clock, deadline=None if ignore_deadline else self.deadline, rng=self._rng)

    async def _send_once(self, method: str, url: str, *, json_body: Any,
                         content: bytes | AsyncIterable[bytes] | None,
                         headers: Mapping[str, str] | None, timeout: float | None) -> httpx.Response:
        hdrs = dict(_DEFAULT_HEADERS)
        hdrs.update(self.auth_headers)
        if headers:
            hdrs.update(headers)
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":")).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif content is None and method in ("POST", "PUT", "PATCH"):
            content = b""  # Content-Length: 0 (the DMTF mockup server answers 411 otherwise)
        ext = {"timeout": self._timeouts if timeout is None else self._timeout_ext(timeout)}
        async with self._gate:
            self.request_count += 1
            started = self.trace.start()  # after the gate: waiting for a turn is a round trip in a row
            began = self.clock.monotonic()
            outcome: str | None = None     # for hwfw.bmcstats: ok, error (an HTTP error), unreachable
            try:
                if self._fetch is not None:  # native and aiohttp transports: no httpx.Request up front
                    response = await self._fetch(method, url, hdrs, content, ext["timeout"])
                else:
                    request = httpx.Request(method, url, headers=hdrs, content=content, extensions=ext)
                    response = await self._transport.handle_async_request(request)
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
                    response.request = request
                outcome = "ok" if response.status_code < 400 else "error"
            except TRANSPORT_ERRORS as exc:
                outcome = "unreachable"
                raise transport_failure(self.host, url, exc) from exc
            finally:
                self.trace.done(method, url, started)
                if outcome is not None:
                    note_request(self.host, outcome, self.clock.monotonic() - began)
        return response

    def _check_deadline(self, url: str, ignore: bool) -> None:
        if not ignore and self.clock.monotonic() > self.deadline:
            raise BmcUnreachable(f"per-BMC deadline of {self.options.deadline:g}s exceeded",
                                 host=self.host, url=str(url),
                                 hint="raise settings.timing.host_read_deadline if this BMC is just slow")

    async def get_json(self, uri: str, *, check: bool = True) -> dict[str, Any]:
        """GET a resource and return its JSON object."""
        response = await self.request("GET", uri, check=check)
        return self.json_of(response, uri)

    def json_of(self, response: httpx.Response, uri: str) -> dict[str, Any]:
        """The JSON object of a successful response, or a BmcError naming the URL."""
        try:
            doc = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise BmcError("answer is not JSON", host=self.host, url=str(response.request.url),
                           status=response.status_code) from None
        if not isinstance(doc, dict):
            raise BmcError("answer is not a JSON object", host=self.host, url=str(response.request.url),
                           status=response.status_code)
        return doc

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()  # closes the transport too
        else:
            await self._transport.aclose()
