"""hwfw/retry.py: the one backoff, deadline and Retry-After rule set."""

from __future__ import annotations

import asyncio
import email.utils
import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.clock import FakeClock
from hwfw.retry import RETRY_AFTER_LIMIT, Backoff, RetryPolicy, parse_retry_after, polling, retry

PROPS = settings(max_examples=300, deadline=None)


# ---------------------------------------------------------------- Retry-After

@PROPS
@given(st.integers(min_value=0, max_value=10**9))
def test_delay_seconds_parse_exactly_and_stay_within_the_bound(seconds: int) -> None:
    clock = FakeClock()
    assert parse_retry_after(str(seconds), clock) == min(float(seconds), RETRY_AFTER_LIMIT)
    assert parse_retry_after(f"  {seconds}\t", clock, maximum=60) == min(float(seconds), 60.0)


@PROPS
@given(st.integers(min_value=-86400 * 3, max_value=86400 * 3))
def test_http_dates_are_measured_from_the_injected_clock(offset: int) -> None:
    clock = FakeClock(start=500.0)  # wall time is 2026-01-01 00:00:00 plus 0 s
    header = email.utils.format_datetime(clock.wall() + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, clock) == min(max(0.0, float(offset)), RETRY_AFTER_LIMIT)
    clock.advance(30)  # the same date, read 30 s later, asks for 30 s less
    assert parse_retry_after(header, clock) == min(max(0.0, float(offset - 30)), RETRY_AFTER_LIMIT)


@PROPS
@given(st.text(max_size=40))
def test_any_header_value_gives_none_or_a_bounded_wait(value: str) -> None:
    result = parse_retry_after(value, FakeClock(), maximum=120.0)
    assert result is None or 0.0 <= result <= 120.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "inf", "nan", "1e9", "0x10", "Fri, 99 Foo 2026"])
def test_garbage_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, FakeClock()) is None


def test_a_decimal_fraction_is_tolerated() -> None:
    assert parse_retry_after("1.5", FakeClock()) == 1.5


# ---------------------------------------------------------------- backoff and attempts

@PROPS
@given(st.integers(min_value=0, max_value=200), st.floats(min_value=0.01, max_value=5),
       st.floats(min_value=0.1, max_value=100), st.integers(min_value=0, max_value=2**32))
def test_equal_jitter_backoff_stays_between_half_and_whole_of_the_capped_wait(n: int, base: float, cap: float,
                                                                              seed: int) -> None:
    wait = min(cap, base * 2.0 ** min(n, 64))
    delay = Backoff(base=base, cap=cap).delay(n, random.Random(seed))
    assert wait / 2 - 1e-9 <= delay <= wait + 1e-9


def test_backoff_without_jitter_doubles_up_to_the_cap_and_keeps_the_floor() -> None:
    b = Backoff(base=0.5, cap=3.0, jitter=0)
    assert [b.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert Backoff(base=0.0, jitter=0, floor=2.0).delay(3) == 2.0
    assert Backoff(base=5.0, factor=1, cap=60, jitter=0).delay(10) == 5.0  # a constant poll interval


def test_attempts_are_bounded_and_retry_after_replaces_the_backoff() -> None:
    policy = RetryPolicy(retries=3, backoff=Backoff(base=1, jitter=0), retry_after_max=10)
    attempts = policy.attempts(FakeClock())
    assert attempts.next_delay() == 1.0
    assert attempts.next_delay(retry_after=7) == 7.0
    assert attempts.next_delay(retry_after=500) == 10.0  # bounded
    assert attempts.next_delay() is None                 # three retries granted
    assert attempts.retries == 3


def test_a_retry_that_would_end_after_the_deadline_is_not_made() -> None:
    clock = FakeClock()
    attempts = RetryPolicy(retries=None, backoff=Backoff(base=40, factor=1, cap=60, jitter=0)).attempts(
        clock, deadline=100)
    assert attempts.next_delay() == 40 and attempts.next_delay() == 40
    clock.advance(80)
    assert attempts.next_delay() is None          # 80 + 40 > 100
    assert attempts.next_delay(retry_after=20) == 20


def test_a_poll_loop_clamps_its_last_wait_to_the_deadline() -> None:
    clock = FakeClock()
    polls = RetryPolicy(retries=None, backoff=Backoff(base=5, factor=1, cap=60, floor=1, jitter=0),
                        retry_after_max=60, clamp_to_deadline=True).attempts(clock, deadline=12)
    waits = []
    while (delay := polls.next_delay(retry_after=0.2 if not waits else None)) is not None:
        waits.append(delay)
        clock.advance(delay)
    assert waits == [1.0, 5.0, 5.0, 1.0]  # Retry-After kept above the floor; the last wait ends at 12
    assert clock.monotonic() == 12.0


def test_polling_waits_the_interval_or_the_bounded_retry_after_until_the_deadline() -> None:
    clock = FakeClock()
    polls = polling(5, min_wait=2, max_wait=8).attempts(clock, deadline=20)
    waits = []
    for retry_after in (None, 30.0, 0.5, None, None):
        delay = polls.next_delay(retry_after)
        if delay is None:
            break
        waits.append(delay)
        clock.advance(delay)
    assert waits == [5.0, 8.0, 2.0, 5.0]  # Retry-After within [2, 8]; 20 reached after four waits
    assert polls.next_delay() is None and clock.monotonic() == 20.0


def test_a_caller_chosen_wait_replaces_the_interval_but_not_the_deadline() -> None:
    clock = FakeClock()
    polls = polling(1).attempts(clock, deadline=10)
    assert polls.next_delay(wait=4) == 4.0
    clock.advance(8)
    assert polls.next_delay(wait=4) == 2.0  # cut to end at the deadline
    assert Backoff.constant(3).delay(7) == 3.0


# ---------------------------------------------------------------- retry()

class Flaky(Exception):
    def __init__(self, retry_after: float | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def test_retry_returns_once_the_operation_succeeds_waiting_on_the_clock() -> None:
    clock = FakeClock()
    calls: list[float] = []
    notes: list[tuple[int, float]] = []

    async def op() -> str:
        calls.append(clock.monotonic())
        if len(calls) < 3:
            raise Flaky(retry_after=4 if len(calls) == 2 else None)
        return "ok"

    async def note(exc: Exception, n: int, delay: float) -> None:
        notes.append((n, delay))

    result = asyncio.run(retry(op, clock=clock, policy=RetryPolicy(retries=5, backoff=Backoff(base=1, jitter=0)),
                               retryable=lambda e: isinstance(e, Flaky),
                               retry_after_of=lambda e: getattr(e, "retry_after", None), on_retry=note))
    assert result == "ok"
    assert calls == [0.0, 1.0, 5.0] and notes == [(1, 1.0), (2, 4.0)]


def test_retry_gives_up_with_the_last_error_and_never_retries_the_others() -> None:
    clock = FakeClock()
    calls = 0

    async def op() -> None:
        nonlocal calls
        calls += 1
        raise Flaky()

    with pytest.raises(Flaky):
        asyncio.run(retry(op, clock=clock, policy=RetryPolicy(retries=2, backoff=Backoff(base=1, jitter=0)),
                          retryable=lambda e: True))
    assert calls == 3 and clock.monotonic() == 3.0

    async def fatal() -> None:
        raise KeyError("no")

    with pytest.raises(KeyError):
        asyncio.run(retry(fatal, clock=clock, retryable=lambda e: isinstance(e, Flaky)))
    assert clock.monotonic() == 3.0
