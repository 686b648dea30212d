"""Rig for driver tests: the real simulator (EmbeddedFleet on loopback) at high speed,
real time everywhere (no FakeClock), workspace timings scaled to the simulator's speed.

At SPEED = 1000 a simulated 3-minute iDRAC reboot takes 0.18 s, so the real-world
defaults (poll 10 s, stability 3 x 30 s, BMC ready 10 min...) are divided by SPEED.
Synchronisation is by polling the drivers themselves; tests never sleep to wait.
What the BMC did (images received, resets requested and performed) is read from the
simulator's event log.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, TypeVar

import httpx
import yaml

from hwfw.apply.driver import FlashRequest
from hwfw.apply.drivers import make_driver
from hwfw.apply.drivers.base import RedfishDriver
from hwfw.clock import SystemClock
from hwfw.config.model import Host, RepositoryEntry, Settings, Timing
from hwfw.inventory.collect import ResolvedHost
from hwfw.plan.model import Image, Step
from hwfw.sim.images import make_image

T = TypeVar("T")
SPEED = 1000.0
LAB_FLEET = Path(__file__).resolve().parents[3] / "examples" / "lab" / "fleet.yaml"
PRIMARY_RESETS = ("bmc-reset", "host-reboot", "ac-cycle")


# Deadlines get extra real-time headroom (2 cores shared with other test runs): a
# deadline that passes early is a flaky test, one that passes late only a slow one.
HEADROOM = 3.0


def scaled_timing(speed: float = SPEED, **override: Any) -> Timing:
    """Real-world defaults divided by the simulator's speed (deadlines x HEADROOM)."""
    d = Timing()
    values: dict[str, Any] = dict(
        request_timeout=5.0, connect_timeout=2.0, poll_interval=d.poll_interval / speed,
        stability_checks=d.stability_checks, stability_interval=d.stability_interval / speed,
        bmc_ready_timeout=HEADROOM * d.bmc_ready_timeout / speed, post_timeout=HEADROOM * d.post_timeout / speed,
        graceful_shutdown_timeout=d.graceful_shutdown_timeout / speed, upload_timeout_per_mib=2.0,
        component_deadlines={k: HEADROOM * v / speed for k, v in d.component_deadlines.items()})
    values.update(override)
    return Timing(**values)


def scaled_settings(tmp: Path, **timing: Any) -> Settings:
    return Settings(state_path=tmp / "state.json", runtime_dir=tmp, timing=scaled_timing(**timing), retries=4)


def run(coro: Awaitable[T], timeout: float = 60.0) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())


def write_fleet(path: Path, hosts: Mapping[str, Mapping[str, Any]], *, speed: float = SPEED) -> Path:
    doc = {"seed": 7, "defaults": {"speed": speed, "credentials": {"username": "admin", "password": "password"}},
           "hosts": {name: {"power": "On", **spec} for name, spec in hosts.items()}}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def primary_resets(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Resets as a person counts them: BMC resets, host reboots, AC cycles (an AC cycle's
    power-off/power-on sub-events and a host power-on from Off count with their cause)."""
    out = []
    ac_causes = {e.get("cause") for e in events if e["type"] == "reset" and e.get("kind") == "ac-cycle"}
    for e in events:
        if e["type"] != "reset":
            continue
        if e.get("kind") in PRIMARY_RESETS:
            out.append(e)
        elif e.get("kind") == "power-on" and e.get("cause") not in ac_causes:
            out.append(e)
    return out


@dataclass
class Rig:
    """A running simulated fleet plus what tests need to drive one host."""

    tmp: Path
    sim: Any
    settings: Settings
    stack: AsyncExitStack
    drivers: list[RedfishDriver] = field(default_factory=list)
    progress_log: list[tuple[float | None, str]] = field(default_factory=list)

    def resolved(self, name: str) -> ResolvedHost:
        return ResolvedHost(host=Host(name=name, bmc=f"sim://{name}"), url=self.sim.url(name), username="admin",
                            password="password")

    async def driver(self, name: str, *, image_server: Any = None, settings: Settings | None = None,
                     enter: bool = True) -> RedfishDriver:
        drv = await make_driver(self.resolved(name), workspace=settings or self.settings, clock=SystemClock(),
                                image_server=image_server)
        if enter:
            await self.stack.enter_async_context(drv)
        self.drivers.append(drv)
        return drv

    def progress(self, percent: float | None, message: str) -> None:
        self.progress_log.append((percent, message))

    def events(self, name: str, type_: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return self.sim.fleet.events.query(name, type_, since)

    async def requested_resets(self, name: str, since: int = 0) -> list[str]:
        """The reset requests `name`'s BMC accepted, as sent ("ComputerSystem.Reset
        GracefulRestart", "ipmi cycle"), from the event log over the control API."""
        async with httpx.AsyncClient(base_url=self.sim.control_url, timeout=10) as control:
            response = await control.get("/__sim/events", params={"bmc": name, "type": "reset-requested",
                                                                  "since": since})
        response.raise_for_status()
        return [f"ipmi {e['reset_type']}" if e["via"] == "ipmi" else f"{e['action']} {e['reset_type']}"
                for e in response.json()["events"]]

    def mark(self) -> int:
        events = list(self.sim.fleet.events)
        return events[-1]["seq"] if events else 0

    def faults(self, name: str, **faults: Any) -> None:
        self.sim.fleet.set_faults(name, faults)

    def image(self, vendor: str, model: str, component: str, version: str, *, size: int = 65536,
              filename: str | None = None, method: str = "auto", apply_times: tuple[str, ...] = (),
              activation: str | None = None) -> tuple[Path, RepositoryEntry]:
        images = self.tmp / "images"
        name = filename or f"{vendor}-{component}-{version}.bin".replace(" ", "_").replace("/", "_")
        path = images / name
        digest = make_image(vendor, model, component, version, size, path)
        entry = RepositoryEntry(id=f"{vendor}-{component}-{version}", vendor=vendor, component=component,
                                version=version, models=(model,), source=f"images/{name}", sha256=digest,
                                size=path.stat().st_size, method=method, apply_times=apply_times,
                                activation=activation)
        return path, entry


def flash_request(host: str, key: str, entry: RepositoryEntry, path: Path, *, current: str | None,
                  apply_time: str, activation: str, image_url: str | None = None,
                  run_id: str = "run-1") -> FlashRequest:
    kind, _, instance = key.partition(":")
    step = Step(id=f"{host}/flash/{key}", host=host, kind="flash", component=key, from_version=current,
                to_version=entry.version, image=Image(entry.id, entry.sha256), apply_time=apply_time,
                activation=activation, estimate_seconds=60.0, rollback=None)
    return FlashRequest(run_id=run_id, step=step, kind=kind, instance=instance or kind, entry=entry,
                        image_path=path, image_url=image_url)


async def open_rig(tmp: Path, fleet: Path, stack: AsyncExitStack, **timing: Any) -> Rig:
    from hwfw.sim.runtime import EmbeddedFleet

    sim = await stack.enter_async_context(EmbeddedFleet(fleet, tmp / "sim-state", speed=SPEED))
    return Rig(tmp=tmp, sim=sim, settings=scaled_settings(tmp, **timing), stack=stack)


def with_rig(tmp: Path, fleet: Path, body: Callable[[Rig], Awaitable[T]], *, timeout: float = 60.0,
             **timing: Any) -> T:
    """Run `body(rig)` against a fresh simulator for `fleet` (closed afterwards)."""
    async def main() -> T:
        async with AsyncExitStack() as stack:
            rig = await open_rig(tmp, fleet, stack, **timing)
            return await body(rig)
    return run(main(), timeout)


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start


DELL = {"profile": "dell", "model": "PowerEdge R750",
        "firmware": {"bmc": "6.10.30.00", "bios": "1.10.2", "nic": {"NIC.Integrated.1-1": "22.31.6"},
                     "cpld": "1.0.6"}}
HPE = {"profile": "hpe", "model": "ProLiant DL380 Gen10",
       "firmware": {"bmc": "2.72 Sep 04 2022", "bios": "U30 v2.68 (07/14/2022)", "cpld": "0x11"}}
SMC = {"profile": "supermicro", "model": "SYS-120U-TNR",
       "firmware": {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02"}}
GEN = {"profile": "generic", "model": "Contoso OpenServer 2", "firmware": {"bmc": "2.14.0", "bios": "1.0.5"}}
