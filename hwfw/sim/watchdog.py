"""The BMC watchdog timer of a simulated machine (IPMI v2.0 section 27), on virtual time.

Set Watchdog Timer (NetFn App, cmd 0x24) configures it and stops it unless the "don't
stop" bit is set; Reset Watchdog Timer (0x22) starts the countdown from the initial
value (completion code 0x80 while it was never set); Get Watchdog Timer (0x25) reports
the configuration, the expiration flags and the present countdown. The countdown runs
on the fleet's virtual clock (100 ms units), so tests move it with `advance`. On expiry
the BMC takes the timeout action on the host (hard reset, power down, power cycle) and
sets the expiration flag of the timer use. Flags survive host resets and BMC reboots
and are lost with AC power; a BMC reboot forgets the timer's configuration.

Events: watchdog-armed (countdown started), watchdog-disarmed (stopped by a Set, or
by a BMC reboot), watchdog-fired (expired; the action follows as a `reset` event with
cause "watchdog").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from hwfw.sim.machine import Machine

CMD_RESET, CMD_SET, CMD_GET = 0x22, 0x24, 0x25
CC_OK, CC_UNINITIALISED, CC_INVALID_COMMAND, CC_REQUEST_LENGTH, CC_INVALID_FIELD = 0x00, 0x80, 0xC1, 0xC7, 0xCC
TIMER_USES = {1: "bios-frb2", 2: "bios-post", 3: "os-load", 4: "sms-os", 5: "oem"}
ACTIONS = {0: "none", 1: "hard-reset", 2: "power-down", 3: "power-cycle"}
RESET_TYPES = {1: "ForceRestart", 2: "ForceOff", 3: "PowerCycle"}
_DONT_STOP = 0x40


class Watchdog:
    """One machine's watchdog; every method runs on the fleet's event loop."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.configured = False
        self.use = 0          # byte 1 of Set Watchdog Timer without the running bit
        self.actions = 0
        self.pretimeout = 0
        self.flags = 0        # timer use expiration flags
        self.initial = 0      # 100 ms units
        self.remaining = 0    # 100 ms units, while stopped
        self.deadline: float | None = None  # virtual time of expiry while running
        self.fired = 0
        self._gen = 0

    @property
    def running(self) -> bool:
        return self.deadline is not None

    def command(self, cmd: int, data: bytes) -> tuple[int, bytes]:
        """One IPMI watchdog command: (completion code, response data)."""
        if cmd == CMD_SET:
            return self.set(data), b""
        if cmd == CMD_RESET:
            return self.reset(), b""
        if cmd == CMD_GET:
            return CC_OK, self.get()
        return CC_INVALID_COMMAND, b""

    def set(self, data: bytes) -> int:
        if len(data) < 6:
            return CC_REQUEST_LENGTH
        if data[0] & 0x07 not in TIMER_USES:
            return CC_INVALID_FIELD
        keep_running = self.running and bool(data[0] & _DONT_STOP)
        self.configured = True
        self.use = data[0] & 0xBF
        self.actions = data[1]
        self.pretimeout = data[2]
        self.flags &= ~data[3] & 0xFF
        self.initial = data[4] | (data[5] << 8)
        if keep_running:
            self._start()
        else:
            self._stop("set")
            self.remaining = self.initial
        self.machine.changed()
        return CC_OK

    def reset(self) -> int:
        if not self.configured:
            return CC_UNINITIALISED
        self._start()
        self.machine.changed()
        return CC_OK

    def get(self) -> bytes:
        present = self.present()
        return bytes([self.use | (_DONT_STOP if self.running else 0), self.actions, self.pretimeout, self.flags,
                      self.initial & 0xFF, self.initial >> 8, present & 0xFF, present >> 8])

    def present(self) -> int:
        """Present countdown in 100 ms units."""
        if self.deadline is None:
            return self.remaining
        return max(0, math.ceil(round((self.deadline - self.machine.world.clock.now()) * 10, 6)))

    # ------------------------------------------------------------ countdown
    def _start(self) -> None:
        self._gen += 1
        gen = self._gen
        self.deadline = self.machine.world.clock.now() + self.initial / 10
        self.machine.world.scheduler.at(self.deadline, lambda: self._expire(gen))
        self._emit("watchdog-armed", timeout=self.initial / 10, pretimeout=self.pretimeout)

    def _stop(self, reason: str) -> None:
        if self.deadline is None:
            return
        self.remaining = self.present()
        self._gen += 1
        self.deadline = None
        self._emit("watchdog-disarmed", reason=reason, remaining=self.remaining / 10)

    def _expire(self, gen: int) -> None:
        if gen != self._gen or self.deadline is None:
            return
        self.deadline = None
        self.remaining = 0
        self.fired += 1
        self.flags |= 1 << (self.use & 0x07)
        self._emit("watchdog-fired")
        reset = RESET_TYPES.get(self.actions & 0x07)
        if reset is not None:
            self.machine.reset_host(reset, cause="watchdog")
        self.machine.changed()

    def _emit(self, type_: str, **fields: Any) -> None:
        self.machine.world.events.emit(self.machine.name, type_, timer_use=TIMER_USES.get(self.use & 0x07, "none"),
                                       action=ACTIONS.get(self.actions & 0x07, "none"), **fields)

    # ------------------------------------------------------------ life cycle
    def bmc_rebooted(self) -> None:
        """A BMC reboot forgets the timer (the expiration flags stay)."""
        self._stop("bmc-reset")
        self.configured = False
        self.use = self.actions = self.pretimeout = self.initial = self.remaining = 0

    def ac_lost(self) -> None:
        self.bmc_rebooted()
        self.flags = 0

    def state(self) -> dict[str, Any]:
        return {"configured": self.configured, "running": self.running,
                "timer_use": TIMER_USES.get(self.use & 0x07, "none"),
                "action": ACTIONS.get(self.actions & 0x07, "none"),
                "initial": self.initial / 10, "present": self.present() / 10, "expiration_flags": self.flags,
                "fired": self.fired}

    def to_dict(self) -> dict[str, Any]:
        return {"configured": self.configured, "use": self.use, "actions": self.actions, "pretimeout": self.pretimeout,
                "flags": self.flags, "initial": self.initial, "remaining": self.remaining, "deadline": self.deadline,
                "fired": self.fired}

    def restore(self, d: Mapping[str, Any]) -> None:
        """Load a saved timer; a running one goes on counting towards its saved deadline."""
        for key in ("configured", "use", "actions", "pretimeout", "flags", "initial", "remaining", "fired"):
            if key in d:
                setattr(self, key, d[key])
        deadline = d.get("deadline")
        if deadline is not None:
            self._gen += 1
            gen = self._gen
            self.deadline = float(deadline)
            self.machine.world.scheduler.at(self.deadline, lambda: self._expire(gen))
