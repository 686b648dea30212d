"""Scheduled tasks of a server: one loop per task, on the injected clock.

    scheduler.every("watch", 2.0, watcher.check)        # the workspace files and commit
    scheduler.every("compliance-scan", 3600, fleet.scan)  # what a periodic scan registers

A task runs, then sleeps its interval, then runs again; it never overlaps itself. An
exception is logged (once per kind of failure in a row) and the loop goes on; stopping
the scheduler cancels every loop. `run_now(name)` runs a task at once (outside its
rhythm), for tests and for an API call that asks for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from hwfw.clock import Clock, SystemClock
from hwfw.logs import get_logger

__all__ = ["Scheduler"]

log = get_logger("api.tasks")


@dataclass
class _Task:
    name: str
    interval: float
    job: Callable[[], Awaitable[object]]
    runs: int = 0
    last_error: str | None = None
    lock: asyncio.Lock | None = None


class Scheduler:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self._tasks: dict[str, _Task] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}

    def every(self, name: str, interval: float, job: Callable[[], Awaitable[object]]) -> None:
        """Run `job` every `interval` seconds once started (replaces a task of that name)."""
        if interval <= 0:
            raise ValueError(f"task {name}: the interval must be positive, not {interval}")
        self._tasks[name] = _Task(name, interval, job)

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    async def run_now(self, name: str) -> None:
        await self._run_once(self._tasks[name])

    async def _run_once(self, task: _Task) -> None:
        if task.lock is None:
            task.lock = asyncio.Lock()
        async with task.lock:
            try:
                await task.job()
                task.runs += 1
                task.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                text = f"{type(exc).__name__}: {exc}"
                if text != task.last_error:
                    log.warning("scheduled task %s failed: %s", task.name, text, exc_info=True)
                task.last_error = text

    async def _loop(self, task: _Task) -> None:
        while True:
            await self._run_once(task)
            await self.clock.sleep(task.interval)

    def start(self) -> None:
        """Start every task not started yet (call again after adding tasks)."""
        for name, task in self._tasks.items():
            if name not in self._loops:
                self._loops[name] = asyncio.ensure_future(self._loop(task))

    async def stop(self) -> None:
        loops, self._loops = list(self._loops.values()), {}
        for loop in loops:
            loop.cancel()
        for loop in loops:
            try:
                await loop
            except asyncio.CancelledError:
                pass
