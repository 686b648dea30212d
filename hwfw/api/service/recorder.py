"""`RunRecorder`: the event sink of one recorded run.

Each event is numbered (1, 2, ... per run), redacted, folded into the run's live
progress, published on the hub at once and written to the store in batches by a
background task, so the run never waits for the database (the sink rules of
hwfw/events.py: never block, never break a run). A reader that must see everything
published so far in the store (a client resuming a stream) calls `flush()` first.
A store that fails is logged once; the run goes on (its events still reach the hub).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from hwfw.events import Event, EventSink
from hwfw.logs import get_logger, redactor
from hwfw.state.serverstore import ServerStore

from .hub import EventHub, HubMessage
from .progress import RunProgress

__all__ = ["RunRecorder"]

log = get_logger("api.recorder")


class RunRecorder:
    def __init__(self, run_id: str, store: ServerStore, hub: EventHub | None = None, *, first_seq: int = 1,
                 also: EventSink | None = None) -> None:
        self.run_id = run_id
        self.store = store
        self.hub = hub
        self.also = also
        self.progress = RunProgress()
        self._next = first_seq
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._failed = False

    @property
    def last_seq(self) -> int:
        return self._next - 1

    def emit(self, event: Event) -> None:
        doc = event.to_json()
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        cleaned = redactor(text)
        if cleaned != text:
            doc = json.loads(cleaned)
        seq, self._next = self._next, self._next + 1
        self.progress.apply(seq, doc)
        self._pending.append((seq, doc))
        if self.hub is not None:
            self.hub.publish(HubMessage(self.run_id, seq, doc, text=cleaned, published=time.time()))
        if self.also is not None:
            self.also.emit(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self.store.append_events(self.run_id, batch)
                except Exception as exc:  # the run must go on; its events still reach the hub
                    if not self._failed:
                        self._failed = True
                        log.warning("run %s: events not stored in %s: %s", self.run_id, self.store.describe(), exc)

    async def flush(self) -> None:
        """Every event emitted so far is in the store when this returns."""
        await self._drain()
