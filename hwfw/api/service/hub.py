"""The in-process event hub: every run's events and run-status changes, fanned out.

One hub per server process. Publishers (a run's recorder, the run manager) call
`publish()`, which never blocks: it hands the message to

* listeners, plain functions called at once on the event loop (metrics, notifications:
  they must return quickly and must not raise; one that raises is logged once and
  skipped, like a sink in hwfw/events.py);
* subscriptions, bounded queues read by streaming clients (SSE, WebSocket). A
  subscription whose queue is full is dropped (marked `dropped`, its last message is
  DROPPED, nothing more is put in it): one slow browser never stalls the others or the
  run; its reader catches up from the store, where every event is numbered.

Messages are `HubMessage(run_id, seq, event)` for an event (seq >= 1, the number the
store gives it) and `HubMessage(run_id, 0, None, run=record)` when a run's record
changes (status, summary).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hwfw.logs import get_logger

__all__ = ["DROPPED", "EventHub", "HubMessage", "Subscription"]

log = get_logger("api.hub")


@dataclass(frozen=True, slots=True)
class HubMessage:
    run_id: str
    seq: int                          # >= 1 for an event; 0 for a run record change
    event: dict[str, Any] | None      # the event's JSON (schemas/events.schema.json)
    run: dict[str, Any] | None = None  # the run's record (schemas/run.schema.json)
    text: str | None = None           # the event as JSON text, serialised once for every client
    published: float | None = None    # when it was published (Unix time): clients can measure their lag


# What a dropped subscription finds last in its queue.
DROPPED = HubMessage("", -1, None)


class Subscription:
    """A bounded queue of the messages of one run (or of every run, `run_id` None)."""

    def __init__(self, hub: EventHub, run_id: str | None, maxsize: int) -> None:
        self.hub = hub
        self.run_id = run_id
        self.queue: asyncio.Queue[HubMessage] = asyncio.Queue(max(2, maxsize))
        self.dropped = False

    def offer(self, message: HubMessage) -> None:
        if self.dropped or (self.run_id is not None and message.run_id != self.run_id):
            return
        if self.queue.qsize() >= self.queue.maxsize - 1:
            # the last slot carries the news, so a reader waiting on get() wakes up and
            # resumes from the store
            self.dropped = True
            self.queue.put_nowait(DROPPED)
            self.hub.unsubscribe(self)
            return
        self.queue.put_nowait(message)

    async def get(self) -> HubMessage:
        return await self.queue.get()

    def get_nowait(self) -> HubMessage | None:
        """The next message if one is waiting, else None."""
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def close(self) -> None:
        self.hub.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventHub:
    """See the module docstring."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[HubMessage], None]] = []
        self._failed: set[int] = set()
        self.published = 0
        self.dropped = 0

    def subscribe(self, run_id: str | None = None, *, maxsize: int = 1024) -> Subscription:
        sub = Subscription(self, run_id, maxsize)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.discard(sub)
            if sub.dropped:
                self.dropped += 1

    def listen(self, listener: Callable[[HubMessage], None]) -> Callable[[], None]:
        """Call `listener(message)` for every message; returns the function that stops it."""
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, message: HubMessage) -> None:
        self.published += 1
        for listener in list(self._listeners):
            try:
                listener(message)
            except Exception:  # a listener's bug must never break a run
                if id(listener) not in self._failed:
                    self._failed.add(id(listener))
                    log.warning("event hub listener %r failed; later failures are not logged", listener,
                                exc_info=True)
        for sub in list(self._subscriptions):
            sub.offer(message)
