"""Injectable time, so long waits (BMC resets, POST, task polling) are testable.

Production code takes a `Clock`. `SystemClock` is the real one. Two virtual clocks make
a 20-minute reboot wait cost microseconds:

- `FakeClock`: each `sleep` jumps time forward at once, so sleeps of concurrent tasks
  add up. Right for one task at a time (a client's retries, one poll loop).
- `DiscreteClock`: a discrete-event clock. `sleep` parks the task until the clock
  reaches its wake time, and `drive(coro)` moves the clock to the next wake time only
  when nothing else in the event loop can run, so concurrent waits overlap as they do
  in real time. Right for many hosts at once (the executor, the apply benchmark).

The simulator has its own clock (hwfw/sim/vclock.py): it must not import client code.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Awaitable, Protocol, TypeVar

T = TypeVar("T")

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # wall time of the virtual clocks' zero


class Clock(Protocol):
    """Monotonic time for deadlines, wall time for records, and an async sleep."""

    def monotonic(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that jumps forward on `sleep` instead of waiting.

    Each sleep still yields to the event loop once, so other tasks make progress in
    the same order they would with real time.
    """

    def __init__(self, start: float = 0.0, wall_start: datetime | None = None) -> None:
        self._now = start
        self._wall0 = wall_start or EPOCH
        self._start = start

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self._now - self._start)

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


class DiscreteClock:
    """Discrete-event virtual time for many concurrent tasks (see the module docstring).

    Run the code under test with `await clock.drive(coro)`. Time only moves inside
    `drive`; a `sleep` outside it waits until some `drive` runs. Real I/O (a thread, a
    subprocess) takes no virtual time: time jumps to the next timer while it runs, and
    when no timer is pending `drive` polls the loop every millisecond until it is done.
    """

    # Passes of the event loop with nothing ready before time may jump: callbacks that
    # a finished task schedules (done callbacks, gather) need one or two more passes.
    _IDLE_PASSES = 3

    def __init__(self, start: float = 0.0, wall_start: datetime | None = None) -> None:
        self.now = start
        self._start = start
        self._wall0 = wall_start or EPOCH
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self._wall0 + timedelta(seconds=self.now - self._start)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._seq), wake))
        await wake

    @property
    def pending(self) -> int:
        """Sleeps not yet woken (cancelled ones excluded)."""
        return sum(1 for _, _, f in self._timers if not f.done())

    async def drive(self, coro: Awaitable[T]) -> T:
        """Run `coro` to its end, advancing time whenever the loop is idle; return its result."""
        task = asyncio.ensure_future(coro)
        loop = asyncio.get_running_loop()
        ready = getattr(loop, "_ready", None)  # the default loop's run queue (uvloop has none)
        if ready is None:
            raise RuntimeError("DiscreteClock.drive needs the default asyncio event loop")
        idle = 0
        while not task.done():
            await asyncio.sleep(0)
            if ready:  # something can still run at the current time
                idle = 0
                continue
            idle += 1
            if idle < self._IDLE_PASSES:
                continue
            if self._wake_next():
                idle = 0
            else:
                await asyncio.sleep(0.001)  # real I/O is pending: give it real time
        return task.result()

    def _wake_next(self) -> bool:
        while self._timers and self._timers[0][2].done():  # cancelled sleeps
            heapq.heappop(self._timers)
        if not self._timers:
            return False
        due, _, wake = heapq.heappop(self._timers)
        self.now = max(self.now, due)
        wake.set_result(None)
        return True


def utc_now_iso(clock: Clock | None = None) -> str:
    """RFC 3339 UTC timestamp with second precision, as written into plans and state."""
    now = clock.wall() if clock else datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
