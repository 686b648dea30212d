"""Logging out sessions a killed run left open (found in its session journal).

A BMC holds a session until it is deleted or expires (often 30 minutes); a run that
was killed could not delete its own. The next run deletes them by URI with fresh
credentials, where the BMC allows it.
"""

from __future__ import annotations

import base64

import httpx

from hwfw.errors import BmcError
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.journal import no_journal
from hwfw.redfish.session import RedfishSession

__all__ = ["delete_stale_session"]

_TIMEOUT = 10.0


async def delete_stale_session(client: RedfishClient, username: str | None, password: str | None, uri: str, *,
                               created: str | None = None) -> str:
    """Delete a session an earlier (killed) run of this process left open, by its URI.

    Authenticates with HTTP Basic (no new session, so it works on a full session
    table); where the BMC refuses Basic, through a fresh session of its own. Deletes
    only what is still that session: the same user and, when both are known, the same
    CreatedTime (a BMC reuses session ids after a reset). Returns `deleted`, `gone`
    (the BMC no longer has it), `not-ours` (the URI now names another session) or
    `refused` (the BMC would not let us; it will expire on its own).
    """
    if username is None or password is None:
        return "refused"
    raw = f"{username}:{password}".encode()
    client.auth_headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    try:
        response = await client.request("GET", uri, check=False, retries=1, timeout=_TIMEOUT)
        if response.status_code in (401, 403):
            return await _delete_with_session(client, username, password, uri, created)
        return await _delete_if_ours(client, uri, response, username, created)
    finally:
        client.auth_headers = {}


async def _delete_if_ours(client: RedfishClient, uri: str, response: httpx.Response, username: str,
                          created: str | None) -> str:
    if response.status_code == 404:
        return "gone"
    if response.status_code >= 400:
        return "refused"
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        user, when = doc.get("UserName"), doc.get("CreatedTime")
        if (isinstance(user, str) and user != username) or (created and isinstance(when, str) and when != created):
            return "not-ours"
    deleted = await client.request("DELETE", uri, check=False, retries=1, timeout=_TIMEOUT)
    if deleted.status_code == 404:
        return "gone"
    return "deleted" if deleted.status_code < 400 else "refused"


async def _delete_with_session(client: RedfishClient, username: str, password: str, uri: str,
                               created: str | None) -> str:
    session = RedfishSession(client, username, password, owns_client=False)
    try:
        with no_journal():  # this helper session is logged out below; nothing to journal
            async with session:
                if session.session_uri == uri:
                    return "not-ours"  # the BMC reused the id for the session we just opened
                response = await session.request("GET", uri, check=False, retries=1)
                return await _delete_if_ours(client, uri, response, username, created)
    except BmcError:
        return "refused"
