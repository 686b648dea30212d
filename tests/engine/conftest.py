"""Fixtures of the Temporal engine's tests: a development server, `hwfw worker`
processes, the simulated lab served by `hwfw sim serve` and split across two sites.

Workers and servers are this test's own processes, stopped by their pids at teardown.
A worker's stderr is read by a thread, so the test waits for its `worker ready` line
(printed once every queue is polled) instead of sleeping.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.apply.support import ServedLab, serve_lab
from tests.temporalserver import DevServer, start_dev_server

SITES = {"lab-dell-01": "a", "lab-dell-02": "b", "lab-dell-03": "a", "lab-hpe-01": "b", "lab-hpe-02": "a",
         "lab-smc-01": "b", "lab-smc-02": "a", "lab-gen-01": "b", "lab-gen-02": "a"}


@pytest.fixture(scope="module")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    server = start_dev_server(tmp_path_factory.mktemp("temporal"))
    yield server
    server.stop()


class SiteWorker:
    """One `hwfw worker` process (see the module docstring)."""

    def __init__(self, workspace: Path, site: str | None, address: str, env: dict[str, str], *,
                 state_writer: bool = False, log_dir: Path) -> None:
        self.args = [sys.executable, "-m", "hwfw", "worker", str(workspace), "--temporal-address", address]
        if site:
            self.args += ["--site", site]
        if state_writer:
            self.args.append("--state-writer")
        self.env = {**os.environ, **env}
        self.log = log_dir / f"worker-{site or 'default'}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.lines: queue.Queue[str | None] = queue.Queue()

    def start(self, timeout: float = 60) -> SiteWorker:
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     env=self.env)
        self.lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc, self.lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.kill()
                raise AssertionError(f"worker did not start: {self.log.read_text()[-3000:]}")
            if line.startswith("worker ready:"):
                return self

    def _pump(self, proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert proc.stderr is not None
        with self.log.open("a") as log:
            for line in proc.stderr:
                log.write(line)
                log.flush()
                lines.put(line)
        lines.put(None)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


def split_lab(tmp_path: Path, hosts: list[str] | None = None, options: dict[str, Any] | None = None) -> ServedLab:
    """The lab served by `hwfw sim serve` (`options`: of every simulated host), its
    inventory split across sites a and b."""
    lab = serve_lab(tmp_path, hosts, options=options)
    inv_path = lab.workspace / "inventory.yaml"
    inv = yaml.safe_load(inv_path.read_text())
    for host in inv["hosts"]:
        host["site"] = SITES[host["name"]]
    inv_path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return lab


class Sites:
    """Two workers, one per site; site a's also writes the state."""

    def __init__(self, lab: ServedLab, address: str, log_dir: Path) -> None:
        self.workers = {site: SiteWorker(lab.workspace, site, address, lab.env, state_writer=site == "a",
                                         log_dir=log_dir) for site in ("a", "b")}

    def __enter__(self) -> Sites:
        for worker in self.workers.values():
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers.values():
            worker.stop()
