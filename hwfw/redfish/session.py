"""One authenticated Redfish session per BMC per run, always logged out.

`async with RedfishSession(client, username, password) as s:` reads the service root
(without credentials, as the spec requires), logs in through the SessionService and
deletes the session on the way out, also when the body raised, was cancelled or the
user pressed Ctrl-C (the logout is shielded and awaited to the end: a leaked session
has kept iDRACs locked for ~20 minutes: docs/vendor-behaviour.md, "Dell iDRAC9").

HTTP Basic is used when the service offers no sessions: the root advertises no
SessionService, or the Sessions collection answers the login POST with 404, 405 or
501 (a static mockup server, a trimmed-down service); hwfw says so once per session.
A refused login (401, 403, ...) is an error, never a silent switch to Basic (sushy
release note reauthentication-session-fallback-failure-fixes). A 401 on a request
made with a token means the BMC dropped its sessions (reset, self-update): log in
again once and retry that request.

A login refused because the BMC's session table is full raises `BmcSessionLimit`
(naming the MessageId: Base `SessionLimitExceeded`, iDRAC `RAC0218`, iLO
`CreateLimitReachedForResource`). With `session_limit_wait` > 0 the login is retried
until a slot frees (idle sessions expire after the BMC's `SessionTimeout`), at most
that many seconds, honouring the BMC's Retry-After (hwfw/retry.py).

While a session journal is installed (hwfw/redfish/journal.py; apply installs one for
its run), every session opened and closed here is reported to it by URI (never the
token), so the next run can log out what a killed run left open (stale.py); so is each
login before its POST, with the `Context` nonce that names its session where the BMC
keeps one (login_context.py; `login_context` is the caller's hint from the vendor
registry: True, False, or None for "decide from what the BMC shows").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterable, Coroutine, Mapping
from typing import Any, Self, TypeVar

import httpx

from hwfw.aio import gather_or_cancel
from hwfw.errors import BmcAuthError, BmcError, BmcSessionLimit
from hwfw.logs import get_logger, redactor
from hwfw.redfish import login_context as ctx
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.client import same_uri as _same_uri
from hwfw.redfish.errors import error_for_response, message_id_matches, parse_error_info
from hwfw.redfish.journal import journal_closed as _journal_closed
from hwfw.redfish.journal import journal_context_verdict, journal_login_ended, journal_login_started
from hwfw.redfish.journal import journal_opened as _journal_opened
from hwfw.retry import Backoff, RetryPolicy, parse_retry_after, retry

__all__ = ["DEFAULT_SESSIONS_URI", "ROOT", "RedfishSession", "SESSION_LIMIT_IDS", "session_limit_error"]

log = get_logger("redfish.session")

ROOT = "/redfish/v1/"
DEFAULT_SESSIONS_URI = "/redfish/v1/SessionService/Sessions"
# Consecutive re-logins without one successful request before giving up.
_MAX_RELOGINS = 5
_LOGOUT_TIMEOUT = 10.0
# A leaked session can lock a BMC out for ~20 minutes; a busy BMC (503 + Retry-After,
# e.g. iDRAC SYS518 while its Lifecycle Controller restarts) gets a few more tries.
_LOGOUT_RETRIES = 3
_EXPAND_REJECTED = (400, 403, 404, 405, 500, 501)
# A login POST answered with these means "no sessions here", not "wrong credentials".
_NO_SESSIONS = (404, 405, 501)
# MessageIds of a login refused because the session table is full: the Base registry's
# (DSP8011), iDRAC's, and iLO's (a Sessions collection that cannot take another member).
SESSION_LIMIT_IDS = ("Base.SessionLimitExceeded", "SessionLimitExceeded", "RAC0218", "CreateLimitReachedForResource")
# Between login attempts on a full session table (seconds): a slot frees when an idle
# session expires, minutes apart on real BMCs.
_LIMIT_POLL_CAP = 60.0


def session_limit_error(host: str, url: str, response: httpx.Response) -> BmcSessionLimit | None:
    """The error for a login refused because the session table is full; None for any other answer."""
    if response.status_code < 400:
        return None
    info = parse_error_info(response)
    ids = [info.message_id] + [m.message_id for m in info.messages]
    mid = next((i for i in ids if i and any(message_id_matches(i, p) or i.endswith("." + p.rsplit(".", 1)[-1])
                                            for p in SESSION_LIMIT_IDS)), None)
    if mid is None:
        return None
    return BmcSessionLimit(
        f"session limit reached: the BMC's session table is full, so it refused a new login "
        f"({info.message or 'no detail'})", host=host, url=url, status=response.status_code, message_id=mid,
        retry_after=response.headers.get("retry-after"),
        hint="log out unused sessions on the BMC (or wait until they expire), or let hwfw wait for a free "
             "slot with settings.timing.session_limit_wait")
T = TypeVar("T")


class RedfishSession:
    """An authenticated view of one BMC. Owns (and closes) its client by default."""

    def __init__(self, client: RedfishClient, username: str | None, password: str | None,
                 *, owns_client: bool = True, eager_login: bool = False, session_limit_wait: float = 0.0,
                 login_context: bool | None = None) -> None:
        self.client = client
        self.login_context = login_context
        self._context_verdict: str | None = None         # what this BMC did with our Context
        self._session_version: tuple[int, int] | None = None
        self.session_limit_wait = max(0.0, session_limit_wait)
        self.host = client.host
        self._username = username
        self._password = password
        self._owns_client = owns_client
        self._eager_login = eager_login
        self.root: dict[str, Any] = {}
        self.token: str | None = None
        self.session_uri: str | None = None
        self.basic = False
        self.expand_query: str | None = None
        self.relogins = 0
        self._basic_noted = False
        self._relogin_streak = 0
        self._login_lock = asyncio.Lock()
        redactor.register(password)

    # -- lifecycle --------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        try:
            await self.open()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Read the service root, then log in (or set up Basic when the service has no sessions).

        With `eager_login` the login POST goes to the standard Sessions URI (the
        SessionCollection's URI in the Redfish schemas) together with the root GET:
        one round trip instead of two. The root, once read, is still what decides: a
        refused guess is retried where the root points, or means HTTP Basic when the
        root advertises no sessions at all.
        """
        eager = None
        if self._eager_login and self._username is not None and self._password is not None:
            eager = asyncio.get_running_loop().create_task(self._login(DEFAULT_SESSIONS_URI))
        try:
            response = await self.client.request("GET", ROOT, check=False)
        except BaseException:
            if eager is not None:  # let it finish, so that closing deletes what it created
                with contextlib.suppress(Exception):
                    await _to_completion(eager)
            raise
        # A login cancelled in flight would leave a session we never learn about: let it
        # finish (the caller's cancellation is re-raised after), so that closing deletes it.
        refused = await _to_completion(eager) if eager is not None else None
        root_needs_auth = response.status_code == 401
        if response.status_code >= 400 and not root_needs_auth:
            raise error_for_response(self.host, "GET", str(response.request.url), response,
                                     what="reading the service root failed")
        if not root_needs_auth:
            self.root = self.client.json_of(response, ROOT)
            self.expand_query = expand_query_for(self.root)
        if eager is None or refused is not None:
            await self._log_in_where_advertised(refused)
        if root_needs_auth:  # a few BMCs 401 the root; read it again now that we are in
            self.root = await self.get_json(ROOT)
            self.expand_query = expand_query_for(self.root)

    async def _log_in_where_advertised(self, refused: httpx.Response | None) -> None:
        """Log in at the root's Sessions URI; `refused` is the answer to an eager login at
        the standard URI, if one was tried."""
        sessions_uri = sessions_uri_of(self.root) if self.root else DEFAULT_SESSIONS_URI
        if sessions_uri is None:
            log.info("%s: no SessionService advertised; using HTTP Basic", self.host)
            self._use_basic()
            return
        if refused is not None and _same_uri(sessions_uri, DEFAULT_SESSIONS_URI):
            try:
                self._login_refused(refused)    # no sessions here (Basic instead), or an error
                return
            except BmcSessionLimit:
                if self.session_limit_wait <= 0:
                    raise
        await self._login_when_free(sessions_uri)

    def _login_refused(self, response: httpx.Response) -> None:
        """A login POST that created no session: no sessions here (Basic), or an error."""
        url = str(response.request.url)
        if response.status_code in _NO_SESSIONS:
            self._basic_instead(url, response.status_code)
            return
        if response.status_code in (401, 403):
            raise self._auth_error("POST", url, response, login=True)
        raise session_limit_error(self.host, url, response) or \
            error_for_response(self.host, "POST", url, response, what="login failed")

    def _use_basic(self) -> None:
        if self._username is None or self._password is None:
            raise BmcAuthError("no credentials for HTTP Basic", host=self.host, url=str(self.client.base_url))
        raw = f"{self._username}:{self._password}".encode()
        self.client.auth_headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        self.basic = True

    async def _login_when_free(self, sessions_uri: str) -> None:
        """Log in; on a full session table, try again until `session_limit_wait` has passed."""
        async def once() -> None:
            # A login cancelled in flight would leave a session we never learn about:
            # let it finish (the caller's cancellation is re-raised after).
            refused = await _to_completion(self._login(sessions_uri))
            if refused is not None:
                self._login_refused(refused)

        if self.session_limit_wait <= 0:
            await once()
            return
        clock = self.client.clock
        base = max(0.05, min(_LIMIT_POLL_CAP, self.session_limit_wait / 10))
        policy = RetryPolicy(retries=None, backoff=Backoff(base=base, factor=1.5, cap=_LIMIT_POLL_CAP, jitter=0.2),
                             retry_after_max=_LIMIT_POLL_CAP, clamp_to_deadline=True)

        def waiting(exc: Exception, n: int, delay: float) -> None:
            if n == 1:
                log.warning("%s: %s; waiting up to %.0fs for a free session slot", self.host,
                            getattr(exc, "message", exc), self.session_limit_wait)

        await retry(once, clock=clock, policy=policy,
                    retryable=lambda exc: isinstance(exc, BmcSessionLimit),
                    deadline=clock.monotonic() + self.session_limit_wait,
                    retry_after_of=lambda exc: parse_retry_after(getattr(exc, "retry_after", None), clock),
                    on_retry=waiting)

    async def _login(self, sessions_uri: str) -> httpx.Response | None:
        """POST the credentials; None when a session was created, else the refusing answer."""
        if self._username is None or self._password is None:
            raise BmcAuthError("no credentials to log in with", host=self.host,
                               url=str(self.client.url_for(sessions_uri)),
                               hint="give the host a credentials reference")
        self.client.auth_headers = {}
        why_not = self._why_no_context()
        nonce = ctx.new_nonce() if why_not is None else None
        body = {"UserName": self._username, "Password": self._password}
        if nonce is not None:
            body["Context"] = ctx.context_value(nonce)
        pending = await journal_login_started(self.host, uri=sessions_uri, user=self._username, nonce=nonce,
                                              reason=why_not)
        try:
            # Never retried blindly: a login the BMC processed but whose answer we lost
            # would leak a session; only connection failures before sending are retried.
            response = await self.client.request("POST", sessions_uri, json_body=body, check=False)
        except BmcError as exc:
            if _never_sent(exc):  # else the BMC may hold a session: the record stays for the next run
                await journal_login_ended(self.host, pending, "not-sent")
            raise
        if nonce is not None and ctx.refuses_context(response):
            log.info("%s: the BMC refused a login with a Context (HTTP %d); logging in without",
                     self.host, response.status_code)
            self._context_verdict = ctx.REFUSED
            await journal_login_ended(self.host, pending, "refused", context=ctx.REFUSED)
            return await self._login(sessions_uri)
        if response.status_code >= 400:
            await journal_login_ended(self.host, pending, "refused")
            return response
        await self._logged_in(response, pending, nonce)
        return None

    async def _logged_in(self, response: httpx.Response, pending: str | None, nonce: str | None) -> None:
        """The login created a session: take its token and journal it (then resolve the pending login)."""
        token = response.headers.get("x-auth-token")
        location = response.headers.get("location") or _odata_id(response)
        self.session_uri = self.client.uri_of(location) if location else None
        self._session_version = ctx.session_version(response) or self._session_version
        verdict = ctx.verdict_of(response, ctx.context_value(nonce)) if nonce is not None else None
        self._context_verdict = verdict or self._context_verdict
        if not token:
            await self._delete_session_without_token()
            await journal_login_ended(self.host, pending, "no-token", context=verdict)
            raise BmcAuthError(f"login answered {response.status_code} without an X-Auth-Token",
                               host=self.host, url=str(response.request.url), status=response.status_code)
        redactor.register(token)
        self.token = token
        self.client.auth_headers = {"X-Auth-Token": token}
        if self.session_uri is None:
            log.warning("%s: login returned no session URI; the session cannot be deleted and will time out",
                        self.host)
        else:
            await _journal_opened(self.host, self.session_uri, self._username, _string_field(response, "CreatedTime"))
        # only now: a kill in between leaves both records, and the next run deletes by URI first
        await journal_login_ended(self.host, pending, "opened", session=self.session_uri, context=verdict)

    def _why_no_context(self) -> str | None:
        """None when this login carries a Context nonce, else why not (for the journal)."""
        verdict = self._context_verdict or journal_context_verdict(self.host)
        if verdict == ctx.STORED:
            return None
        if verdict in (ctx.IGNORED, ctx.REFUSED):
            return f"the BMC {verdict} a login's Context before"
        if self.login_context is not None:
            return None if self.login_context else "the vendor's BMCs are not known to keep a login's Context"
        if ctx.defines_context(self._session_version):
            return None
        return "not known yet whether this BMC keeps a login's Context (Session v1.5 or later)"

    def _basic_instead(self, url: str, status: int) -> None:
        if not self._basic_noted:
            self._basic_noted = True
            log.warning("%s: the service offers no sessions (login POST to %s answered HTTP %d); "
                        "using HTTP Basic authentication", self.host, url, status)
        self._use_basic()

    async def _delete_session_without_token(self) -> None:
        if self.session_uri is None:
            return
        self._use_basic()
        try:
            await self.client.request("DELETE", self.session_uri, check=False, retries=1,
                                      timeout=_LOGOUT_TIMEOUT, ignore_deadline=True)
        except BmcError:
            pass
        finally:
            self.client.auth_headers, self.basic, self.session_uri = {}, False, None

    async def logout(self) -> None:
        """Delete the session (tolerating 401/404: the BMC already forgot it)."""
        uri, self.session_uri = self.session_uri, None
        if uri is None or self.token is None:
            return
        outcome = "logged-out"
        try:
            response = await self.client.request("DELETE", uri, check=False, retries=_LOGOUT_RETRIES,
                                                 timeout=_LOGOUT_TIMEOUT, ignore_deadline=True)
            if response.status_code >= 400 and response.status_code not in (401, 404):
                log.warning("%s: logout answered HTTP %d", self.host, response.status_code)
                outcome = "logout-failed"
        except BmcError as exc:
            log.warning("%s: logout failed: %s", self.host, exc.message)
            outcome = "logout-failed"
        finally:
            redactor.forget(self.token)   # dead now; a server would otherwise hold every token it ever had
            self.token = None
            self.client.auth_headers = {}
        if outcome == "logged-out":  # a session we could not delete stays in the journal for the next run
            await _journal_closed(self.host, uri, outcome)

    async def _close(self) -> None:
        try:
            await self.logout()
        finally:
            if self._owns_client:
                await self.client.aclose()

    async def close(self) -> None:
        """Log out and close the client (when owned), even while being cancelled; a
        cancellation is re-raised after. Never raises anything else."""
        try:
            await _to_completion(self._close())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - closing must never mask the body's own error
            log.debug("%s: closing the session failed: %s", self.host, exc)

    # -- requests ---------------------------------------------------------------------

    async def request(self, method: str, uri: str, *, json_body: Any = None,
                      content: bytes | AsyncIterable[bytes] | None = None,
                      headers: Mapping[str, str] | None = None, timeout: float | None = None,
                      check: bool = True, retries: int | None = None) -> httpx.Response:
        """A request with this session's credentials; re-logs in once on a 401."""
        token_used = self.token
        response = await self.client.request(method, uri, json_body=json_body, content=content, headers=headers,
                                             timeout=timeout, check=False, retries=retries)
        tries = 0
        while response.status_code == 401 and token_used is not None and self._relogin_streak < _MAX_RELOGINS \
                and tries < _MAX_RELOGINS:
            # Sessions vanish for good reasons (BMC reset, idle expiry): log in again and
            # retry. Only a streak of re-logins that never stick is given up on (counted
            # per re-login, not per request that saw the 401: requests in flight together
            # share one), and a 401 that is not about the session (missing privilege) gets
            # one re-login.
            tries += 1
            await self._relogin(token_used, already_gone=_session_gone(response))
            token_used = self.token
            response = await self.client.request(method, uri, json_body=json_body, content=content,
                                                 headers=headers, timeout=timeout, check=False, retries=retries)
            if response.status_code == 401 and not _session_gone(response):
                break
        if response.status_code != 401:
            self._relogin_streak = 0
        if check and response.status_code in (401, 403):
            raise self._auth_error(method, str(response.request.url), response, login=False)
        if check and response.status_code >= 400:
            raise error_for_response(self.host, method, str(response.request.url), response)
        return response

    def _auth_error(self, method: str, url: str, response: httpx.Response, *, login: bool) -> BmcAuthError:
        """A refused login (or a 401 on a request): "authentication failed for user X",
        never the password. A 403 on an ordinary request is a missing privilege."""
        info = parse_error_info(response)
        user = repr(self._username) if self._username else "(none)"
        detail = info.message or response.reason_phrase or "refused"
        if login or response.status_code == 401:
            what = "login failed" if login else f"{method} refused"
            return BmcAuthError(
                f"authentication failed for user {user}: {what}: {detail}", host=self.host, url=url,
                status=response.status_code, message_id=info.message_id, username=self._username,
                hint="check the user name and the password this host's credentials reference points to "
                     "(password_env / password_file in the inventory), and that the account is enabled and "
                     "not locked out; this is not a network problem")
        return BmcAuthError(
            f"access denied for user {user}: {method} {detail}", host=self.host, url=url,
            status=response.status_code, message_id=info.message_id, username=self._username,
            hint=info.resolution or "the account lacks a privilege this request needs (firmware updates need "
                                    "ConfigureComponents, resets ConfigureManager or ConfigureComponents)")

    async def login_again(self) -> None:
        """Replace the current session with a fresh one (after a BMC reset). Serialised
        with the automatic re-login, so two concurrent re-logins never leave an orphan
        session on the BMC; the old one is deleted first (401/404 are fine: it is gone)."""
        async with self._login_lock:
            await self.logout()
            self.token, self.session_uri = None, None
            self.client.auth_headers = {}
            await self.open()

    async def _relogin(self, stale_token: str, *, already_gone: bool = False) -> None:
        async with self._login_lock:
            if self.token != stale_token:  # another request already logged in again
                return
            self._relogin_streak += 1
            self.relogins += 1
            log.info("%s: session no longer valid (BMC reset?); logging in again", self.host)
            old_uri = self.session_uri
            self.token, self.session_uri = None, None
            await self._login_when_free(sessions_uri_of(self.root) or DEFAULT_SESSIONS_URI)
            if old_uri and old_uri != self.session_uri:
                if not already_gone:
                    # Usually already gone (404); but a 401 for another reason must not
                    # leave the old session behind.
                    try:
                        await self.client.request("DELETE", old_uri, check=False, retries=0,
                                                  timeout=_LOGOUT_TIMEOUT)
                    except BmcError:
                        pass
                await _journal_closed(self.host, old_uri, "replaced")

    async def get(self, uri: str, *, check: bool = True) -> httpx.Response:
        return await self.request("GET", uri, check=check)

    async def get_json(self, uri: str) -> dict[str, Any]:
        """GET a resource and return its JSON object."""
        return self.client.json_of(await self.request("GET", uri), uri)

    async def post(self, uri: str, json_body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", uri, json_body=json_body if json_body is not None else {}, **kwargs)

    async def patch(self, uri: str, json_body: Any, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", uri, json_body=json_body, **kwargs)

    async def delete(self, uri: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", uri, **kwargs)

    async def members(self, uri: str, *, expand: bool = True) -> list[dict[str, Any]]:
        """Every member resource of a collection.

        Uses `$expand` when the service root advertises it (one request), then GETs
        whatever came back unexpanded (bounded by the per-BMC semaphore). Trusts the
        `Members` array, never `Members@odata.count`; follows `Members@odata.nextLink`.
        A member that vanished between listing and reading (404) is skipped; when one
        read fails, the others are cancelled before the error propagates.
        """
        doc = await self._collection_doc(uri, expand)
        refs: list[Any] = list(doc.get("Members") or [])
        next_link = doc.get("Members@odata.nextLink")
        pages = 0
        while isinstance(next_link, str) and pages < 100:
            page = await self.get_json(next_link)
            refs.extend(page.get("Members") or [])
            next_link = page.get("Members@odata.nextLink")
            pages += 1
        out: list[dict[str, Any] | None] = [m if _is_expanded(m) else None for m in refs]
        missing = [(i, m["@odata.id"]) for i, m in enumerate(refs)
                   if out[i] is None and isinstance(m, dict) and isinstance(m.get("@odata.id"), str)]
        if missing:
            fetched = await gather_or_cancel(*(self._member(u) for _, u in missing))
            for (i, _), member in zip(missing, fetched, strict=True):
                out[i] = member
        return [m for m in out if m is not None]

    async def _collection_doc(self, uri: str, expand: bool) -> dict[str, Any]:
        if expand and self.expand_query:
            sep = "&" if "?" in uri else "?"
            response = await self.request("GET", f"{uri}{sep}$expand={self.expand_query}", check=False)
            if response.status_code < 400:
                return self.client.json_of(response, uri)
            if response.status_code not in _EXPAND_REJECTED:
                raise error_for_response(self.host, "GET", str(response.request.url), response)
            plain = await self.request("GET", uri)  # raises when the collection itself is missing
            # Only now is it the query the service refused, not the resource it lacks.
            log.info("%s: $expand rejected (HTTP %d); reading members one by one", self.host,
                     response.status_code)
            self.expand_query = None
            return self.client.json_of(plain, uri)
        return await self.get_json(uri)

    async def _member(self, uri: str) -> dict[str, Any] | None:
        response = await self.request("GET", uri, check=False)
        if response.status_code == 404:
            log.info("%s: %s vanished while reading its collection", self.host, uri)
            return None
        if response.status_code >= 400:
            raise error_for_response(self.host, "GET", str(response.request.url), response)
        return self.client.json_of(response, uri)


async def _to_completion(aw: Coroutine[Any, Any, T] | asyncio.Task[T]) -> T:
    """Run `aw` to its end even if the caller is cancelled meanwhile (any number of
    times); then return its result or raise its exception, or CancelledError if the
    caller was cancelled."""
    task = aw if isinstance(aw, asyncio.Task) else asyncio.get_running_loop().create_task(aw)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
        except BaseException:  # noqa: BLE001 - the task's own failure, re-raised by task.result() below
            break
    if cancelled:
        if not task.cancelled() and task.exception() is not None:
            log.debug("operation finished with %r after cancellation", task.exception())
        raise asyncio.CancelledError
    return task.result()


def sessions_uri_of(root: Mapping[str, Any]) -> str | None:
    """Where to POST a login, or None when the service has no SessionService."""
    links = root.get("Links") if isinstance(root.get("Links"), dict) else {}
    sessions = links.get("Sessions") if isinstance(links, dict) else None
    if isinstance(sessions, dict) and isinstance(sessions.get("@odata.id"), str):
        return str(sessions["@odata.id"])
    if isinstance(root.get("SessionService"), dict):
        return DEFAULT_SESSIONS_URI
    return None


def expand_query_for(root: Mapping[str, Any]) -> str | None:
    """The `$expand` value this service supports for one level of members, if any.

    `.` (subordinates only, no Links) is cheapest for collections; `*` also expands
    Links. `($levels=1)` only when the service says it understands levels.
    """
    features = root.get("ProtocolFeaturesSupported")
    eq = features.get("ExpandQuery") if isinstance(features, dict) else None
    if not isinstance(eq, dict):
        return None
    levels = "($levels=1)" if eq.get("Levels") else ""
    if eq.get("NoLinks"):
        return "." + levels
    if eq.get("ExpandAll"):
        return "*" + levels
    return None


def _is_expanded(member: Any) -> bool:
    return isinstance(member, dict) and any(k != "@odata.id" for k in member)


def _string_field(response: httpx.Response, key: str) -> str | None:
    """A string property of a JSON answer's body, None when there is none."""
    try:
        doc = response.json() if response.content else None
    except ValueError:
        return None
    value = doc.get(key) if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None


def _odata_id(response: httpx.Response) -> str | None:
    return _string_field(response, "@odata.id")


def _never_sent(exc: BaseException) -> bool:
    """Did a request fail before reaching the BMC (no connection was made)?"""
    cause: BaseException | None = exc
    seen: set[int] = set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (httpx.ConnectError, ConnectionRefusedError)) or \
                type(cause).__name__ == "ClientConnectorError":
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _session_gone(response: httpx.Response) -> bool:
    """Did a 401 say the session no longer exists (Base.*.NoValidSession)?"""
    return message_id_matches(parse_error_info(response).message_id, "Base.NoValidSession")
