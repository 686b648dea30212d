"""What a sync reports while it runs: one event type, and the hooks that receive it.

The core emits `SyncEvent`s through a `SyncHooks`; the CLI picks the renderer (rich
progress bars on a terminal, concise log lines otherwise, JSON lines for machines).
This module never imports rich.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, fields
from typing import Any, Protocol, TextIO

# Event names, in the order one image goes through them.
DOWNLOAD_STARTED = "download-started"
PROGRESS = "progress"
RETRYING = "retrying"
CACHED = "cached"
ALREADY_CACHED = "already-cached"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SyncEvent:
    """One step of one image. `bytes` is bytes done so far (or the object size once cached)."""

    event: str
    id: str
    sha256: str
    bytes: int = 0
    total: int | None = None
    source: str | None = None
    resumed_from: int | None = None
    attempt: int | None = None
    error: str | None = None
    expected: str | None = None
    actual: str | None = None
    quarantine: str | None = None
    path: str | None = None
    elapsed: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON-lines form: always event, id, sha256, bytes; other fields when set."""
        out: dict[str, Any] = {"event": self.event, "id": self.id, "sha256": self.sha256, "bytes": self.bytes}
        for f in fields(self):
            if f.name in out:
                continue
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = round(value, 3) if isinstance(value, float) else value
        return out


class SyncHooks(Protocol):
    def on_event(self, event: SyncEvent) -> None: ...


class NullHooks:
    def on_event(self, event: SyncEvent) -> None:
        pass


class RecordingHooks:
    """Keeps every event (tests, and callers that summarise afterwards)."""

    def __init__(self) -> None:
        self.events: list[SyncEvent] = []
        self._lock = threading.Lock()

    def on_event(self, event: SyncEvent) -> None:
        with self._lock:
            self.events.append(event)

    def kinds(self, entry_id: str | None = None) -> list[str]:
        return [e.event for e in self.events if entry_id is None or e.id == entry_id]


class JsonLinesHooks:
    """One compact JSON object per line (stdout for `--format json`)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def on_event(self, event: SyncEvent) -> None:
        self.stream.write(json.dumps(event.to_json(), sort_keys=True, separators=(",", ":")) + "\n")
        self.stream.flush()


class FanOutHooks:
    def __init__(self, *hooks: SyncHooks) -> None:
        self.hooks = hooks

    def on_event(self, event: SyncEvent) -> None:
        for h in self.hooks:
            h.on_event(event)


def human_bytes(n: int | float | None) -> str:
    """1.5 KiB, 12.0 MiB, 1.00 GiB (binary units, as sizes of images are usually given)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def short_digest(digest: str) -> str:
    return digest[:12]


class LogLineHooks:
    """Concise human lines (for stderr that is not a terminal): no progress spam."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def on_event(self, event: SyncEvent) -> None:
        e = event
        if e.event == DOWNLOAD_STARTED:
            resumed = f", resuming at {human_bytes(e.resumed_from)}" if e.resumed_from else ""
            self._write(f"fetching {e.id} ({human_bytes(e.total)}{resumed}) from {e.source}")
        elif e.event == RETRYING:
            self._write(f"retrying {e.id} (attempt {e.attempt}) from byte {e.bytes}: {e.error}")
        elif e.event == CACHED:
            rate = f", {human_bytes(e.bytes / e.elapsed)}/s" if e.elapsed else ""
            took = f" in {e.elapsed:.1f}s{rate}" if e.elapsed is not None else ""
            self._write(f"cached {e.id} sha256:{short_digest(e.sha256)} {human_bytes(e.bytes)}{took}")
        elif e.event == ALREADY_CACHED:
            self._write(f"already cached {e.id} sha256:{short_digest(e.sha256)}")
        elif e.event == FAILED:
            self._write(f"FAILED {e.id} (details at the end)")
