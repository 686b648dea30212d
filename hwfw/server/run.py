"""Running the server: uvicorn in this process, one event loop, until SIGINT/SIGTERM.

One process per workspace (the event hub and the runs live in it). On SIGTERM uvicorn
stops accepting, the lifespan closes the service, which cancels a running apply with
the SIGTERM semantics (in-flight steps reach a safe point, recorded for resume). Once
listening it prints `hwfw serve: listening on URL` on stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hwfw.api.service import server_settings
from hwfw.errors import HwfwError
from hwfw.logs import get_logger

__all__ = ["parse_listen", "serve_workspace"]

log = get_logger("server")


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 as `[::1]:PORT`) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host or int(port) > 65535:
        raise HwfwError(f"--listen {text!r} is not HOST:PORT", hint="e.g. 127.0.0.1:8080 (or [::1]:8080)")
    return host.strip("[]"), int(port)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _server_class(uvicorn: Any) -> Any:
    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGTERM or SIGINT that stopped it gracefully is not
        raised again afterwards: a server told to stop, and that did, exits 0."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    return Server


def serve_workspace(path: Path, *, listen: str | None = None, tls_cert: Path | None = None,
                    tls_key: Path | None = None, insecure: bool = False, ca_bundle: Path | None = None,
                    scan: bool = True) -> None:
    import uvicorn

    from .app import create_app

    settings = server_settings(path)          # the workspace must load; errors name file:line:col
    host, port = parse_listen(listen or settings.listen)
    cert, key = tls_cert or settings.tls_cert, tls_key or settings.tls_key
    if bool(cert) != bool(key):
        raise HwfwError("TLS needs both a certificate and its key", hint="give --tls-cert and --tls-key together")
    if not _loopback(host) and cert is None:
        print(f"warning: serving plain HTTP on {host}: tokens and session cookies cross the network in clear; "
              "use --tls-cert/--tls-key", file=sys.stderr)
    app = create_app(path, tls=cert is not None, insecure=insecure, ca_bundle=ca_bundle, scan=scan,
                     max_request_bytes=settings.max_request_bytes)
    config = uvicorn.Config(app, host=host, port=port, ssl_certfile=str(cert) if cert else None,
                            ssl_keyfile=str(key) if key else None, log_level="warning", lifespan="on",
                            ws_max_size=64 * 1024, server_header=False, proxy_headers=False,
                            timeout_graceful_shutdown=90, loop="auto", http="auto", ws="websockets-sansio",
                            ws_per_message_deflate=False)   # compressing each event for each client costs
                                                            # more CPU than the bytes it saves on a LAN
    server = _server_class(uvicorn)(config)

    async def main() -> None:
        task = asyncio.ensure_future(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)      # uvicorn has no startup callback; it flips `started`
        if server.started:
            sock = server.servers[0].sockets[0].getsockname()
            scheme = "https" if cert else "http"
            shown = f"[{sock[0]}]" if ":" in sock[0] else sock[0]
            print(f"hwfw serve: listening on {scheme}://{shown}:{sock[1]}/ (workspace {path})", flush=True)
        await task
        if not server.started:
            raise HwfwError(f"hwfw serve could not start on {host}:{port}",
                            hint="is the port taken, or the workspace invalid? see the messages above")

    asyncio.run(main())
