"""Rollout rules: which host may start, when a host may go out of service, and whether
a step still fits the maintenance window. Pure decisions plus a small asyncio gate.

`Scheduler` holds the decisions as plain state (no I/O, time only through the injected
clock), so the rules are unit-tested with a `FakeClock`; `Gate` lets the executor's
host tasks wait on it. The rules:

* **parallelism**: at most N hosts run at once (pre-hook to post-hook).
* **canary**: the first N hosts (plan order) must converge before any other starts; a
  canary that does not converge stops the rollout (the rest are `not-started`).
* **failure budget**: once more hosts failed than the budget allows, no new host starts.
* **max-unavailable**: a host is out of service from the start of its first
  host-disruptive step (a host reboot or AC power cycle, or a flash that reboots the
  host itself) until its last such step finished, and everything in between. Steps
  before that window (staging) run without a slot. A host that fails inside its window keeps its slot: it may well be
  down, and "never more than N down" must hold for the power log, not for intentions.
  Waiting hosts get slots longest window first (ties: first come), which keeps the
  fleet makespan near max(longest host, total downtime / N).
* **window**: a host starts only if its plan estimate fits before the deadline, and no
  step starts whose estimate would overrun it (the host stops at that safe point).
  Estimates are real-world seconds; `time_scale` converts them to the clock's seconds
  (the embedded simulator runs `speed` times faster).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from hwfw.apply.events import FAILED_OUTCOMES, HOST_CONVERGED, HOST_DEFERRED, HOST_NOT_STARTED
from hwfw.clock import Clock
from hwfw.errors import HwfwError
from hwfw.plan.estimate import critical_path
from hwfw.plan.model import Step

DISRUPTIVE_ACTIVATIONS = frozenset({"host-reboot", "ac-cycle"})


def parse_count(value: str | int | None, total: int, *, option: str, minimum: int = 0) -> int | None:
    """`N` or `P%` (of `total`, rounded down) as a count; None stays None (no limit)."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if text.endswith("%"):
            pct = float(text[:-1])
            if not 0 <= pct <= 100:
                raise ValueError
            count = math.floor(total * pct / 100)
        else:
            count = int(text)
            if count < 0:
                raise ValueError
    except ValueError:
        raise HwfwError(f"{option} {text!r} is not a count or a percentage",
                        hint=f"use a whole number (e.g. {option} 5) or a percentage (e.g. {option} 10%)") from None
    return max(minimum, count)


def is_disruptive(step: Step) -> bool:
    """Does this step take the host out of service (reboot or AC cycle)?"""
    if step.kind == "activate":
        return step.activation in DISRUPTIVE_ACTIVATIONS
    if step.kind == "flash":
        return step.apply_time == "Immediate" and step.activation in DISRUPTIVE_ACTIVATIONS
    return False


@dataclass(frozen=True, slots=True)
class HostShape:
    """One host's steps (plan order) and its out-of-service window."""

    host: str
    steps: tuple[Step, ...]
    window: frozenset[str]          # step ids from the first to the last disruptive step
    first_disruptive: str | None
    last_disruptive: str | None
    path_seconds: float             # longest path through the host's DAG (plan estimates)
    downtime_seconds: float         # longest path through the window

    @property
    def estimate_seconds(self) -> float:
        return self.path_seconds


def host_shape(host: str, steps: Sequence[Step]) -> HostShape:
    ids = [s.id for s in steps]
    seconds = {s.id: s.estimate_seconds for s in steps}
    edges = [(p, s.id) for s in steps for p in s.after if p in seconds]
    path, _ = critical_path(ids, edges, seconds)
    disruptive = [i for i, s in enumerate(steps) if is_disruptive(s)]
    if not disruptive:
        return HostShape(host, tuple(steps), frozenset(), None, None, path, 0.0)
    first, last = disruptive[0], disruptive[-1]
    window = ids[first:last + 1]
    inside = set(window)
    down, _ = critical_path(window, [(u, v) for u, v in edges if u in inside and v in inside], seconds)
    return HostShape(host, tuple(steps), frozenset(window), ids[first], ids[last], path, down)


def shapes_of(steps: Iterable[Step]) -> dict[str, HostShape]:
    """Per-host shapes of a plan's steps, hosts in plan order."""
    per_host: dict[str, list[Step]] = {}
    for s in steps:
        per_host.setdefault(s.host, []).append(s)
    return {h: host_shape(h, ss) for h, ss in per_host.items()}


def makespan_lower_bound(shapes: Iterable[HostShape], max_unavailable: int | None) -> float:
    """max(longest single-host path, total downtime / max-unavailable)."""
    shapes = list(shapes)
    longest = max((s.path_seconds for s in shapes), default=0.0)
    if not max_unavailable:
        return longest
    return max(longest, sum(s.downtime_seconds for s in shapes) / max_unavailable)


@dataclass(frozen=True, slots=True)
class Rollout:
    """The rollout knobs of one run, already resolved to counts."""

    parallelism: int = 10
    max_unavailable: int | None = None
    canary: int = 0
    failure_budget: int | None = None
    deadline: float | None = None    # a clock.monotonic() value
    time_scale: float = 1.0          # plan-estimate seconds per clock second


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: str                     # go | wait | no
    outcome: str | None = None       # for `no`: the host outcome to report
    reason: str = ""

    @property
    def go(self) -> bool:
        return self.verdict == "go"


GO = Decision("go")
WAIT = Decision("wait")


class Scheduler:
    """The rollout state of one run. Synchronous and pure apart from the clock."""

    def __init__(self, rollout: Rollout, hosts: Sequence[str], clock: Clock,
                 downtime: Mapping[str, float] | None = None) -> None:
        self.rollout = rollout
        self.downtime = dict(downtime or {})
        self.clock = clock
        self.order = list(hosts)
        self.canaries = list(hosts[:max(0, rollout.canary)])
        self.running: set[str] = set()
        self.finished: dict[str, str] = {}
        self.holders: set[str] = set()
        self.permanent: set[str] = set()
        self.queue: deque[str] = deque()
        self.stop_outcome: str | None = None
        self.stop_reason = ""
        self.peak_unavailable = 0

    # -- run-wide stop (abort-run, SIGINT/SIGTERM)
    def stop(self, outcome: str, reason: str) -> None:
        if self.stop_outcome is None:
            self.stop_outcome, self.stop_reason = outcome, reason

    @property
    def stopped(self) -> bool:
        return self.stop_outcome is not None

    @property
    def failed(self) -> int:
        return sum(1 for o in self.finished.values() if o in FAILED_OUTCOMES)

    def fits(self, estimate_seconds: float) -> bool:
        """Would work of this (real-world) estimate end before the deadline?"""
        if self.rollout.deadline is None:
            return True
        return self.clock.monotonic() + estimate_seconds / self.rollout.time_scale <= self.rollout.deadline

    # -- hosts
    def admit(self, host: str, estimate_seconds: float) -> Decision:
        if self.stopped:
            return Decision("no", self.stop_outcome, self.stop_reason)
        budget = self.rollout.failure_budget
        if budget is not None and self.failed > budget:
            return Decision("no", HOST_NOT_STARTED,
                            f"failure budget exceeded ({self.failed} failed, budget {budget})")
        if host not in self.canaries and self.canaries:
            bad = [c for c in self.canaries if c in self.finished and self.finished[c] != HOST_CONVERGED]
            if bad:
                return Decision("no", HOST_NOT_STARTED, f"canary {bad[0]} did not converge ({self.finished[bad[0]]})")
            if any(c not in self.finished for c in self.canaries):
                return WAIT
        if len(self.running) >= max(1, self.rollout.parallelism):
            return WAIT
        if not self.fits(estimate_seconds):
            return Decision("no", HOST_DEFERRED, "its estimate would overrun the window")
        return GO

    def host_started(self, host: str) -> None:
        self.running.add(host)

    def host_finished(self, host: str, outcome: str, *, keep_slot: bool = False) -> None:
        """`keep_slot`: the host failed inside its window and stays out of service."""
        self.running.discard(host)
        self.finished[host] = outcome
        if host in self.queue:
            self.queue.remove(host)
        if host in self.holders:
            if keep_slot:
                self.permanent.add(host)
            else:
                self.holders.discard(host)

    # -- out-of-service slots
    def request_slot(self, host: str) -> Decision:
        if host in self.holders:
            return GO
        if self.stopped:
            return Decision("no", self.stop_outcome, self.stop_reason)
        limit = self.rollout.max_unavailable
        if limit is None:
            self._take(host)
            return GO
        if limit - len(self.permanent) <= 0:
            return Decision("no", HOST_DEFERRED,
                            f"all {limit} max-unavailable slot(s) are held by failed hosts: "
                            + ", ".join(sorted(self.permanent)))
        if host not in self.queue:
            self.queue.append(host)
        free = limit - len(self.holders)
        # Longest out-of-service window first (ties: first come): the long windows start
        # early and the short ones fill the gaps at the end (LPT list scheduling).
        ranked = sorted(self.queue, key=lambda h: -self.downtime.get(h, 0.0))
        if free > 0 and ranked.index(host) < free:
            self.queue.remove(host)
            self._take(host)
            return GO
        return WAIT

    def _take(self, host: str) -> None:
        self.holders.add(host)
        self.peak_unavailable = max(self.peak_unavailable, len(self.holders))

    def release_slot(self, host: str) -> None:
        self.holders.discard(host)

    def withdraw(self, host: str) -> None:
        """The host stopped waiting for a slot."""
        if host in self.queue:
            self.queue.remove(host)


class Gate:
    """The asyncio face of a Scheduler: host tasks wait here for their turn."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.s = scheduler
        self._cond = asyncio.Condition()

    async def _wait_for(self, decide: Callable[[], Decision]) -> Decision:
        async with self._cond:
            while True:
                d = decide()
                if d.verdict != "wait":
                    return d
                await self._cond.wait()

    async def admit(self, host: str, estimate_seconds: float) -> Decision:
        d = await self._wait_for(lambda: self.s.admit(host, estimate_seconds))
        if d.go:
            self.s.host_started(host)
        return d

    async def slot(self, host: str) -> Decision:
        try:
            return await self._wait_for(lambda: self.s.request_slot(host))
        except BaseException:
            self.s.withdraw(host)
            await self.changed()
            raise

    async def changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def release_slot(self, host: str) -> None:
        self.s.release_slot(host)
        await self.changed()

    async def host_finished(self, host: str, outcome: str, *, keep_slot: bool = False) -> None:
        self.s.host_finished(host, outcome, keep_slot=keep_slot)
        await self.changed()

    async def stop(self, outcome: str, reason: str) -> None:
        self.s.stop(outcome, reason)
        await self.changed()

