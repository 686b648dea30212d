"""The simulated server hardware behind one BMC: firmware, power, POST, BMC life cycle.

The Redfish service (profiles) and the IPMI server both drive a `Machine`. Versions
change only when real hardware would show them (inventory, BiosVersion, the Manager's
FirmwareVersion and IPMI Get Device ID alike): a flashed image is
*pending* with an activation kind, and becomes *active* on that activation only:
`bmc-reset` when the BMC comes back, `host-reboot` during the next POST, `ac-cycle`
after a full power cycle.

Stable API used by hwfw/sim/ipmi.py (keep these names): `power_state`,
`ipmi_power(action)`, `bmc_version`, `ipmi_ids`, `bmc_reset()`, `ipmi_credentials`,
plus `bmc_available` (False while the BMC is down) and `watchdog_command(cmd, data)`
(the watchdog timer on virtual time, hwfw/sim/watchdog.py).

Fault `hang_in_post`: the next POST (or that many POSTs) stops at memory
initialisation and never finishes; only a reset or power cycle starts a new POST, and
graceful requests do nothing while the host hangs (no OS to honour them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from hwfw.sim.fleet import HostSpec
from hwfw.sim.profiles import profile_named
from hwfw.sim.watchdog import Watchdog

if TYPE_CHECKING:
    from hwfw.sim.world import Fleet as World

# Host-side timings in virtual seconds; profiles override (see hwfw/sim/profiles/*.py).
MACHINE_TIMINGS = {"post": 120.0, "os_boot": 60.0, "shutdown": 20.0, "bmc_boot": 90.0, "bmc_partial": 30.0,
                   "ac_off": 15.0, "dc_off": 5.0, "flap_down": 20.0, "flap_up": 10.0}


@dataclass
class Component:
    """One flashable device. `pending` is (version, activation) once flashed."""

    kind: str
    instance: str
    active: str
    factory: str
    previous: str | None = None
    pending: tuple[str, str] | None = None

    @property
    def key(self) -> str:
        return component_key(self.kind, self.instance)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "instance": self.instance, "active": self.active, "factory": self.factory,
                "previous": self.previous, "pending": list(self.pending) if self.pending else None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Component:
        pending = d.get("pending")
        return cls(d["kind"], d["instance"], d["active"], d.get("factory", d["active"]), d.get("previous"),
                   (pending[0], pending[1]) if pending else None)


def component_key(kind: str, instance: str = "") -> str:
    return f"{kind}:{instance}" if instance else kind


class Machine:
    """Hardware state of one simulated host and its BMC."""

    def __init__(self, spec: HostSpec, world: World, timings: Mapping[str, float], down_mode: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.world = world
        self.timings = {**MACHINE_TIMINGS, **timings}
        self.default_down_mode = down_mode
        self.components: dict[str, Component] = {}
        for kind, instances in spec.firmware.items():
            for instance, version in instances.items():
                comp = Component(kind, instance, version, version)
                self.components[comp.key] = comp
        self._power = spec.power
        self.boot_progress = "OSRunning" if spec.power == "On" else "None"
        self.oem_boot_state: str | None = None
        self.in_post = False
        self.bmc_state = "up"          # up | partial | down
        self.down_mode = down_mode
        self.bmc_boots = 0             # how many times the BMC has (re)booted
        self.bmc_updated_since_host_boot = False
        self.host_boots = 0
        self.revision = 0
        self._post_gen = 0
        self._bmc_gen = 0
        self.hung = False
        self.hangs_taken = 0           # POSTs hung by the hang_in_post fault so far
        self.watchdog = Watchdog(self)
        self.post_hooks: list[Callable[[float], float]] = []
        self.post_end_hooks: list[Callable[[], None]] = []
        self.bmc_down_hooks: list[Callable[[], None]] = []
        self.bmc_up_hooks: list[Callable[[], None]] = []
        self.ac_cycle_hooks: list[Callable[[], None]] = []
        self.state_listeners: list[Callable[[Machine], None]] = []

    # ------------------------------------------------------------ IPMI-facing API
    @property
    def power_state(self) -> str:
        return "On" if self._power in ("On", "PoweringOff") else "Off"

    @property
    def redfish_power_state(self) -> str:
        return self._power

    @property
    def bmc_version(self) -> str:
        return self.version("bmc")

    @property
    def ipmi_ids(self) -> tuple[int, int]:
        profile = profile_named(self.spec.profile)
        return profile.ipmi_ids if profile else (0, 0)

    @property
    def ipmi_credentials(self) -> dict[str, str]:
        return dict(self.spec.credentials)

    @property
    def bmc_available(self) -> bool:
        return self.bmc_state != "down"

    def ipmi_power(self, action: str) -> None:
        """Chassis control from IPMI: on, off, reset, cycle, softoff, diag."""
        mapping = {"on": "On", "off": "ForceOff", "reset": "ForceRestart", "cycle": "PowerCycle",
                   "softoff": "GracefulShutdown", "diag": "Nmi",
                   "boot": "On" if self._power == "Off" else "ForceRestart"}
        if action not in mapping:
            raise ValueError(f"unknown IPMI power action {action!r}")
        self.world.events.emit(self.name, "reset-requested", action="chassis-control", reset_type=action, via="ipmi")
        self.reset_host(mapping[action], cause="ipmi")

    def watchdog_command(self, cmd: int, data: bytes) -> tuple[int, bytes]:
        """IPMI Set/Reset/Get Watchdog Timer: (completion code, response data)."""
        return self.watchdog.command(cmd, bytes(data))

    def bmc_reset(self, cause: str = "cold-reset") -> None:
        """Cold-reset the BMC: down, then partially up (root answers, logins or vendor
        services not ready yet), then up."""
        self._bmc_reboot(cause, kind="bmc-reset")

    # ------------------------------------------------------------ versions
    def version(self, kind: str, instance: str = "") -> str:
        comp = self.components.get(component_key(kind, instance))
        if comp is None:
            comp = next((c for c in self.components.values() if c.kind == kind), None)
        return comp.active if comp else ""

    def of_kind(self, kind: str) -> list[Component]:
        return [c for c in self.components.values() if c.kind == kind]

    def stage(self, comp: Component, version: str, activation: str) -> None:
        """Record a flashed image; it becomes active on `activation` (or now if 'none')."""
        if activation == "none":
            self._activate(comp, version, "none")
        else:
            comp.pending = (version, activation)
        self.changed()

    def set_running(self, comp: Component, version: str) -> None:
        """The control API's out-of-band change: `version` runs now (an event says so)."""
        self._activate(comp, version, "control")
        self.changed()

    def _activate(self, comp: Component, version: str, via: str) -> None:
        old = comp.active
        comp.pending = None
        if version != old:
            comp.previous = old
            comp.active = version
        if comp.kind == "bmc" and version != old:
            self.bmc_updated_since_host_boot = True
        self.world.events.emit(self.name, "activated", component=comp.kind, instance=comp.instance,
                               **{"from": old, "to": version, "via": via})

    def _activate_pending(self, activations: tuple[str, ...]) -> None:
        for comp in self.components.values():
            if comp.pending and comp.pending[1] in activations:
                self._activate(comp, comp.pending[0], comp.pending[1])

    def changed(self) -> None:
        self.revision += 1
        self.world.mark_dirty()
        for listener in self.state_listeners:
            listener(self)

    # ------------------------------------------------------------ host power and POST
    def reset_host(self, reset_type: str, cause: str = "redfish") -> None:
        """Apply a ComputerSystem.Reset type to the host."""
        t = self.timings
        sched = self.world.scheduler
        if reset_type in ("On", "ForceOn"):
            if self._power == "Off":
                self._start_post("power-on", cause)
        elif reset_type == "ForceOff":
            self._power_off(cause)
        elif reset_type in ("GracefulShutdown", "GracefulRestart") and self.hung:
            self.world.events.emit(self.name, "reset-ignored", reset_type=reset_type, cause=cause, reason="post-hang")
        elif reset_type == "GracefulShutdown":
            if self._power == "On":
                self._power = "PoweringOff"
                gen = self._bump_post()
                sched.after(t["shutdown"], self._unless_superseded(gen, lambda: self._power_off(cause)))
                self.changed()
        elif reset_type in ("ForceRestart", "GracefulRestart"):
            if self._power == "Off":
                return
            delay = t["shutdown"] if reset_type == "GracefulRestart" else 0.0
            gen = self._bump_post()
            sched.after(delay, self._unless_superseded(gen, lambda: self._start_post("host-reboot", cause)))
        elif reset_type == "PowerCycle":
            if self._power == "Off":
                self._start_post("power-on", cause)
                return
            self._power_off(cause)
            gen = self._post_gen
            sched.after(t["dc_off"], self._unless_superseded(gen, lambda: self._start_post("power-on", cause)))
        elif reset_type == "PushPowerButton":
            self.reset_host("GracefulShutdown" if self._power == "On" else "On", cause)
        elif reset_type == "Nmi":
            self.world.events.emit(self.name, "reset", kind="nmi", cause=cause)
        else:
            raise ValueError(f"unsupported reset type {reset_type!r}")

    def _bump_post(self) -> int:
        self._post_gen += 1
        return self._post_gen

    def _unless_superseded(self, gen: int, action: Callable[[], None]) -> Callable[[], None]:
        """`action`, to run later unless a newer power event (POST generation) came first."""
        def run() -> None:
            if gen == self._post_gen:
                action()
        return run

    def _power_off(self, cause: str) -> None:
        self._bump_post()
        was = self._power
        self._power = "Off"
        self.boot_progress = "None"
        self.oem_boot_state = None
        self.in_post = False
        self.hung = False
        if was != "Off":
            self.world.events.emit(self.name, "reset", kind="power-off", cause=cause)
        self.changed()

    def _start_post(self, kind: str, cause: str) -> None:
        gen = self._bump_post()
        t = self.timings
        sched = self.world.scheduler
        now = self.world.clock.now()
        self._power = "On"
        self.in_post = True
        self.host_boots += 1
        self.boot_progress = "PrimaryProcessorInitializationStarted"
        self.oem_boot_state = None
        self.hung = False
        self.world.events.emit(self.name, "reset", kind=kind, cause=cause)
        self.world.events.emit(self.name, "post-started")
        post = t["post"]
        if self._take_hang():
            sched.at(now + post * 0.2, lambda: self._hang_if_current(gen))
            self.changed()
            return
        flash_at = now + post * 0.4
        extra = 0.0
        for hook in list(self.post_hooks):
            extra += hook(flash_at)

        def stage(at: float, state: str, fn: Callable[[], None] | None = None) -> None:
            def run() -> None:
                if gen != self._post_gen:
                    return
                self.boot_progress = state
                if fn:
                    fn()
                self.changed()
            sched.at(at, run)

        stage(now + post * 0.2, "MemoryInitializationStarted")
        if extra > 0:
            stage(flash_at, "OEM", lambda: setattr(self, "oem_boot_state", "Lifecycle firmware update"))
        stage(flash_at + extra + post * 0.3, "SystemHardwareInitializationComplete", self._post_hw_done)
        stage(now + post + extra, "OSBootStarted", self._post_done)
        stage(now + post + extra + t["os_boot"], "OSRunning")
        self.changed()

    def _take_hang(self) -> bool:
        wanted = self.world.faults_for(self.name).get("hang_in_post", 0)
        if self.hangs_taken >= int(wanted):  # True counts as one POST
            return False
        self.hangs_taken += 1
        return True

    def _hang_if_current(self, gen: int) -> None:
        if gen == self._post_gen:
            self._hang()

    def _hang(self) -> None:
        self.hung = True
        self.in_post = True
        self.boot_progress = "MemoryInitializationStarted"
        self.world.events.emit(self.name, "post-hang", stage=self.boot_progress)
        self.changed()

    def _post_hw_done(self) -> None:
        self.oem_boot_state = None
        self._activate_pending(("host-reboot",))

    def _post_done(self) -> None:
        self.in_post = False
        self.bmc_updated_since_host_boot = False
        self.world.events.emit(self.name, "post-finished")
        for hook in list(self.post_end_hooks):
            hook()

    # ------------------------------------------------------------ BMC life cycle
    def ac_cycle(self, cause: str = "redfish", final_power: str = "On") -> None:
        """Full (virtual) AC power cycle: host and BMC drop, CPLD and pending images activate."""
        self.world.events.emit(self.name, "reset", kind="ac-cycle", cause=cause)
        self._power_off(cause)
        self._bmc_reboot(cause, kind=None, extra_down=self.timings["ac_off"],
                         on_boot=self._after_ac_cycle,
                         after_up=(lambda: self._start_post("power-on", cause)) if final_power == "On" else None)

    def _after_ac_cycle(self) -> None:
        self.watchdog.ac_lost()
        self._activate_pending(("ac-cycle",))
        for hook in list(self.ac_cycle_hooks):
            hook()

    def _bmc_reboot(self, cause: str, kind: str | None, extra_down: float = 0.0,
                    on_boot: Callable[[], None] | None = None, after_up: Callable[[], None] | None = None) -> None:
        self._bmc_gen += 1
        gen = self._bmc_gen
        if kind:
            self.world.events.emit(self.name, "reset", kind=kind, cause=cause)
        faults = self.world.faults_for(self.name)
        self.down_mode = str(faults.get("down_mode", self.default_down_mode))
        self._set_bmc("down")
        self.watchdog.bmc_rebooted()
        for hook in list(self.bmc_down_hooks):
            hook()
        extra = faults.get("bmc_down_extra", 0)
        if extra == "forever":
            return
        from hwfw.config.model import parse_duration

        t = self.timings
        sched = self.world.scheduler
        down = t["bmc_boot"] + extra_down + parse_duration(extra or 0)
        flaps = int(faults.get("flap", 0))

        def boot() -> None:
            if gen != self._bmc_gen:
                return
            self.bmc_boots += 1
            self._activate_pending(("bmc-reset",))
            if on_boot:
                on_boot()
            self._set_bmc("partial")
            for hook in list(self.bmc_up_hooks):
                hook()
            sched.after(t["bmc_partial"], up)

        def up() -> None:
            if gen != self._bmc_gen:
                return
            self._set_bmc("up")
            start = 0.0
            for _ in range(flaps):
                sched.after(start + t["flap_up"], lambda: self._set_bmc_if(gen, "down"))
                sched.after(start + t["flap_up"] + t["flap_down"], lambda: self._set_bmc_if(gen, "up"))
                start += t["flap_up"] + t["flap_down"]
            if after_up:
                after_up()

        sched.after(down, boot)

    def _set_bmc_if(self, gen: int, state: str) -> None:
        """`_set_bmc(state)` unless a newer BMC reset (generation) came first."""
        if gen == self._bmc_gen:
            self._set_bmc(state)

    def _set_bmc(self, state: str) -> None:
        if state == self.bmc_state:
            return
        self.bmc_state = state
        self.world.events.emit(self.name, f"bmc-{state}", mode=self.down_mode if state == "down" else None)
        self.changed()

    # ------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {"power": self.power_state, "components": [c.to_dict() for c in self.components.values()],
                "bmc_boots": self.bmc_boots, "host_boots": self.host_boots, "bmc_state": self.bmc_state,
                "in_post": self.in_post or self._power == "PoweringOff", "hung": self.hung,
                "hangs_taken": self.hangs_taken, "watchdog": self.watchdog.to_dict()}

    def restore(self, d: Mapping[str, Any]) -> None:
        """Load persisted hardware state; a host mid-POST or a BMC mid-reboot comes back settled."""
        self.components = {}
        for cd in d.get("components", []):
            comp = Component.from_dict(cd)
            self.components[comp.key] = comp
        self._power = d.get("power", self._power)
        self.boot_progress = "OSRunning" if self._power == "On" else "None"
        self.bmc_boots = int(d.get("bmc_boots", 0))
        self.host_boots = int(d.get("host_boots", 0))
        self.hangs_taken = int(d.get("hangs_taken", 0))
        self.watchdog.restore(d.get("watchdog") or {})

    def resume(self, d: Mapping[str, Any]) -> None:
        """After restore (services loaded too): finish what the dead process left half-done.

        A BMC that was rebooting reboots again (its pending image activates when it is back);
        a host that was in POST starts POST again, so jobs that run during POST still run.
        """
        if d.get("bmc_state", "up") != "up":
            self._bmc_reboot("resume", kind=None)
        if d.get("hung") and self._power != "Off":
            self._hang()  # still hanging: a restart of the simulator does not reset the host
        elif d.get("in_post") and self._power != "Off":
            self._start_post("host-reboot", "resume")
