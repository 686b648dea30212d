"""hwfw/cancel.py: cancel requests reach every subscriber, on its own event loop."""

from __future__ import annotations

import asyncio
import threading

from hwfw.cancel import CancelToken


def test_requests_are_counted_and_force_counts_as_a_second() -> None:
    token = CancelToken()
    seen: list[int] = []
    token.subscribe(seen.append)
    assert not token.cancelled
    token.cancel()
    assert token.cancelled and token.requests == 1 and seen == [1]
    token.cancel(force=True)
    assert token.requests == 2 and seen == [1, 2]
    other = CancelToken()
    other.cancel(force=True)  # force on the first request: straight to "stop in-flight steps"
    assert other.requests == 2


def test_a_late_subscriber_hears_of_an_earlier_request_and_unsubscribing_stops_delivery() -> None:
    token = CancelToken()
    token.cancel()
    late: list[int] = []
    unsubscribe = token.subscribe(late.append)
    assert late == [1]
    unsubscribe()
    token.cancel()
    assert late == [1]


def test_a_request_from_another_thread_runs_the_callback_on_the_subscribers_loop() -> None:
    token = CancelToken()

    async def main() -> tuple[int, int]:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def callback(count: int) -> None:
            got.set_result(threading.get_ident())  # a Future may only be completed on its loop

        token.subscribe(callback)
        threading.Thread(target=token.cancel).start()
        return await asyncio.wait_for(got, 30), threading.get_ident()

    callback_thread, loop_thread = asyncio.run(main())
    assert callback_thread == loop_thread
