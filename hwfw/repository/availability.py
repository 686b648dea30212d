"""Can every image a baseline needs be obtained? The offline answer, per image.

An image is obtainable when its local source file exists with the declared size (and,
for small files or when asked, the declared sha256), or when the cache already holds
its digest, or when its source is a URL (which `hwfw repo sync` fetches; until then
the gate says it was not fetched). Nothing here downloads or contacts anything.

`validate` and `check` report the problems (`hwfw.connect.image_check`); apply, which
flashes from the cache, says so when it flashes a cached copy whose local source is gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import RepositoryError
from hwfw.repository.cache import Cache, hash_file, resolve_cache_dir
from hwfw.repository.sources import resolve_source
from hwfw.repository.sync import referenced_entries

__all__ = ["SMALL_IMAGE", "Availability", "image_availability"]

# Local source files up to this size are hashed on every check (a few milliseconds);
# larger ones only with --verify-images (a 1 GiB image takes seconds).
SMALL_IMAGE = 16 * 1024 * 1024

# Statuses, from best to worst.
OK = "ok"                      # local file fine (or URL already cached)
NOT_FETCHED = "not-fetched"    # URL source, not in the cache yet: a note
CACHED_ONLY = "cached-only"    # local source gone, the cache still holds the digest: a warning
UNAVAILABLE = "unavailable"    # local source gone and not cached: an error
MISMATCH = "mismatch"          # local source differs from the declared size or sha256: an error


@dataclass(frozen=True, slots=True)
class Availability:
    """One referenced image: `index` is its position in the repository file's list."""

    entry: RepositoryEntry
    index: int
    status: str
    message: str = ""


def image_availability(ws: Workspace, *, verify: bool = False,
                       allowed: Callable[[str], bool] | None = None,
                       cache: Cache | None = None) -> list[Availability]:
    """The availability of every image the baselines reference, in repository order.

    `verify` hashes every local source file (else only those up to SMALL_IMAGE);
    `allowed(path_as_written)` says whether a local path may be opened at all (the
    workspace's path policy; refused paths are reported by the loader, not here)."""
    cache = cache or Cache(resolve_cache_dir(ws.settings))
    index = {id(e): i for i, e in enumerate(ws.repository.entries)}
    return [_one(ws, e, index[id(e)], cache, verify, allowed) for e in referenced_entries(ws)]


def _one(ws: Workspace, e: RepositoryEntry, index: int, cache: Cache, verify: bool,
         allowed: Callable[[str], bool] | None) -> Availability:
    try:
        source = resolve_source(e, ws.root)
    except RepositoryError:
        return Availability(e, index, OK)  # a refused source (http://, a bad scheme): the loader says so
    cached = _cached(cache, e)
    if source.is_remote:
        if cached:
            return Availability(e, index, OK)
        return Availability(e, index, NOT_FETCHED,
                            f"image {e.id!r} has not been fetched from {source}: it is not in the cache "
                            f"{cache.root}; hwfw repo sync fetches it")
    assert source.path is not None
    if allowed is not None and not allowed(str(source.path)):
        return Availability(e, index, OK)
    return _local(e, index, source.path, cached, cache, verify)


def _local(e: RepositoryEntry, index: int, path: Path, cached: bool, cache: Cache, verify: bool) -> Availability:
    try:
        size = os.stat(path).st_size
    except OSError:
        if cached:
            return Availability(e, index, CACHED_ONLY,
                                f"image {e.id!r}: source file {e.source} does not exist; only the cached copy "
                                f"in {cache.root} is left (apply flashes it; the repository cannot rebuild it)")
        return Availability(e, index, UNAVAILABLE,
                            f"image {e.id!r}: source file {e.source} does not exist and the cache {cache.root} "
                            f"has no copy of sha256 {e.sha256}")
    if e.size is not None and size != e.size:
        return Availability(e, index, MISMATCH,
                            f"image {e.id!r}: source file {e.source} has {size} bytes, the repository "
                            f"declares {e.size}")
    if verify or size <= SMALL_IMAGE:
        try:
            digest, _ = hash_file(path)
        except OSError as exc:
            return Availability(e, index, MISMATCH, f"image {e.id!r}: source file {e.source} cannot be read: {exc}")
        if digest != e.sha256:
            return Availability(e, index, MISMATCH,
                                f"image {e.id!r}: source file {e.source} hashes to sha256 {digest}, the "
                                f"repository declares {e.sha256}")
    return Availability(e, index, OK)


def _cached(cache: Cache, e: RepositoryEntry) -> bool:
    try:
        obj = cache.lookup(e.sha256)
    except ValueError:  # not a digest: the loader reports it
        return False
    return obj is not None and (e.size is None or obj.size == e.size)
