"""Run metrics as a listener of the one event protocol (hwfw/events.py).

`RunMetrics.emit(event)` for a run in this process, `feed_json(event)` for the JSON the
server's hub carries: step ends and durations by kind, host outcomes, hosts being
updated now, halted rollouts, and each apply's outcome when it ends. Cheap (a few
dictionary updates per event), so it runs inline on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hwfw.apply.events import halted_by
from hwfw.events import Event

from .registry import HwfwMetrics, run_outcome

__all__ = ["RunMetrics", "epoch_of"]


def epoch_of(time: str) -> float:
    """Seconds since the epoch of an RFC 3339 time (an event's `time`); 0 when unreadable."""
    try:
        return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class RunMetrics:
    def __init__(self, metrics: HwfwMetrics) -> None:
        self.metrics = metrics
        self._in_service: dict[str, set[str]] = {}     # run id -> hosts started, not finished
        self._halted: set[str] = set()

    def emit(self, event: Event) -> None:
        self.feed_json(event.to_json())

    def feed_json(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        run_id = str(event.get("run_id") or "")
        m = self.metrics
        if kind == "run-started":
            self._in_service[run_id] = set()
            m.run_active.set(1)
        elif kind == "host-started":
            self._in_service.setdefault(run_id, set()).add(str(event.get("host")))
        elif kind == "step-finished":
            outcome = event.get("outcome") or {}
            step_kind = str(event.get("kind") or "unknown")
            m.steps.labels(step_kind, str(outcome.get("status") or "unknown")).inc()
            m.step_seconds.labels(step_kind).observe(float(outcome.get("seconds") or 0.0))
        elif kind == "host-finished":
            outcome = event.get("outcome") or {}
            m.hosts_finished.labels(str(outcome.get("status") or "unknown")).inc()
            self._in_service.get(run_id, set()).discard(str(event.get("host")))
            if run_id not in self._halted and halted_by(outcome):
                self._halted.add(run_id)
                m.rollouts_halted.inc()
        elif kind == "run-finished":
            summary = event.get("summary") or {}
            code = int(summary.get("exit_code", 1))
            m.runs.labels(run_outcome(code)).inc()
            m.last_run_exit.set(code)
            m.last_run_time.set(epoch_of(str(event.get("time") or "")))
            self._in_service.pop(run_id, None)
            self._halted.discard(run_id)
            m.run_active.set(1 if self._in_service else 0)
        else:
            return
        m.hosts_out_of_service.set(sum(len(h) for h in self._in_service.values()))
