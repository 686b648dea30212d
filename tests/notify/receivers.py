"""Real notification receivers on loopback: a JSON webhook (HTTP) and an SMTP server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Webhook:
    """POSTs received: (path, Authorization header, JSON body). `fail_first` answers 500
    to that many requests first; `hang` never answers (until the server stops)."""

    fail_first: int = 0
    hang: bool = False
    received: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)
    requests: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, user: str = "hwfw", password: str = "${HOOK_PASSWORD}") -> str:
        return f"json://{user}:{password}@127.0.0.1:{self.port}/hook"

    def bodies(self, title_part: str = "") -> list[dict[str, Any]]:
        return [b for _, _, b in self.received if title_part in b.get("title", "")]

    @staticmethod
    def basic_password(header: str | None) -> str:
        assert header and header.startswith("Basic ")
        return base64.b64decode(header[6:]).decode().split(":", 1)[1]


@contextmanager
def webhook(**options: Any) -> Iterator[Webhook]:
    hook = Webhook(**options)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            hook.requests += 1
            if hook.hang:
                hook.release.wait(60)
                return
            if hook.requests <= hook.fail_first:
                self.send_response(500)
                self.end_headers()
                return
            hook.received.append((self.path, self.headers.get("Authorization"), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    hook.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@dataclass
class Mailbox:
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_server(user: str, password: str) -> Iterator[Mailbox]:
    """aiosmtpd on loopback offering AUTH without TLS (a loopback test server); logins recorded."""
    import socket

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            box.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                                 "data": envelope.content.decode("utf-8", "replace")})
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
        if ok:
            box.logins.append((data.login.decode(), mechanism))
        return AuthResult(success=ok)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        box.port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port, authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
