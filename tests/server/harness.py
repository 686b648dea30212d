"""`hwfw serve` as a real process for tests: start it on a free port, talk to it, stop it."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROLES = ("viewer", "operator", "approver")


def make_tokens(workspace: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """One token per role, made with `hwfw token create` (its stdout is the token alone)."""
    tokens = {}
    for role in ROLES:
        r = subprocess.run([sys.executable, "-m", "hwfw", "token", "create", str(workspace), "--role", role,
                            "--name", f"test-{role}"], capture_output=True, text=True, timeout=60,
                           env={**os.environ, **(env or {})})
        assert r.returncode == 0, r.stderr
        tokens[role] = r.stdout.strip()
        assert r.stdout == tokens[role] + "\n"        # the token alone on stdout
    return tokens


@dataclass
class Served:
    process: subprocess.Popen[str]
    url: str
    workspace: Path
    tokens: dict[str, str]
    stderr_path: Path
    lines: list[str] = field(default_factory=list)

    def client(self, role: str | None = "viewer", **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kw)

    def ws_url(self, path: str) -> str:
        return self.url.replace("http://", "ws://").rstrip("/") + path

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_server(workspace: Path, tokens: dict[str, str], *, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = (), timeout: float = 120) -> Served:
    """`hwfw serve WORKSPACE --listen 127.0.0.1:0`, once it printed where it listens."""
    err_path = workspace.parent / f"serve-{time.monotonic_ns()}.stderr"
    err = err_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "hwfw", "serve", str(workspace), "--listen", "127.0.0.1:0", *args],
                            stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, **(env or {})})
    err.close()
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            proc.wait()
            raise AssertionError(f"hwfw serve did not start: {err_path.read_text()[-3000:]}")
        if line.startswith("hwfw serve: listening on "):
            url = line.split()[4]
            return Served(proc, url, workspace, tokens, err_path)


def wait_for(what: str, cond: Any, timeout: float = 120, interval: float = 0.05) -> Any:
    """Poll `cond()` until it returns something true (polling a condition, not a delay)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(interval)


def follow_ws(served: Served, run_id: str, after: int = 0, role: str = "viewer") -> tuple[list[tuple[int, dict]], dict]:
    """Every message of a run's WebSocket until it ends: ([(seq, event)], the final run record)."""
    from websockets.sync.client import connect

    events: list[tuple[int, dict]] = []
    headers = {"Authorization": f"Bearer {served.tokens[role]}"}
    with connect(served.ws_url(f"/api/firmware/runs/{run_id}/ws?after={after}"), additional_headers=headers,
                 open_timeout=30, close_timeout=10) as ws:
        import json

        for message in ws:
            doc = json.loads(message)
            if "end" in doc:
                return events, doc["end"]
            assert doc["events"], doc                 # a message carries one event or more
            events.extend((item["seq"], item["event"]) for item in doc["events"])
    raise AssertionError(f"the WebSocket closed before the end message ({len(events)} events)")

