"""What a sync reports while it runs, as `hwfw.events.Event`s on the run's sink.

One image goes through: download-started, progress..., (retrying...), cached; or
already-cached; or failed. Each is an event named `image-<kind>` (schemas/events.schema.json)
whose payload keeps the fields `hwfw repo sync --format json` has always written:
`event` (the kind), `id` (the repository entry), `bytes` (done so far, or the object's
size once cached) and, when known, total, source, resumed_from, attempt, error,
expected, actual, quarantine, path, elapsed. The envelope adds `image` and `sha256`.
"""

from __future__ import annotations

from typing import Any

from hwfw.clock import Clock, utc_now_iso
from hwfw.events import Event, EventSink, NullSink, guarded

# The kinds, in the order one image goes through them.
DOWNLOAD_STARTED = "download-started"
PROGRESS = "progress"
RETRYING = "retrying"
CACHED = "cached"
ALREADY_CACHED = "already-cached"
FAILED = "failed"

KINDS = (DOWNLOAD_STARTED, PROGRESS, RETRYING, CACHED, ALREADY_CACHED, FAILED)
EVENT_NAMES = {kind: f"image-{kind}" for kind in KINDS}


class SyncEvents:
    """The events of one sync, stamped with its run id and clock, on one sink."""

    def __init__(self, sink: EventSink | None, clock: Clock, run_id: str) -> None:
        self.sink = guarded(sink)
        self.clock = clock
        self.run_id = run_id
        self.quiet = isinstance(self.sink, NullSink)

    def emit(self, kind: str, entry_id: str, sha256: str, bytes: int = 0, **fields: Any) -> None:
        """One event about one image; float fields are rounded to milliseconds."""
        if self.quiet:
            return
        payload: dict[str, Any] = {"event": kind, "id": entry_id, "bytes": bytes}
        for key, value in fields.items():
            payload[key] = round(value, 3) if isinstance(value, float) else value
        self.sink.emit(Event(EVENT_NAMES[kind], utc_now_iso(self.clock), self.run_id, image=entry_id,
                             sha256=sha256, payload=payload))


def kind_of(event: Event) -> str | None:
    """The sync kind of an event (`cached`, ...), or None for events of other origins."""
    kind = event.payload.get("event")
    return kind if isinstance(kind, str) and EVENT_NAMES.get(kind) == event.name else None
