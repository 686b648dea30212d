"""Telling our own sessions apart when a login's answer never arrived.

A login POST can create a session on the BMC and still leave the client without its
URI: hwfw was killed, or the connection broke, after the BMC acted and before the
answer arrived. Such a session holds a slot of a small session table until it idles
out. To find it again without ever touching anyone else's session, hwfw journals a
pending login (host and a random nonce, never the credentials) before the POST and,
where the BMC keeps it, sends `Context: "hwfw:<nonce>"` in the login body: Session
v1.5 (DMTF DSP0268, Redfish 2022.2) defines `Context` as a client-supplied string
stored with the session. The next run lists the BMC's sessions and deletes exactly
those whose `Context` is that string (stale.py).

Not every BMC keeps it (docs/vendor-behaviour.md, "Sessions"): some refuse an unknown
property in the login (400 PropertyUnknown: OpenBMC before 2022, iDRAC), some ignore
it. Whether to send it is decided per BMC from what is known, in this order: what the
BMC did with it before (`stored`, `ignored`, `refused`, remembered in the session
journal), the vendor's registry record (the caller's hint), and the Session schema
version the BMC's own login answers carry (v1.5 or later defines `Context`). A login
the BMC refuses because of it is sent again without it.
"""

from __future__ import annotations

import re
import secrets

import httpx

__all__ = ["CONTEXT_PREFIX", "IGNORED", "REFUSED", "STORED", "context_of", "context_value", "defines_context",
           "new_nonce", "refuses_context", "session_version", "verdict_of"]

CONTEXT_PREFIX = "hwfw:"
STORED, IGNORED, REFUSED = "stored", "ignored", "refused"
_SESSION_TYPE = re.compile(r"#Session\.v(\d+)_(\d+)_\d+\.Session$")
# A login body the BMC would not take: sent again without Context.
_REFUSED_STATUS = (400, 422)


def new_nonce() -> str:
    """A random id for one login (not a secret: it only names the session)."""
    return secrets.token_hex(12)


def context_value(nonce: str) -> str:
    return CONTEXT_PREFIX + nonce


def _body(response: httpx.Response) -> dict[str, object]:
    try:
        doc = response.json() if response.content else None
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def context_of(doc: object) -> str | None:
    """A session resource's `Context`, None when it has none."""
    value = doc.get("Context") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def session_version(response: httpx.Response) -> tuple[int, int] | None:
    """(major, minor) of the Session schema a login answer names in `@odata.type`."""
    match = _SESSION_TYPE.search(str(_body(response).get("@odata.type") or ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


def defines_context(version: tuple[int, int] | None) -> bool:
    return version is not None and version >= (1, 5)


def refuses_context(response: httpx.Response) -> bool:
    """Did a login sent with `Context` fail for the body (so that one without may pass)?"""
    return response.status_code in _REFUSED_STATUS


def verdict_of(response: httpx.Response, sent: str) -> str:
    """`stored` when the created session shows the Context we sent, else `ignored`."""
    return STORED if context_of(_body(response)) == sent else IGNORED
