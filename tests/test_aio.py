"""gather_or_cancel: results in order; on a failure the siblings are cancelled first."""

from __future__ import annotations

import asyncio

import pytest

from hwfw.aio import gather_or_cancel


class Boom(Exception):
    pass


def test_results_come_back_in_the_order_given() -> None:
    async def value(v: int, yields: int) -> int:
        for _ in range(yields):
            await asyncio.sleep(0)
        return v

    assert asyncio.run(gather_or_cancel(value(1, 3), value(2, 0), value(3, 1))) == [1, 2, 3]


def test_a_failure_cancels_and_awaits_the_others_and_propagates_unchanged() -> None:
    finished: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            finished.append("cancelled sibling cleaned up")

    async def fail() -> None:
        await asyncio.sleep(0)
        raise Boom("the read failed")

    async def body() -> None:
        with pytest.raises(Boom, match="the read failed"):
            await gather_or_cancel(forever(), fail())
        assert finished == ["cancelled sibling cleaned up"]  # before the error reached us

    asyncio.run(body())


def test_cancelling_the_caller_cancels_every_awaitable() -> None:
    cancelled: list[int] = []

    async def forever(n: int, running: asyncio.Event) -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(n)
            raise

    async def body() -> None:
        running = [asyncio.Event(), asyncio.Event()]
        task = asyncio.create_task(gather_or_cancel(forever(0, running[0]), forever(1, running[1])))
        for r in running:
            await r.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(cancelled) == [0, 1]

    asyncio.run(body())
