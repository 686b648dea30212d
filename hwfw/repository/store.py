"""The API the apply engine uses to get an image's bytes, verified, from the cache.

    store = ImageStore(workspace)
    await store.ensure(entry, fetch=False)        # raises with the `hwfw repo sync` hint
    with store.open_verified(entry) as fh:        # re-hashed, allow-list and signature checked
        upload(fh)

`open_verified` hashes the very file handle it returns, so the bytes served are the
bytes that were checked (no re-open between check and use).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
from pathlib import Path
from typing import BinaryIO, Iterator

from hwfw.clock import Clock
from hwfw.config.loader import display_path
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import IntegrityError, RepositoryError
from hwfw.repository.cache import CHUNK, Cache, hash_fileobj, resolve_cache_dir
from hwfw.repository.events import SyncEvents
from hwfw.repository.fetch import FetchOptions, ImageFetcher, make_client, make_ssl_context
from hwfw.repository.policy import check_policy
from hwfw.repository.signature import fetch_signature, signature_file, verify_signature


def sync_command(workspace: Workspace) -> str:
    """The exact command that fetches a workspace's images."""
    return f"hwfw repo sync {display_path(workspace.root) or '.'}"


class ImageStore:
    """A workspace's view of the shared firmware cache."""

    def __init__(self, workspace: Workspace, *, cache_dir: Path | None = None,
                 events: SyncEvents | None = None, options: FetchOptions | None = None,
                 clock: Clock | None = None) -> None:
        self.workspace = workspace
        self.cache = Cache(resolve_cache_dir(workspace.settings, cache_dir))
        self.options = options or FetchOptions(retries=workspace.settings.retries)
        self._events = events
        self._clock = clock
        self._fetchers: dict[int, ImageFetcher] = {}
        self._ssl: ssl.SSLContext | None = None
        # (object digest, signature file, mtime) already verified by this store.
        self._signatures_ok: set[tuple[str, str, int]] = set()

    def _fetcher(self) -> ImageFetcher:
        # asyncio locks belong to one event loop: one fetcher per loop.
        loop_id = id(asyncio.get_running_loop())
        fetcher = self._fetchers.get(loop_id)
        if fetcher is None:
            fetcher = ImageFetcher(self.cache, self.workspace.root, options=self.options,
                                   events=self._events, clock=self._clock)
            self._fetchers = {loop_id: fetcher}
        return fetcher

    def cached_path(self, entry: RepositoryEntry) -> Path | None:
        """The cached object for `entry` if present with the declared size (not re-hashed)."""
        obj = self.cache.lookup(entry.sha256)
        if obj is None or (entry.size is not None and obj.size != entry.size):
            return None
        return obj.path

    async def ensure(self, entry: RepositoryEntry, *, fetch: bool) -> Path:
        """The entry's object in the cache, fetching it first when `fetch` allows.

        Objects are verified (size and sha256) when they enter the cache; this does
        not re-hash one already there: `open_verified` does, right before use.

        Raises RepositoryError (hint: the exact `hwfw repo sync` command) when it is
        missing and fetching is not allowed; IntegrityError when a fetch does not verify.
        Concurrent calls for one image download it once.
        """
        path = self.cached_path(entry)
        if path is not None:
            return path
        if not fetch:
            raise RepositoryError(
                f"image {entry.id!r} (sha256 {entry.sha256}) is not in the cache {self.cache.root}",
                hint=sync_command(self.workspace))
        fetcher = self._fetcher()
        if self._ssl is None:
            self._ssl = make_ssl_context(self.workspace.settings.ca_bundle)
        async with make_client(self._ssl, self.options, connections=2) as client:
            outcome = await fetcher.obtain(entry, client)
            if entry.signature:
                await fetch_signature(entry, self.workspace, self.cache, client)
        return outcome.path

    @contextlib.contextmanager
    def open_verified(self, entry: RepositoryEntry) -> Iterator[BinaryIO]:
        """Open the cached object for reading after checking everything about it.

        Order: policy (allow-list, signature required, keys configured), presence,
        size and sha256 of the open file, then the detached signature if any. Raises
        PolicyViolation / IntegrityError / RepositoryError; the handle is closed on exit.
        """
        check_policy(entry, self.workspace)
        path = self.cached_path(entry)
        if path is None:
            raise RepositoryError(
                f"image {entry.id!r} (sha256 {entry.sha256}) is not in the cache {self.cache.root}",
                hint=sync_command(self.workspace))
        fh = open(path, "rb")
        try:
            actual, size = hash_fileobj(fh)
            if actual != entry.sha256 or (entry.size is not None and size != entry.size):
                raise IntegrityError(
                    f"image {entry.id!r}: cached object {path} is corrupt: expected sha256 {entry.sha256} "
                    f"({entry.size if entry.size is not None else '?'} bytes), got {actual} ({size} bytes)",
                    hint=f"hwfw repo verify --quarantine {display_path(self.workspace.root)}, then "
                         f"{sync_command(self.workspace)}")
            if entry.signature:
                self._check_signature(entry, path)
            fh.seek(0)
            yield fh
        finally:
            fh.close()

    def _check_signature(self, entry: RepositoryEntry, path: Path) -> None:
        # The object was just re-hashed, so a signature verified earlier over the same
        # digest still holds: skip the (slow, SHA-512) pass the second time.
        sig = signature_file(entry, self.workspace, self.cache)
        key = (entry.sha256, str(sig), sig.stat().st_mtime_ns)
        if key in self._signatures_ok:
            return
        verify_signature(entry, path, self.workspace, cache=self.cache)
        self._signatures_ok.add(key)


# ---------------------------------------------------------------- byte ranges (for image servers)

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single HTTP `Range: bytes=...` header as a half-open [start, end) within `size`.

    None means "serve the whole object" (no header, several ranges, or a form we do
    not support); raises ValueError for an unsatisfiable range (answer 416).
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size
    start = int(first)
    end = size if last == "" else min(size, int(last) + 1)
    if start >= size or start >= end:
        raise ValueError(f"range {header!r} not satisfiable for {size} bytes")
    return start, end


def iter_range(path: Path, start: int = 0, end: int | None = None, *,
               chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Yield the bytes [start, end) of a file in chunks (end None: to the end of file)."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        stop = size if end is None else min(end, size)
        fh.seek(start)
        remaining = max(0, stop - start)
        while remaining:
            chunk = fh.read(min(chunk_size, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
