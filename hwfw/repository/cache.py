"""The content-addressed firmware cache, shared by workspaces and concurrent runs.

Layout under the cache root::

    sha256/<64 hex>                       verified objects, read-only, named by their digest
    locks/<64 hex>.lock                   one lock file per object (never holds content)
    partial/<entry>-<random>.part         a download in progress ...
    partial/<entry>-<random>.part.json    ... and its sidecar: source, expected digest,
                                          bytes so far, ETag/Last-Modified (for resume)
    quarantine/<entry>-<time>.bin         bytes that failed verification, kept for inspection
    quarantine/<entry>-<time>.json        ... with expected and actual digests and the source
    signatures/<entry>.<url key>.sig      detached signatures fetched from a URL
    CACHEDIR.TAG                          tells backup tools to skip the cache

Invariant: a file under `sha256/` is only ever created by an atomic rename of a file
whose size and sha256 were just verified. Partial and quarantined files are never
named by the digest they were expected to have, so nothing can mistake them for a
verified object.

Locking: whoever fetches or commits an object holds an exclusive `fcntl.flock` on
`locks/<digest>.lock`. flock is per open file description, so it excludes other
processes and other tasks of the same process alike. On a shared filesystem it is
as good as that filesystem's flock: Linux NFS clients emulate it with POSIX locks
(works across hosts with NFSv4 or lockd); CIFS/SMB mounts may keep it local to one
host; some FUSE filesystems ignore it. Where it is not honoured two hosts may
download the same object at once; the result is still correct (both verify, the
rename is atomic, the bytes are identical), only the bandwidth is wasted. Lock
files are never deleted: removing one while another process waits on it would
let a third process lock a different inode.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, BinaryIO, Iterator, Mapping

from hwfw.clock import SystemClock
from hwfw.config.model import Settings
from hwfw.errors import RepositoryError
from hwfw.retry import Backoff, RetryPolicy

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20
_REAL_TIME = SystemClock()
CACHEDIR_TAG = (b"Signature: 8a477f597d28d172789f06886806bc55\n"
                b"# This file is a cache directory tag created by hwfw.\n"
                b"# For information about cache directory tags see https://bford.info/cachedir/\n")


def resolve_cache_dir(settings: Settings | None = None, override: Path | None = None,
                      environ: Mapping[str, str] | None = None) -> Path:
    """Where the cache lives: `override`, else $HWFW_CACHE, else settings.cache_dir,
    else $XDG_CACHE_HOME/hwfw, else ~/.cache/hwfw."""
    env = os.environ if environ is None else environ
    if override is not None:
        return Path(override).expanduser()
    if env.get("HWFW_CACHE"):
        return Path(env["HWFW_CACHE"]).expanduser()
    if settings is not None and settings.cache_dir is not None:
        return settings.cache_dir
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".cache"
    return base / "hwfw"


def hash_fileobj(fh: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and byte count of an open binary file, read from its start."""
    fh.seek(0)
    digest = hashlib.file_digest(fh, "sha256").hexdigest()  # type: ignore[arg-type]
    return digest, fh.tell()


def hash_file(path: Path) -> tuple[str, int]:
    """sha256 hex digest and size of a file (streamed; never held in memory)."""
    with open(path, "rb") as fh:
        return hash_fileobj(fh)


def check_digest(digest: str) -> str:
    if not HEX64.fullmatch(digest):
        raise ValueError(f"not a sha256 hex digest: {digest!r}")
    return digest


def _atomic_write_json(path: Path, data: Mapping[str, Any]) -> None:
    tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _utc_stamp() -> str:
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


class Partial:
    """A download in progress: a temporary file hashed as it is written, plus a sidecar.

    `offset` is the number of bytes written and hashed. `checkpoint()` makes them
    durable and records them in the sidecar, which is what a later run resumes from.
    """

    def __init__(self, path: Path, *, entry_id: str, expected: str, source: str,
                 fh: BinaryIO, hasher: Any, offset: int = 0, etag: str | None = None,
                 last_modified: str | None = None, resumed_from: int = 0) -> None:
        self.path = path
        self.sidecar = path.with_name(path.name + ".json")
        self.entry_id = entry_id
        self.expected = expected
        self.source = source
        self.etag = etag
        self.last_modified = last_modified
        self.offset = offset
        self.resumed_from = resumed_from
        self.ranges = True  # False once the server answered `Accept-Ranges: none`
        self._fh = fh
        self._hash = hasher
        self._since_checkpoint = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._fh.write(data)
        self._hash.update(data)
        self.offset += len(data)
        self._since_checkpoint += len(data)

    @property
    def since_checkpoint(self) -> int:
        return self._since_checkpoint

    def reset(self) -> None:
        """Start over from byte zero (the server ignored or could not honour a Range)."""
        self._fh.seek(0)
        self._fh.truncate()
        self._hash = hashlib.sha256()
        self.offset = 0
        self.resumed_from = 0
        self.etag = self.last_modified = None
        self.ranges = True
        self.checkpoint()

    def checkpoint(self) -> None:
        """Flush written bytes to disk, then record their count in the sidecar."""
        if self._fh.closed:
            return
        self._fh.flush()
        if self.offset:
            os.fdatasync(self._fh.fileno())
        _atomic_write_json(self.sidecar, {
            "entry": self.entry_id, "source": self.source, "sha256": self.expected,
            "bytes": self.offset, "etag": self.etag, "last_modified": self.last_modified,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self._since_checkpoint = 0

    def finish(self) -> tuple[str, int]:
        """fsync and close; return the sha256 and size of what was written."""
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        return self._hash.hexdigest(), self.offset

    def close(self) -> None:
        """Close, keeping the file and sidecar so a later run can resume."""
        if not self._fh.closed:
            with contextlib.suppress(OSError, ValueError):
                self.checkpoint()
            self._fh.close()

    def discard(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        for p in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


@dataclass(frozen=True, slots=True)
class CachedObject:
    sha256: str
    path: Path
    size: int


class Cache:
    """A cache root and the operations on it. Cheap to create; creates folders lazily."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "sha256"
        self.locks = self.root / "locks"
        self.partials = self.root / "partial"
        self.quarantined = self.root / "quarantine"
        self.signatures = self.root / "signatures"

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r})"

    def prepare(self) -> None:
        """Create the layout (idempotent, safe under concurrency)."""
        for d in (self.objects, self.locks, self.partials, self.quarantined, self.signatures):
            d.mkdir(parents=True, exist_ok=True)
        tag = self.root / "CACHEDIR.TAG"
        if not tag.exists():
            with contextlib.suppress(OSError):
                tag.write_bytes(CACHEDIR_TAG)

    # ----------------------------------------------------------------- objects

    def object_path(self, digest: str) -> Path:
        return self.objects / check_digest(digest)

    def lookup(self, digest: str) -> CachedObject | None:
        """The cached object for `digest`, if present (not re-hashed)."""
        path = self.object_path(digest)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return CachedObject(digest, path, st.st_size)

    def iter_objects(self) -> Iterator[CachedObject]:
        """Every object in the cache (sorted by digest); files not named by a digest are skipped."""
        if not self.objects.is_dir():
            return
        for path in sorted(self.objects.iterdir()):
            if HEX64.fullmatch(path.name) and path.is_file():
                yield CachedObject(path.name, path, path.stat().st_size)

    def stray_files(self) -> list[Path]:
        """Files under sha256/ that are not named by a digest (never written by hwfw)."""
        if not self.objects.is_dir():
            return []
        return sorted(p for p in self.objects.iterdir() if not HEX64.fullmatch(p.name))

    def commit(self, partial: Partial, digest: str) -> Path:
        """Move a finished, verified partial into place atomically. Caller holds the lock."""
        target = self.object_path(digest)
        os.chmod(partial.path, 0o444)
        # The bytes were fsynced by Partial.finish(); the rename itself is not: after a
        # crash the object is either complete or absent (and fetched again), never torn.
        os.replace(partial.path, target)
        with contextlib.suppress(FileNotFoundError):
            partial.sidecar.unlink()
        return target

    def remove(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.object_path(digest).unlink()

    # ----------------------------------------------------------------- locks

    def _lock_fd(self, digest: str) -> int:
        self.locks.mkdir(parents=True, exist_ok=True)
        return os.open(self.locks / f"{check_digest(digest)}.lock", os.O_RDWR | os.O_CREAT, 0o666)

    @contextlib.contextmanager
    def lock(self, digest: str, *, blocking: bool = True) -> Iterator[bool]:
        """Hold the object's lock. With blocking=False, yields False if it is held elsewhere."""
        fd = self._lock_fd(digest)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN) and not blocking:
                    yield False
                    return
                raise
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    @contextlib.asynccontextmanager
    async def alock(self, digest: str, *, poll: float = 0.05, max_poll: float = 0.5) -> AsyncIterator[None]:
        """Hold the object's lock without blocking the event loop (polls when contended)."""
        fd = self._lock_fd(digest)
        # Another process holds the lock: wait in real time (no run's clock governs it).
        waits = RetryPolicy(retries=None, backoff=Backoff(base=poll, cap=max_poll, jitter=0.0)).attempts(_REAL_TIME)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                await _REAL_TIME.sleep(waits.next_delay() or poll)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # ----------------------------------------------------------------- partial downloads

    def new_partial(self, entry_id: str, expected: str, source: str) -> Partial:
        """A fresh partial file `<entry>-<random>.part`. Caller holds the object's lock."""
        self.prepare()
        for _ in range(8):
            path = self.partials / f"{entry_id}-{secrets.token_hex(6)}.part"
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            # The sidecar is first written at a checkpoint (every 16 MiB, before a retry, on
            # interruption): a small download never needs one.
            return Partial(path, entry_id=entry_id, expected=expected, source=source,
                           fh=os.fdopen(fd, "r+b", buffering=0), hasher=hashlib.sha256())
        raise RepositoryError(f"cannot create a partial download file in {self.partials}")

    def has_sidecars(self) -> bool:
        """Is any partial download resumable at all? (Cheap: sidecars are rare.)"""
        return self.partials.is_dir() and any(self.partials.glob("*.part.json"))

    def resume_partial(self, entry_id: str, expected: str, source: str) -> Partial | None:
        """Reopen the most advanced partial download of `expected`, if any.

        Caller holds the object's lock, so no other process is writing any partial of
        this digest; the others found are stale and removed. The file is cut back to
        the byte count its sidecar recorded (bytes after that were never made durable)
        and those bytes are re-hashed.
        """
        best: tuple[int, Path, dict[str, Any]] | None = None
        stale: list[Path] = []
        for sidecar in self.partials.glob("*.part.json") if self.partials.is_dir() else []:
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if meta.get("sha256") != expected:
                continue
            part = sidecar.with_name(sidecar.name[: -len(".json")])
            n = int(meta.get("bytes") or 0)
            if not part.is_file() or part.stat().st_size < n:
                stale.append(sidecar)
                continue
            if best is None or n > best[0]:
                if best is not None:
                    stale.append(best[1].with_name(best[1].name + ".json"))
                best = (n, part, meta)
            else:
                stale.append(sidecar)
        for sidecar in stale:
            for p in (sidecar, sidecar.with_name(sidecar.name[: -len(".json")])):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        if best is None:
            return None
        n, part, meta = best
        if n == 0:
            for p in (part, part.with_name(part.name + ".json")):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            return None
        fh = open(part, "r+b", buffering=0)
        fh.truncate(n)
        hasher = hashlib.sha256()
        remaining = n
        while remaining:
            chunk = fh.read(min(CHUNK, remaining))
            if not chunk:
                break
            hasher.update(chunk)
            remaining -= len(chunk)
        same_source = meta.get("source") == source
        return Partial(part, entry_id=entry_id, expected=expected, source=source, fh=fh, hasher=hasher,
                       offset=n, resumed_from=n,
                       etag=meta.get("etag") if same_source else None,
                       last_modified=meta.get("last_modified") if same_source else None)

    def iter_partials(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        if not self.partials.is_dir():
            return
        for part in sorted(self.partials.glob("*.part")):
            sidecar = part.with_name(part.name + ".json")
            try:
                meta = json.loads(sidecar.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            yield part, meta

    # ----------------------------------------------------------------- quarantine

    def quarantine(self, path: Path, *, entry_id: str, expected: str | None, actual: str | None,
                   source: str | None, reason: str, size: int | None = None) -> Path:
        """Move bad bytes to quarantine/<entry>-<time>.bin with a .json describing them."""
        self.quarantined.mkdir(parents=True, exist_ok=True)
        stamp = _utc_stamp()
        target = self.quarantined / f"{entry_id}-{stamp}.bin"
        while target.exists():
            stamp = _utc_stamp() + secrets.token_hex(2)
            target = self.quarantined / f"{entry_id}-{stamp}.bin"
        os.replace(path, target)
        with contextlib.suppress(OSError):
            os.chmod(target, 0o444)
        meta = {"entry": entry_id, "expected_sha256": expected, "actual_sha256": actual,
                "size": size if size is not None else target.stat().st_size, "source": source,
                "reason": reason, "quarantined": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        _atomic_write_json(target.with_suffix(".json"), meta)
        return target

    def quarantine_partial(self, partial: Partial, *, actual: str, size: int, reason: str) -> Path:
        target = self.quarantine(partial.path, entry_id=partial.entry_id, expected=partial.expected,
                                 actual=actual, source=partial.source, reason=reason, size=size)
        with contextlib.suppress(FileNotFoundError):
            partial.sidecar.unlink()
        return target

    # ----------------------------------------------------------------- signatures

    def signature_path(self, entry_id: str, url: str) -> Path:
        """Where a detached signature fetched from `url` is kept (keyed by entry and URL)."""
        key = hashlib.sha256(url.encode()).hexdigest()[:12]
        return self.signatures / f"{entry_id}.{key}.sig"
