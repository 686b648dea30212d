"""Cancelling a running operation: one token, the semantics `hwfw apply` has always had.

`CancelToken.cancel()` asks the operation holding the token to stop:

* the first request: nothing new starts. An operation that has not changed anything
  yet (reading inventory, planning, settling, preparing images) stops where it is,
  closing its BMC sessions, and raises `hwfw.errors.Interrupted`. An apply that is
  executing lets its in-flight steps reach a safe point and records them; hosts not
  started are reported as interrupted (exit 130).
* a second request (or `cancel(force=True)`): in-flight steps stop at their next
  await; what they left running on the BMCs is recorded for the next run to settle.

The CLI calls `cancel()` from its SIGINT and SIGTERM handlers; a server calls it from a
request handler (`POST .../runs/{id}/cancel`), possibly from another thread: callbacks
always run on the event loop that subscribed them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CancelToken"]


@dataclass(slots=True)
class _Subscription:
    callback: Callable[[int], None]
    loop: asyncio.AbstractEventLoop | None


class CancelToken:
    """See the module docstring. `requests` counts the cancel requests so far."""

    def __init__(self) -> None:
        self.requests = 0
        self._subscriptions: list[_Subscription] = []
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        return self.requests > 0

    def cancel(self, *, force: bool = False) -> None:
        """Ask for a stop (see the module docstring); `force` counts as a second request."""
        with self._lock:
            self.requests = max(self.requests + 1, 2 if force else 1)
            count = self.requests
            subscriptions = list(self._subscriptions)
        for sub in subscriptions:
            _deliver(sub, count)

    def subscribe(self, callback: Callable[[int], None]) -> Callable[[], None]:
        """Call `callback(requests)` on each cancel request (at once if one was made
        already), on the running event loop; returns the function that unsubscribes."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        sub = _Subscription(callback, loop)
        with self._lock:
            self._subscriptions.append(sub)
            already = self.requests
        if already:
            _deliver(sub, already)

        def unsubscribe() -> None:
            with self._lock:
                if sub in self._subscriptions:
                    self._subscriptions.remove(sub)

        return unsubscribe


def _deliver(sub: _Subscription, count: int) -> None:
    loop = sub.loop
    if loop is None or loop.is_closed():
        sub.callback(count)
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        loop.call_soon(sub.callback, count)
    else:
        loop.call_soon_threadsafe(sub.callback, count)
