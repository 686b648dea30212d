"""hwfw's own short-lived image server, for BMCs that pull (`UpdateService.SimpleUpdate`).

    async with ImageServer(settings, clock, events=sink, run_id=run_id) as srv:
        url = srv.publish(path, sha256)          # one unguessable URL per image per run
        ... SimpleUpdate {"ImageURI": url} ...
        srv.access_log                           # who fetched what, how much, with which status

What it guarantees:

- **Only for the run.** It listens from `__aenter__` to `__aexit__`; every URL is
  `/<secrets.token_urlsafe(24)>/<file name>` and dies with the server (or `unpublish`).
  Nothing else is served: no listing, no guessable names. A request matches only if
  its path is exactly a published one (after percent-decoding each segment on its
  own): `..`, doubled or encoded slashes, absolute-form targets and any other spelling
  get the same bare 404, which never echoes the request.
- **Only bytes that hash right.** `publish` hashes the file once and refuses it unless it
  matches the repository sha256; it also records the sha256 of every 1 MiB block. While
  serving, each block is re-read and re-hashed *before* any of it is sent, so a file
  that changed after publication is never served, not even partly inside a range
  request: the transfer is cut (the BMC sees a short body and fails its transfer,
  which the driver reports).
- **Range requests** (`Range: bytes=a-b`, suffix and open-ended forms) answer 206 with
  `Content-Range`; unsatisfiable ones 416; several ranges are served as the whole file.
- **At most `max_transfers` transfers at once.** Further requests wait for a slot (a BMC
  sees a slow server, not an error); beyond a queue of 4x that, 503 + Retry-After.
- **Access log.** One `Access` per request: remote address (which BMC), path, image,
  status, bytes sent, range, timing; `access_log` returns them, `fetches(...)` filters.
  Each finished request is also an `image-served` event (hwfw/events.py) on the run's
  sink, without the path (its token is the image's only secret).

HTTP is uvicorn's (h11: it hands the request target over as sent, so an absolute-form
target is not quietly normalised into a match), running in the current event loop;
HTTPS with `image_server.tls_cert`/`tls_key`. The ASGI application is imagehttp.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import os
import secrets
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import uvicorn

from hwfw.apply.imagehttp import BLOCK, Access, ImageApp, PublishedImage, TransferCut
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import ImageServerSettings, Settings
from hwfw.errors import ApplyError, IntegrityError
from hwfw.events import EventSink
from hwfw.logs import get_logger

__all__ = ["BLOCK", "Access", "ImageServer", "PublishedImage"]

log = get_logger("apply.imageserver")

_QUEUE_FACTOR = 4


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


def _bind(host: str, port: int) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


class _QuietCuts(logging.Filter):
    """uvicorn logs an app's exception with its traceback; a transfer cut on purpose is
    already logged by us, as an error of the image, not of the server."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, TransferCut)


_QUIET_CUTS = _QuietCuts()


@dataclass
class _Running:
    server: uvicorn.Server
    sock: socket.socket


class ImageServer:
    """See the module docstring. `settings` is the workspace `Settings` or just its
    `ImageServerSettings`; `events` receives one `image-served` event per request."""

    def __init__(self, settings: Settings | ImageServerSettings | None = None, clock: Clock | None = None,
                 *, queue_limit: int | None = None, events: EventSink | None = None, run_id: str = "") -> None:
        if isinstance(settings, Settings):
            settings = settings.image_server
        self.settings = settings or ImageServerSettings()
        self.clock = clock or SystemClock()
        self.max_transfers = max(1, int(self.settings.max_transfers))
        self.queue_limit = queue_limit if queue_limit is not None else _QUEUE_FACTOR * self.max_transfers
        self._by_key: dict[tuple[str, str], str] = {}
        self._app = ImageApp(self.clock, max_transfers=self.max_transfers, queue_limit=self.queue_limit,
                             events=events, run_id=run_id)
        self._running: _Running | None = None
        self.base_url: str | None = None
        self.address: tuple[str, int] | None = None

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> ImageServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        host, port = _split_listen(self.settings.listen)
        tls = self._tls_files()
        try:
            sock = _bind(host, port)
        except OSError as exc:
            raise ApplyError(f"image server cannot listen on {self.settings.listen}: {exc.strerror or exc}",
                             hint="change settings.image_server.listen") from exc
        bound = sock.getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        scheme = "https" if tls else "http"
        if self.settings.advertise_url:
            self.base_url = self.settings.advertise_url.rstrip("/")
        elif _is_wildcard(host):
            sock.close()
            raise ApplyError(f"image server listens on every address ({self.settings.listen}) but has no "
                             "advertise_url: BMCs would not know where to fetch images",
                             hint="set settings.image_server.advertise_url to a URL the BMCs can reach, "
                                  "e.g. http://10.0.0.5:8080")
        else:
            shown = f"[{host}]" if ":" in host else host
            self.base_url = f"{scheme}://{shown}:{self.address[1]}"
        self._app.prefix = urlsplit(self.base_url).path.rstrip("/")
        try:
            self._running = _Running(await self._serve(sock, tls), sock)
        except BaseException:
            sock.close()
            raise
        log.info("image server listening on %s:%d, advertised as %s", self.address[0], self.address[1],
                 self.base_url)

    def _tls_files(self) -> tuple[Path, Path] | None:
        cert, key = self.settings.tls_cert, self.settings.tls_key
        if not (cert or key):
            return None
        if not (cert and key):
            raise ApplyError("image_server needs both tls_cert and tls_key for HTTPS",
                             hint="set both in settings.image_server, or neither for plain HTTP")
        return Path(cert), Path(key)

    async def _serve(self, sock: socket.socket, tls: tuple[Path, Path] | None) -> uvicorn.Server:
        transfers = self.max_transfers + self.queue_limit
        config = uvicorn.Config(
            self._app, http="h11", ws="none", lifespan="off", loop="none", log_config=None, log_level=None,
            access_log=False, server_header=False, proxy_headers=False, timeout_keep_alive=5,
            limit_concurrency=2 * transfers + 16, backlog=256,
            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None)
        try:
            config.load()
        except (OSError, ssl.SSLError) as exc:
            raise ApplyError(f"image server cannot load its TLS certificate or key: {exc}",
                             hint="check settings.image_server.tls_cert and tls_key") from exc
        logging.getLogger("uvicorn.error").addFilter(_QUIET_CUTS)
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        return server

    async def stop(self) -> None:
        """Stop listening and end every transfer still running (the run is over)."""
        running, self._running = self._running, None
        if running is not None:
            self._app.stopping = True
            server = running.server
            for listener in server.servers:
                listener.close()
            for connection in list(server.server_state.connections):
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
            tasks = list(server.server_state.tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            for listener in server.servers:
                try:
                    await asyncio.wait_for(listener.wait_closed(), 5.0)
                except TimeoutError:  # pragma: no cover - defensive
                    pass
            running.sock.close()
        self._app.images.clear()
        self._by_key.clear()

    @property
    def running(self) -> bool:
        return self._running is not None

    # ------------------------------------------------------------------ publishing
    def publish(self, path: Path | str, sha256: str, *, name: str | None = None, image: str | None = None) -> str:
        """Serve `path` under a fresh unguessable URL; the same (path, sha256) twice in a
        run gets the same URL. Hashes the whole file (synchronously: ~0.7 s per GiB);
        use `publish_async` from busy event loops. Raises IntegrityError on mismatch.
        `image` (the repository entry id) labels the access events."""
        known = self._known(path, sha256)
        if known is not None:
            return known
        return self._add(Path(path), sha256.lower(), _hash_blocks(Path(path)), name, image)

    async def publish_async(self, path: Path | str, sha256: str, *, name: str | None = None,
                            image: str | None = None) -> str:
        """`publish` with the hashing done in a worker thread."""
        known = self._known(path, sha256)
        if known is not None:
            return known
        hashed = await asyncio.to_thread(_hash_blocks, Path(path))
        return self._add(Path(path), sha256.lower(), hashed, name, image)

    def _known(self, path: Path | str, sha256: str) -> str | None:
        if self.base_url is None:
            raise ApplyError("the image server is not running (use `async with ImageServer(...)`)")
        token = self._by_key.get((str(Path(path).resolve()), sha256.lower()))
        image = self._app.images.get(token or "")
        return image.url if image is not None else None

    def _add(self, path: Path, sha256: str, hashed: tuple[str, tuple[bytes, ...], tuple[int, int, int]],
             name: str | None, image: str | None) -> str:
        digest, blocks, identity = hashed
        if digest != sha256:
            raise IntegrityError(f"refusing to publish {path}: its sha256 is {digest}, the repository says {sha256}",
                                 hint="run `hwfw repo verify --quarantine`, then `hwfw repo sync`")
        token = secrets.token_urlsafe(24)
        name = name or path.name
        url = f"{self.base_url}/{token}/{quote(name)}"
        self._app.images[token] = PublishedImage(token, path, sha256, identity[2], name, url, blocks, identity, image)
        self._by_key[(str(path.resolve()), sha256)] = token
        log.info("publishing %s (sha256 %s…) at %s/%s…/%s", path.name, sha256[:12], self.base_url, token[:4], name)
        return url

    def unpublish(self, url: str) -> None:
        parts = urlsplit(url).path[len(self._app.prefix):].lstrip("/").split("/", 1)
        image = self._app.images.pop(parts[0], None)
        if image is not None:
            self._by_key = {k: v for k, v in self._by_key.items() if v != image.token}

    def published(self) -> list[PublishedImage]:
        return list(self._app.images.values())

    # ------------------------------------------------------------------ access log
    @property
    def access_log(self) -> list[Access]:
        """Every request so far, oldest first (a copy)."""
        return list(self._app.log)

    def fetches(self, *, sha256: str | None = None, remote: str | None = None,
                complete: bool | None = None) -> list[Access]:
        """Image requests filtered by image, BMC address and completeness."""
        return [a for a in self._app.log
                if (sha256 is None or a.sha256 == sha256.lower()) and (remote is None or a.remote == remote)
                and (complete is None or a.complete == complete)]

    @property
    def peak_transfers(self) -> int:
        return self._app.peak_active


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
