"""Which sessions this process has open on which BMC, for whoever needs to know.

A `SessionJournal` is installed for a stretch of work with `journal_sessions` (a
context variable, so every task started inside sees it); `RedfishSession` reports each
session it opens and closes to it, by URI, never by token. Apply writes them into its
session journal and a Temporal worker into its own (hwfw/apply/sessions.py), so the next
run, or the next worker of the site, logs out what a killed one left open (stale.py).

Each login is journalled before its POST as a pending login (host, the Sessions URI, a
random nonce sent as the session's `Context` where the BMC keeps one; never the
credentials): a login whose answer never arrived may still have created a session,
which the next run finds by that Context (login_context.py). The answer resolves it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol

from hwfw.logs import get_logger

__all__ = ["SessionJournal", "journal_closed", "journal_context_verdict", "journal_login_ended",
           "journal_login_started", "journal_opened", "journal_sessions", "no_journal"]

log = get_logger("redfish.session")


class SessionJournal(Protocol):
    """Receives the sessions a process opens and closes (by URI, never the token)."""

    async def opened(self, host: str, uri: str, *, user: str | None, created: str | None) -> None: ...

    async def closed(self, host: str, uri: str, outcome: str) -> None: ...

    async def login_started(self, host: str, *, uri: str, user: str | None, nonce: str | None,
                            reason: str | None) -> str | None:
        """A login POST is about to go out (with Context `hwfw:<nonce>`, or none and why);
        returns the record's id."""
        ...

    async def login_ended(self, host: str, record: str, outcome: str, **details: str | None) -> None: ...

    def context_verdict(self, host: str) -> str | None:
        """What this BMC did with a login's Context before (`stored`, `ignored`, `refused`)."""
        ...


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


async def journal_login_started(host: str, *, uri: str, user: str | None, nonce: str | None,
                                reason: str | None) -> str | None:
    journal = _JOURNAL.get()
    if journal is None:
        return None
    try:  # before the POST: from then on the BMC may hold a session we cannot name yet
        return await journal.login_started(host, uri=uri, user=user, nonce=nonce, reason=reason)
    except Exception as exc:  # noqa: BLE001 - a journal failure must not fail the login
        log.warning("%s: could not record the login: %s", host, exc)
        return None


async def journal_login_ended(host: str, record: str | None, outcome: str, **details: str | None) -> None:
    journal = _JOURNAL.get()
    if journal is None or record is None:
        return
    try:
        await journal.login_ended(host, record, outcome, **details)
    except Exception as exc:  # noqa: BLE001
        log.warning("%s: could not record the end of a login: %s", host, exc)


def journal_context_verdict(host: str) -> str | None:
    journal = _JOURNAL.get()
    return journal.context_verdict(host) if journal is not None else None
