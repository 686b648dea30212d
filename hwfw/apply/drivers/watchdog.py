"""The BMC's IPMI watchdog around an update reboot (`settings.watchdog`, off by default).

IPMI v2.0 section 27 (NetFn App 0x06): before hwfw reboots a host for an update it
sets the SMS/OS timer (the use a tool owns; BIOS FRB-2 and OS-load timers are the
firmware's) with the configured action (power cycle by default) and a countdown from
the timing settings, clearing that timer's expiration flag, and starts it (Reset
Watchdog Timer). A host that hangs in POST is then power-cycled by its own BMC. Once
the host is back, hwfw reads the timer (Get Watchdog Timer: the SMS/OS expiration flag
says whether it fired) and switches it off again (Set with action none).

Only host reboots are guarded: an AC power cycle restarts the BMC, which forgets the
timer. A watchdog that cannot be armed (no IPMI-over-LAN) is a warning, never a reason
to leave a host un-updated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hwfw.apply.drivers.bmc import Bmc
from hwfw.config.model import WatchdogSettings
from hwfw.errors import IpmiError
from hwfw.logs import get_logger

__all__ = ["Watchdog", "WatchdogReport"]

log = get_logger("apply.drivers")

APP = 0x06
RESET, SET, GET = 0x22, 0x24, 0x25
SMS_OS = 0x04
SMS_OS_FLAG = 1 << SMS_OS
ACTIONS = {"hard-reset": 0x01, "power-cycle": 0x03}
MAX_COUNTDOWN = 0xFFFF  # 100 ms units: 6553.5 s


@dataclass(frozen=True, slots=True)
class WatchdogReport:
    """What the watchdog did around one reboot (recorded in state and audit)."""

    armed: bool
    fired: bool = False
    action: str = ""
    timeout: float = 0.0           # seconds, as the BMC counts them
    problem: str | None = None     # why it could not be armed or read

    def to_json(self) -> dict[str, Any]:
        return {"armed": self.armed, "fired": self.fired, "action": self.action, "timeout": self.timeout,
                "problem": self.problem}


class Watchdog:
    """Arms and disarms one host's BMC watchdog over IPMI."""

    def __init__(self, bmc: Bmc, settings: WatchdogSettings) -> None:
        self.bmc = bmc
        self.settings = settings
        self.host = bmc.host

    @property
    def countdown(self) -> float:
        return min(self.settings.countdown(self.bmc.timing), MAX_COUNTDOWN / 10)

    async def arm(self) -> WatchdogReport:
        units = max(1, min(MAX_COUNTDOWN, round(self.countdown * 10)))
        action = ACTIONS.get(self.settings.action, ACTIONS["power-cycle"])
        data = [SMS_OS, action, 0, SMS_OS_FLAG, units & 0xFF, units >> 8]
        try:
            responses = await self._raw([(APP, SET, data), (APP, RESET, [])])
        except IpmiError as exc:
            return WatchdogReport(False, problem=f"watchdog not armed: {exc.message}")
        bad = next((r for r in responses if r.code), None)
        if bad is not None:
            return WatchdogReport(False, problem=f"watchdog not armed: completion code 0x{bad.code:02X} "
                                                 f"(command 0x{bad.command:02X})")
        log.info("%s: IPMI watchdog armed (%s after %.0fs)", self.host, self.settings.action, units / 10)
        return WatchdogReport(True, action=self.settings.action, timeout=units / 10)

    async def disarm(self, armed: WatchdogReport) -> WatchdogReport:
        """Read whether it fired, then switch it off (Set with action none stops it)."""
        if not armed.armed:
            return armed
        try:
            get, _ = await self._raw([(APP, GET, []), (APP, SET, [SMS_OS, 0x00, 0, 0, 0, 0])])
        except IpmiError as exc:
            return WatchdogReport(True, action=armed.action, timeout=armed.timeout,
                                  problem=f"watchdog not read or disarmed: {exc.message}")
        fired = bool(get.code == 0 and len(get.data) > 3 and get.data[3] & SMS_OS_FLAG)
        if fired:
            log.warning("%s: the BMC watchdog expired during the reboot (%s)", self.host, armed.action)
        return WatchdogReport(True, fired=fired, action=armed.action, timeout=armed.timeout)

    async def _raw(self, commands: list[tuple[int, int, list[int]]]) -> list[Any]:
        from hwfw.ipmi.client import raw_commands

        address, port = self.bmc.rh.ipmi_endpoint()
        rh = self.bmc.rh
        return await raw_commands(address, port, rh.username or "", rh.password or "",
                                  [(n, c, bytes(d)) for n, c, d in commands],
                                  timeout=self.bmc.timing.request_timeout, host=self.host)
