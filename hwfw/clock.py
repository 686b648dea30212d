"""Injectable time, so long waits (BMC resets, POST, task polling) are testable.

Production code takes a `Clock`; tests pass a `FakeClock` whose `sleep` advances time
instantly, so a 20-minute reboot wait costs microseconds.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Protocol


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
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that jumps forward on `sleep` instead of waiting.

    Each sleep still yields to the event loop once, so other tasks make progress in
    the same order they would with real time.
    """

    def __init__(self, start: float = 0.0, wall_start: datetime | None = None) -> None:
        self._now = start
        self._wall0 = wall_start or datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._start = start

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> datetime:
        from datetime import timedelta

        return self._wall0 + timedelta(seconds=self._now - self._start)

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        await asyncio.sleep(0)


def utc_now_iso(clock: Clock | None = None) -> str:
    """RFC 3339 UTC timestamp with second precision, as written into plans and state."""
    now = clock.wall() if clock else datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")
