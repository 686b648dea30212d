"""The simulator's event log: ground truth for tests ("flashed exactly once",
"never more than N hosts down", "no leaked session").

Every event is a dict {seq, t (virtual seconds), wall (real UTC time), bmc, type, ...}.
Event types and their extra fields:

- image-received: method (multipart|hpe-form|simple-update|http-push), sha256, size,
  filename, component, version, model (the image header; null if unreadable)
- flash-started / flash-finished: component, instance, from, to (finished adds result)
- activated: component, instance, from, to, via (bmc-reset|host-reboot|ac-cycle)
- reset: kind (bmc-reset|host-reboot|ac-cycle|power-on|power-off), cause
- reset-requested: action (ComputerSystem.Reset, Manager.Reset, a vendor reset action,
  or chassis-control for IPMI), reset_type (as requested), via (redfish|ipmi); one per
  accepted request, whatever resets it then causes
- bmc-down / bmc-up / bmc-partial: mode
- post-started / post-finished
- session-opened / session-closed: id, user (closed adds reason: logout|expired|bmc-reset|fault)
- task: id, state, percent (state changes of tasks, jobs and HPE flash state)
- fault: kind (error|drop|expire-session|...), status
- post-hang: stage (the hang_in_post fault); reset-ignored: reset_type, cause, reason
- watchdog-armed / watchdog-disarmed / watchdog-fired: timer_use, action (armed adds
  timeout, pretimeout; disarmed adds reason, remaining) — hwfw/sim/watchdog.py
- bios-settings-staged / -refused / -rejected / -applied / -cleared, bios-job-created,
  bios-reset-requested, bios-defaults-restored, bios-password-changed: see
  docs/bios-settings.md
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, Callable, Iterator

_MAX_EVENTS = 200_000


class EventLog:
    """Fleet-wide, append-only (bounded) list of events, queryable per BMC."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._seq = itertools.count(1)
        self._events: deque[dict[str, Any]] = deque(maxlen=_MAX_EVENTS)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def emit(self, bmc: str, type_: str, **fields: Any) -> dict[str, Any]:
        event = {"seq": next(self._seq), "t": round(self._now(), 3),
                 "wall": datetime.fromtimestamp(time.time(), UTC).isoformat(timespec="milliseconds"),
                 "bmc": bmc, "type": type_, **fields}
        self._events.append(event)
        for listener in self.listeners:
            listener(event)
        return event

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)

    def query(self, bmc: str | None = None, type_: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        """Events with seq > since, optionally only for one BMC and/or one type."""
        return [e for e in self._events
                if e["seq"] > since and (bmc is None or e["bmc"] == bmc) and (type_ is None or e["type"] == type_)]
