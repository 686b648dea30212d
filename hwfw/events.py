"""One event protocol for everything a run reports: apply, repository sync, the image server.

The core (executor, fetcher, image server) builds `Event` values and hands them to one
`EventSink`; whoever started the run decides where they go: JSON lines on stdout
(`--format json`), a live terminal view (hwfw/render), and later a server's SSE or
WebSocket stream, notifications and metrics. Every event has the same envelope, and
`to_json()` is one line of schemas/events.schema.json:

    {"format_version": 1, "type": NAME, "time": RFC3339, "run_id": ID,
     "host"?, "step_id"?, "image"?, "sha256"?, ...payload}

`payload` is JSON-ready (plain dicts, lists, strings, numbers), so an in-process
subscriber reads exactly what a remote one would.

Rules for sinks (the core relies on them):
- **Never block.** `emit` is called on the event loop, in the middle of the work. It
  must return at once: a sink for slow consumers (network clients) puts the event on
  a bounded queue and returns, dropping (and counting) what does not fit.
- **Never break a run.** The core emits through `guarded(sink)`: an exception from a
  sink is logged once per sink and swallowed; the run goes on.
- **Observe only.** A sink must not change the run; events are immutable values.
- Text that leaves the process passes the credential redactor (`JsonLinesSink` does).

Sinks here: `NullSink` (drops everything), `JsonLinesSink` (one JSON object per line),
`CallbackSink` (calls a function, optionally for some event names only) and
`FanOutSink` (several sinks, each isolated from the others' failures).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping, Protocol, TextIO

from hwfw.logs import get_logger, redactor

__all__ = ["FORMAT_VERSION", "CallbackSink", "Event", "EventSink", "FanOutSink", "JsonLinesSink", "NULL_SINK",
           "NullSink", "guarded"]

log = get_logger("events")

FORMAT_VERSION = 1
_ENVELOPE = ("host", "step_id", "image", "sha256")


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in a run.

    `name` is the event type (`step-finished`, `image-cached`, `image-served`, ...);
    `time` RFC 3339 UTC with second precision, from the run's clock; `host` the hwfw
    host name, `step_id` the plan step, `image` the repository entry id and `sha256`
    its digest, when the event is about one; `payload` the rest (None values are left
    out of the JSON).
    """

    name: str
    time: str
    run_id: str = ""
    host: str | None = None
    step_id: str | None = None
    image: str | None = None
    sha256: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": FORMAT_VERSION, "type": self.name, "time": self.time,
                               "run_id": self.run_id}
        for key in _ENVELOPE:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key, value in self.payload.items():
            if value is not None:
                out[key] = value
        return out


class EventSink(Protocol):
    """Receives events; see the module docstring for the rules."""

    def emit(self, event: Event) -> None: ...


class NullSink:
    """Drops every event."""

    def emit(self, event: Event) -> None:
        pass


NULL_SINK = NullSink()


class JsonLinesSink:
    """One JSON object per line (schemas/events.schema.json), redacted, flushed per event.

    The defaults write `hwfw apply --format json`'s lines; `hwfw repo sync` writes
    compact ASCII ones (`separators=(",", ":"), ensure_ascii=True`). Keys are sorted.
    """

    def __init__(self, stream: TextIO | None = None, *, separators: tuple[str, str] = (", ", ": "),
                 ensure_ascii: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.separators = separators
        self.ensure_ascii = ensure_ascii

    def emit(self, event: Event) -> None:
        line = json.dumps(event.to_json(), sort_keys=True, ensure_ascii=self.ensure_ascii,
                          separators=self.separators)
        self.stream.write(redactor(line) + "\n")
        self.stream.flush()


class CallbackSink:
    """Calls `callback(event)` for every event, or only for those named in `names`."""

    def __init__(self, callback: Callable[[Event], None], *, names: Collection[str] | None = None) -> None:
        self.callback = callback
        self.names = frozenset(names) if names is not None else None

    def emit(self, event: Event) -> None:
        if self.names is None or event.name in self.names:
            self.callback(event)


class FanOutSink:
    """Hands each event to several sinks in order. A sink that raises is logged once
    (with its traceback) and skipped for that event; the others still get it."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = tuple(s for s in sinks if not isinstance(s, NullSink))
        self._failed: set[int] = set()

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception:  # a subscriber's bug must never break the run
                if id(sink) not in self._failed:
                    self._failed.add(id(sink))
                    log.warning("event sink %s failed on %s; the run goes on (later failures of this sink "
                                "are not logged)", type(sink).__name__, event.name, exc_info=True)


def guarded(sink: EventSink | None) -> EventSink:
    """The sink the core emits to: NULL_SINK for None, else failures isolated (FanOutSink)."""
    if sink is None or isinstance(sink, NullSink):
        return NULL_SINK
    if isinstance(sink, FanOutSink):
        return sink
    return FanOutSink(sink)
