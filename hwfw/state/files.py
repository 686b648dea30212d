"""Crash-safe file primitives: atomic replace and durable appends.

Every hwfw file that must survive a kill (state, simulator state, saved plans) is
written to a temporary file in the same directory, fsynced, renamed over the old one,
and the directory is fsynced, so a reader sees either the old or the new content.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

GITIGNORE = "# hwfw run-time files (lock, intents, audit, simulator state, server database): never commit\n*\n"


def make_runtime_dir(directory: Path) -> Path:
    """Create a workspace's run-time directory (`.hwfw/`) with a `.gitignore` holding `*`."""
    directory.mkdir(parents=True, exist_ok=True)
    gi = directory / ".gitignore"
    if not gi.exists():
        atomic_write_bytes(gi, GITIGNORE.encode(), 0o644)
    return directory


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def atomic_write_json(path: Path, doc: Any, mode: int = 0o600) -> None:
    atomic_write_bytes(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode(), mode)


def append_json_line(path: Path, record: Any, *, fsync: bool = True) -> None:
    """Append one JSON object as a line and fsync before returning (an intent or audit
    record must be on disk before the change it describes is sent). `fsync=False`: in
    the page cache when this returns, which survives the process being killed (not the
    machine losing power), at the cost of one write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file, ignoring a torn last line left by a crash mid-write."""
    if not path.exists():
        return []
    records = []
    with path.open("rb") as fh:
        for raw in fh:
            try:
                records.append(json.loads(raw))
            except ValueError:
                continue
    return records
