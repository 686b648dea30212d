"""The image server's ASGI application: published images by exact path, checked block by block.

`ImageServer` (imageserver.py) owns the life cycle and the publishing; this module
answers one request: match the path, check the file, honour Range, wait for a
transfer slot, then stream it block by block, each block re-hashed before any of its
bytes is sent. Every request becomes one `Access` in the log and one `image-served`
event. Raw ASGI (uvicorn serves it): no framework, no routing beyond one dict lookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, BinaryIO, Callable
from urllib.parse import unquote

from hwfw.clock import Clock, utc_now_iso
from hwfw.events import Event, EventSink, guarded
from hwfw.logs import get_logger
from hwfw.repository.store import parse_range

log = get_logger("apply.imageserver")

BLOCK = 1 << 20
IMAGE_SERVED = "image-served"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PublishedImage:
    token: str
    path: Path
    sha256: str
    size: int
    name: str
    url: str
    block_hashes: tuple[bytes, ...]
    identity: tuple[int, int, int]  # (st_dev, st_ino, st_size) at publication
    image: str | None = None        # the repository entry id, when the publisher named it


@dataclass(slots=True)
class Access:
    """One request to the image server (what the executor and tests read)."""

    remote: str                 # the BMC's address
    remote_port: int | None
    method: str
    path: str
    status: int
    bytes_sent: int = 0
    sha256: str | None = None   # the image asked for, when the path named one
    name: str | None = None
    range: str | None = None
    started_at: str = ""
    duration: float = 0.0
    complete: bool = False      # every byte of the answer went out
    error: str | None = None
    image: str | None = None    # its repository entry id, when the publisher named it

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class TransferCut(Exception):
    """Raised to make uvicorn drop the connection mid-body (the client sees a short body)."""


class ImageApp:
    """The ASGI application (see the module docstring). `images` maps token -> image."""

    def __init__(self, clock: Clock, *, max_transfers: int, queue_limit: int, events: EventSink | None,
                 run_id: str) -> None:
        self.clock = clock
        self.images: dict[str, PublishedImage] = {}
        self.prefix = ""            # the advertised URL's path, if it has one
        self.log: list[Access] = []
        self.max_transfers, self.queue_limit = max_transfers, queue_limit
        self.events, self.run_id = guarded(events), run_id
        self._slots = asyncio.Semaphore(max_transfers)
        self.active = self.waiting = self.peak_active = 0
        self.stopping = False       # set by ImageServer.stop before it cancels what still runs

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        client = scope.get("client") or ("?", None)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        raw_path = scope.get("raw_path") or scope["path"].encode()
        access = Access(remote=str(client[0]), remote_port=client[1], method=scope["method"],
                        path=raw_path.decode("latin-1"), status=0, range=headers.get("range"),
                        started_at=utc_now_iso(self.clock))
        self.log.append(access)
        started = time.monotonic()
        try:
            await self._answer(scope, receive, send, headers, raw_path, access)
        except asyncio.CancelledError:
            if not self.stopping:
                raise
            access.error = "the image server stopped during the transfer"  # the run is over
        finally:
            access.duration = round(time.monotonic() - started, 6)
            log.info("image server: %s %s %s -> %d, %d bytes%s", access.remote, access.method,
                     access.name or "(no image)", access.status, access.bytes_sent,
                     f" ({access.error})" if access.error else "")
            self._report(access)

    def _report(self, access: Access) -> None:
        self.events.emit(Event(IMAGE_SERVED, utc_now_iso(self.clock), self.run_id, image=access.image,
                               sha256=access.sha256,
                               payload={"remote": access.remote, "remote_port": access.remote_port,
                                        "method": access.method, "status": access.status, "name": access.name,
                                        "bytes": access.bytes_sent, "range": access.range,
                                        "complete": access.complete, "error": access.error,
                                        "seconds": access.duration}))

    def lookup(self, raw_path: bytes) -> PublishedImage | None:
        """The image whose URL path is exactly `raw_path` (each segment percent-decoded on its own)."""
        text = raw_path.decode("latin-1")
        if self.prefix:
            if not text.startswith(self.prefix + "/"):
                return None
            text = text[len(self.prefix):]
        parts = text.split("/")
        if len(parts) != 3 or parts[0] != "":
            return None
        image = self.images.get(parts[1])
        if image is None or unquote(parts[2], errors="strict") != image.name:
            return None
        return image

    async def _answer(self, scope: dict[str, Any], receive: Receive, send: Send, headers: dict[str, str],
                      raw_path: bytes, access: Access) -> None:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            await self._simple(send, access, 405, "method not allowed", [("allow", "GET, HEAD")])
            return
        try:
            image = self.lookup(raw_path)
        except UnicodeDecodeError:
            image = None
        if image is None:
            await self._simple(send, access, 404, "not found")
            return
        access.sha256, access.name, access.image = image.sha256, image.name, image.image
        problem = _changed(image)
        if problem is not None:
            access.error = problem
            log.error("image server: %s: %s", image.path, problem)
            await self._simple(send, access, 500, "image unavailable")
            return
        try:
            span = parse_range(headers.get("range"), image.size)
        except ValueError:
            await self._simple(send, access, 416, "range not satisfiable",
                               [("content-range", f"bytes */{image.size}")])
            return
        if self.waiting >= self.queue_limit and self.active >= self.max_transfers:
            access.error = "too many transfers waiting"
            await self._simple(send, access, 503, "busy", [("retry-after", "5")])
            return
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            await self._transfer(image, span, method, receive, send, access)
        finally:
            self.active -= 1
            self._slots.release()

    async def _transfer(self, image: PublishedImage, span: tuple[int, int] | None, method: str,
                        receive: Receive, send: Send, access: Access) -> None:
        start, end = span if span is not None else (0, image.size)
        headers = [("content-type", "application/octet-stream"), ("content-length", str(end - start)),
                   ("accept-ranges", "bytes"), ("etag", f'"{image.sha256[:32]}"')]
        if span is not None:
            headers.append(("content-range", f"bytes {start}-{end - 1}/{image.size}"))
        access.status = 206 if span is not None else 200
        await send({"type": "http.response.start", "status": access.status, "headers": _encode(headers)})
        if method == "HEAD" or start == end:
            await send({"type": "http.response.body", "body": b""})
            access.complete = True
            return
        await receive()  # the (empty) request body; the next receive() only returns on disconnect
        gone = asyncio.ensure_future(receive())
        fh = await asyncio.to_thread(open, image.path, "rb")
        try:
            await self._blocks(image, fh, start, end, send, access, gone)
        finally:
            # No await from here on: once the last byte is sent the request is done, even
            # if the server stops right after.
            gone.cancel()
            fh.close()

    async def _blocks(self, image: PublishedImage, fh: BinaryIO, start: int, end: int, send: Send,
                      access: Access, gone: asyncio.Future[Any]) -> None:
        block = start // BLOCK
        while block * BLOCK < end:
            offset = block * BLOCK
            data, good = await asyncio.to_thread(_read_block, fh, offset, image.block_hashes, block)
            if not good:
                access.error = f"block {block} of {image.name} does not hash right; transfer cut"
                log.error("image server: %s changed on disk (block %d); cutting the transfer", image.path, block)
                raise TransferCut(access.error)
            if gone.done():
                access.error = "the client went away"
                return
            last = offset + len(data) >= end
            lo, hi = max(start, offset) - offset, min(end, offset + len(data)) - offset
            await send({"type": "http.response.body", "body": data[lo:hi], "more_body": not last})
            access.bytes_sent += hi - lo
            block += 1
        access.complete = access.bytes_sent == end - start

    async def _simple(self, send: Send, access: Access, status: int, text: str,
                      extra: list[tuple[str, str]] | None = None) -> None:
        access.status = status
        body = (text + "\n").encode()
        headers = [("content-type", "text/plain; charset=utf-8"), ("content-length", str(len(body))), *(extra or [])]
        await send({"type": "http.response.start", "status": status, "headers": _encode(headers)})
        await send({"type": "http.response.body", "body": body})


def _encode(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]


def _changed(image: PublishedImage) -> str | None:
    """Why the published file can no longer be served as it was checked, if it cannot."""
    try:
        st = os.stat(image.path)
    except OSError as exc:
        return f"image file unreadable: {exc}"
    if (st.st_dev, st.st_ino, st.st_size) != image.identity:
        return "image file changed since it was published; not served"
    return None


def _read_block(fh: BinaryIO, offset: int, hashes: tuple[bytes, ...], block: int) -> tuple[bytes, bool]:
    """Block `block` of the file and whether it still hashes to what was published."""
    fh.seek(offset)
    data = fh.read(BLOCK)
    expected = hashes[block] if block < len(hashes) else None
    return data, expected is not None and hashlib.sha256(data).digest() == expected
