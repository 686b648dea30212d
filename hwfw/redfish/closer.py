"""Logouts off the critical path, never left undone.

A host's inventory is complete when its last read is answered; its logout is one more
round trip that nothing waits for, except the BMC's session table (a leaked session can
lock a BMC for about 20 minutes). `SessionCloser.close(session)` starts the logout and
returns at once; `aclose()` waits until every logout it started has finished, also
when the caller is being cancelled (Ctrl-C): whoever owns the closer awaits it before
the event loop ends, and so before the process exits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hwfw.logs import get_logger
from hwfw.redfish.session import RedfishSession

__all__ = ["SessionCloser"]

log = get_logger("redfish.closer")


class SessionCloser:
    """Background logouts (and client closes) of one run."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()
        self._when_done: list[Callable[[], None]] = []
        self.started = 0
        self.finished = 0

    @property
    def pending(self) -> int:
        """Logouts started and not finished yet."""
        return len(self._running)

    def close(self, session: RedfishSession, then: Callable[[], None] | None = None) -> None:
        """Log `session` out and close its client in the background; `then()` runs after
        (in every case), e.g. to give the host's slot back or to record its requests."""
        task = asyncio.get_running_loop().create_task(self._close(session, then))
        self.started += 1
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _close(self, session: RedfishSession, then: Callable[[], None] | None) -> None:
        try:
            await session.close()
        except asyncio.CancelledError:  # only the event loop shutting down cancels us
            log.warning("%s: logout interrupted", session.host)
            raise
        finally:
            self.finished += 1
            if then is not None:
                then()

    def when_done(self, callback: Callable[[], None]) -> None:
        """Run `callback` once `aclose` has seen every logout finish."""
        self._when_done.append(callback)

    async def aclose(self) -> None:
        """Wait for every logout started so far (and any started meanwhile). If the
        caller is cancelled meanwhile, the logouts still run to their end (each is
        bounded by the logout timeout), then the cancellation is re-raised."""
        cancelled = False
        while self._running:
            waiting = asyncio.gather(*self._running, return_exceptions=True)
            try:
                await asyncio.shield(waiting)
            except asyncio.CancelledError:
                cancelled = True
        callbacks, self._when_done = self._when_done, []
        for callback in callbacks:
            callback()
        if cancelled:
            raise asyncio.CancelledError
