"""What an apply run reports: step and host outcomes, the run summary, and their JSON.

These are plain values handed to `Hooks` (hooks.py); the JSON-lines output
(`hwfw apply --format json`, schemas/events.schema.json) is `event_json(...)` of them.
Outcomes are decided once, by the executor; renderers never recompute them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

EVENTS_FORMAT = 1

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
HOST_SKIPPED = "skipped"          # the pre-host hook failed
HOST_DEFERRED = "deferred"        # not started (or stopped at a safe point) for the window
HOST_NOT_STARTED = "not-started"  # canary failed, failure budget exceeded, run aborted
HOST_INTERRUPTED = "interrupted"  # SIGINT/SIGTERM stopped it at a safe point

HOST_OUTCOMES = (HOST_CONVERGED, HOST_FAILED, HOST_ROLLED_BACK, HOST_REFUSED, HOST_SKIPPED, HOST_DEFERRED,
                 HOST_NOT_STARTED, HOST_INTERRUPTED)
FAILED_OUTCOMES = frozenset({HOST_FAILED, HOST_ROLLED_BACK})


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


def event_json(type_: str, time: str, run_id: str, **fields: Any) -> dict[str, Any]:
    """One line of the JSON event stream (schemas/events.schema.json)."""
    return {"format_version": EVENTS_FORMAT, "type": type_, "time": time, "run_id": run_id,
            **{k: v for k, v in fields.items() if v is not None}}
