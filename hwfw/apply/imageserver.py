"""hwfw's own short-lived image server, for BMCs that pull (`UpdateService.SimpleUpdate`).

    async with ImageServer(settings, clock) as srv:
        url = srv.publish(path, sha256)          # one unguessable URL per image per run
        ... SimpleUpdate {"ImageURI": url} ...
        srv.access_log                           # who fetched what, how much, with which status

What it guarantees:

- **Only for the run.** It listens from `__aenter__` to `__aexit__`; every URL is
  `/<secrets.token_urlsafe(24)>/<file name>` and dies with the server (or `unpublish`).
  Nothing else is served: no listing, no guessable names.
- **Only bytes that hash right.** `publish` hashes the file once and refuses it unless it
  matches the repository sha256; it also records the sha256 of every 1 MiB block. While
  serving, each block is re-read and re-hashed *before* any of it is written to the
  socket, so a file that changed after publication is never served, not even partly
  inside a range request: the transfer is cut (the BMC sees a short body and fails its
  transfer, which the driver reports).
- **Range requests** (`Range: bytes=a-b`, suffix and open-ended forms) answer 206 with
  `Content-Range`; unsatisfiable ones 416; several ranges are served as the whole file.
- **At most `max_transfers` transfers at once.** Further requests wait for a slot (a BMC
  sees a slow server, not an error); beyond a queue of 4x that, 503 + Retry-After.
- **Access log.** One `Access` per request: remote address (which BMC), path, image,
  status, bytes sent, range, timing; `access_log` returns them, `fetches(...)` filters.

Plain HTTP/1.1 on asyncio streams (one request per connection), optionally TLS with
`image_server.tls_cert`/`tls_key`. Runs in the current event loop; no thread, no framework.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import os
import secrets
import ssl
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from hwfw.clock import Clock, SystemClock, utc_now_iso
from hwfw.config.model import ImageServerSettings, Settings
from hwfw.errors import ApplyError, IntegrityError
from hwfw.logs import get_logger
from hwfw.repository.store import parse_range

__all__ = ["Access", "ImageServer", "PublishedImage"]

log = get_logger("apply.imageserver")

BLOCK = 1 << 20
_MAX_HEAD = 16 * 1024
_HEAD_TIMEOUT = 30.0
_QUEUE_FACTOR = 4


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

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass
class _Stats:
    active: int = 0
    waiting: int = 0
    peak_active: int = 0


def _split_listen(listen: str) -> tuple[str, int]:
    text = listen.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":") or "0"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    elif text.count(":") > 1:  # bare IPv6 address, no port
        host, port = text, "0"
    else:
        host, port = text, "0"
    return host or "0.0.0.0", int(port)


def _is_wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


class ImageServer:
    """See the module docstring. `settings` is the workspace `Settings` or just its
    `ImageServerSettings`."""

    def __init__(self, settings: Settings | ImageServerSettings | None = None, clock: Clock | None = None,
                 *, queue_limit: int | None = None) -> None:
        if isinstance(settings, Settings):
            settings = settings.image_server
        self.settings = settings or ImageServerSettings()
        self.clock = clock or SystemClock()
        self.max_transfers = max(1, int(self.settings.max_transfers))
        self.queue_limit = queue_limit if queue_limit is not None else _QUEUE_FACTOR * self.max_transfers
        self._images: dict[str, PublishedImage] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._log: list[Access] = []
        self._slots = asyncio.Semaphore(self.max_transfers)
        self._stats = _Stats()
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.base_url: str | None = None
        self.address: tuple[str, int] | None = None

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> "ImageServer":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        host, port = _split_listen(self.settings.listen)
        ctx: ssl.SSLContext | None = None
        if self.settings.tls_cert or self.settings.tls_key:
            if not (self.settings.tls_cert and self.settings.tls_key):
                raise ApplyError("image_server needs both tls_cert and tls_key for HTTPS",
                                 hint="set both in settings.image_server, or neither for plain HTTP")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.settings.tls_cert), str(self.settings.tls_key))
        try:
            self._server = await asyncio.start_server(self._on_connection, host, port, ssl=ctx,
                                                      reuse_address=True, limit=_MAX_HEAD)
        except OSError as exc:
            raise ApplyError(f"image server cannot listen on {self.settings.listen}: {exc.strerror or exc}",
                             hint="change settings.image_server.listen") from exc
        sock = self._server.sockets[0]
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        scheme = "https" if ctx else "http"
        if self.settings.advertise_url:
            self.base_url = self.settings.advertise_url.rstrip("/")
        elif _is_wildcard(host):
            await self.stop()
            raise ApplyError(f"image server listens on every address ({self.settings.listen}) but has no "
                             "advertise_url: BMCs would not know where to fetch images",
                             hint="set settings.image_server.advertise_url to a URL the BMCs can reach, "
                                  "e.g. http://10.0.0.5:8080")
        else:
            shown = f"[{host}]" if ":" in host else host
            self.base_url = f"{scheme}://{shown}:{self.address[1]}"
        log.info("image server listening on %s:%d, advertised as %s", self.address[0], self.address[1],
                 self.base_url)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            try:
                await asyncio.wait_for(server.wait_closed(), 5.0)
            except (asyncio.TimeoutError, TimeoutError):  # pragma: no cover - defensive
                pass
        self._images.clear()
        self._by_key.clear()

    @property
    def running(self) -> bool:
        return self._server is not None

    # ------------------------------------------------------------------ publishing
    def publish(self, path: Path | str, sha256: str, *, name: str | None = None) -> str:
        """Serve `path` under a fresh unguessable URL; the same (path, sha256) twice in a
        run gets the same URL. Hashes the whole file (synchronously: ~0.7 s per GiB);
        use `publish_async` from busy event loops. Raises IntegrityError on mismatch."""
        if self.base_url is None:
            raise ApplyError("the image server is not running (use `async with ImageServer(...)`)")
        path = Path(path)
        sha256 = sha256.lower()
        key = (str(path.resolve()), sha256)
        token = self._by_key.get(key)
        if token is not None and token in self._images:
            return self._images[token].url
        digest, blocks, identity = _hash_blocks(path)
        if digest != sha256:
            raise IntegrityError(f"refusing to publish {path}: its sha256 is {digest}, the repository says {sha256}",
                                 hint="run `hwfw repo verify --quarantine`, then `hwfw repo sync`")
        token = secrets.token_urlsafe(24)
        name = name or path.name
        url = f"{self.base_url}/{token}/{quote(name)}"
        self._images[token] = PublishedImage(token, path, sha256, identity[2], name, url, blocks, identity)
        self._by_key[key] = token
        log.info("publishing %s (sha256 %s…) at %s/%s…/%s", path.name, sha256[:12], self.base_url, token[:4], name)
        return url

    async def publish_async(self, path: Path | str, sha256: str, *, name: str | None = None) -> str:
        """`publish` with the hashing done in a worker thread."""
        if self.base_url is None:
            raise ApplyError("the image server is not running (use `async with ImageServer(...)`)")
        p = Path(path)
        key = (str(p.resolve()), sha256.lower())
        token = self._by_key.get(key)
        if token is not None and token in self._images:
            return self._images[token].url
        digest, blocks, identity = await asyncio.to_thread(_hash_blocks, p)
        if digest != sha256.lower():
            raise IntegrityError(f"refusing to publish {p}: its sha256 is {digest}, the repository says {sha256}",
                                 hint="run `hwfw repo verify --quarantine`, then `hwfw repo sync`")
        token = secrets.token_urlsafe(24)
        name = name or p.name
        url = f"{self.base_url}/{token}/{quote(name)}"
        self._images[token] = PublishedImage(token, p, sha256.lower(), identity[2], name, url, blocks, identity)
        self._by_key[key] = token
        return url

    def unpublish(self, url: str) -> None:
        token = self._token_of(urlsplit(url).path)
        image = self._images.pop(token or "", None)
        if image is not None:
            self._by_key = {k: v for k, v in self._by_key.items() if v != image.token}

    def published(self) -> list[PublishedImage]:
        return list(self._images.values())

    # ------------------------------------------------------------------ access log
    @property
    def access_log(self) -> list[Access]:
        """Every request so far, oldest first (a copy)."""
        return list(self._log)

    def fetches(self, *, sha256: str | None = None, remote: str | None = None,
                complete: bool | None = None) -> list[Access]:
        """Image requests filtered by image, BMC address and completeness."""
        return [a for a in self._log
                if (sha256 is None or a.sha256 == sha256.lower()) and (remote is None or a.remote == remote)
                and (complete is None or a.complete == complete)]

    @property
    def peak_transfers(self) -> int:
        return self._stats.peak_active

    # ------------------------------------------------------------------ HTTP
    def _token_of(self, path: str) -> str | None:
        prefix = urlsplit(self.base_url or "").path.rstrip("/")
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        parts = path.lstrip("/").split("/", 1)
        return parts[0] if parts and parts[0] else None

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # pragma: no cover - a bug must not kill the server
            log.exception("image server: unexpected error")
        finally:
            try:
                writer.close()
            except (OSError, RuntimeError):  # pragma: no cover - transport already gone
                log.debug("image server: closing a connection failed", exc_info=True)
            if task is not None:
                self._connections.discard(task)

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", None)
        remote, remote_port = str(peer[0]), (int(peer[1]) if len(peer) > 1 and peer[1] is not None else None)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT)
        except (asyncio.LimitOverrunError, ValueError):
            await self._simple(writer, 431, "request header too large")
            return
        except (asyncio.TimeoutError, TimeoutError, asyncio.IncompleteReadError):
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            await self._simple(writer, 400, "bad request line")
            return
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        path = unquote(target.split("?", 1)[0])
        started = time.monotonic()
        access = Access(remote=remote, remote_port=remote_port, method=method, path=path, status=0,
                        range=headers.get("range"), started_at=utc_now_iso(self.clock))
        self._log.append(access)
        try:
            await self._answer(method, path, headers, writer, access)
        finally:
            access.duration = round(time.monotonic() - started, 6)
            log.info("image server: %s %s %s -> %d, %d bytes%s", remote, method,
                     access.name or path[:16] + "…", access.status, access.bytes_sent,
                     f" ({access.error})" if access.error else "")

    async def _answer(self, method: str, path: str, headers: dict[str, str], writer: asyncio.StreamWriter,
                      access: Access) -> None:
        if method not in ("GET", "HEAD"):
            access.status = 405
            await self._simple(writer, 405, "method not allowed", extra=[("Allow", "GET, HEAD")])
            return
        token = self._token_of(path)
        image = self._images.get(token or "")
        if image is None:
            access.status = 404
            await self._simple(writer, 404, "not found")
            return
        access.sha256, access.name = image.sha256, image.name
        try:
            st = os.stat(image.path)
        except OSError as exc:
            access.status, access.error = 500, f"image file unreadable: {exc}"
            await self._simple(writer, 500, "image unavailable")
            return
        if (st.st_dev, st.st_ino, st.st_size) != image.identity:
            access.status, access.error = 500, "image file changed since it was published; not served"
            log.error("image server: %s changed on disk after publication; refusing to serve it", image.path)
            await self._simple(writer, 500, "image unavailable")
            return
        size = image.size
        try:
            span = parse_range(headers.get("range"), size)
        except ValueError:
            access.status = 416
            await self._simple(writer, 416, "range not satisfiable", extra=[("Content-Range", f"bytes */{size}")])
            return
        start, end = span if span is not None else (0, size)
        status = 206 if span is not None else 200
        if self._stats.waiting >= self.queue_limit and self._stats.active >= self.max_transfers:
            access.status, access.error = 503, "too many transfers waiting"
            await self._simple(writer, 503, "busy", extra=[("Retry-After", "5")])
            return
        self._stats.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._stats.waiting -= 1
        self._stats.active += 1
        self._stats.peak_active = max(self._stats.peak_active, self._stats.active)
        try:
            hdrs = [("Content-Type", "application/octet-stream"), ("Content-Length", str(end - start)),
                    ("Accept-Ranges", "bytes"), ("ETag", f'"{image.sha256[:32]}"')]
            if status == 206:
                hdrs.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
            access.status = status
            await self._write_head(writer, status, hdrs)
            if method == "HEAD":
                access.complete = True
                return
            await self._stream(image, start, end, writer, access)
        finally:
            self._stats.active -= 1
            self._slots.release()

    async def _stream(self, image: PublishedImage, start: int, end: int, writer: asyncio.StreamWriter,
                      access: Access) -> None:
        fh = await asyncio.to_thread(open, image.path, "rb")
        try:
            block = start // BLOCK
            while block * BLOCK < end:
                offset = block * BLOCK
                await asyncio.to_thread(fh.seek, offset)
                data = await asyncio.to_thread(fh.read, BLOCK)
                expected = image.block_hashes[block] if block < len(image.block_hashes) else None
                if expected is None or hashlib.sha256(data).digest() != expected:
                    access.error = f"block {block} of {image.name} does not hash right; transfer cut"
                    log.error("image server: %s changed on disk (block %d); cutting the transfer", image.path, block)
                    writer.transport.abort()
                    return
                lo = max(start, offset) - offset
                hi = min(end, offset + len(data)) - offset
                writer.write(data[lo:hi])
                await writer.drain()
                access.bytes_sent += hi - lo
                block += 1
            access.complete = access.bytes_sent == end - start
        finally:
            await asyncio.to_thread(fh.close)

    async def _write_head(self, writer: asyncio.StreamWriter, status: int, headers: list[tuple[str, str]]) -> None:
        reason = _REASONS.get(status, "")
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}", "Server: hwfw-image-server",
                 "Connection: close", *(f"{k}: {v}" for k, v in headers)]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()

    async def _simple(self, writer: asyncio.StreamWriter, status: int, text: str,
                      extra: list[tuple[str, str]] | None = None) -> None:
        body = (text + "\n").encode()
        await self._write_head(writer, status, [("Content-Type", "text/plain; charset=utf-8"),
                                                ("Content-Length", str(len(body))), *(extra or [])])
        writer.write(body)
        await writer.drain()


_REASONS = {200: "OK", 206: "Partial Content", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            416: "Range Not Satisfiable", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _hash_blocks(path: Path) -> tuple[str, tuple[bytes, ...], tuple[int, int, int]]:
    """Whole-file sha256, per-block sha256s and the file's identity, in one read."""
    whole = hashlib.sha256()
    blocks: list[bytes] = []
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        while True:
            data = fh.read(BLOCK)
            if not data:
                break
            whole.update(data)
            blocks.append(hashlib.sha256(data).digest())
    return whole.hexdigest(), tuple(blocks), (st.st_dev, st.st_ino, st.st_size)
