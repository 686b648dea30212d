"""The injectable clocks: virtual time that behaves like real time, without the waiting."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from hwfw.clock import EPOCH, DiscreteClock, FakeClock, SystemClock, utc_now_iso


def test_fake_clock_sleeps_add_up_and_wall_follows() -> None:
    clock = FakeClock(start=10.0)

    async def body() -> None:
        await asyncio.gather(clock.sleep(5), clock.sleep(7))
        await clock.sleep(-3)  # a negative wait is no wait

    asyncio.run(body())
    assert clock.monotonic() == 22.0
    assert clock.wall() == EPOCH + timedelta(seconds=12)
    assert utc_now_iso(clock) == "2026-01-01T00:00:12Z"


def test_discrete_clock_overlaps_concurrent_sleeps() -> None:
    clock = DiscreteClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    async def body() -> None:
        await asyncio.gather(sleeper("b", 20), sleeper("a", 10), sleeper("c", 20), sleeper("d", 5))

    t0 = time.monotonic()
    asyncio.run(_drive(clock, body()))
    assert time.monotonic() - t0 < 5  # virtual minutes, real milliseconds
    # In wake-time order; equal wake times in the order they went to sleep.
    assert woke == [("d", 5.0), ("a", 10.0), ("b", 20.0), ("c", 20.0)]
    assert clock.monotonic() == 20.0  # overlapped: not 55
    assert clock.wall() == EPOCH + timedelta(seconds=20)


async def _drive(clock: DiscreteClock, coro: object) -> object:
    return await clock.drive(coro)  # type: ignore[arg-type]


def test_discrete_clock_runs_ready_work_before_moving_time() -> None:
    """A task that can run now always runs before time jumps (no overtaking)."""
    clock = DiscreteClock()
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(50):  # ready work at t=0, spread over many loop passes
            await asyncio.sleep(0)
        seen.append(clock.monotonic())

    async def body() -> None:
        await asyncio.gather(busy(), clock.sleep(100))

    asyncio.run(_drive(clock, body()))
    assert seen == [0.0] and clock.monotonic() == 100.0


def test_discrete_clock_skips_cancelled_sleeps_and_returns_the_result() -> None:
    clock = DiscreteClock(start=1000.0, wall_start=datetime(2030, 5, 1, tzinfo=UTC))

    async def body() -> str:
        doomed = asyncio.ensure_future(clock.sleep(50))
        await asyncio.sleep(0)
        doomed.cancel()
        await clock.sleep(3600)
        return "done"

    assert asyncio.run(_drive(clock, body())) == "done"
    assert clock.monotonic() == 4600.0 and clock.pending == 0
    assert utc_now_iso(clock) == "2030-05-01T01:00:00Z"


def test_discrete_clock_gives_real_io_real_time_when_no_timer_is_pending() -> None:
    """Work in a thread takes no virtual time; with no timer to jump to, drive waits for it."""
    clock = DiscreteClock()

    async def body() -> tuple[str, float, float]:
        result = await asyncio.to_thread(lambda: time.sleep(0.05) or "read")
        seen = clock.monotonic()
        await clock.sleep(30)
        return result, seen, clock.monotonic()

    assert asyncio.run(_drive(clock, body())) == ("read", 0.0, 30.0)


def test_discrete_clock_propagates_the_error_of_the_driven_coroutine() -> None:
    clock = DiscreteClock()

    async def body() -> None:
        await clock.sleep(1)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        asyncio.run(_drive(clock, body()))


def test_system_clock_is_real_time() -> None:
    clock = SystemClock()
    before = clock.monotonic()
    asyncio.run(clock.sleep(-1))  # never negative
    assert clock.monotonic() >= before
    assert abs((clock.wall() - datetime.now(UTC)).total_seconds()) < 5
