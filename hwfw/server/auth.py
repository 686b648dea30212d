"""Who is asking, and may they: bearer tokens, dashboard sessions, roles, limits.

* API clients send `Authorization: Bearer hwfw_...` (hwfw token create).
* The dashboard signs in once with a token (POST /api/session) and gets a session
  cookie: random, HttpOnly, SameSite=Strict, Path=/, Secure when served over TLS. The
  session lives in the server's memory (a restart signs everyone out) for
  settings.server.session_lifetime. A cookie-authenticated request that changes
  something must also carry `X-Requested-With: hwfw` (a page of another site cannot
  send that header without a CORS preflight, which this server never allows), and a
  WebSocket handshake with a cookie must come from this server's own origin.
* Failed authentications are counted per client address: more than
  settings.server.auth_failures_per_minute in a minute answer 429 with Retry-After,
  before the token is even looked at.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import HTTPConnection, Request

from hwfw.api.service import FirmwareService, Principal

from .problems import Problem

__all__ = ["COOKIE", "CSRF_HEADER", "Auth"]

COOKIE = "hwfw_session"
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "hwfw"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class _Session:
    principal: Principal
    expires: float


class FailureLimiter:
    """Failed authentications per client address in a sliding minute."""

    def __init__(self, per_minute: int, window: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds to wait when `client` is over the limit, else None."""
        now = time.monotonic()
        times = self._recent(client, now)
        if len(times) < self.per_minute:
            if not times:
                self._failures.pop(client, None)
            return None
        return max(1, int(self.window - (now - times[0])) + 1)

    def failed(self, client: str) -> None:
        if len(self._failures) > 100_000:     # a flood of addresses: forget the old ones
            self._failures.clear()
        self._recent(client, time.monotonic()).append(time.monotonic())


class Auth:
    def __init__(self, service: FirmwareService, *, secure_cookie: bool) -> None:
        self.service = service
        self.secure_cookie = secure_cookie
        settings = service.settings.server
        self.lifetime = settings.session_lifetime
        self.limiter = FailureLimiter(settings.auth_failures_per_minute)
        self._sessions: dict[str, _Session] = {}

    @staticmethod
    def client(conn: HTTPConnection) -> str:
        return conn.client.host if conn.client is not None else "unknown"

    def _check_rate(self, conn: HTTPConnection) -> None:
        wait = self.limiter.retry_after(self.client(conn))
        if wait is not None:
            raise Problem(429, "too many failed authentications from this address", slug="rate-limited",
                          hint=f"wait {wait} s and check the token", headers={"Retry-After": str(wait)})

    def _fail(self, conn: HTTPConnection, detail: str) -> Problem:
        self.limiter.failed(self.client(conn))
        return Problem(401, detail, slug="unauthorized",
                       hint="send the token from hwfw token create in the Authorization header (scheme Bearer)",
                       headers={"WWW-Authenticate": 'Bearer realm="hwfw"'})

    async def token_principal(self, conn: HTTPConnection, token: str) -> Principal:
        self._check_rate(conn)
        principal = await self.service.authenticate(token)
        if principal is None:
            raise self._fail(conn, "the token is not valid (unknown, revoked or mistyped)")
        return principal

    def session_principal(self, session_id: str | None) -> Principal | None:
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires < time.monotonic():
            self._sessions.pop(session_id, None)
            return None
        return session.principal

    async def principal(self, conn: HTTPConnection) -> tuple[Principal, str]:
        """(the principal, "bearer" or "session"); Problem 401/403/429 otherwise."""
        header = conn.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                self._check_rate(conn)
                raise self._fail(conn, "the Authorization header does not use the Bearer scheme")
            return await self.token_principal(conn, token.strip()), "bearer"
        principal = self.session_principal(conn.cookies.get(COOKIE))
        if principal is None:
            raise Problem(401, "sign in first: no bearer token and no session", slug="unauthorized",
                          hint="send the token from hwfw token create in the Authorization header (scheme Bearer), "
                                "or sign in on the dashboard",
                          headers={"WWW-Authenticate": 'Bearer realm="hwfw"'})
        if isinstance(conn, Request) and conn.method not in SAFE_METHODS \
                and conn.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
            raise Problem(403, "a change made with a session cookie must carry X-Requested-With: hwfw",
                          slug="csrf", hint="the dashboard sends it; API clients use a bearer token")
        if conn.scope.get("type") == "websocket" and not self.same_origin(conn):
            raise Problem(403, "a WebSocket signed in by cookie must come from this server's own pages",
                          slug="cross-origin")
        return principal, "session"

    @staticmethod
    def same_origin(conn: HTTPConnection) -> bool:
        origin = conn.headers.get("origin")
        if origin is None:
            return True          # not a browser
        scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
        return origin == f"{scheme}://{conn.headers.get('host', '')}"

    def require(self, action: str) -> Callable[[Request], Awaitable[Principal]]:
        """A FastAPI dependency: the principal, when its role allows `action` (403 otherwise)."""
        async def dependency(request: Request) -> Principal:
            principal, _ = await self.principal(request)
            if not principal.can(action):
                raise Problem(403, f"{principal.display} may not {action.replace('_', ' ')}", slug="forbidden",
                              hint=_who_can(action))
            return principal

        return dependency

    def sign_in(self, principal: Principal) -> str:
        now = time.monotonic()
        for sid in [s for s, v in self._sessions.items() if v.expires < now]:
            self._sessions.pop(sid, None)
        session_id = secrets.token_urlsafe(32)
        self._sessions[session_id] = _Session(principal, now + self.lifetime)
        return session_id

    def sign_out(self, session_id: str | None) -> Principal | None:
        session = self._sessions.pop(session_id or "", None)
        return session.principal if session is not None else None

    def cookie(self, session_id: str) -> dict[str, object]:
        return {"key": COOKIE, "value": session_id, "max_age": int(self.lifetime), "httponly": True,
                "samesite": "strict", "secure": self.secure_cookie, "path": "/"}


def _who_can(action: str) -> str:
    from hwfw.api.service import ACTIONS

    roles = [role for role, actions in ACTIONS.items() if action in actions]
    return f"this needs a token with the role {' or '.join(roles)}" if roles else "no role may do this"
