"""Concurrent awaits that leave nothing running behind them.

`asyncio.gather` raises the first failure but lets the other awaitables run on. For
reads from one BMC that is a hazard, not just waste: a read still retrying after its
sibling failed on a resetting BMC reaches the BMC once it is back, gets 401 and logs in
again in the background. That fresh session erases the only trace of the reset (our
refused session) and races whoever waits for the BMC with its own login; it once made
apply reset an iLO twice. `gather_or_cancel` cancels the siblings and waits for them to
finish before the failure propagates, and raises the failure itself (not an
ExceptionGroup, as `asyncio.TaskGroup` would), so callers keep their `except BmcError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["gather_or_cancel"]


async def gather_or_cancel(*awaitables: Awaitable[Any]) -> list[Any]:
    """The results of `awaitables` run concurrently, in order; when one fails (or the
    caller is cancelled), the others are cancelled and awaited before the error is
    raised unchanged."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
