"""Deterministic pieces of the workflows: the clock, the scheduler carried across
continue-as-new, the walk over a host's DAG, the summary. No I/O and no wall clock:
the workflows replay this code from their history on any worker.

The rollout rules themselves are hwfw.apply.scheduler's `Scheduler`, used as it is;
only its state is copied in and out here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Callable

from hwfw.apply.events import FAILED_OUTCOMES, STEP_NOT_NEEDED, STEP_OK, STEP_PENDING, HostOutcome, RunSummary
from hwfw.apply.scheduler import Rollout, Scheduler
from hwfw.clock import Clock
from hwfw.events import Event
from hwfw.plan.model import Step

__all__ = ["DONE_STATUSES", "EventLog", "WorkflowClock", "blocked_by", "descendants", "restore_scheduler",
           "scheduler_snapshot", "summary_of"]

DONE_STATUSES = frozenset({STEP_OK, STEP_PENDING, STEP_NOT_NEEDED})


class WorkflowClock:
    """The workflow's own time (replayed from its history), as an hwfw Clock."""

    def __init__(self, now: Callable[[], datetime], sleep: Callable[[timedelta], Any]) -> None:
        self._now = now
        self._sleep = sleep

    def monotonic(self) -> float:
        return self._now().timestamp()

    def wall(self) -> datetime:
        return self._now()

    async def sleep(self, seconds: float) -> None:
        await self._sleep(timedelta(seconds=max(0.0, seconds)))


class EventLog:
    """An event sink keeping the JSON documents of the last `keep` events, numbered
    from 1 (a follower asks for those after the last number it saw)."""

    def __init__(self, keep: int, docs: Sequence[dict[str, Any]] = (), first: int = 1) -> None:
        self.keep = keep
        self.docs = list(docs)
        self.first = first             # the number of docs[0]

    def emit(self, event: Event) -> None:
        self.add(event.to_json())

    def add(self, doc: dict[str, Any]) -> None:
        self.docs.append(doc)
        if len(self.docs) > self.keep:
            drop = len(self.docs) - self.keep
            del self.docs[:drop]
            self.first += drop

    @property
    def last(self) -> int:
        return self.first + len(self.docs) - 1

    def after(self, seq: int, limit: int = 1000) -> list[dict[str, Any]]:
        start = max(0, seq + 1 - self.first)
        return self.docs[start:start + limit]

    def carry(self, last: int | None = None) -> dict[str, Any]:
        """The last `last` documents (all: None), for a run continuing as new."""
        docs = self.docs if last is None or last >= len(self.docs) else self.docs[len(self.docs) - last:]
        return {"docs": list(docs), "first": self.last - len(docs) + 1}


def scheduler_snapshot(s: Scheduler) -> dict[str, Any]:
    """What a rollout continuing as new needs of its scheduler: hosts running, holding
    or waiting for a slot, the canaries' and the failed hosts' outcomes (the rules read
    no other), and the stop."""
    live = s.running | s.holders | set(s.queue)
    return {"canaries": list(s.canaries), "running": sorted(s.running),
            "finished": {h: o for h, o in s.finished.items() if h in s.canaries or o in FAILED_OUTCOMES},
            "holders": sorted(s.holders), "permanent": sorted(s.permanent), "queue": list(s.queue),
            "stop": [s.stop_outcome, s.stop_reason], "peak": s.peak_unavailable,
            "downtime": {h: d for h, d in s.downtime.items() if h in live}}


def restore_scheduler(rollout: Rollout, clock: Clock, snap: Mapping[str, Any] | None) -> Scheduler:
    if snap is None:
        return Scheduler(rollout, [], clock)
    s = Scheduler(rollout, list(snap["canaries"]), clock, downtime=snap["downtime"])
    s.canaries = list(snap["canaries"])
    s.running = set(snap["running"])
    s.finished = dict(snap["finished"])
    s.holders = set(snap["holders"])
    s.permanent = set(snap["permanent"])
    s.queue.extend(snap["queue"])
    s.stop_outcome, s.stop_reason = snap["stop"][0], snap["stop"][1]
    s.peak_unavailable = snap["peak"]
    return s


def descendants(steps: Iterable[Step], step_id: str) -> list[str]:
    """Every step that waits, directly or not, for `step_id` (sorted)."""
    after: dict[str, list[str]] = {}
    for s in steps:
        for p in s.after:
            after.setdefault(p, []).append(s.id)
    seen: set[str] = set()
    todo = [step_id]
    while todo:
        for nxt in after.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sorted(seen)


def blocked_by(step: Step, ids: set[str], results: Mapping[str, str]) -> str | None:
    """Why `step` cannot start yet: `waiting` (a predecessor has not finished), `failed`
    (one did not succeed), or None (it may start). `results`: step id -> status."""
    for p in step.after:
        if p in ids and p not in results:
            return "waiting"
    for p in step.after:
        if p in ids and results[p] not in DONE_STATUSES:
            return "failed"
    return None


def summary_of(run_id: str, outcomes: Mapping[str, HostOutcome], counts: Mapping[str, int], *, interrupted: bool,
               aborted: bool, seconds: float, complete: bool) -> tuple[RunSummary, int]:
    """The run's summary and exit code. With every host's outcome (`complete`) this is
    the local engine's RunSummary; otherwise the exit code comes from the counts, by
    the same rule (one outcome per status present decides it)."""
    summary = RunSummary(run_id=run_id, hosts=dict(outcomes), interrupted=interrupted, aborted=aborted,
                         seconds=seconds)
    if complete:
        return summary, summary.exit_code
    sample = {f"#{status}": HostOutcome(status) for status, n in counts.items() if n}
    return summary, RunSummary(run_id=run_id, hosts=sample, interrupted=interrupted).exit_code
