"""The running simulated fleet: machines, their BMC services, one clock, one event log.

`Fleet` is what tests reach through `EmbeddedFleet.fleet`: `fleet.machines[name]`,
`fleet.bmcs[name]` (the Redfish service), `fleet.events`, `fleet.advance(seconds)`,
`fleet.set_faults(...)`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from hwfw.sim.events import EventLog
from hwfw.sim.fleet import FleetSpec, Latency
from hwfw.sim.machine import MACHINE_TIMINGS, Machine
from hwfw.sim.profiles import service_class
from hwfw.sim.service.base import BmcService
from hwfw.sim.state import StateWriter, read_state
from hwfw.sim.vclock import Scheduler, VirtualClock


class Fleet:
    def __init__(self, spec: FleetSpec, state_dir: Path, *, speed: float | None = None,
                 latency: float | None = None, seed: int | None = None) -> None:
        self.spec = spec
        self.seed = spec.seed if seed is None else seed
        self.state_dir = state_dir
        self.spool_dir = state_dir / "uploads"
        self.state_path = state_dir / "state.json"
        saved = read_state(self.state_path)
        self.clock = VirtualClock(spec.speed if speed is None else speed, float(saved["clock"]) if saved else 0.0)
        self.scheduler = Scheduler(self.clock)
        self.events = EventLog(self.clock.now)
        self.latency = Latency(latency) if latency is not None else spec.latency
        self.runtime_faults: dict[str, dict[str, Any]] = {}
        self._fault_cache: dict[str, Mapping[str, Any]] = {}
        self.background: set[asyncio.Task[Any]] = set()
        self.machines: dict[str, Machine] = {}
        self.bmcs: dict[str, BmcService] = {}
        self.writer = StateWriter(self.state_path, self.snapshot)
        self._started = False
        for name, host in spec.hosts.items():
            cls = service_class(host.profile, host.options.get("variant"))
            table = cls.TABLE
            timings = {k: float(table[k]) for k in MACHINE_TIMINGS if k in table}
            timings.update(host.timings)
            machine = Machine(host, self, timings, str(table.get("down_mode", "refused")))
            self.machines[name] = machine
            self.bmcs[name] = cls(self, machine)
        if saved:
            self._restore(saved)

    # ------------------------------------------------------------ faults
    def faults_for(self, name: str) -> Mapping[str, Any]:
        cached = self._fault_cache.get(name)
        if cached is None:
            host = self.spec.hosts.get(name)
            merged = {**self.spec.faults, **(dict(host.faults) if host else {}),
                      **self.runtime_faults.get("*", {}), **self.runtime_faults.get(name, {})}
            cached = self._fault_cache[name] = MappingProxyType(merged)
        return cached

    def set_faults(self, bmc: str, faults: Mapping[str, Any], replace: bool = False) -> None:
        """Inject faults at run time for one BMC, or every BMC with bmc='*'."""
        current = {} if replace else dict(self.runtime_faults.get(bmc, {}))
        current.update(faults)
        self.runtime_faults[bmc] = {k: v for k, v in current.items() if v is not None}
        self._fault_cache.clear()
        for name, svc in self.bmcs.items():
            if bmc in ("*", name):
                svc.cleared_faults.clear()
                if "hang_in_post" in faults:  # setting it again arms it again
                    self.machines[name].hangs_taken = 0

    def clear_faults(self, bmc: str | None = None) -> None:
        if bmc is None:
            self.runtime_faults.clear()
        else:
            self.runtime_faults.pop(bmc, None)
        self._fault_cache.clear()

    # ------------------------------------------------------------ time
    def advance(self, seconds: float) -> float:
        """Move virtual time forward, running everything due on the way."""
        return self.scheduler.advance(seconds)

    # ------------------------------------------------------------ persistence
    def mark_dirty(self) -> None:
        if self._started:
            self.writer.mark()

    def snapshot(self) -> dict[str, Any]:
        return {"format": 1, "fleet": str(self.spec.path) if self.spec.path else None, "seed": self.seed,
                "clock": self.clock.now(),
                "hosts": {name: {"profile": m.spec.profile, "machine": m.to_dict(),
                                 "service": self.bmcs[name].to_dict()}
                          for name, m in self.machines.items()}}

    def _restore(self, saved: Mapping[str, Any]) -> None:
        hosts = saved.get("hosts") or {}
        resumable = []
        for name, data in hosts.items():
            machine = self.machines.get(name)
            if machine is None or data.get("profile") != machine.spec.profile:
                continue
            machine.restore(data.get("machine") or {})
            self.bmcs[name].restore(data.get("service") or {})
            resumable.append((machine, data.get("machine") or {}))
        for machine, data in resumable:
            machine.resume(data)

    def host_state(self, name: str) -> dict[str, Any]:
        """What /__sim/state shows: installed, pending, power, BMC state, jobs."""
        m = self.machines[name]
        svc = self.bmcs[name]
        comps = {}
        for c in m.components.values():
            comps[c.key] = {"kind": c.kind, "instance": c.instance, "version": c.active, "previous": c.previous,
                            "pending": {"version": c.pending[0], "activation": c.pending[1]} if c.pending else None}
        return {"name": name, "profile": m.spec.profile, "model": m.spec.model, "serial": m.spec.serial,
                "power": m.redfish_power_state, "boot_progress": m.boot_progress, "in_post": m.in_post,
                "bmc": m.bmc_state, "bmc_boots": m.bmc_boots, "host_boots": m.host_boots, "components": comps,
                "hung": m.hung, "watchdog": m.watchdog.state(), "bios": svc.bios_summary(),
                "tasks": [{"id": t.id, "name": t.name, "state": t.state, "percent": svc.tasks.percent(t),
                           "waiting": t.waiting, **({"oem": t.oem} if t.oem else {})}
                          for t in svc.tasks.tasks.values()],
                "pending": svc.pending_summary(), "clock": self.clock.now()}

    async def start(self) -> None:
        self.scheduler.start()
        self.writer.start()
        self._started = True
        self.writer.mark()

    async def stop(self) -> None:
        self._started = False
        for task in list(self.background):
            task.cancel()
        await self.scheduler.stop()
        await self.writer.stop()
