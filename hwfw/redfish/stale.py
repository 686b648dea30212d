"""Logging out sessions a killed run left open (found in its session journal).

A BMC holds a session until it is deleted or expires (often 30 minutes); a run that
was killed could not delete its own. The next run deletes them by URI with fresh
credentials, where the BMC allows it; and a session whose login answer never arrived
(no URI known) by the `Context` its login carried (login_context.py), nothing else.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Collection

import httpx

from hwfw.errors import BmcError
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.journal import no_journal
from hwfw.redfish.login_context import context_of
from hwfw.redfish.session import RedfishSession

__all__ = ["delete_sessions_with_context", "delete_stale_session"]

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


Request = Callable[[str, str], Awaitable[httpx.Response]]


async def delete_sessions_with_context(client: RedfishClient, username: str | None, password: str | None,
                                       sessions_uri: str, contexts: Collection[str]) -> dict[str, str]:
    """Delete every session of the BMC whose `Context` is one of `contexts`, and only those.

    Lists the Sessions collection (HTTP Basic; a fresh session of its own where Basic
    is refused) and reads each member's Context. Returns, per context found, `deleted`
    or `refused`; a context no session carries is absent (the login created none, or
    it is gone). Raises BmcError when the BMC does not answer.
    """
    if username is None or password is None or not contexts:
        return {}
    raw = f"{username}:{password}".encode()
    client.auth_headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    async def basic(method: str, uri: str) -> httpx.Response:
        return await client.request(method, uri, check=False, retries=1, timeout=_TIMEOUT)

    try:
        listing = await basic("GET", sessions_uri)
        if listing.status_code not in (401, 403):
            return await _delete_matching(client.host, basic, sessions_uri, listing, set(contexts))
    finally:
        client.auth_headers = {}
    session = RedfishSession(client, username, password, owns_client=False)
    with no_journal():  # this helper session is logged out below; nothing to journal
        async with session:
            async def with_token(method: str, uri: str) -> httpx.Response:
                return await session.request(method, uri, check=False, retries=1)
            listing = await with_token("GET", sessions_uri)
            return await _delete_matching(client.host, with_token, sessions_uri, listing, set(contexts))


async def _delete_matching(host: str, request: Request, sessions_uri: str, listing: httpx.Response,
                           contexts: set[str]) -> dict[str, str]:
    if listing.status_code >= 400:
        raise BmcError(f"listing the sessions answered HTTP {listing.status_code}", host=host, url=sessions_uri,
                       status=listing.status_code)
    try:
        doc = listing.json()
    except ValueError:
        doc = {}
    members = doc.get("Members") if isinstance(doc, dict) else None
    outcomes: dict[str, str] = {}
    for member in members if isinstance(members, list) else []:
        uri = member.get("@odata.id") if isinstance(member, dict) else None
        if not isinstance(uri, str):
            continue
        found = context_of(member) or await _context_at(request, uri)
        if found is None or found not in contexts:
            continue   # not a session of ours: never touched
        deleted = await request("DELETE", uri)
        outcomes[found] = "deleted" if deleted.status_code < 400 or deleted.status_code == 404 else "refused"
    return outcomes


async def _context_at(request: Request, uri: str) -> str | None:
    response = await request("GET", uri)
    if response.status_code >= 400:
        return None
    try:
        return context_of(response.json())
    except ValueError:
        return None
