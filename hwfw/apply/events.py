"""What an apply run reports: step and host outcomes, the run summary, and their events.

`ApplyEvents` turns them into `hwfw.events.Event`s (schemas/events.schema.json) on the
run's sink; `hwfw apply --format json` is those events as JSON lines. Outcomes are
decided once, by the executor; subscribers read them back with `from_json` and never
recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hwfw.clock import Clock, utc_now_iso
from hwfw.events import Event, EventSink, NullSink, guarded
from hwfw.plan.model import Step

# Event names, in the order a run emits them (hosts interleave; warnings anywhere).
RUN_STARTED = "run-started"
HOST_STARTED = "host-started"
STEP_STARTED = "step-started"
STEP_PROGRESS = "step-progress"
STEP_FINISHED = "step-finished"
HOST_FINISHED = "host-finished"
RUN_FINISHED = "run-finished"
WARNING = "warning"

# Step outcomes.
STEP_OK = "ok"                          # done and, for verify, seen running
STEP_PENDING = "pending-activation"     # flashed or staged; runs after its activation
STEP_NOT_NEEDED = "not-needed"          # e.g. a reset whose images already run (the BMC reset itself)
STEP_FAILED = "failed"
STEP_SKIPPED = "skipped"                # never started; `reason` says why
STEP_INTERRUPTED = "interrupted"        # cancelled mid-way; its intent stays open for resume

# Why a step was skipped.
SKIP_UPSTREAM = "upstream failed"
SKIP_HALTED = "host halted"
SKIP_ROLLED_BACK = "host rolled back"
SKIP_ABORTED = "run aborted"
SKIP_INTERRUPTED = "interrupted"
SKIP_WINDOW = "window would overrun"

# Host outcomes.
HOST_CONVERGED = "converged"      # every step done and verified
HOST_FAILED = "failed"            # a step failed (halt-host / abort-run)
HOST_ROLLED_BACK = "rolled-back"  # a step failed and the host is back at its checkpoint
HOST_REFUSED = "refused"          # pre-flight said do not touch it (pending jobs, foreign updates)
HOST_SKIPPED = "skipped"          # the pre-host hook failed, or unreachable with --allow-unreachable
HOST_DEFERRED = "deferred"        # not started (or stopped at a safe point) for the window
HOST_NOT_STARTED = "not-started"  # canary failed, failure budget exceeded, run aborted
HOST_INTERRUPTED = "interrupted"  # SIGINT/SIGTERM stopped it at a safe point

HOST_OUTCOMES = (HOST_CONVERGED, HOST_FAILED, HOST_ROLLED_BACK, HOST_REFUSED, HOST_SKIPPED, HOST_DEFERRED,
                 HOST_NOT_STARTED, HOST_INTERRUPTED)
FAILED_OUTCOMES = frozenset({HOST_FAILED, HOST_ROLLED_BACK})

# What a host left not started by a halted rollout says (hwfw/apply/scheduler.py and
# Executor.begin_abort write these): observers tell a halt from other not-started hosts.
HALT_REASONS = ("failure budget exceeded", "canary", "run aborted")


def halted_by(outcome: Mapping[str, Any]) -> str | None:
    """The halt reason when a host outcome (its JSON) is a host a halted rollout did not start."""
    message = str(outcome.get("message") or "")
    if outcome.get("status") == HOST_NOT_STARTED and any(r in message for r in HALT_REASONS):
        return message
    return None


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """How one step ended. `message` is for people; `reason` is set for skipped steps."""

    status: str
    message: str = ""
    reason: str | None = None
    version: str | None = None      # the version read back (verify) or written (flash)
    method: str | None = None       # the driver's update method (flash)
    task_uri: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "seconds": round(self.seconds, 3)}
        for k in ("message", "reason", "version", "method", "task_uri"):
            v = getattr(self, k)
            if v:
                out[k] = v
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> StepOutcome:
        return cls(status=doc["status"], message=doc.get("message", ""), reason=doc.get("reason"),
                   version=doc.get("version"), method=doc.get("method"), task_uri=doc.get("task_uri"),
                   seconds=doc.get("seconds", 0.0))


@dataclass(frozen=True, slots=True)
class HostOutcome:
    status: str
    message: str = ""
    steps_done: int = 0
    steps_total: int = 0
    resets: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "steps_done": self.steps_done,
                               "steps_total": self.steps_total, "resets": dict(sorted(self.resets.items())),
                               "seconds": round(self.seconds, 3)}
        if self.message:
            out["message"] = self.message
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> HostOutcome:
        return cls(status=doc["status"], message=doc.get("message", ""), steps_done=doc.get("steps_done", 0),
                   steps_total=doc.get("steps_total", 0), resets=dict(doc.get("resets") or {}),
                   seconds=doc.get("seconds", 0.0))


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: str
    hosts: tuple[str, ...]
    steps: int
    parallelism: int
    max_unavailable: int | None
    canary: int
    failure_budget: int | None
    on_failure: str
    deadline_seconds: float | None = None
    time_scale: float = 1.0         # plan-estimate seconds per real second (embedded simulator)

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "hosts": list(self.hosts), "steps": self.steps,
                "parallelism": self.parallelism, "max_unavailable": self.max_unavailable,
                "canary": self.canary, "failure_budget": self.failure_budget, "on_failure": self.on_failure,
                "deadline_seconds": self.deadline_seconds, "time_scale": self.time_scale}


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The end of a run. `exit_code` follows the CLI's contract (see hwfw/cli/apply.py)."""

    run_id: str
    hosts: Mapping[str, HostOutcome]
    interrupted: bool = False
    aborted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for o in self.hosts.values() if o.status == status)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.hosts.values() if o.status in FAILED_OUTCOMES)

    @property
    def complete(self) -> bool:
        return all(o.status == HOST_CONVERGED for o in self.hosts.values())

    @property
    def exit_code(self) -> int:
        """130 interrupted; 1 any host failed, refused, skipped or not started; 2 only
        deferred hosts remain (incomplete, nothing wrong); 0 converged."""
        if self.interrupted:
            return 130
        statuses = {o.status for o in self.hosts.values()}
        if statuses - {HOST_CONVERGED, HOST_DEFERRED}:
            return 1
        if HOST_DEFERRED in statuses:
            return 2
        return 0

    def line(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in HOST_OUTCOMES if self.count(s)]
        return f"Apply {'interrupted' if self.interrupted else 'finished'}: " + (", ".join(parts) or "nothing to do")

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "hosts": {h: o.to_json() for h, o in sorted(self.hosts.items())},
                "counts": {s: self.count(s) for s in HOST_OUTCOMES}, "interrupted": self.interrupted,
                "aborted": self.aborted, "exit_code": self.exit_code, "seconds": round(self.seconds, 3)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunSummary:
        return cls(run_id=doc["run_id"], hosts={h: HostOutcome.from_json(o) for h, o in doc["hosts"].items()},
                   interrupted=doc.get("interrupted", False), aborted=doc.get("aborted", False),
                   seconds=doc.get("seconds", 0.0))


def step_json(step: Step) -> dict[str, Any]:
    """A step as events show it (schemas/events.schema.json, $defs/step)."""
    return {"id": step.id, "kind": step.kind, "component": step.component, "from": step.from_version,
            "to": step.to_version, "activation": step.activation, "estimate_seconds": step.estimate_seconds}


class ApplyEvents:
    """The events of one apply run, stamped with the run's id and clock, on one sink.

    The executor calls one method per thing that happened. Progress is thinned here,
    once for every subscriber: one `step-progress` per step per whole percent, so a
    chatty BMC cannot flood a stream. With no sink, nothing is built.
    """

    def __init__(self, sink: EventSink | None, clock: Clock, run_id: str) -> None:
        self.sink = guarded(sink)
        self.clock = clock
        self.run_id = run_id
        self._quiet = isinstance(self.sink, NullSink)
        self._last_percent: dict[str, int | None] = {}

    def _emit(self, name: str, host: str | None = None, step_id: str | None = None, **payload: Any) -> None:
        self.sink.emit(Event(name, utc_now_iso(self.clock), self.run_id, host=host, step_id=step_id,
                             payload=payload))

    def run_started(self, info: RunInfo) -> None:
        if not self._quiet:
            self._emit(RUN_STARTED, run=info.to_json())

    def host_started(self, host: str, steps: int) -> None:
        if not self._quiet:
            self._emit(HOST_STARTED, host, steps=steps)

    def step_started(self, host: str, step: Step) -> None:
        if not self._quiet:
            self._last_percent.pop(step.id, None)
            self._emit(STEP_STARTED, host, step.id, step=step_json(step))

    def step_progress(self, host: str, step: Step, percent: float | None, message: str) -> None:
        if self._quiet:
            return
        whole = None if percent is None else int(percent)
        if whole is not None and step.id in self._last_percent and self._last_percent[step.id] == whole:
            return
        self._last_percent[step.id] = whole
        self._emit(STEP_PROGRESS, host, step.id, percent=percent, message=message)

    def step_finished(self, host: str, step: Step, outcome: StepOutcome) -> None:
        if not self._quiet:
            self._last_percent.pop(step.id, None)
            self._emit(STEP_FINISHED, host, step.id, kind=step.kind, outcome=outcome.to_json())

    def host_finished(self, host: str, outcome: HostOutcome) -> None:
        if not self._quiet:
            self._emit(HOST_FINISHED, host, outcome=outcome.to_json())

    def run_finished(self, summary: RunSummary) -> None:
        if not self._quiet:
            self._emit(RUN_FINISHED, summary=summary.to_json())

    def warning(self, message: str, host: str | None = None) -> None:
        if not self._quiet:
            self._emit(WARNING, host, message=message)
