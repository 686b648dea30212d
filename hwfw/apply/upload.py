"""Streaming image uploads: multipart pushes and raw bodies, hashed while they stream.

An image never sits in memory (reading a 1 GiB image into `content=bytes` peaks at
several GiB of RSS; a streamed body stays near the baseline: benchmarks/bench_apply.py).
Every body is produced by a `HashingReader` that reads the file in 1 MiB chunks in a
worker thread, feeds each chunk to sha256 and **holds back the final chunk** until the
whole file has hashed to the repository entry's sha256. A file that changed on disk
after the repository verified it (bit rot, a concurrent writer, a wrong path) is
therefore never delivered whole: the generator raises before the last bytes leave, the
request is aborted, and the BMC only ever sees a truncated body, which it cannot
mistake for an image (its Content-Length is not reached).

    body = MultipartBody([FormField("UpdateParameters", json_text, "application/json")],
                         FilePart("UpdateFile", path, sha256, filename="bios.bin"))
    response = await send_stream(session, "POST", uri, body, clock=clock, timeout=t, deadline=d)

`send_stream` owns the retry policy for bodies that can only be read once: a fresh
stream per attempt; 503/429 (BMC busy) and connection refusals are retried until the
deadline; a failure after the whole body went out is *not* retried (the BMC may have
accepted the image: re-sending could flash twice) and is reported as "outcome unknown".
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Mapping, Sequence

import httpx

from hwfw.clock import Clock
from hwfw.errors import BmcAuthError, BmcError, BmcUnreachable, IntegrityError
from hwfw.logs import get_logger
from hwfw.redfish.errors import error_for_response, is_connect_failure
from hwfw.redfish.session import RedfishSession
from hwfw.retry import Backoff, RetryPolicy, parse_retry_after

__all__ = [
    "CHUNK",
    "FilePart",
    "FormField",
    "HashingReader",
    "ImageChanged",
    "MultipartBody",
    "RawBody",
    "UploadOutcomeUnknown",
    "send_stream",
    "upload_timeout",
]

log = get_logger("apply.upload")

CHUNK = 1 << 20
MIB = 1 << 20


class ImageChanged(IntegrityError):
    """The bytes read while streaming do not hash to the repository entry's sha256."""


class UploadOutcomeUnknown(BmcError):
    """The whole image went out but no answer came back: the BMC may have accepted it.
    Never retried blindly; the caller settles it from the BMC's tasks and inventory."""


def upload_timeout(size: int, *, per_mib: float, floor: float) -> float:
    """Seconds allowed for sending `size` bytes: `per_mib` per MiB, never below `floor`
    (the request timeout), so a 1 GiB image gets minutes where a JSON call gets seconds
    (DMTF's Redfish-Tacklebox uses a per-MB heuristic too)."""
    return max(floor, per_mib * (size / MIB))


class HashingReader:
    """Chunks of a file (or of one slice of it), hashed on the way; see the module doc.

    `hasher` may be shared between readers of consecutive slices of one file (HPE
    32 MiB sections): only the reader with `final=True` checks the digest and holds its
    last chunk back; the others just feed the shared hash.
    """

    def __init__(self, path: Path, expected_sha256: str, *, offset: int = 0, length: int | None = None,
                 expected_size: int | None = None, hasher: hashlib._Hash | None = None,
                 final: bool = True, chunk_size: int = CHUNK) -> None:
        self.path = Path(path)
        self.expected = expected_sha256.lower()
        self.offset = offset
        self.length = length
        self.expected_size = expected_size
        self.hasher = hasher if hasher is not None else hashlib.sha256()
        self.final = final
        self.chunk_size = chunk_size
        self.sent = 0
        self.completed = False
        self.mismatch: str | None = None

    def size(self) -> int:
        total = os.stat(self.path).st_size
        if self.length is not None:
            return max(0, min(self.length, total - self.offset))
        return max(0, total - self.offset)

    async def chunks(self) -> AsyncIterator[bytes]:
        fh = await asyncio.to_thread(open, self.path, "rb")
        try:
            if self.offset:
                await asyncio.to_thread(fh.seek, self.offset)
            remaining = self.size()
            held: bytes | None = None
            read_total = 0
            while remaining > 0:
                chunk = await asyncio.to_thread(fh.read, min(self.chunk_size, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                read_total += len(chunk)
                self.hasher.update(chunk)
                if held is not None:
                    self.sent += len(held)
                    yield held
                held = chunk
            if self.final:
                self._check(read_total)
            if held is not None:
                self.sent += len(held)
                yield held
            self.completed = True
        finally:
            await asyncio.to_thread(fh.close)

    def _check(self, read_total: int) -> None:
        digest = self.hasher.hexdigest()
        if self.expected_size is not None and self.offset == 0 and self.length is None \
                and read_total != self.expected_size:
            self.mismatch = f"{self.path} is {read_total} bytes, the repository entry says {self.expected_size}"
        elif digest != self.expected:
            self.mismatch = f"{self.path} hashed to sha256 {digest} while being sent, expected {self.expected}"
        if self.mismatch:
            log.error("refusing to send %s: %s", self.path.name, self.mismatch)
            raise ImageChanged(f"image changed on disk; upload aborted before its last byte: {self.mismatch}",
                               hint="run `hwfw repo verify --quarantine` and `hwfw repo sync`, then apply again")


@dataclass(frozen=True, slots=True)
class FormField:
    """A small (non-file) multipart part, e.g. `UpdateParameters` with its JSON."""

    name: str
    value: str | bytes
    content_type: str | None = None
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class FilePart:
    """The image part: streamed from `path`, checked against `sha256` while it goes."""

    name: str
    path: Path
    sha256: str
    filename: str | None = None
    content_type: str = "application/octet-stream"
    offset: int = 0
    length: int | None = None
    expected_size: int | None = None


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def _part_head(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{_quote(name)}"'
    if filename is not None:
        disposition += f'; filename="{_quote(filename)}"'
    lines = [f"--{boundary}", f"Content-Disposition: {disposition}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


class _Body:
    """A request body that can be streamed any number of times, each time freshly hashed."""

    content_type: str
    last_reader: HashingReader | None = None

    def content_length(self) -> int:
        raise NotImplementedError

    def stream(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, "Content-Length": str(self.content_length())}

    @property
    def mismatch(self) -> str | None:
        return self.last_reader.mismatch if self.last_reader else None

    @property
    def completed(self) -> bool:
        return bool(self.last_reader and self.last_reader.completed)


class MultipartBody(_Body):
    """multipart/form-data with small fields first and one streamed file part.

    Fields listed in `trailing` go after the file (unusual; kept for dialects that want
    the file first). The Content-Length is exact, computed from the parts and the file
    size, so BMCs that answer 411 to chunked bodies accept it.
    """

    def __init__(self, fields: Sequence[FormField], file: FilePart, *, trailing: Sequence[FormField] = (),
                 boundary: str | None = None, shared_hasher: hashlib._Hash | None = None, final: bool = True) -> None:
        self.fields = tuple(fields)
        self.trailing = tuple(trailing)
        self.file = file
        self.boundary = boundary or ("hwfw" + secrets.token_hex(16))
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._shared_hasher = shared_hasher
        self._final = final
        self._pre = b"".join(self._field_bytes(f) for f in self.fields) + \
            _part_head(self.boundary, file.name, file.filename or file.path.name, file.content_type)
        self._post = b"\r\n" + b"".join(self._field_bytes(f) for f in self.trailing) + \
            f"--{self.boundary}--\r\n".encode()

    def _field_bytes(self, f: FormField) -> bytes:
        value = f.value.encode("utf-8") if isinstance(f.value, str) else f.value
        return _part_head(self.boundary, f.name, f.filename, f.content_type) + value + b"\r\n"

    def _reader(self) -> HashingReader:
        f = self.file
        return HashingReader(f.path, f.sha256, offset=f.offset, length=f.length, expected_size=f.expected_size,
                             hasher=self._shared_hasher.copy() if self._shared_hasher is not None else None,
                             final=self._final)

    def file_size(self) -> int:
        return self._reader().size()

    def content_length(self) -> int:
        return len(self._pre) + self.file_size() + len(self._post)

    async def stream(self) -> AsyncIterator[bytes]:
        reader = self._reader()
        self.last_reader = reader
        yield self._pre
        async for chunk in reader.chunks():
            yield chunk
        yield self._post


class RawBody(_Body):
    """The image itself as the body (legacy HttpPushUri: `POST` of the raw image)."""

    def __init__(self, file: FilePart) -> None:
        self.file = file
        self.content_type = file.content_type

    def _reader(self) -> HashingReader:
        f = self.file
        return HashingReader(f.path, f.sha256, offset=f.offset, length=f.length, expected_size=f.expected_size)

    def content_length(self) -> int:
        return self._reader().size()

    async def stream(self) -> AsyncIterator[bytes]:
        reader = self._reader()
        self.last_reader = reader
        async for chunk in reader.chunks():
            yield chunk


_BUSY = (503, 429)


async def send_stream(session: RedfishSession, method: str, uri: str, body: _Body, *, clock: Clock,
                      timeout: float, deadline: float, headers: Mapping[str, str] | None = None,
                      auth_check_uri: str | None = None, max_wait: float = 60.0,
                      what: str = "upload") -> httpx.Response:
    """Send a streamed body once it can be sent whole; retry only what is safe to retry.

    `deadline` is an absolute time on `clock` after which busy/refused answers are
    given up on. Returns the BMC's answer (any status: the caller judges it, since
    several vendors wrap success in error-shaped bodies). Raises `ImageChanged` when
    the file did not hash right (nothing retried), `UploadOutcomeUnknown` when the
    whole body went out but the answer was lost, `BmcError` for everything else.
    """
    # A fresh stream per attempt, 0.5 s doubling to 16 s (or the BMC's Retry-After), all
    # within max_wait, until the deadline; the last wait ends at the deadline.
    policy = RetryPolicy(retries=None, backoff=Backoff(base=0.5, factor=2.0, cap=min(max_wait, 16.0), jitter=0.0),
                         retry_after_max=max_wait, clamp_to_deadline=True)
    attempts = policy.attempts(clock, deadline=deadline)
    relogged = False
    while True:
        hdrs = dict(headers or {})
        hdrs.update(body.headers())
        try:
            response = await session.client.request(method, uri, content=body.stream(),
                                                    headers=hdrs, timeout=timeout, check=False, retries=0,
                                                    ignore_deadline=True)
        except ImageChanged:
            raise
        except BmcError as exc:
            if body.mismatch:
                raise ImageChanged(f"image changed on disk; upload aborted before its last byte: {body.mismatch}",
                                   hint="run `hwfw repo verify --quarantine` and `hwfw repo sync`, "
                                        "then apply again") from exc
            cause = exc.__cause__
            never_reached = cause is not None and is_connect_failure(cause)
            if body.completed and not never_reached:
                raise UploadOutcomeUnknown(
                    f"{what}: the whole image was sent but no answer came back ({exc.message})",
                    host=session.host, url=exc.url,
                    hint="the BMC may have accepted it; hwfw settles this from the BMC's tasks before "
                         "sending anything again") from exc
            wait = attempts.next_delay() if isinstance(exc, BmcUnreachable) else None
            if wait is None:
                raise
            log.info("%s: %s failed before the image was sent (%s); retry in %.2fs", session.host, what,
                     exc.message, wait)
            await clock.sleep(wait)
            continue
        if body.mismatch:  # the BMC answered early (e.g. 413) while we were aborting
            raise ImageChanged(f"image changed on disk; upload aborted before its last byte: {body.mismatch}")
        status = response.status_code
        if status == 401 and not relogged and auth_check_uri:
            # Sessions vanish on BMC resets: one authenticated GET re-logs in, then retry once.
            relogged = True
            try:
                await session.request("GET", auth_check_uri, retries=0)
            except BmcAuthError:
                raise error_for_response(session.host, method, str(response.request.url), response,
                                         what=f"{what} refused") from None
            continue
        if status in _BUSY:
            wait = attempts.next_delay(parse_retry_after(response.headers.get("retry-after"), clock))
            if wait is not None:
                log.info("%s: %s answered HTTP %d (busy); retry %d in %.2fs", session.host, what, status,
                         attempts.retries, wait)
                await clock.sleep(wait)
                continue
        return response
