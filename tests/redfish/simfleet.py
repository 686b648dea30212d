"""Running the real BMC simulator (hwfw.sim.runtime.EmbeddedFleet) inside a test.

`sim_fleet(tmp_path, fleet_yaml)` starts every BMC of the fleet on loopback sockets in
the test's event loop with the virtual clock frozen (speed 0): only `SimClock.sleep`
(the client's backoff and poll waits) moves it, so a 90-second BMC reboot costs nothing
and never races. `NoLeakedSessions` (the `no_leaked_sessions` fixture) records every
fleet and fails the test if any BMC still holds a session when the fleet stops.
"""

from __future__ import annotations

import contextlib
import itertools
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from hwfw.clock import FakeClock

try:
    from hwfw.sim.runtime import EmbeddedFleet
except ImportError:  # pragma: no cover - the simulator ships with hwfw
    EmbeddedFleet = None  # type: ignore[assignment,misc]

HAVE_SIM = EmbeddedFleet is not None
CREDENTIALS = ("admin", "password")

MIXED_FLEET = textwrap.dedent("""\
    seed: 7
    defaults:
      credentials: {username: admin, password: password}
    hosts:
      dell-1:
        profile: dell
        model: PowerEdge R750
        firmware:
          bmc: "6.10.30.00"
          bios: "1.10.2"
          cpld: "1.0.6"
          nic: {NIC.Integrated.1-1: "22.31.6", NIC.Slot.3-1: "14.32.20"}
          raid: {RAID.Integrated.1-1: "52.16.1-4405"}
          psu: {PSU.Slot.1: "00.1D.7D", PSU.Slot.2: "00.1D.7D"}
      hpe-1:
        profile: hpe
        model: ProLiant DL380 Gen10
        firmware:
          bmc: "2.72 Sep 04 2022"
          bios: "U30 v2.68 (07/14/2022)"
          cpld: "0x11"
          nic: {NIC.LOM.1-1: "20.14.54", NIC.Slot.1-1: "20.14.54"}
      smc-1:
        profile: supermicro
        model: SYS-120U-TNR
        licenses: {dcms: false}
        firmware:
          bmc: "01.01.10"
          bios: "1.4"
          cpld: "F1.02"
          nic: {NIC1: "22.31.6"}
      gen-1:
        profile: generic
        model: Contoso OpenServer 2
        firmware: {bmc: "2.14.0", bios: "1.0.5"}
    """)


class SimClock(FakeClock):
    """A fake client clock that also moves the simulator's (frozen) virtual clock."""

    def __init__(self, fleet: Any) -> None:
        super().__init__()
        self.fleet = fleet

    async def sleep(self, seconds: float) -> None:
        self.fleet.advance(max(0.0, seconds))
        await super().sleep(seconds)


class NoLeakedSessions:
    """Collects every simulated fleet of a test; checks each for live sessions on stop."""

    _ids = itertools.count()

    def __init__(self) -> None:
        self.leaks: list[str] = []
        self.fleets = 0

    def check(self, sim: Any) -> None:
        self.fleets += 1
        for name, svc in sim.fleet.bmcs.items():
            live = svc.sessions.live()
            if live:
                self.leaks.append(f"{name}: {len(live)} session(s) left open ({', '.join(s.id for s in live)})")

    @contextlib.asynccontextmanager
    async def fleet(self, tmp_path: Path, text: str = MIXED_FLEET, *, tls: bool = False,
                    speed: float = 0.0) -> AsyncIterator[Any]:
        """Serve `text` (fleet YAML) for the duration of the block."""
        n = next(self._ids)
        path = tmp_path / f"fleet-{n}.yaml"
        path.write_text(text)
        async with EmbeddedFleet(path, tmp_path / f"sim-{n}", tls=tls, speed=speed) as sim:
            try:
                yield sim
            finally:
                self.check(sim)
