"""A threaded HTTP file server for repository tests and benchmarks (loopback only).

Serves registered blobs (bytes in memory or files on disk) with Range/If-Range,
ETag and Last-Modified, logs every request, and injects faults: a fixed status, a
per-request latency, or a connection dropped after N body bytes.

Also runnable, for the benchmarks: `python -m tests.repository.fileserver --root DIR
[--latency 0.05] --port-file FILE` serves every file of DIR at /<name>.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Blob:
    data: bytes | None = None
    path: Path | None = None
    status: int | None = None
    drop_after: int | None = None
    drops: int = 0
    ranges: bool = True
    etag: str = ""
    last_modified: str = field(default_factory=lambda: formatdate(usegmt=True))

    @property
    def size(self) -> int:
        if self.data is not None:
            return len(self.data)
        assert self.path is not None
        return self.path.stat().st_size


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    range: str | None
    if_range: str | None
    status: int
    sent: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FileServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add ~40 ms to every small response (real servers set it too).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _finish(self, status: int, sent: int) -> None:
        self.server.owner._record(Request(self.command, urlsplit(self.path).path, self.headers.get("Range"),
                                          self.headers.get("If-Range"), status, sent))

    def _serve(self, *, body: bool) -> None:
        owner = self.server.owner
        owner._begin()
        try:
            self._respond(body=body)
        finally:
            owner._end()

    def _respond(self, *, body: bool) -> None:
        owner = self.server.owner
        if owner.latency:
            time.sleep(owner.latency)
        name = urlsplit(self.path).path
        blob = owner.blobs.get(name)
        if blob is None or blob.status is not None:
            status = blob.status if blob is not None and blob.status is not None else 404
            payload = f"{status} for {name}\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if body:
                self.wfile.write(payload)
            self._finish(status, 0)
            return
        size = blob.size
        start, end, status = 0, size, 200
        rng, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        match = _RANGE.match(rng or "")
        if match and blob.ranges and (not if_range or if_range in (blob.etag, blob.last_modified)):
            start = int(match.group(1))
            end = min(size, int(match.group(2)) + 1) if match.group(2) else size
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._finish(416, 0)
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes" if blob.ranges else "none")
        self.send_header("ETag", blob.etag)
        self.send_header("Last-Modified", blob.last_modified)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if not body:
            self._finish(status, 0)
            return
        limit = end - start
        drop = False
        with owner.lock:
            if blob.drop_after is not None and blob.drops > 0:
                blob.drops -= 1
                drop = True
                limit = min(limit, blob.drop_after)
        sent = 0
        try:
            sent = self._send(blob, start, limit)
        except (BrokenPipeError, ConnectionResetError):
            drop = True
        finally:
            self._finish(status, sent)
        if drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _send(self, blob: Blob, start: int, count: int) -> int:
        if blob.data is not None:
            view = memoryview(blob.data)[start:start + count]
            sent = 0
            while sent < len(view):
                n = min(1 << 20, len(view) - sent)
                self.wfile.write(view[sent:sent + n])
                sent += n
            return sent
        assert blob.path is not None
        with open(blob.path, "rb") as fh:
            return int(self.connection.sendfile(fh, start, count))


class FileServer:
    """Start with `with FileServer() as srv:`; `srv.add("/x.bin", data)` returns the URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.latency = latency
        self.blobs: dict[str, Blob] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        # Requests being answered: a client has its answer before the handler thread
        # records it, so the log is read once none is in flight.
        self._settled = threading.Condition(self.lock)
        self._in_flight = 0
        self._httpd = _Server((host, port), _Handler)
        self._httpd.owner = self
        self.scheme = "http"
        if tls is not None:  # (certificate chain PEM, key PEM)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))
            self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"{self.scheme}://{host}:{port}"

    def url(self, name: str) -> str:
        return self.base_url + name

    def add(self, name: str, data: bytes | None = None, *, path: Path | None = None, status: int | None = None,
            drop_after: int | None = None, drops: int = 1, ranges: bool = True) -> str:
        if not name.startswith("/"):
            name = "/" + name
        digest = hashlib.sha256(data).hexdigest()[:16] if data is not None else os.urandom(8).hex()
        self.blobs[name] = Blob(data, path, status, drop_after, drops if drop_after is not None else 0,
                                ranges, etag=f'"{digest}"')
        return self.url(name)

    def _begin(self) -> None:
        with self.lock:
            self._in_flight += 1

    def _end(self) -> None:
        with self.lock:
            self._in_flight -= 1
            self._settled.notify_all()

    def _record(self, req: Request) -> None:
        with self.lock:
            self.requests.append(req)

    def gets(self, name: str) -> list[Request]:
        """The GETs of `name` answered so far, once the server has recorded every request
        it is answering (at most 10 s: a stuck handler does not hang the test)."""
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=10)
            return [r for r in self.requests if r.method == "GET" and r.path == name]

    def sent(self, name: str) -> int:
        return sum(r.sent for r in self.gets(name))

    def start(self) -> FileServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    server = FileServer(latency=args.latency)
    for f in sorted(args.root.iterdir()):
        if f.is_file():
            server.add("/" + f.name, path=f)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(server.base_url)
    os.replace(tmp, args.port_file)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()


if __name__ == "__main__":
    main()
