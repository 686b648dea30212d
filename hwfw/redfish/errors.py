"""The one place where HTTP-library exceptions and Redfish error bodies become hwfw errors.

Every error names the host, the URL, the HTTP status and the Redfish MessageId when
one is known. Redfish error bodies look like
`{"error": {"code", "message", "@Message.ExtendedInfo": [{"MessageId", "Message",
"Resolution", "MessageSeverity" | "Severity"}]}}`; BMCs also send HTML pages, empty
bodies or top-level `@Message.ExtendedInfo`, so parsing never fails.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from hwfw.errors import BmcAuthError, BmcConnectionError, BmcError, BmcTlsError, BmcUnreachable

__all__ = [
    "ErrorInfo",
    "RedfishMessage",
    "RedirectRefused",
    "TLS_HINT",
    "error_for_response",
    "extended_info",
    "is_connect_failure",
    "message_id_matches",
    "parse_error_info",
    "TRANSPORT_ERRORS",
    "transport_failure",
    "translate_transport_errors",
]

# Status codes whose body is worth quoting but which mean "the credentials are wrong".
_AUTH_STATUSES = (401, 403)
_MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class RedfishMessage:
    """One entry of `@Message.ExtendedInfo` (or a Task's `Messages`)."""

    message_id: str
    message: str = ""
    severity: str | None = None
    resolution: str | None = None
    args: tuple[str, ...] = ()

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> RedfishMessage:
        # `Severity` is the pre-2019 spelling; OpenBMC and older iDRAC still send it.
        severity = doc.get("MessageSeverity") or doc.get("Severity")
        args = doc.get("MessageArgs") or ()
        return RedfishMessage(
            message_id=str(doc.get("MessageId") or ""),
            message=str(doc.get("Message") or ""),
            severity=str(severity) if severity else None,
            resolution=str(doc["Resolution"]) if doc.get("Resolution") else None,
            args=tuple(str(a) for a in args) if isinstance(args, list) else ())


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an error response said: the most specific MessageId and a short text."""

    message_id: str | None
    message: str
    resolution: str | None = None
    messages: tuple[RedfishMessage, ...] = ()


def extended_info(doc: Any) -> tuple[RedfishMessage, ...]:
    """All `@Message.ExtendedInfo` entries of a body, wherever the vendor put them:
    under `error` (standard, HPE success-in-error), at the top level, or under the
    Supermicro `Success`/`Accepted` objects."""
    if not isinstance(doc, dict):
        return ()
    out: list[RedfishMessage] = []
    containers: list[Any] = [doc]
    for key in ("error", "Success", "Accepted"):
        if isinstance(doc.get(key), dict):
            containers.append(doc[key])
    for c in containers:
        items = c.get("@Message.ExtendedInfo")
        if isinstance(items, dict):  # a few BMCs send one object, not a list
            items = [items]
        if isinstance(items, list):
            out.extend(RedfishMessage.from_json(i) for i in items if isinstance(i, dict))
    return tuple(out)


def parse_error_info(response: httpx.Response) -> ErrorInfo:
    """Read the MessageId and text from any error body (JSON, HTML, empty)."""
    body: Any = None
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        return ErrorInfo(message_id=None, message=_body_excerpt(response))
    messages = extended_info(body)
    raw_err = body.get("error")
    err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
    # The ExtendedInfo MessageId is the specific one; `error.code` is often the
    # generic `Base.1.x.GeneralError` wrapper.
    specific = next((m for m in messages if m.message_id and not _is_wrapper(m.message_id)), None)
    message_id = specific.message_id if specific else (str(err.get("code")) if err.get("code") else
                                                        messages[0].message_id if messages else None)
    text = (specific.message if specific and specific.message else str(err.get("message") or "")) \
        or (messages[0].message if messages else "")
    resolution = specific.resolution if specific else None
    return ErrorInfo(message_id=message_id or None, message=_shorten(text), resolution=resolution,
                     messages=messages)


def _is_wrapper(message_id: str) -> bool:
    return message_id.rsplit(".", 1)[-1] in ("GeneralError", "ExtendedInfo")


def _body_excerpt(response: httpx.Response) -> str:
    ctype = response.headers.get("content-type", "")
    if not response.content:
        return response.reason_phrase or "empty response body"
    if "html" in ctype or response.content.lstrip()[:1] == b"<":
        return f"{response.reason_phrase or 'error'} (non-JSON body: HTML page)"
    return _shorten(response.content.decode("utf-8", "replace").strip())


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def message_id_matches(message_id: str | None, pattern: str) -> bool:
    """Compare MessageIds by registry prefix and key, ignoring the registry version:
    `Base.1.8.ResetRequired` matches `Base.ResetRequired`; a bare key matches any registry."""
    if not message_id:
        return False
    parts = message_id.split(".")
    want = pattern.split(".")
    if len(want) == 1:
        return parts[-1] == want[0]
    return parts[0] == want[0] and parts[-1] == want[-1]


def error_for_response(host: str, method: str, url: str, response: httpx.Response,
                       *, what: str | None = None) -> BmcError:
    """The hwfw error for a 4xx/5xx answer (not raised here)."""
    info = parse_error_info(response)
    status = response.status_code
    text = info.message or response.reason_phrase or "error"
    summary = f"{what or method + ' failed'}: {text}"
    hint = info.resolution
    if status in _AUTH_STATUSES:
        return BmcAuthError(summary, host=host, url=url, status=status, message_id=info.message_id,
                            hint=hint or "check the credentials reference for this host and the account's privileges")
    return BmcError(summary, host=host, url=url, status=status, message_id=info.message_id, hint=hint,
                    retry_after=response.headers.get("retry-after"))


class RedirectRefused(BmcError):
    """The BMC redirected to another origin; credentials are never sent elsewhere."""


def bmc_not_back_yet(exc: BaseException) -> bool:
    """True when a failure says the BMC is resetting or still starting: it refused or
    dropped the connection, or answered 503/429 after the client's own retries."""
    return isinstance(exc, BmcUnreachable) or (isinstance(exc, BmcError) and exc.status in (429, 503))


def is_connect_failure(exc: BaseException) -> bool:
    """True when the request certainly never reached the BMC (safe to retry any method)."""
    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return False
    # The aiohttp mapping turns a dropped keep-alive connection into ConnectTimeout;
    # that one may have happened after the request was sent.
    return type(exc.__cause__).__name__ != "ServerDisconnectedError"


def _describe_transport_error(exc: BaseException) -> str:
    chain: list[BaseException] = [exc]
    while len(chain) < 8:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e):
            return "TLS certificate verification failed"
        if type(e).__name__ in ("ClientConnectorCertificateError",):
            return "TLS certificate verification failed"
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or "Connection refused" in str(e) \
                or "Connect call failed" in str(e):
            return "connection refused"
    if isinstance(exc, httpx.TimeoutException):
        kind = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read", httpx.WriteTimeout: "write",
                httpx.PoolTimeout: "pool"}.get(type(exc), "request")
        return f"{kind} timeout"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {_shorten(str(exc)) or 'server closed the connection'}"
    text = _shorten(str(exc)) or type(exc).__name__
    return f"connection failed: {text}"


TLS_HINT = ("the BMC's certificate did not verify: set ca_bundle (for this host in the inventory, or under "
            "settings in hwfw.yaml) to the CA that signed it, or pass --insecure for a lab (never in production)")


def _connection_hint(message: str) -> str:
    if message == "connection refused":
        return ("nothing listens at that address and port: check the BMC's URL in the inventory, that the BMC "
                "is up and that its Redfish service is enabled")
    if "timeout" in message:
        return ("the BMC did not answer in time: check the address, the network path (routing, firewall) and "
                "that the BMC is up; settings.timing.connect_timeout and request_timeout set the limits")
    return "check the BMC's URL in the inventory and the network path to it"


# What a transport raises when a BMC cannot be reached or stops answering.
TRANSPORT_ERRORS = (httpx.TransportError, ssl.SSLError, OSError)


def transport_failure(host: str, url: str, exc: BaseException) -> BmcUnreachable:
    """For one of TRANSPORT_ERRORS (httpx's, and through the aiohttp transport
    aiohttp's): `BmcTlsError` (certificate or handshake: never retried) or
    `BmcConnectionError` (refused, reset, timed out) naming the host and URL, each with
    what to check; raise it `from exc`."""
    if isinstance(exc, httpx.TransportError):
        msg = _describe_transport_error(exc)
        if msg.startswith("TLS certificate"):
            return BmcTlsError(msg, host=host, url=url, hint=TLS_HINT)
        return BmcConnectionError(msg, host=host, url=url, hint=_connection_hint(msg))
    if isinstance(exc, ssl.SSLError):  # raised directly by some transports during the handshake
        return BmcTlsError(f"TLS error: {_shorten(str(exc))}", host=host, url=url, hint=TLS_HINT)
    msg = f"connection failed: {_shorten(str(exc)) or type(exc).__name__}"
    return BmcConnectionError(msg, host=host, url=url, hint=_connection_hint(msg))


@contextlib.contextmanager
def translate_transport_errors(host: str, url: str) -> Iterator[None]:
    """Turn TRANSPORT_ERRORS into what `transport_failure` says, chained with `from exc`."""
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        raise transport_failure(host, url, exc) from exc
