"""The local backend: today's files, unchanged (same paths, same bytes).

`settings.state_path` (state.json), and under `settings.runtime_dir`: `lock`,
`intents.jsonl`, `audit.jsonl`. The file classes of this package do the work; this
module only puts them behind the StateBackend protocol. File I/O runs in a worker
thread (fsync must not stall the event loop of a 200-host run) unless `offload` is
False (tests on a virtual clock).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import struct
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterable, TypeVar

from hwfw.config.model import Settings
from hwfw.errors import StateError
from hwfw.state.files import append_json_line, read_json_lines
from hwfw.state.journal import AuditLog, IntentLog
from hwfw.state.lock import LockInfo, WorkspaceLock, force_unlock, read_lock_info
from hwfw.state.model import State
from hwfw.state.store import StateStore

T = TypeVar("T")
_FLOCK = "hhqqi4x"   # struct flock on Linux: type, whence, start, len, pid (padded to 32 bytes)


def record_locked(path: Path) -> bool:
    """Whether another process holds a POSIX record lock on `path` (F_GETLK)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        probe = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        return struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


class LocalBackend:
    kind = "local"

    def __init__(self, settings: Settings, *, offload: bool = True) -> None:
        self.settings = settings
        self.runtime_dir = settings.runtime_dir
        self.store = StateStore(settings.state_path)
        self.intents = IntentLog(settings.runtime_dir / "intents.jsonl")
        self.audit_log = AuditLog(settings.runtime_dir / "audit.jsonl")
        self.offload = offload
        self._held: LockInfo | None = None

    def describe(self) -> str:
        return f"local files ({self.store.path})"

    async def aclose(self) -> None:
        return None

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.offload:
            return await asyncio.to_thread(fn, *args, **kwargs)
        return fn(*args, **kwargs)

    # -- state
    async def load(self) -> State:
        return await self._io(self.store.load)

    async def write(self, state: State) -> State:
        return await self._io(self.store.write, state)

    async def read_document(self) -> bytes | None:
        return await self._io(self.store.read_bytes)

    async def replace_document(self, doc: dict[str, Any]) -> None:
        await self._io(self.store.write_document, doc)

    # -- lock
    @asynccontextmanager
    async def lock(self, operation: str) -> AsyncIterator[LockInfo]:
        held = WorkspaceLock(self.runtime_dir, operation)
        held.acquire()
        try:
            assert held.info is not None
            self._held = held.info
            yield held.info
        finally:
            self._held = None
            held.release()

    async def lock_info(self) -> LockInfo | None:
        """The holder, or None when nobody holds the lock (a file left by a killed
        holder still names it, but its record lock died with it)."""
        if self._held is not None:
            # never open the file while we hold it: closing any descriptor of a file
            # drops this process's POSIX record locks on it
            return self._held
        path = self.runtime_dir / "lock"
        return read_lock_info(path) if record_locked(path) else None

    async def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        return force_unlock(self.runtime_dir, lock_id, force=force)

    # -- journals
    async def open_intent(self, *, run_id: str, host: str, component: str, action: str,
                          image_sha256: str | None = None, **details: Any) -> str:
        return await self._io(self.intents.open, run_id=run_id, host=host, component=component, action=action,
                              image_sha256=image_sha256, **details)

    async def resolve_intent(self, intent_id: str, outcome: str, **details: Any) -> None:
        await self._io(self.intents.resolve, intent_id, outcome, **details)

    async def open_intents(self) -> list[dict[str, Any]]:
        return await self._io(self.intents.open_intents)

    async def audit(self, *, run_id: str, host: str, component: str, action: str, outcome: str,
                    before: str | None = None, after: str | None = None, image_sha256: str | None = None,
                    message: str | None = None) -> None:
        await self._io(self.audit_log.record, run_id=run_id, host=host, component=component, action=action,
                       outcome=outcome, before=before, after=after, image_sha256=image_sha256, message=message)

    def _journal_path(self, name: str) -> Any:
        if name == "intents":
            return self.intents.path
        if name == "audit":
            return self.audit_log.path
        raise StateError(f"no journal {name!r}", hint="journals are: intents, audit")

    async def journal(self, name: str) -> list[dict[str, Any]]:
        return await self._io(read_json_lines, self._journal_path(name))

    async def append_journal(self, name: str, records: Iterable[dict[str, Any]]) -> None:
        path = self._journal_path(name)

        def append_all() -> None:
            for record in records:
                append_json_line(path, record)

        await self._io(append_all)

