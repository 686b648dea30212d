"""Run a simulated fleet inside the current event loop, on real loopback sockets.

    async with EmbeddedFleet(Path("fleet.yaml"), Path(".hwfw/sim")) as sim:
        url = sim.url("lab-dell-01")            # http://127.83.17.1:40123
        sim.fleet.advance(600)                  # ten virtual minutes, now
        sim.fleet.events.query("lab-dell-01")   # ground truth for assertions

Hardware state (installed/pending versions, power, jobs and queues) is loaded from
`state_dir/state.json` on enter, persisted (debounced, atomically) on every change
and on exit, so a killed process restarts where the BMCs were.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwfw.sim.app import SimApp
from hwfw.sim.fleet import load_fleet
from hwfw.sim.machine import Machine
from hwfw.sim.server import Listeners, addresses, start_server
from hwfw.sim.world import Fleet

log = logging.getLogger("hwfw.sim")


def loopback_block_for(path: Path) -> str:
    """A deterministic 127.A.B.0/24 for a fleet file (never 127.0.0.0/24), so several
    fleets (and several checkouts) can run side by side on one machine."""
    digest = hashlib.sha256(str(Path(path).resolve()).encode()).digest()
    a = 1 + digest[0] % 254
    b = digest[1]
    return f"127.{a}.{b}.0/24"


class EmbeddedFleet:
    """Async context manager serving every BMC of a fleet file in the running loop."""

    def __init__(self, fleet_path: Path, state_dir: Path, *, block: str | None = None, port: int = 0,
                 speed: float | None = None, tls: bool = False, latency: float | None = None,
                 seed: int | None = None) -> None:
        self.fleet_path = Path(fleet_path)
        self.state_dir = Path(state_dir)
        self.block = block or loopback_block_for(self.fleet_path)
        self.port = port
        self.tls = tls
        self._speed, self._latency, self._seed = speed, latency, seed
        self.fleet: Fleet
        self.app: SimApp
        self.listeners: Listeners | None = None
        self.ca_bundle: Path | None = None
        self.addresses: dict[str, str] = {}
        self._urls: dict[str, str] = {}
        self.control_url = ""  # serves /__sim/* for the whole fleet, never goes down
        self._ipmi: list[Any] = []
        self._bmc_seen: dict[str, str] = {}
        self.leaked_sessions: dict[str, list[str]] = {}

    async def __aenter__(self) -> EmbeddedFleet:
        spec = load_fleet(self.fleet_path)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.fleet = Fleet(spec, self.state_dir, speed=self._speed, latency=self._latency, seed=self._seed)
        self.app = SimApp(self.fleet)
        names = list(spec.hosts)
        addrs = addresses(self.block, len(names) + 1)  # the last one: fleet-wide control address
        ctx = None
        if self.tls:
            from hwfw.sim.tls import generate, server_contexts

            ca, certs, key = generate(self.state_dir, addrs)
            self.ca_bundle = ca
            ctx = server_contexts(certs, key)
        self.listeners = await start_server(self.app, addrs, self.port, ctx)
        self.app.dropper = self.listeners.drop
        scheme = "https" if self.tls else "http"
        self.control_url = f"{scheme}://{addrs[-1]}:{self.listeners.port}"
        for name, address in zip(names, addrs, strict=False):  # addrs has the control address too
            self.addresses[name] = address
            self._urls[name] = f"{scheme}://{address}:{self.listeners.port}"
            self.app.bind(name, address, self._urls[name])
            machine = self.fleet.machines[name]
            self._bmc_seen[name] = machine.bmc_state
            machine.state_listeners.append(self._on_machine)
        await self.fleet.start()
        for name in names:
            self._on_machine(self.fleet.machines[name])
        await self._start_ipmi()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        # Sessions still open when the fleet stops were leaked by a client (real BMCs
        # lock users out for ~20 minutes when their session table fills up): say so.
        self.leaked_sessions = {name: [s.id for s in svc.sessions.live()]
                                for name, svc in self.fleet.bmcs.items() if svc.sessions.live()}
        for name, ids in sorted(self.leaked_sessions.items()):
            log.warning("simulated BMC %s: %d session(s) left open by the client: %s", name, len(ids), ", ".join(ids))
        for handle in self._ipmi:
            result = handle.close()
            if inspect.isawaitable(result):
                await result
        self._ipmi.clear()
        if self.listeners is not None:
            await self.listeners.stop()
        await self.fleet.stop()

    def url(self, name: str) -> str:
        return self._urls[name]

    @property
    def urls(self) -> dict[str, str]:
        return dict(self._urls)

    @property
    def port_number(self) -> int:
        assert self.listeners is not None
        return self.listeners.port

    def _on_machine(self, machine: Machine) -> None:
        """Close a rebooting BMC's socket (refused/timeout modes) and reopen it after."""
        state = machine.bmc_state
        if self._bmc_seen.get(machine.name) == state or self.listeners is None:
            return
        self._bmc_seen[machine.name] = state
        address = self.addresses[machine.name]
        if state == "down" and machine.down_mode in ("refused", "timeout"):
            self.listeners.close(address, machine.down_mode)
        elif state != "down":
            self.listeners.reopen(address)

    async def _start_ipmi(self) -> None:
        wanted = [(n, m) for n, m in self.fleet.machines.items() if m.spec.ipmi_enabled]
        if not wanted:
            return
        try:
            from hwfw.sim.ipmi import start_ipmi  # written separately; optional until it exists
        except ImportError:
            log.warning("IPMI requested for %d simulated hosts but hwfw.sim.ipmi is not available", len(wanted))
            return
        for name, machine in wanted:
            try:
                self._ipmi.append(await start_ipmi(machine, self.addresses[name], machine.spec.ipmi_port))
            except OSError as exc:
                log.warning("IPMI for %s not started: %s", name, exc)


@dataclass
class FleetProcess:
    """A `hwfw sim serve` subprocess and the URLs it printed."""

    process: subprocess.Popen[str]
    urls: dict[str, str] = field(default_factory=dict)
    stderr_path: Path | None = None

    def stop(self, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> FleetProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_fleet_process(fleet_path: Path, state_dir: Path, *, args: list[str] | None = None,
                        timeout: float = 120.0, env: dict[str, str] | None = None) -> FleetProcess:
    """Start `hwfw sim serve` and wait until it has printed one URL per host."""
    count = len(load_fleet(Path(fleet_path)).hosts)
    state_dir.mkdir(parents=True, exist_ok=True)
    err_path = state_dir / "serve.stderr"
    cmd = [sys.executable, "-m", "hwfw", "sim", "serve", str(fleet_path), "--state-dir", str(state_dir), *(args or [])]
    err = err_path.open("w")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env={**os.environ, **(env or {})})
    err.close()
    fp = FleetProcess(proc, stderr_path=err_path)
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:  # keep draining stdout so the child never blocks on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while len(fp.urls) < count:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            fp.stop()
            raise RuntimeError(f"hwfw sim serve did not start: {err_path.read_text()[-2000:]}")
        name, _, url = line.strip().partition(" ")
        if url:
            fp.urls[name] = url
    return fp
