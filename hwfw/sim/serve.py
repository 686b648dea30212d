"""`hwfw sim serve`: run a fleet until SIGINT/SIGTERM, print `NAME URL` lines first.

Runs on uvloop (httptools + uvloop halve the server's CPU per request). On a signal
the BMCs stop serving, the hardware state is persisted and the process exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from hwfw.sim.runtime import EmbeddedFleet

log = logging.getLogger("hwfw.sim")


def default_port() -> int:
    return 443 if os.geteuid() == 0 else 8443


def inventory_yaml(sim: EmbeddedFleet) -> str:
    """A ready-to-use hwfw inventory: credentials by reference, never the literal."""
    fleet = sim.fleet
    hosts = []
    for name, machine in fleet.machines.items():
        host: dict[str, Any] = {"name": name, "bmc": sim.url(name), "vendor": machine.spec.profile,
                                "model": machine.spec.model}
        if machine.spec.ipmi_enabled:
            host["ipmi_port"] = machine.spec.ipmi_port
        hosts.append(host)
    doc: dict[str, Any] = {"defaults": {"credentials": {"username": "admin", "password_env": "HWFW_SIM_PASSWORD"}},
                           "hosts": hosts}
    if sim.ca_bundle is not None:
        doc["defaults"]["ca_bundle"] = str(sim.ca_bundle)
    header = ("# Written by `hwfw sim serve`: the simulated BMCs of "
              f"{fleet.spec.path}.\n# export HWFW_SIM_PASSWORD=password  (the simulator's default account)\n")
    return header + yaml.safe_dump(doc, sort_keys=False)


async def _main(fleet_file: Path, state_dir: Path, inventory: Path | None, **kwargs: Any) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with EmbeddedFleet(fleet_file, state_dir, **kwargs) as sim:
        if inventory is not None:
            from hwfw.sim.state import write_atomic

            write_atomic(inventory, inventory_yaml(sim).encode())
        for name in sim.fleet.machines:
            sys.stdout.write(f"{name} {sim.url(name)}\n")
        sys.stdout.flush()
        sys.stderr.write(f"hwfw sim: {len(sim.fleet.machines)} BMCs; control API {sim.control_url}/__sim/ "
                         f"(state in {state_dir})\n")
        sys.stderr.flush()
        await stop.wait()
    log.info("simulator stopped; state persisted to %s", state_dir / "state.json")


def serve_forever(fleet_file: Path, *, speed: float | None, tls: bool, block: str | None, port: int | None,
                  latency: float | None, state_dir: Path | None, inventory: Path | None, seed: int | None) -> None:
    state_dir = state_dir or fleet_file.resolve().parent / ".hwfw" / "sim"
    kwargs = {"speed": speed, "tls": tls, "block": block, "port": default_port() if port is None else port,
              "latency": latency, "seed": seed}
    factory: Callable[[], asyncio.AbstractEventLoop]
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_main(fleet_file, state_dir, inventory, **kwargs))
