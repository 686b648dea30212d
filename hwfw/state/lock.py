"""The workspace lock: one apply (or state-reading plan) at a time per workspace.

A POSIX record lock (`fcntl.lockf`) on `.hwfw/lock`: it is released by the kernel when
the holder dies (even by SIGKILL) and works on NFS with lockd, unlike `flock`. The file
also records who holds it (user@host, pid, start time, lock id), so a second run can say
exactly who is in the way. `hwfw state force-unlock ID` removes a lock left by a holder
that cannot release it (for example a control host that died with an NFS lock).
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from hwfw.clock import utc_now_iso
from hwfw.errors import LockHeldError, StateError


@dataclass(frozen=True, slots=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    created: str

    def describe(self) -> str:
        return f"{self.operation} by {self.who} (pid {self.pid}) since {self.created}, lock id {self.id}"


def operator() -> str:
    """user@host of whoever runs hwfw, recorded in locks and the audit log."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


class WorkspaceLock:
    """Context manager holding the exclusive workspace lock."""

    def __init__(self, runtime_dir: Path, operation: str) -> None:
        self.path = runtime_dir / "lock"
        self.operation = operation
        self._fd: int | None = None
        self.info: LockInfo | None = None

    def __enter__(self) -> "WorkspaceLock":
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            holder = read_lock_info(self.path)
            who = holder.describe() if holder else "another hwfw process"
            raise LockHeldError(
                f"the workspace is locked: {who}",
                hint="wait for it to finish; if that process is gone and the lock stayed "
                     f"(shared filesystem), run: hwfw state force-unlock {holder.id if holder else 'ID'}") from None
        info = LockInfo(id=str(uuid.uuid4()), operation=self.operation, who=operator(), pid=os.getpid(),
                        created=utc_now_iso())
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(asdict(info), sort_keys=True) + "\n").encode(), 0)
        os.fsync(fd)
        self._fd, self.info = fd, info

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
            fcntl.lockf(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def read_lock_info(path: Path) -> LockInfo | None:
    try:
        doc = json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    try:
        return LockInfo(**doc)
    except TypeError:
        return None


def force_unlock(runtime_dir: Path, lock_id: str) -> LockInfo:
    """Remove a lock whose holder cannot release it. The id must match, so a lock taken
    since the user looked is never broken by mistake."""
    path = runtime_dir / "lock"
    info = read_lock_info(path)
    if info is None:
        raise StateError("the workspace is not locked", hint="nothing to unlock")
    if info.id != lock_id:
        raise StateError(f"lock id {lock_id} does not match the current lock ({info.describe()})",
                         hint=f"check the id; the current one is {info.id}")
    path.unlink()
    return info
