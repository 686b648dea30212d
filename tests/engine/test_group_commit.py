"""The state writer's group commit: callers that ask while a write is under way share the
next write, and when they keep asking, writes take at most WRITE_SHARE of the time (a
write at thousands of hosts holds the interpreter lock for a tenth of a second; back to
back, they starved the worker's workflow tasks of a 5,000-host rollout)."""

from __future__ import annotations

import asyncio
from typing import Any

from hwfw.clock import DiscreteClock
from hwfw.engine.temporal.control import GroupCommit

WRITE_SECONDS = 2.0


class TimedLedger:
    """A ledger whose write takes WRITE_SECONDS of the clock's time; it notes when each
    write began and ended."""

    def __init__(self, clock: DiscreteClock) -> None:
        self.clock = clock
        self.writes: list[tuple[float, float]] = []

    async def commit(self) -> None:
        began = self.clock.monotonic()
        await self.clock.sleep(WRITE_SECONDS)
        self.writes.append((began, self.clock.monotonic()))


def test_callers_share_writes_and_writes_leave_the_rest_of_the_time_to_others() -> None:
    clock = DiscreteClock()
    ledger = TimedLedger(clock)
    group = GroupCommit(ledger, clock)  # type: ignore[arg-type]
    answered: dict[int, float] = {}

    async def caller(i: int, at: float) -> None:
        await clock.sleep(at)
        await group.commit()
        answered[i] = clock.monotonic()

    async def scenario() -> Any:
        # one caller at 0, three while the first write runs, one more while the second waits
        await asyncio.gather(caller(0, 0.0), caller(1, 0.5), caller(2, 1.0), caller(3, 1.5), caller(4, 5.0))

    asyncio.run(clock.drive(scenario()))
    assert len(ledger.writes) == 2                      # 1-4 shared the second write
    (b1, e1), (b2, e2) = ledger.writes
    assert (b1, e1) == (0.0, WRITE_SECONDS)
    wait = WRITE_SECONDS * (1 / GroupCommit.WRITE_SHARE - 1)
    assert b2 == e1 + wait                              # writes had WRITE_SHARE of the time
    assert answered[0] == e1
    assert all(answered[i] == e2 for i in (1, 2, 3, 4))  # nobody answered before its changes were written


def test_a_lone_caller_is_written_at_once() -> None:
    clock = DiscreteClock()
    ledger = TimedLedger(clock)
    group = GroupCommit(ledger, clock)  # type: ignore[arg-type]

    async def scenario() -> None:
        await group.commit()
        await clock.sleep(10.0)
        await group.commit()

    asyncio.run(clock.drive(scenario()))
    assert ledger.writes == [(0.0, WRITE_SECONDS), (WRITE_SECONDS + 10.0, 2 * WRITE_SECONDS + 10.0)]
