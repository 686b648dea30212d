"""Retrying on an injected clock: one backoff rule, one deadline rule, one Retry-After parser.

Two shapes of the same policy:

    # 1. The whole loop, for an operation that raises when it should be retried
    #    (repository downloads):
    result = await retry(op, clock=clock, policy=RetryPolicy(retries=4),
                         retryable=lambda exc: isinstance(exc, TransportError),
                         retry_after_of=lambda exc: getattr(exc, "retry_after", None),
                         on_retry=note)             # before each wait: checkpoint, report

    # 2. Step by step, where the caller owns the loop (the Redfish client retries a
    #    503 *response* and hands the last one back; a task poll loop waits between polls):
    attempts = policy.attempts(clock, deadline=deadline, rng=rng)
    while True:
        response = await send()
        if response.status_code != 503:
            return response
        delay = attempts.next_delay(parse_retry_after(response.headers.get("retry-after"), clock))
        if delay is None:                           # retries used up, or the deadline
            return response
        await clock.sleep(delay)

A poll loop is the second shape with a constant interval and no retry count,
`polling(interval, min_wait=..., max_wait=...)`: each wait is the server's Retry-After
(kept within min_wait and max_wait) or the interval, and the last wait ends exactly at
the deadline instead of being skipped:

    polls = polling(interval).attempts(clock, deadline=clock.monotonic() + timeout)
    while not await done():
        delay = polls.next_delay()
        if delay is None:                           # the deadline has come
            return False
        await clock.sleep(delay)
    return True

A caller whose wait depends on what it just saw (a longer pause once a BMC looks
healthy) passes it as `next_delay(wait=...)`; the retry count and the deadline still
apply.

Rules, the same everywhere:
- the wait before retry n (0-based) is `min(cap, base * factor**n)`, of which the
  fraction `jitter` is random (0.5: "equal jitter", half fixed, half random), and never
  less than `floor`;
- a server's Retry-After replaces that wait, bounded by `retry_after_max`;
- with a deadline (a `clock.monotonic()` value), a retry whose wait would end after it
  is not made (the caller reports its last failure), unless `clamp_to_deadline`.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC
from typing import Awaitable, Callable, TypeVar

from hwfw.clock import Clock

__all__ = ["Attempts", "Backoff", "RetryPolicy", "parse_retry_after", "polling", "retry"]

T = TypeVar("T")

# An hour: no server gets to park a client for longer, whatever it says.
RETRY_AFTER_LIMIT = 3600.0
_SECONDS = re.compile(r"\d{1,10}(?:\.\d{1,6})?")
_RNG = random.Random()  # jitter; a run needs no reproducible jitter, tests pass their own


def parse_retry_after(value: str | None, clock: Clock, *, maximum: float = RETRY_AFTER_LIMIT) -> float | None:
    """Seconds to wait from a `Retry-After` header value, or None when there is none.

    Accepts delay-seconds (`120`; a decimal fraction is tolerated) and an HTTP-date
    (RFC 9110 section 10.2.3), which is measured from `clock.wall()`. A date in the past
    means 0. The result is within [0, maximum]; anything else (garbage, negative
    numbers, inf/nan) is ignored (None), so the caller falls back to its own backoff.
    """
    if not value:
        return None
    text = value.strip()
    if _SECONDS.fullmatch(text):
        return min(float(text), maximum)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - Python < 3.10 returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - clock.wall()).total_seconds()), maximum)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before retry n (0-based); see the module docstring."""

    base: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    floor: float = 0.0
    jitter: float = 0.5

    @classmethod
    def constant(cls, interval: float) -> Backoff:
        """The same wait before every retry: a poll interval."""
        return cls(base=interval, factor=1.0, cap=interval, jitter=0.0)

    def delay(self, n: int, rng: random.Random | None = None) -> float:
        wait = min(self.cap, self.base * self.factor ** min(n, 64))
        if self.jitter > 0 and wait > 0:
            random_part = wait * min(1.0, self.jitter)
            wait = wait - random_part + (rng or _RNG).uniform(0, random_part)
        return max(self.floor, wait)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. `retries` counts the attempts after the first
    (None: until the deadline)."""

    retries: int | None = 4
    backoff: Backoff = field(default_factory=Backoff)
    retry_after_max: float = 120.0
    clamp_to_deadline: bool = False

    def attempts(self, clock: Clock, *, deadline: float | None = None,
                 rng: random.Random | None = None) -> Attempts:
        """The retry state of one operation (create one per operation)."""
        return Attempts(self, clock, deadline=deadline, rng=rng)


class Attempts:
    """The retries of one operation so far: asks the policy for each next wait."""

    def __init__(self, policy: RetryPolicy, clock: Clock, *, deadline: float | None = None,
                 rng: random.Random | None = None) -> None:
        self.policy = policy
        self.clock = clock
        self.deadline = deadline
        self.rng = rng
        self.retries = 0  # retries granted so far

    def next_delay(self, retry_after: float | None = None, *, wait: float | None = None) -> float | None:
        """Seconds to wait before the next attempt, or None when no attempt is left.

        `retry_after` is what the server asked for (parse_retry_after), if anything.
        `wait` is the caller's own choice for this attempt instead of the backoff (a
        poll loop that waits longer once it saw what it waits for); the retry count
        and the deadline still apply.
        """
        policy = self.policy
        if policy.retries is not None and self.retries >= policy.retries:
            return None
        if retry_after is not None and math.isfinite(retry_after):
            delay = min(max(retry_after, policy.backoff.floor), policy.retry_after_max)
        elif wait is not None:
            delay = wait
        else:
            delay = policy.backoff.delay(self.retries, self.rng)
        if self.deadline is not None:
            remaining = self.deadline - self.clock.monotonic()
            if policy.clamp_to_deadline:
                if remaining <= 0:
                    return None
                delay = min(delay, remaining)
            elif delay > remaining:
                return None
        self.retries += 1
        return max(0.0, delay)


def polling(interval: float, *, min_wait: float = 0.0, max_wait: float | None = None) -> RetryPolicy:
    """The policy of a poll loop: poll every `interval` seconds until the deadline.

    A server's Retry-After replaces the interval, kept within [min_wait, max_wait]
    (max_wait defaults to the interval); no wait is shorter than min_wait, and the last
    one is cut to end at the deadline.
    """
    return RetryPolicy(retries=None, backoff=Backoff(base=interval, factor=1.0, cap=interval, floor=min_wait,
                                                     jitter=0.0),
                       retry_after_max=interval if max_wait is None else max_wait, clamp_to_deadline=True)


async def retry(op: Callable[[], Awaitable[T]], *, clock: Clock, policy: RetryPolicy = RetryPolicy(),
                retryable: Callable[[Exception], bool], deadline: float | None = None,
                retry_after_of: Callable[[Exception], float | None] | None = None,
                on_retry: Callable[[Exception, int, float], Awaitable[None] | None] | None = None,
                rng: random.Random | None = None) -> T:
    """Await `op()` until it returns, retrying the exceptions `retryable` accepts.

    Before each wait `on_retry(exc, retry_number, delay)` runs (1 for the first retry).
    When no retry is left, the last exception propagates unchanged.
    """
    attempts = policy.attempts(clock, deadline=deadline, rng=rng)
    while True:
        try:
            return await op()
        except Exception as exc:
            if not retryable(exc):
                raise
            delay = attempts.next_delay(retry_after_of(exc) if retry_after_of is not None else None)
            if delay is None:
                raise
            if on_retry is not None:
                pending = on_retry(exc, attempts.retries, delay)
                if pending is not None:
                    await pending
        await clock.sleep(delay)
