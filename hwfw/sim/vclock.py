"""Virtual time for the simulator: every BMC delay runs on it, scaled by `speed`.

virtual_now = base + (real_monotonic - real_base) * speed + advanced

A 6-minute BIOS flash takes 0.36 real seconds at speed 1000. Speed 0 freezes time:
only `advance()` (tests, `POST /__sim/clock`) moves it, which makes tests exact.
Added network latency is *not* virtual: it is real time, see faults.py.

The `Scheduler` is a discrete-event queue on this clock. Timers are data, not sleeping
coroutines: one ticker task wakes at the next due timer, and every request also runs
whatever is due first, so advancing the clock takes effect at once.

Why not hwfw/clock.py: that module's clocks serve the client (a `Clock` is injected
into the HTTP client, the executor, the repository). The simulator stands in for BMCs
and must stay independent of the code it tests, so it keeps its own time: a clock with
a speed factor and timers kept as data, which the client side has no use for.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Callable

log = logging.getLogger("hwfw.sim")

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """Monotonic virtual seconds with a speed factor and manual advance."""

    def __init__(self, speed: float = 1.0, start: float = 0.0) -> None:
        self._speed = max(0.0, speed)
        self._base = start
        self._real_base = time.monotonic()
        self._wall_base = time.time()

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> float:
        return self._base + (time.monotonic() - self._real_base) * self._speed

    def set_speed(self, speed: float) -> None:
        self._base = self.now()
        self._real_base = time.monotonic()
        self._speed = max(0.0, speed)

    def advance(self, seconds: float) -> float:
        """Jump forward; returns the new virtual time."""
        self._base += max(0.0, seconds)
        return self.now()

    def real_delay(self, virtual_seconds: float) -> float | None:
        """Real seconds until `virtual_seconds` from now elapse; None when frozen."""
        if self._speed <= 0:
            return None
        return max(0.0, virtual_seconds) / self._speed

    def wall(self, at: float | None = None) -> datetime:
        """Wall-clock time a BMC would report for virtual time `at` (default now)."""
        return EPOCH + timedelta(seconds=self.now() if at is None else at)

    def iso(self, at: float | None = None) -> str:
        return self.wall(at).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Scheduler:
    """Timers on the virtual clock, run in order of due time then creation."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False

    def at(self, when: float, callback: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (when, next(self._seq), callback))
        if self._wake is not None and self._heap[0][2] is callback:
            self._wake.set()

    def after(self, delay: float, callback: Callable[[], None]) -> None:
        self.at(self.clock.now() + max(0.0, delay), callback)

    def run_due(self) -> int:
        """Run every timer whose time has come (callbacks may add more); return how many ran."""
        if self._running:
            return 0
        self._running = True
        count = 0
        try:
            while self._heap and self._heap[0][0] <= self.clock.now():
                _, _, callback = heapq.heappop(self._heap)
                count += 1
                try:
                    callback()
                except Exception:  # a broken timer must not stop the fleet
                    log.exception("simulator timer failed")
        finally:
            self._running = False
        return count

    def advance(self, seconds: float) -> float:
        """Move virtual time forward, running every timer due on the way in order."""
        target = self.clock.now() + max(0.0, seconds)
        while self._heap and self._heap[0][0] <= target:
            step = self._heap[0][0] - self.clock.now()
            if step > 0:
                self.clock.advance(step)
            self.run_due()
        remaining = target - self.clock.now()
        if remaining > 0:
            self.clock.advance(remaining)
        self.run_due()
        if self._wake is not None:
            self._wake.set()
        return self.clock.now()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def start(self) -> None:
        """Start the ticker in the running loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._tick(), name="hwfw-sim-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _tick(self) -> None:
        assert self._wake is not None
        while True:
            self.run_due()
            due = self.next_due()
            timeout = None
            if due is not None:
                timeout = self.clock.real_delay(due - self.clock.now())
            self._wake.clear()
            try:
                if timeout is None:
                    await self._wake.wait()
                else:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.0005))
            except TimeoutError:
                pass
