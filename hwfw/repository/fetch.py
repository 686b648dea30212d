"""Fetch one image into the cache: stream, hash while writing, verify, rename into place.

An image is streamed into a partial file while it is hashed (1 MiB chunks: memory
stays flat whatever the image size), then fsynced and checked against the entry's
size and sha256. Only then is it renamed into `sha256/<digest>`; a mismatch moves the
bytes to quarantine and raises `IntegrityError` naming the entry and both digests.

Dropped connections, timeouts and HTTP 408/425/429/5xx are retried (bounded, with
exponential backoff, honouring Retry-After: hwfw/retry.py); every retry resumes with an HTTP Range
request from the last byte written, guarded by If-Range so a changed file restarts
from zero. A server that ignores Range (answers 200) is read from zero. A partial
download left by an interrupted run is resumed the same way by the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import ssl
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

from hwfw import __version__
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import RepositoryEntry
from hwfw.errors import IntegrityError, RepositoryError
from hwfw.repository import events as ev
from hwfw.repository.cache import CHUNK, Cache, Partial, hash_file
from hwfw.repository.events import SyncEvents
from hwfw.repository.sources import Source, resolve_source
from hwfw.retry import Backoff, RetryPolicy, parse_retry_after, retry

log = logging.getLogger("hwfw.repository")

# Hashes and writes downloaded batches off the event loop (one batch in flight per download).
_WRITER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="hwfw-write")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
RETRY_AFTER_MAX = 300.0  # a mirror asking for a longer pause gets this much
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$")


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Knobs of one fetcher. Defaults suit a WAN mirror; tests shrink the backoff."""

    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    chunk_size: int = CHUNK
    checkpoint_bytes: int = 16 << 20
    progress_interval: float = 0.25
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # "aiohttp" (httpx API over aiohttp: ~2.3x less CPU per received byte than httpcore,
    # see benchmarks/bench_repository.py), "httpx" (httpcore), or "auto" (aiohttp if installed).
    transport: str = "auto"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one image: "downloaded" or "already-cached", and where it is."""

    entry_id: str
    sha256: str
    status: str
    path: Path
    size: int


class ChecksumMismatch(IntegrityError):
    """Downloaded bytes do not match the entry; they were moved to quarantine."""

    def __init__(self, entry_id: str, *, problem: str, expected: str, actual: str, size: int,
                 source: str, quarantine: Path) -> None:
        self.entry_id = entry_id
        self.expected = expected
        self.actual = actual
        self.size = size
        self.source = source
        self.quarantine = quarantine
        super().__init__(
            f"image {entry_id!r}: {problem}: expected sha256 {expected}, got {actual} "
            f"({size} bytes from {source}); the download was moved to quarantine: {quarantine}",
            hint="the source does not serve the image the repository file declares: check the "
                 "entry's source and sha256 (never edit a digest to match a download)")


class _Retry(Exception):
    """A transient failure worth another attempt (after `retry_after` seconds if set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def make_ssl_context(ca_bundle: Path | None) -> ssl.SSLContext:
    """One verifying TLS context per run (building one per client costs ~20 ms)."""
    if ca_bundle is not None:
        return ssl.create_default_context(cafile=str(ca_bundle))
    return httpx.create_ssl_context()


def make_client(ssl_context: ssl.SSLContext, options: FetchOptions, *, connections: int = 8) -> httpx.AsyncClient:
    """An HTTP client for image downloads: TLS verification on, redirects followed."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30.0)
    return httpx.AsyncClient(
        verify=ssl_context, follow_redirects=True, transport=_transport(ssl_context, limits, options.transport),
        timeout=httpx.Timeout(options.read_timeout, connect=options.connect_timeout),
        headers={"User-Agent": f"hwfw/{__version__}", "Accept-Encoding": "identity"})


def _transport(ssl_context: ssl.SSLContext, limits: httpx.Limits, kind: str) -> httpx.AsyncBaseTransport:
    if kind in ("auto", "aiohttp"):
        try:
            import aiohttp
            from httpx_aiohttp import AiohttpTransport
        except ImportError:
            if kind == "aiohttp":
                raise
        else:
            def session() -> aiohttp.ClientSession:
                # Created lazily inside the running loop; no cookie jar, no decompression.
                connector = aiohttp.TCPConnector(limit=limits.max_connections or 0, keepalive_timeout=30.0,
                                                 ssl=ssl_context)
                return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             auto_decompress=False)

            return AiohttpTransport(verify=ssl_context, limits=limits, client=session)
    return httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, retries=0)


def _content_range(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(1)) if match else None


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _transient(exc: Exception) -> bool:
    """Worth another attempt: a dropped connection, a timeout, a retryable status; never
    a URL the client refuses, nor a certificate that does not verify."""
    if isinstance(exc, (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return False
    return isinstance(exc, (_Retry, httpx.TransportError)) and _tls_failure(exc) is None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ImageFetcher:
    """Brings images into one cache. One instance per event loop (it keeps asyncio locks)."""

    def __init__(self, cache: Cache, root: Path, *, options: FetchOptions | None = None,
                 events: SyncEvents | None = None, clock: Clock | None = None,
                 download_slots: asyncio.Semaphore | None = None) -> None:
        self.cache = cache
        self.root = root
        self.options = options or FetchOptions()
        self.clock = clock or SystemClock()
        self.events = events or SyncEvents(None, self.clock, "")
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots = download_slots
        self._policy = RetryPolicy(retries=self.options.retries,
                                   backoff=Backoff(base=self.options.backoff, cap=self.options.max_backoff, jitter=0),
                                   retry_after_max=RETRY_AFTER_MAX)

    def cached(self, entry: RepositoryEntry) -> Path | None:
        """The cached object of `entry` if present with the declared size (not re-hashed)."""
        obj = self.cache.lookup(entry.sha256)
        if obj is None or (entry.size is not None and obj.size != entry.size):
            return None
        return obj.path

    async def obtain(self, entry: RepositoryEntry, client: httpx.AsyncClient | None) -> Outcome:
        """Make sure `entry`'s verified object is in the cache; fetch it if not.

        Concurrent calls for the same digest (tasks of this process, or other processes
        sharing the cache) fetch it once: the others wait for the lock, then find it.
        """
        source = resolve_source(entry, self.root)
        path = self.cached(entry)
        if path is None:
            lock = self._locks.setdefault(entry.sha256, asyncio.Lock())
            async with lock, self.cache.alock(entry.sha256):
                path = self._cached_under_lock(entry)
                if path is None:
                    if source.is_remote and client is None:
                        raise RepositoryError(f"image {entry.id!r} needs a download but no HTTP client was given")
                    started = self.clock.monotonic()
                    path, size = await self._fetch_locked(entry, source, client)
                    self.events.emit(ev.CACHED, entry.id, entry.sha256, bytes=size, total=size,
                                     path=str(path), elapsed=self.clock.monotonic() - started)
                    return Outcome(entry.id, entry.sha256, "downloaded", path, size)
        size = path.stat().st_size
        self.events.emit(ev.ALREADY_CACHED, entry.id, entry.sha256, bytes=size, total=size, path=str(path))
        return Outcome(entry.id, entry.sha256, "already-cached", path, size)

    def _cached_under_lock(self, entry: RepositoryEntry) -> Path | None:
        obj = self.cache.lookup(entry.sha256)
        if obj is None:
            return None
        if entry.size is None or obj.size == entry.size:
            return obj.path
        # Named by the digest but of another size than declared: either the object is
        # corrupt (quarantine it and fetch again) or the entry's size is wrong.
        actual, size = hash_file(obj.path)
        if actual == entry.sha256:
            raise IntegrityError(
                f"image {entry.id!r}: the repository file declares size {entry.size} but the object "
                f"with sha256 {entry.sha256} has {size} bytes",
                hint="correct `size` of this entry in the repository file")
        q = self.cache.quarantine(obj.path, entry_id=entry.id, expected=entry.sha256, actual=actual,
                                  source=None, reason="cache object corrupt on disk", size=size)
        log.warning("cache object %s was corrupt (sha256 %s); moved to %s, fetching again",
                    entry.sha256, actual, q)
        return None

    async def _fetch_locked(self, entry: RepositoryEntry, source: Source,
                            client: httpx.AsyncClient | None) -> tuple[Path, int]:
        self.cache.prepare()
        clean_retry_done = False
        while True:
            # Only the transfer takes a download slot: the fsync and rename after it overlap
            # the next download (with 50 ms per request, that is ~15% of a small image's time).
            async with self._slots or contextlib.nullcontext():
                partial = None
                if source.is_remote and self.cache.has_sidecars():  # re-hashing a prefix: off the loop
                    partial = await asyncio.to_thread(self.cache.resume_partial, entry.id, entry.sha256,
                                                      str(source))
                resumed_across_runs = partial is not None
                if partial is None:
                    partial = self.cache.new_partial(entry.id, entry.sha256, str(source))
            try:
                async with self._slots or contextlib.nullcontext():
                    if source.url is not None:
                        assert client is not None
                        await self._download(entry, source.url, partial, client)
                    else:
                        assert source.path is not None
                        await self._copy(entry, source.path, partial)
                actual, size = await asyncio.to_thread(partial.finish)  # fsync: off the event loop
            except BaseException:
                # Keep a remote partial with bytes in it for the next run; a local copy is cheap to redo.
                if source.is_remote and partial.offset > 0:
                    partial.close()
                else:
                    partial.discard()
                raise
            problem = None
            if entry.size is not None and size != entry.size:
                problem = f"size mismatch: expected {entry.size} bytes, got {size}"
            elif actual != entry.sha256:
                problem = "sha256 mismatch"
            if problem is None:
                return await asyncio.to_thread(self.cache.commit, partial, entry.sha256), size
            if resumed_across_runs and not clean_retry_done:
                # Bytes kept from an earlier run may be what went wrong: one clean download decides.
                log.warning("%s: resumed download did not verify (%s); downloading again from zero",
                            entry.id, problem)
                partial.discard()
                clean_retry_done = True
                continue
            q = self.cache.quarantine_partial(partial, actual=actual, size=size, reason=problem)
            raise ChecksumMismatch(entry.id, problem=problem, expected=entry.sha256, actual=actual,
                                   size=size, source=str(source), quarantine=q)

    async def _download(self, entry: RepositoryEntry, url: str, partial: Partial,
                        client: httpx.AsyncClient) -> None:
        opts = self.options
        tries = 0
        announced = False

        async def attempt() -> None:
            nonlocal tries, announced
            tries += 1
            headers: dict[str, str] = {}
            if partial.offset and not partial.ranges:
                partial.reset()  # the server said Accept-Ranges: none; a Range request is pointless
            if partial.offset:
                headers["Range"] = f"bytes={partial.offset}-"
                validator = partial.etag if partial.etag and not partial.etag.startswith("W/") \
                    else partial.last_modified
                if validator:
                    headers["If-Range"] = validator
            async with client.stream("GET", url, headers=headers) as resp:
                total = self._check_response(entry, url, resp, partial)
                if not announced:
                    self.events.emit(ev.DOWNLOAD_STARTED, entry.id, entry.sha256, bytes=partial.offset,
                                     total=total, source=url, resumed_from=partial.offset or None)
                    announced = True
                await self._stream_body(entry, resp, partial, total)

        async def before_retry(exc: Exception, retry_number: int, delay: float) -> None:
            await asyncio.to_thread(partial.checkpoint)
            self.events.emit(ev.RETRYING, entry.id, entry.sha256, bytes=partial.offset,
                             source=url, attempt=retry_number + 1, error=_describe(exc))
            log.info("%s: %s; retry %d/%d in %.1fs from byte %d", entry.id, _describe(exc), retry_number,
                     opts.retries, delay, partial.offset)

        try:
            await retry(attempt, clock=self.clock, policy=self._policy, retryable=_transient,
                        retry_after_of=lambda exc: exc.retry_after if isinstance(exc, _Retry) else None,
                        on_retry=before_retry)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            raise RepositoryError(f"image {entry.id!r}: cannot request {url}: {_describe(exc)}",
                                  hint="fix the entry's source URL in the repository file") from exc
        except (_Retry, httpx.TransportError) as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                raise RepositoryError(
                    f"image {entry.id!r}: TLS verification failed for {url}: {tls}",
                    hint="set settings.ca_bundle to the CA bundle that signed the mirror's certificate"
                ) from exc
            raise RepositoryError(
                f"image {entry.id!r}: download from {url} failed after {tries} attempt(s): {_describe(exc)}",
                hint="run `hwfw repo sync` again later: it resumes where this run stopped") from exc

    def _check_response(self, entry: RepositoryEntry, url: str, resp: httpx.Response,
                        partial: Partial) -> int | None:
        """Decide what a response means for the partial; return the total size if known."""
        if resp.url.scheme == "http" and not entry.allow_http:
            raise RepositoryError(f"image {entry.id!r}: {url} redirected to plain http:// ({resp.url})",
                                  hint="use a mirror that stays on https://, or set allow_http: true")
        status = resp.status_code
        length = resp.headers.get("content-length")
        if status == 206 and partial.offset:
            start = _content_range(resp.headers.get("content-range"))
            if start != partial.offset:
                partial.reset()
                raise _Retry(f"server answered a Range request for byte {partial.offset} from byte {start}")
            return partial.offset + int(length) if length and length.isdigit() else entry.size
        if status == 200:
            if partial.offset:
                log.info("%s: server ignored the Range request (HTTP 200); reading from byte 0", entry.id)
                partial.reset()
            partial.etag = resp.headers.get("etag")
            partial.last_modified = resp.headers.get("last-modified")
            partial.ranges = resp.headers.get("accept-ranges", "").strip().lower() != "none"
            return int(length) if length and length.isdigit() else entry.size
        if status == 416 and partial.offset:
            partial.reset()
            raise _Retry("server refused the Range request (HTTP 416); restarting from byte 0")
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status} {resp.reason_phrase}",
                         parse_retry_after(resp.headers.get("retry-after"), self.clock))
        raise RepositoryError(
            f"image {entry.id!r}: HTTP {status} {resp.reason_phrase} from {url}",
            hint="check the entry's source URL in the repository file" if status in (404, 410)
            else "check access to the mirror (credentials, proxy, ACLs)")

    async def _stream_body(self, entry: RepositoryEntry, resp: httpx.Response, partial: Partial,
                           total: int | None) -> None:
        """Read the body; a writer thread hashes and writes batch N while batch N+1 arrives.

        hashlib and file writes release the GIL, so hashing overlaps the network
        reads. At most two batches (2 x chunk_size) are held in memory.
        """
        opts = self.options
        last = self.clock.monotonic()
        received = partial.offset
        batch = bytearray()
        pending: Future[None] | None = None
        try:
            async for chunk in resp.aiter_raw():
                batch += chunk
                received += len(chunk)
                too_big = entry.size is not None and received > entry.size
                if len(batch) >= opts.chunk_size or too_big:
                    if pending is not None:
                        await asyncio.wrap_future(pending)
                    pending, batch = _WRITER.submit(partial.write, batch), bytearray()
                    if too_big:
                        return  # more than declared: stop reading; verification quarantines it
                    if partial.since_checkpoint >= opts.checkpoint_bytes:
                        await asyncio.wrap_future(pending)
                        pending = None
                        await asyncio.to_thread(partial.checkpoint)
                now = self.clock.monotonic()
                if now - last >= opts.progress_interval:
                    last = now
                    self.events.emit(ev.PROGRESS, entry.id, entry.sha256, bytes=received, total=total)
        finally:
            # Leave the partial consistent whatever happened: every byte received is written.
            if pending is not None:
                pending.result()
            if batch:
                partial.write(batch)

    async def _copy(self, entry: RepositoryEntry, path: Path, partial: Partial) -> None:
        if not path.is_file():
            raise RepositoryError(f"image {entry.id!r}: source file not found: {path}",
                                  hint="fix the entry's source (a relative path is relative to hwfw.yaml)")
        total = path.stat().st_size
        self.events.emit(ev.DOWNLOAD_STARTED, entry.id, entry.sha256, bytes=0, total=total, source=str(path))
        loop = asyncio.get_running_loop()
        progress = functools.partial(self.events.emit, ev.PROGRESS, entry.id, entry.sha256, total=total)
        interval = self.options.progress_interval

        def work() -> None:
            last = time.monotonic()
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    partial.write(chunk)
                    if entry.size is not None and partial.offset > entry.size:
                        return
                    now = time.monotonic()
                    if now - last >= interval:
                        last = now
                        loop.call_soon_threadsafe(progress, partial.offset)

        await asyncio.to_thread(work)
