"""Persisted hardware state: written atomically, debounced, so a killed process loses
at most the last fraction of a second.

Atomic = write a temp file in the same directory, fsync it, rename it over
state.json, fsync the directory. A reader never sees a half-written file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("hwfw.sim")
DEBOUNCE = 0.2


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_state(path: Path) -> dict[str, Any] | None:
    """The persisted state, or None when absent or unreadable (then the fleet starts fresh)."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable simulator state %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) and data.get("format") == 1 else None


class StateWriter:
    """Writes `snapshot()` after changes, at most every DEBOUNCE seconds (real time)."""

    def __init__(self, path: Path, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.snapshot = snapshot
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def mark(self) -> None:
        self._dirty.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="hwfw-sim-state")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._dirty.wait()
            try:  # debounce, but stop at once when asked
                await asyncio.wait_for(self._stopping.wait(), DEBOUNCE)
            except TimeoutError:
                pass
            if self._stopping.is_set():
                return
            self._dirty.clear()
            data = json.dumps(self.snapshot(), separators=(",", ":")).encode()
            await asyncio.to_thread(write_atomic, self.path, data)
            self.writes += 1

    async def stop(self) -> None:
        """Let an in-flight write finish, then persist the final state."""
        self._stopping.set()
        self._dirty.set()
        if self._task is not None:
            await self._task
            self._task = None
        self.flush()

    def flush(self) -> None:
        write_atomic(self.path, json.dumps(self.snapshot(), separators=(",", ":")).encode())
        self.writes += 1
