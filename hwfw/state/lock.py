"""The workspace lock: one apply (or state-reading plan) at a time per workspace.

A POSIX record lock (`fcntl.lockf`) on `.hwfw/lock`: it is released by the kernel when
the holder dies (even by SIGKILL) and works on NFS with lockd, unlike `flock`. The file
also records who holds it (user@host, pid, start time, lock id), so a second run can say
exactly who is in the way. `hwfw state force-unlock ID` removes a lock left by a holder
that cannot release it (for example a control host that died with an NFS lock).

Removing the file of a lock whose holder still runs would let a second apply lock a new
file beside it and run alongside, so force-unlock asks the kernel (F_GETLK) whether the
lock is really held, not only whether the recorded pid exists (pids are reused): a lock
nobody holds any more is removed; one held by a live process of this host is never
broken; one held from another host (a shared filesystem) needs `--force`, because
whether that process still runs cannot be seen from here.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import getpass
import json
import os
import socket
import struct
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Iterator

from hwfw.clock import utc_now_iso
from hwfw.errors import LockHeldError, StateError
from hwfw.invocation import command


@dataclass(frozen=True, slots=True)
class LockInfo:
    id: str
    operation: str
    who: str
    pid: int
    created: str

    def describe(self) -> str:
        return f"{self.operation} by {self.who} (pid {self.pid}) since {self.created}, lock id {self.id}"

    @property
    def host(self) -> str:
        return self.who.rpartition("@")[2]

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()


# Who asked for the work, when it is not the local user: `hwfw serve` runs applies for
# the holder of an API token. Set for a task and the tasks it starts (contextvars).
_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar("hwfw_principal", default=None)


@contextlib.contextmanager
def acting_as(principal: str | None) -> Iterator[None]:
    """Within the block (and tasks started in it), locks and audit entries name
    `principal` (e.g. "alice (operator)") before the user@host that runs hwfw."""
    token = _principal.set(principal)
    try:
        yield
    finally:
        _principal.reset(token)


def operator() -> str:
    """user@host of whoever runs hwfw, recorded in locks and the audit log; "P via
    user@host" while acting for a principal P (see acting_as)."""
    principal = _principal.get()
    if principal:
        return f"{principal} via {_local_operator()}"
    return _local_operator()


def _local_operator() -> str:
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

    def __enter__(self) -> WorkspaceLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise _held_error(self.path) from None
            if _same_file(fd, self.path):
                break
            # The file was removed (force-unlock) between open and lock: a lock on the
            # removed file guards nothing, so lock the file that is there now.
            os.close(fd)
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


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _held_error(path: Path) -> LockHeldError:
    """The error of a second run, with a hint that never suggests breaking a live lock."""
    holder = read_lock_info(path)
    who = holder.describe() if holder else "another hwfw process"
    if holder is None or holder.on_this_host():
        hint = "wait for it to finish, or stop it: it releases the lock when it exits, even when killed"
    else:
        hint = (f"wait for it to finish; if {holder.host} is down and its lock stayed on the shared "
                f"filesystem, run: {command('state', 'force-unlock', holder.id, '--force')}")
    return LockHeldError(f"the workspace is locked: {who}", hint=hint)


# struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t).
_FLOCK = "@hhqqi"
_FLOCK_SIZE = struct.calcsize(_FLOCK + "0q")


def lock_holder(path: Path) -> int | None:
    """Who holds the POSIX lock on `path`, as the kernel sees it: None when nobody does,
    else the holder's pid (0 when the kernel cannot say, e.g. a lock from another NFS
    client). Locks of the calling process itself are not seen (POSIX)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(_FLOCK_SIZE, b"\0")
        try:
            answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        except OSError:
            return _holder_by_trying(fd)
        l_type, _, _, _, pid = struct.unpack_from(_FLOCK, answer)
        return None if l_type == fcntl.F_UNLCK else max(pid, 0)
    finally:
        os.close(fd)


def _holder_by_trying(fd: int) -> int | None:
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return 0
        raise
    fcntl.lockf(fd, fcntl.LOCK_UN)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def force_unlock(runtime_dir: Path, lock_id: str, *, force: bool = False) -> LockInfo:
    """Remove a lock whose holder cannot release it. The id must match, so a lock taken
    since the user looked is never broken by mistake; a holder that provably runs keeps
    its lock; a holder this host cannot see needs `force`."""
    path = runtime_dir / "lock"
    info = read_lock_info(path)
    if info is None:
        raise StateError("the workspace is not locked", hint="nothing to unlock")
    if info.id != lock_id:
        raise StateError(f"lock id {lock_id} does not match the current lock ({info.describe()})",
                         hint=f"check the id; the current one is {info.id}")
    holder = lock_holder(path)
    if holder is not None:
        if info.on_this_host() and holder > 0 and _alive(holder):
            raise LockHeldError(
                f"refusing to remove the lock: its holder is running ({info.describe()}; "
                f"pid {holder} holds the lock on this host)",
                hint="wait for it to finish, or stop that process: it releases the lock when it exits. "
                     "Removing a live lock would let a second apply update the same hosts at the same time")
        if not force:
            raise LockHeldError(
                f"the lock is still held ({info.describe()}), and whether its holder on "
                f"{info.host or 'another host'} still runs cannot be seen from here",
                hint=f"make sure no hwfw runs there (the host is down, or the process is gone), then run: "
                     f"{command('state', 'force-unlock', info.id, '--force')}. If it does still run, both "
                     "would update the same hosts at once: images flashed twice, the state and intent log "
                     "written by both")
    path.unlink()
    return info
