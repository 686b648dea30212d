"""Reads issued together, where one failure stops the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

__all__ = ["gather_or_cancel"]


async def gather_or_cancel(*aws: Awaitable[Any]) -> list[Any]:
    """`asyncio.gather` whose first failure cancels the sibling awaitables, waits for
    them to finish, and then propagates as itself (not wrapped in an ExceptionGroup,
    as `asyncio.TaskGroup` would): a host whose read failed stops spending requests on
    a result nobody will use."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
