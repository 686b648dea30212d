"""Cache upkeep: re-verify objects (`hwfw repo verify`), drop unreferenced ones (`repo gc`),
and store a local file as an object (`repo add`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from hwfw.errors import IntegrityError
from hwfw.repository.cache import CHUNK, Cache, CachedObject, hash_file


@dataclass(frozen=True, slots=True)
class CorruptObject:
    sha256: str
    actual: str
    size: int
    path: Path
    entries: tuple[str, ...] = ()
    quarantined: Path | None = None
    note: str | None = None


@dataclass
class VerifyReport:
    checked: int = 0
    bytes: int = 0
    corrupt: list[CorruptObject] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    stray: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.corrupt


def verify_cache(cache: Cache, *, only: Iterable[str] | None = None, quarantine: bool = False,
                 entries_by_digest: Mapping[str, tuple[str, ...]] | None = None,
                 workers: int = 2) -> VerifyReport:
    """Re-hash every object (or those in `only`); report, and optionally quarantine, corrupt ones."""
    names = entries_by_digest or {}
    wanted = set(only) if only is not None else None
    objects = [o for o in cache.iter_objects() if wanted is None or o.sha256 in wanted]
    report = VerifyReport(checked=len(objects), bytes=sum(o.size for o in objects), stray=cache.stray_files())
    if wanted is not None:
        present = {o.sha256 for o in objects}
        report.missing = sorted(wanted - present)

    def check(obj: CachedObject) -> tuple[CachedObject, str, int]:
        actual, size = hash_file(obj.path)
        return obj, actual, size

    # hashlib releases the GIL on large buffers: threads hash on every core.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(check, objects))
    for obj, actual, size in results:
        if actual == obj.sha256:
            continue
        ids = tuple(names.get(obj.sha256, ()))
        moved: Path | None = None
        note = None
        if quarantine:
            with cache.lock(obj.sha256, blocking=False) as got:
                if got:
                    moved = cache.quarantine(obj.path, entry_id=ids[0] if ids else "object", expected=obj.sha256,
                                             actual=actual, source=None, reason="corrupt in cache", size=size)
                else:
                    note = "locked by another hwfw process; not moved"
        report.corrupt.append(CorruptObject(obj.sha256, actual, size, obj.path, ids, moved, note))
    return report


@dataclass
class GcReport:
    removed: list[CachedObject] = field(default_factory=list)
    kept: int = 0
    busy: list[str] = field(default_factory=list)
    partials_removed: list[Path] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(o.size for o in self.removed)


def collect_garbage(cache: Cache, keep: set[str], *, dry_run: bool = False) -> GcReport:
    """Remove objects (and partial downloads) whose digest is not in `keep`.

    Objects being fetched by another process (lock held) are left alone. A process
    that already opened an object keeps reading it after removal (POSIX semantics).
    """
    report = GcReport()
    for obj in list(cache.iter_objects()):
        if obj.sha256 in keep:
            report.kept += 1
            continue
        if dry_run:
            report.removed.append(obj)
            continue
        with cache.lock(obj.sha256, blocking=False) as got:
            if not got:
                report.busy.append(obj.sha256)
                continue
            cache.remove(obj.sha256)
            report.removed.append(obj)
    for part, meta in list(cache.iter_partials()):
        digest = str(meta.get("sha256") or "")
        if digest in keep:
            continue
        if dry_run:
            report.partials_removed.append(part)
            continue
        if len(digest) == 64:
            with cache.lock(digest, blocking=False) as got:
                if not got:
                    continue
                _unlink_partial(part)
        else:
            _unlink_partial(part)
        report.partials_removed.append(part)
    return report


def _unlink_partial(part: Path) -> None:
    for p in (part, part.with_name(part.name + ".json")):
        p.unlink(missing_ok=True)


def store_local_file(cache: Cache, path: Path, *, entry_id: str, expected: str) -> Path:
    """Copy a local file into the cache as the object `expected` (verified; idempotent)."""
    with cache.lock(expected):
        found = cache.lookup(expected)
        if found is not None:
            return found.path
        partial = cache.new_partial(entry_id, expected, str(path))
        try:
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    partial.write(chunk)
            actual, size = partial.finish()
        except BaseException:
            partial.discard()
            raise
        if actual != expected:
            partial.discard()
            raise IntegrityError(f"{path} changed while it was copied into the cache "
                                 f"(expected sha256 {expected}, got {actual})")
        return cache.commit(partial, expected)


__all__ = ["CorruptObject", "GcReport", "VerifyReport", "collect_garbage", "store_local_file",
           "verify_cache"]
