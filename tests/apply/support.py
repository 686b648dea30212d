"""Test doubles of the apply seam: in-memory BMCs on a discrete-event clock (the
`make_rig` fixture in tests/apply/conftest.py builds a `Rig` of them).

Time is `hwfw.clock.DiscreteClock`: concurrent waits overlap as they would in real
time, and a 15-minute AC cycle costs nothing. `MemoryFleet` holds in-memory BMCs that implement
`HostDriver` (flash stages or activates, resets activate what they cover, faults on
request) and log every change with its virtual time: the ground truth for assertions.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from hwfw.apply.driver import (
    FLASH_ACTIVE,
    FLASH_PENDING,
    FlashRequest,
    FlashResult,
    InFlight,
    PreflightReport,
    Progress,
)
from hwfw.apply.events import HostOutcome, StepOutcome
from hwfw.apply.executor import ExecOptions, Executor
from hwfw.apply.ledger import Ledger
from hwfw.apply.scheduler import Rollout
from hwfw.clock import DiscreteClock
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import ApplyError, BmcUnreachable
from hwfw.events import Event
from hwfw.inventory.model import Capabilities, ComponentState, HostInventory, Inventory, PreflightFacts
from hwfw.plan import plan as make_plan
from hwfw.plan.activation import COVERS
from hwfw.plan.model import Plan, Step
from hwfw.state.backend import open_backend

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab"


@dataclass
class MemoryBmc:
    """One simulated host: running and staged versions, power, tasks, faults."""

    name: str
    running: dict[str, str]
    power: str = "On"
    staged: dict[str, tuple[str, str]] = field(default_factory=dict)
    foreign_tasks: list[InFlight] = field(default_factory=list)
    pending_jobs: list[str] = field(default_factory=list)
    fail_flash: dict[str, str] = field(default_factory=dict)        # key -> message
    never_returns: bool = False                                      # after its next reset
    down: bool = False
    block_flash: asyncio.Event | None = None                          # a flash waits for it


class MemoryFleet:
    """In-memory BMCs plus the event log every driver writes to."""

    def __init__(self, clock: DiscreteClock, hosts: Mapping[str, Mapping[str, str]],
                 reset_seconds: Mapping[str, float] | None = None) -> None:
        self.clock = clock
        self.bmcs = {h: MemoryBmc(h, dict(v)) for h, v in hosts.items()}
        self.events: list[dict[str, Any]] = []
        self.reset_seconds = {"bmc-reset": 120.0, "host-reboot": 600.0, "ac-cycle": 900.0, **(reset_seconds or {})}
        self.open_drivers = 0

    def log(self, host: str, type_: str, **fields: Any) -> None:
        self.events.append({"t": self.clock.now, "host": host, "type": type_, **fields})

    def driver(self, host: str) -> MemoryDriver:
        return MemoryDriver(self, self.bmcs[host])

    def of(self, type_: str, host: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_ and (host is None or e["host"] == host)]

    def peak_down(self) -> int:
        """Most hosts out of service at once (from power-off/power-on events)."""
        down, peak = set(), 0
        for e in self.events:
            if e["type"] == "down":
                down.add(e["host"])
                peak = max(peak, len(down))
            elif e["type"] == "up":
                down.discard(e["host"])
        return peak

    def inventory(self, vendor_model: Mapping[str, tuple[str, str]]) -> Inventory:
        hosts = {}
        for name, bmc in self.bmcs.items():
            vendor, model = vendor_model[name]
            comps = []
            for key, version in sorted(bmc.running.items()):
                kind, _, inst = key.partition(":")
                comps.append(ComponentState(kind, inst or kind, version))
            hosts[name] = HostInventory(host=name, reachable=True, vendor=vendor, model=model, serial=f"S-{name}",
                                        components=tuple(comps),
                                        capabilities=Capabilities(update_methods=("multipart",),
                                                                  apply_times=("Immediate", "OnReset")),
                                        preflight=PreflightFacts(power_state=bmc.power))
        return Inventory(hosts)


class MemoryDriver:
    """A `HostDriver` over a MemoryBmc (a test double of the interface, not of the executor)."""

    def __init__(self, fleet: MemoryFleet, bmc: MemoryBmc) -> None:
        self.fleet, self.bmc, self.host = fleet, bmc, bmc.name
        self.clock = fleet.clock

    async def __aenter__(self) -> MemoryDriver:
        self._check()
        self.fleet.open_drivers += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.fleet.open_drivers -= 1

    def _check(self) -> None:
        if self.bmc.down:
            raise BmcUnreachable("no answer", host=self.host, url=f"memory://{self.host}")

    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool,
                        known_settings: Mapping[str, Any] | None = None) -> PreflightReport:
        self._check()
        blocking = () if allow_pending or not self.bmc.pending_jobs else (
            f"unrelated pending job(s): {', '.join(self.bmc.pending_jobs)} (use --allow-pending)",)
        return PreflightReport(power_state=self.bmc.power, blocking=blocking, in_flight=tuple(self.bmc.foreign_tasks))

    async def read_versions(self) -> dict[str, str | None]:
        self._check()
        await self.clock.sleep(1)
        return dict(self.bmc.running)

    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        self._check()
        key = request.step.component or request.kind
        version = request.step.to_version or request.entry.version
        self.fleet.log(self.host, "flash-started", key=key, version=version, sha256=request.entry.sha256)
        progress(0, "uploading")
        if self.bmc.block_flash is not None:
            await self.bmc.block_flash.wait()
        await self.clock.sleep(max(1.0, request.step.estimate_seconds))
        if key in self.bmc.fail_flash:
            self.fleet.log(self.host, "flash-failed", key=key)
            raise ApplyError(f"{self.host}: task ended in Exception: {self.bmc.fail_flash[key]}")
        self.fleet.log(self.host, "flash", key=key, version=version, sha256=request.entry.sha256)
        progress(100, "flashed")
        activation = request.step.activation or "none"
        if activation == "none":
            self.bmc.running[key] = version
            return FlashResult(FLASH_ACTIVE, "memory")
        if activation == "bmc-reset" and request.step.apply_time == "Immediate":
            await self._reset("bmc-reset", cause="self")
            self.bmc.running[key] = version
            self.bmc.staged.pop(key, None)
            return FlashResult(FLASH_ACTIVE, "memory", task_uri=f"/tasks/{key}")
        self.bmc.staged[key] = (version, activation)
        return FlashResult(FLASH_PENDING, "memory", task_uri=f"/jobs/{self.host}/{key}")

    async def _reset(self, kind: str, cause: str) -> None:
        disruptive = kind in ("host-reboot", "ac-cycle")
        self.fleet.log(self.host, "reset", kind=kind, cause=cause)
        if disruptive:
            self.fleet.log(self.host, "down")
        await self.clock.sleep(self.fleet.reset_seconds[kind])
        if self.bmc.never_returns:
            self.bmc.down = True
            raise BmcUnreachable(f"the BMC did not come back after the {kind}", host=self.host)
        for key, (version, act) in list(self.bmc.staged.items()):
            if act in COVERS[kind]:
                self.bmc.running[key] = version
                del self.bmc.staged[key]
        if disruptive:
            self.bmc.power = "On"
            self.fleet.log(self.host, "up")

    async def activate(self, activation: str, progress: Progress) -> None:
        self._check()
        progress(None, f"{activation}")
        await self._reset(activation, cause="activate")

    async def set_power(self, state: str, progress: Progress) -> None:
        self._check()
        self.fleet.log(self.host, "power", state=state)
        self.bmc.power = state

    async def in_flight(self) -> list[InFlight]:
        return list(self.bmc.foreign_tasks)

    async def task_failure(self, task_uri: str | None, key: str) -> str | None:
        return None

    async def flash_previous(self, step: Step, progress: Progress) -> FlashResult:
        raise ApplyError(f"{self.host}: this in-memory BMC keeps no previous images")

    async def settle_intent(self, intent: Mapping[str, Any]) -> str:
        self._check()
        d = intent.get("details") or {}
        key, to = intent["component"], d.get("to_version")
        if intent["action"] == "flash":
            if self.bmc.running.get(key) == to or self.bmc.staged.get(key, ("",))[0] == to:
                return "done"
            return "not-sent"
        return "not-sent"


class MemoryImages:
    async def prepare(self, entry: RepositoryEntry) -> tuple[Path, str | None]:
        return Path(f"/images/{entry.id}"), None


# ---------------------------------------------------------------- workspaces

LAB_HOSTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "lab-dell-01": ("dell", "PowerEdge R750", {"bmc": "6.10.30.00", "bios": "1.10.2",
                                                "nic:NIC.Integrated.1-1": "22.31.6", "cpld": "1.0.6"}),
    "lab-dell-02": ("dell", "PowerEdge R750", {"bmc": "7.00.00.00", "bios": "1.12.1",
                                                "nic:NIC.Integrated.1-1": "22.31.6", "cpld": "1.0.6"}),
    "lab-dell-03": ("dell", "PowerEdge R650", {"bmc": "7.10.30.00", "bios": "1.9.4",
                                                "nic:NIC.Integrated.1-1": "22.41.1000", "cpld": "1.0.6"}),
    "lab-hpe-01": ("hpe", "ProLiant DL380 Gen10", {"bmc": "2.72 Sep 04 2022", "bios": "U30 v2.68 (07/14/2022)",
                                                    "cpld": "0x11"}),
    "lab-hpe-02": ("hpe", "ProLiant DL360 Gen10 Plus", {"bmc": "2.81 Mar 27 2023", "bios": "U46 v1.42 (06/20/2022)",
                                                         "cpld": "0x0C"}),
    "lab-smc-01": ("supermicro", "SYS-120U-TNR", {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02"}),
    "lab-smc-02": ("supermicro", "SYS-221H-TNR", {"bmc": "01.02.04", "bios": "2.0", "cpld": "F1.02"}),
    "lab-gen-01": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"}),
    "lab-gen-02": ("generic", "Contoso OpenServer 2", {"bmc": "2.15.0", "bios": "1.1.0"}),
}


def generic_hosts(n: int, prefix: str = "edge") -> dict[str, tuple[str, str, dict[str, str]]]:
    """`n` generic hosts behind their baseline (a BMC reset and a host reboot each)."""
    return {f"{prefix}-{i:03d}": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"})
            for i in range(n)}


def write_workspace(dest: Path, hosts: Mapping[str, tuple[str, str, dict[str, str]]]) -> Path:
    """A copy of the lab whose inventory (and simulated fleet) lists `hosts`. Its baselines
    declare no BIOS settings: in-memory BMCs have no BIOS attributes (the settings flow
    is tested on the simulator, tests/apply/test_bios_settings_sim.py)."""
    shutil.copytree(LAB, dest, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    baselines = yaml.safe_load((dest / "baselines.yaml").read_text())
    for b in baselines["baselines"].values():
        b.pop("bios_settings", None)
        b.pop("overrides", None)
    (dest / "baselines.yaml").write_text(yaml.safe_dump(baselines, sort_keys=False))
    inv = ["hosts:"]
    fleet = ["seed: 1", "defaults: {credentials: {username: admin, password: password}}", "hosts:"]
    for name, (vendor, model, fw) in hosts.items():
        inv += [f"  - name: {name}", f"    bmc: sim://{name}", f"    vendor: {vendor}", f"    model: {model}"]
        fleet += [f"  {name}:", f"    profile: {vendor}", f"    model: {model}", "    firmware:"]
        nics = {k.partition(':')[2]: v for k, v in fw.items() if k.startswith("nic:")}
        for k, v in fw.items():
            if not k.startswith("nic:"):
                fleet.append(f'      {k}: "{v}"')
        if nics:
            fleet.append("      nic: {" + ", ".join(f'{i}: "{v}"' for i, v in nics.items()) + "}")
    (dest / "inventory.yaml").write_text("\n".join(inv) + "\n")
    (dest / "fleet.yaml").write_text("\n".join(fleet) + "\n")
    return dest


@dataclass
class Rig:
    """A workspace, its in-memory fleet and a virtual clock, ready to plan and apply."""

    workspace: Workspace
    fleet: MemoryFleet
    clock: DiscreteClock
    hosts: dict[str, tuple[str, str, dict[str, str]]]
    hooks: Any = None    # an event sink (hwfw/events.py), e.g. Recorder

    def with_settings(self, **changes: Any) -> None:
        self.workspace = replace(self.workspace, settings=replace(self.workspace.settings, **changes))

    def with_policies(self, **changes: Any) -> None:
        self.with_settings(policies=replace(self.workspace.settings.policies, **changes))

    async def _state(self) -> Any:
        async with open_backend(self.workspace.settings, offload=False) as backend:
            return await backend.load()

    def plan(self, **kw: Any) -> Plan:
        if self.workspace.settings.backend.type == "local":   # also from inside a running loop
            ledger_state = Ledger(self.workspace.settings, "plan", self.clock).state
        else:
            ledger_state = asyncio.run(self._state())
        inv = self.fleet.inventory({h: (v, m) for h, (v, m, _) in self.hosts.items()})
        return make_plan(self.workspace, inv, ledger_state, **kw)

    def executor(self, plan: Plan, *, rollout: Rollout | None = None, on_failure: str = "halt-host",
                 allow_pending: bool = False, run_id: str = "run1", ledger: Ledger | None = None) -> Executor:
        ledger = ledger or Ledger(self.workspace.settings, run_id, self.clock, offload=False)
        return Executor(plan, self.workspace, ledger, self.fleet.driver, MemoryImages(),
                        events=self.hooks, clock=self.clock,
                        options=ExecOptions(run_id=run_id, on_failure=on_failure, allow_pending=allow_pending,
                                            rollout=rollout or Rollout(parallelism=100)))

    def apply(self, plan: Plan | None = None, **kw: Any) -> Any:
        plan = plan or self.plan()
        box: dict[str, Executor] = {}

        async def run() -> Any:
            settings = self.workspace.settings
            async with open_backend(settings, offload=False) as backend:
                ledger = await Ledger.open(backend, settings, kw.get("run_id", "run1"), self.clock)
                box["ex"] = self.executor(plan, ledger=ledger, **kw)
                return await box["ex"].run()

        summary = asyncio.run(self.clock.drive(run()))
        return summary, box["ex"]

    def settle(self, run_id: str) -> tuple[Any, Ledger]:
        """Settle the open intents (what `hwfw apply` does first), on the state backend."""
        from hwfw.apply.resume import settle_open_intents

        async def run() -> tuple[Any, Ledger]:
            settings = self.workspace.settings
            async with open_backend(settings, offload=False) as backend:
                ledger = await Ledger.open(backend, settings, run_id, self.clock)
                report = await settle_open_intents(ledger, self.fleet.driver, settings=settings, clock=self.clock)
                return report, ledger

        return asyncio.run(self.clock.drive(run()))

    def open_intents(self) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            async with open_backend(self.workspace.settings) as backend:
                return await backend.open_intents()

        return asyncio.run(run())


class Recorder:
    """An event sink that keeps the run's events as (kind, value) pairs, for assertions."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def emit(self, event: Event) -> None:
        p = event.payload
        if event.name == "host-started":
            self.events.append(("host-started", event.host))
        elif event.name == "step-started":
            self.events.append(("step-started", event.step_id))
        elif event.name == "step-finished":
            self.events.append(("step-finished", (event.step_id, StepOutcome.from_json(p["outcome"]))))
        elif event.name == "host-finished":
            self.events.append(("host-finished", (event.host, HostOutcome.from_json(p["outcome"]))))
        elif event.name == "warning":
            self.events.append(("warning", (event.host, p["message"])))

    def of(self, kind: str) -> list[Any]:
        return [v for k, v in self.events if k == kind]


# ---------------------------------------------------------------- a separate `hwfw sim serve`

@dataclass
class ServedLab:
    """A lab workspace whose hosts are https:// URLs of a `hwfw sim serve` process."""

    workspace: Path
    process: Any                     # hwfw.sim.runtime.FleetProcess
    ca: Path
    env: dict[str, str]

    def _tls(self) -> Any:
        import ssl

        return ssl.create_default_context(cafile=str(self.ca))

    def events(self, since: int = 0, type_: str | None = None) -> list[dict[str, Any]]:
        import httpx

        params: dict[str, Any] = {"all": 1, "since": since}
        if type_:
            params["type"] = type_
        last: Exception | None = None
        for url in self.process.urls.values():  # any BMC that is up answers for the whole fleet
            try:
                r = httpx.get(f"{url}/__sim/events", params=params, verify=self._tls(), timeout=10)
            except httpx.TransportError as exc:
                last = exc
                continue
            if r.status_code == 200:
                return r.json()["events"]  # type: ignore[no-any-return]
        raise AssertionError(f"no simulated BMC answers /__sim/events: {last}")

    def faults(self, bmc: str, **faults: Any) -> None:
        self._control("POST", "faults", bmc=bmc, **faults)

    def _control(self, method: str, endpoint: str, params: dict[str, Any] | None = None,
                 **body: Any) -> dict[str, Any]:
        """A control request through any BMC socket that is up (each answers for the whole
        fleet; a BMC resetting itself may refuse connections, e.g. the simulated iDRAC)."""
        import httpx

        last: Exception | None = None
        for url in self.process.urls.values():
            try:
                r = httpx.request(method, f"{url}/__sim/{endpoint}", params=params, json=body or None,
                                  verify=self._tls(), timeout=10)
            except httpx.TransportError as exc:
                last = exc
                continue
            r.raise_for_status()
            return r.json()  # type: ignore[no-any-return]
        raise AssertionError(f"no simulated BMC answers /__sim/{endpoint}: {last}")

    def set_speed(self, speed: float) -> None:
        """0 freezes the simulator's clock: nothing a BMC does in virtual time moves on."""
        self._control("POST", "clock", speed=speed)

    def sessions(self) -> dict[str, list[dict[str, Any]]]:
        """Live sessions per BMC."""
        return self._control("GET", "sessions", params={"bmc": "*"})

    def clear_faults(self, bmc: str) -> None:
        self._control("DELETE", "faults", params={"bmc": bmc})


def assert_nothing_flashed_twice(events: list[dict[str, Any]], started: set[tuple[str, str, str]]) -> None:
    """The simulator's event log shows no image flashed twice on any BMC, and what the
    BMCs had started flashing (`started`: (bmc, component, version) at the kill) was
    followed, never sent again (an upload the kill cut short, which the BMC dropped,
    may be sent again)."""
    from collections import Counter

    flashed = Counter((e["bmc"], e["component"], e.get("instance"), e.get("to"))
                      for e in events if e["type"] == "flash-started")
    assert flashed and max(flashed.values()) == 1, flashed
    received = Counter((e["bmc"], e["component"], e["version"]) for e in events if e["type"] == "image-received")
    assert started and all(received[s] == 1 for s in started), (started, received)


def serve_lab(tmp_path: Path, hosts: list[str] | None = None, password: str = "password",
              speed: float = 200, timing: Mapping[str, str] | None = None,
              options: Mapping[str, Any] | None = None) -> ServedLab:
    """Start `hwfw sim serve` (TLS, `speed`) for the lab's fleet (or `hosts` of it) with
    `password` as every BMC's password, and a workspace copy pointing at it. `timing`
    overrides settings.timing values of the workspace; `options` is merged into every
    simulated host's `options`."""
    import yaml

    from hwfw.sim.runtime import start_fleet_process

    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    fleet = yaml.safe_load((LAB / "fleet.yaml").read_text())
    if hosts is not None:
        fleet["hosts"] = {h: fleet["hosts"][h] for h in hosts}
    for spec in fleet["hosts"].values():
        spec["options"] = {**(spec.get("options") or {}), **(options or {})}
    fleet["defaults"]["credentials"] = {"username": "admin", "password": password}
    fleet_path = tmp_path / "served-fleet.yaml"
    fleet_path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    inv = tmp_path / "served-inventory.yaml"
    env = {"HWFW_SIM_PASSWORD": password, "HWFW_CACHE": str(tmp_path / "cache")}
    proc = start_fleet_process(fleet_path, tmp_path / "sim-state",
                               args=["--tls", "--speed", str(speed), "--write-inventory", str(inv)], env=env)
    # the inventory is written before the URLs are printed, and start_fleet_process waited for those
    (ws / "inventory.yaml").write_text(inv.read_text())
    # the inventory names the simulator's CA in its state directory, outside the workspace
    hwfw_yaml = ws / "hwfw.yaml"
    hwfw_yaml.write_text(hwfw_yaml.read_text().replace(
        "\nsettings:\n", f"\nsettings:\n  allowed_roots: [{tmp_path / 'sim-state'}]\n", 1))
    if timing:
        doc = yaml.safe_load(hwfw_yaml.read_text())
        doc["settings"]["timing"].update(timing)
        hwfw_yaml.write_text(yaml.safe_dump(doc, sort_keys=False))
    # the workspace no longer has sim:// hosts; its wait settings stay scaled for speed 200
    return ServedLab(ws, proc, tmp_path / "sim-state" / "ca.pem", env)
