"""Which sessions this process has open on which BMC, for whoever needs to know.

A `SessionJournal` is installed for a stretch of work with `journal_sessions` (a
context variable, so every task started inside sees it); `RedfishSession` reports each
session it opens and closes to it, by URI, never by token. Apply writes them into its
intent log, so the next run can log out what a killed run left open (stale.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol

from hwfw.logs import get_logger

__all__ = ["SessionJournal", "journal_closed", "journal_opened", "journal_sessions", "no_journal"]

log = get_logger("redfish.session")


class SessionJournal(Protocol):
    """Receives the sessions a process opens and closes (by URI, never the token)."""

    async def opened(self, host: str, uri: str, *, user: str | None, created: str | None) -> None: ...

    async def closed(self, host: str, uri: str, outcome: str) -> None: ...


_JOURNAL: ContextVar[SessionJournal | None] = ContextVar("hwfw_session_journal", default=None)


@contextlib.contextmanager
def journal_sessions(journal: SessionJournal | None) -> Iterator[None]:
    """Report every session opened or closed in this context (and the tasks it starts) to `journal`."""
    token = _JOURNAL.set(journal)
    try:
        yield
    finally:
        _JOURNAL.reset(token)


def no_journal() -> contextlib.AbstractContextManager[None]:
    """Sessions opened in this context are not journalled (a helper session logged out at once)."""
    return journal_sessions(None)


async def journal_opened(host: str, uri: str, user: str | None, created: str | None) -> None:
    journal = _JOURNAL.get()
    if journal is None:
        return
    try:  # at once, no task in between: until it is written, a kill leaks the session
        await journal.opened(host, uri, user=user, created=created)
    except Exception as exc:  # noqa: BLE001 - a journal failure must not fail the login
        log.warning("%s: could not record the session %s: %s", host, uri, exc)


async def journal_closed(host: str, uri: str, outcome: str) -> None:
    journal = _JOURNAL.get()
    if journal is None:
        return
    try:
        await journal.closed(host, uri, outcome)
    except Exception as exc:  # noqa: BLE001 - a journal failure must not fail the logout
        log.warning("%s: could not record the end of session %s: %s", host, uri, exc)
