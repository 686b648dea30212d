"""API tokens and what each role may do.

A token reads `hwfw_<id>_<secret>`: `id` (12 hex digits) finds its record, `secret`
(256 random bits, URL-safe base64) is checked against the stored SHA-256 digest with a
constant-time comparison. Only the digest is stored; the token is shown once, when it
is made. A slow password hash buys nothing for 256 random bits, and a fast digest lets
every request be checked without stalling the server.

Roles: a `viewer` reads; an `operator` also plans, syncs the repository, starts runs of
approved plans, cancels and resumes runs; an `approver` reads and approves or rejects
plans. Operating and approving are separate roles on purpose (with
`settings.server.two_person_rule` a plan's author cannot approve it either).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from hwfw.clock import Clock, utc_now_iso
from hwfw.errors import HwfwError
from hwfw.state.serverstore import ServerStore, TokenRecord

__all__ = ["ACTIONS", "ROLES", "Principal", "authenticate", "create_token"]

ROLES = ("viewer", "operator", "approver")
ACTIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "operator": frozenset({"read", "plan", "sync", "update", "cancel"}),
    "approver": frozenset({"read", "approve"}),
}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
TOKEN = re.compile(r"hwfw_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a token's name and role (or a local user, for the CLI)."""

    name: str
    role: str
    token_id: str | None = None

    @property
    def display(self) -> str:
        """What audit records and locks name: `alice (operator)`."""
        return f"{self.name} ({self.role})"

    def can(self, action: str) -> bool:
        return action in ACTIONS.get(self.role, frozenset())

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "role": self.role, "token_id": self.token_id,
                "actions": sorted(ACTIONS.get(self.role, ()))}


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(store: ServerStore, *, name: str, role: str, created_by: str,
                       clock: Clock | None = None) -> tuple[str, TokenRecord]:
    """A new token for `name` with `role`: (the token, to show once; its stored record)."""
    if role not in ROLES:
        raise HwfwError(f"unknown role {role!r}", hint=f"use one of: {', '.join(ROLES)}")
    if not NAME.fullmatch(name):
        raise HwfwError(f"token name {name!r} is not a plain name",
                        hint="use letters, digits and . _ @ - (up to 64 characters), e.g. ci-deploy or alice")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = TokenRecord(token_id=token_id, name=name, role=role, digest=_digest(secret),
                         created=utc_now_iso(clock), created_by=created_by)
    await store.add_token(record)
    return f"hwfw_{token_id}_{secret}", record


async def authenticate(store: ServerStore, token: str) -> Principal | None:
    """The principal `token` stands for, or None (malformed, unknown, revoked or wrong)."""
    match = TOKEN.fullmatch(token.strip())
    if match is None:
        return None
    record = await store.get_token(match.group(1))
    if record is None or record.revoked is not None:
        return None
    if not hmac.compare_digest(record.digest, _digest(match.group(2))):
        return None
    return Principal(record.name, record.role, record.token_id)
