"""A repository sync for people: progress bars on a terminal, concise lines otherwise.

Both are event sinks (hwfw/events.py) subscribed to a sync's events; they read the
payload `hwfw repo sync --format json` writes (hwfw/repository/events.py) and ignore
events of other origins.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from rich.markup import escape
from rich.progress import Progress, TaskID

from hwfw.events import Event
from hwfw.repository import events as ev

__all__ = ["SyncLogLines", "SyncProgressBars", "human_bytes", "short_digest"]


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


class SyncLogLines:
    """Concise human lines (for stderr that is not a terminal): no progress spam."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def emit(self, event: Event) -> None:
        kind = ev.kind_of(event)
        p: dict[str, Any] = dict(event.payload)
        name, digest = event.image, event.sha256 or ""
        if kind == ev.DOWNLOAD_STARTED:
            resumed = f", resuming at {human_bytes(p['resumed_from'])}" if p.get("resumed_from") else ""
            self._write(f"fetching {name} ({human_bytes(p.get('total'))}{resumed}) from {p.get('source')}")
        elif kind == ev.RETRYING:
            self._write(f"retrying {name} (attempt {p.get('attempt')}) from byte {p['bytes']}: {p.get('error')}")
        elif kind == ev.CACHED:
            elapsed = p.get("elapsed")
            rate = f", {human_bytes(p['bytes'] / elapsed)}/s" if elapsed else ""
            took = f" in {elapsed:.1f}s{rate}" if elapsed is not None else ""
            self._write(f"cached {name} sha256:{short_digest(digest)} {human_bytes(p['bytes'])}{took}")
        elif kind == ev.ALREADY_CACHED:
            self._write(f"already cached {name} sha256:{short_digest(digest)}")
        elif kind == ev.FAILED:
            self._write(f"FAILED {name} (details at the end)")


class SyncProgressBars:
    """Progress bars (bytes, rate, ETA) per download, on a terminal's stderr."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def emit(self, event: Event) -> None:
        kind = ev.kind_of(event)
        if kind is None or event.image is None:
            return
        p, name = event.payload, event.image
        bars = self.progress
        tid = self.tasks.get(name)
        if kind == ev.DOWNLOAD_STARTED:
            if tid is None:
                self.tasks[name] = bars.add_task(escape(name), total=p.get("total"), completed=p["bytes"])
        elif kind == ev.PROGRESS and tid is not None:
            bars.update(tid, completed=p["bytes"], total=p.get("total"))
        elif kind == ev.RETRYING:
            bars.console.print(f"[yellow]retrying[/yellow] {escape(name)} from byte {p['bytes']}: "
                               f"{escape(p.get('error') or '')}")
        elif kind == ev.CACHED:
            if tid is not None:
                bars.update(tid, completed=p["bytes"], total=p["bytes"], description=f"[green]✓[/green] {escape(name)}")
            else:
                bars.console.print(f"[green]cached[/green] {escape(name)}")
        elif kind == ev.ALREADY_CACHED:
            bars.console.print(f"[dim]already cached[/dim] {escape(name)}")
        elif kind == ev.FAILED:
            if tid is not None:
                bars.update(tid, description=f"[red]✗[/red] {escape(name)}")
            bars.console.print(f"[red]FAILED[/red] {escape(name)}: {escape(p.get('error') or '')}")
