"""Redfish sessions of one BMC: tokens, a per-BMC limit, idle expiry in virtual time.

Sessions live in BMC memory: they are dropped on every BMC reset, as real BMCs drop them, and
are not persisted across simulator restarts.
"""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from hwfw.sim.service.base import BmcService


@dataclass
class Session:
    id: str
    token: str
    user: str
    created: float
    last_used: float
    context: str | None = None   # the client's Session.Context (v1.5), where the profile stores it


class SessionLimit(Exception):
    """The session table is full."""


class SessionTable:
    def __init__(self, service: BmcService, limit: int, timeout: float) -> None:
        self.service = service
        self.limit = limit
        self.timeout = timeout
        self.by_id: dict[str, Session] = {}
        self.by_token: dict[str, Session] = {}
        self._counter = 0
        self.listeners: list[Callable[[], None]] = []

    def _now(self) -> float:
        return self.service.world.clock.now()

    def _emit(self, type_: str, s: Session, **extra: str) -> None:
        if s.context is not None:
            extra["context"] = s.context
        self.service.world.events.emit(self.service.name, type_, id=s.id, user=s.user, **extra)

    def sweep(self) -> None:
        """Expire idle sessions (virtual time)."""
        now = self._now()
        for s in [s for s in self.by_id.values() if now - s.last_used > self.timeout]:
            self.delete(s.id, "expired")

    def create(self, user: str, context: str | None = None) -> Session:
        self.sweep()
        if len(self.by_id) >= self.limit or self.service.faults.get("sessions_full"):
            raise SessionLimit()
        self._counter += 1
        rng = self.service.rng
        token = rng.randbytes(16).hex()
        sid = self.service.profile.session_id(self._counter, rng)
        now = self._now()
        s = Session(sid, token, user, now, now, context)
        self.by_id[sid] = s
        self.by_token[token] = s
        self._emit("session-opened", s)
        self._changed()
        return s

    def lookup(self, token: str) -> Session | None:
        s = self.by_token.get(token)
        if s is None:
            return None
        now = self._now()
        if now - s.last_used > self.timeout:
            self.delete(s.id, "expired")
            return None
        s.last_used = now
        return s

    def delete(self, sid: str, reason: str = "logout") -> bool:
        s = self.by_id.pop(sid, None)
        if s is None:
            return False
        self.by_token.pop(s.token, None)
        self._emit("session-closed", s, reason=reason)
        self._changed()
        return True

    def drop_all(self, reason: str) -> None:
        for sid in list(self.by_id):
            self.delete(sid, reason)

    def live(self) -> list[Session]:
        self.sweep()
        return list(self.by_id.values())

    def _changed(self) -> None:
        self.service.touch()
        for listener in self.listeners:
            listener()


def check_basic(header: str, accounts: dict[str, str]) -> str | None:
    """User name if the Basic Authorization header matches an account, else None."""
    if not header[:6].lower() == "basic ":
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    expected = accounts.get(user)
    if expected is not None and hmac.compare_digest(expected, password):
        return user
    return None
