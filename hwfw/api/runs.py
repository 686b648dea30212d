"""Runs: what an operation started in the background looks like to its caller.

`RunHandle` is engine-neutral: an apply running in this process (`ApplyRun`, the
local engine) and, later, one running on another engine (a workflow service) or
re-attached from run history look the same: a run id, a kind, `cancel()` with the
SIGTERM semantics (hwfw/cancel.py), `done` and `wait()`.

`cancellable` runs one operation so that a cancel token stops it: its body runs in a
task of its own, which the first cancel request cancels (sessions are closed on the
way out); the caller then gets `hwfw.errors.Interrupted` (exit code 130).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, runtime_checkable

from hwfw.cancel import CancelToken
from hwfw.errors import Interrupted
from hwfw.events import CallbackSink, Event, EventSink

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyResult

    from .repository import SyncResult

__all__ = ["ApplyRun", "EventTarget", "RunHandle", "ElsewhereApply", "SyncRun", "cancellable", "event_sink",
           "new_run_id"]

T = TypeVar("T")
R = TypeVar("R")

# What `on_event=` accepts: a sink (hwfw/events.py) or a plain function of one event.
EventTarget = EventSink | Callable[[Event], None]


def event_sink(target: EventTarget | None) -> EventSink | None:
    """The sink for `on_event=`: a sink as it is, a function wrapped in a CallbackSink."""
    if target is None:
        return None
    if hasattr(target, "emit"):
        return target
    return CallbackSink(target)


def new_run_id() -> str:
    """12 hex digits: short enough to type, random enough never to repeat in a history."""
    return uuid.uuid4().hex[:12]


async def cancellable(body: Callable[[], Awaitable[T]], cancel: CancelToken | None, what: str) -> T:
    """`await body()`, stopped by `cancel`: the body runs in its own task, cancelled on the
    first request (its `async with` blocks close BMC sessions and the simulator on the
    way out); then Interrupted is raised. A cancellation of the caller itself propagates
    as usual."""
    if cancel is None:
        return await body()
    task: asyncio.Task[T] = asyncio.ensure_future(body())

    def stop(_count: int) -> None:
        task.cancel()

    unsubscribe = cancel.subscribe(stop)
    try:
        return await task
    except asyncio.CancelledError:
        me = asyncio.current_task()
        if task.cancelled() and cancel.cancelled and (me is None or not me.cancelling()):
            raise Interrupted(f"{what} interrupted; nothing was changed",
                              hint="run it again; every BMC session it opened was closed") from None
        raise
    finally:
        unsubscribe()


@runtime_checkable
class RunHandle(Protocol):
    """A run started in the background, whatever engine runs it."""

    run_id: str
    kind: str        # "apply" or "sync"
    engine: str      # "local": this process (hwfw.api.engines)

    def cancel(self, *, force: bool = False) -> None:
        """First call: nothing new starts, in-flight steps reach a safe point; second
        call (or `force`): in-flight steps stop where they are (recorded for resume)."""
        ...

    @property
    def done(self) -> bool: ...

    @property
    def status(self) -> str:
        """`running`, then `succeeded`, `failed` or `interrupted`."""
        ...

    async def wait(self) -> Any:
        """The run's result (`ApplyResult` for an apply); raises what the run raised."""
        ...


class _LocalRun(Generic[R]):
    """An operation running in this process, as an asyncio task (the local engine)."""

    kind = ""
    engine = "local"

    def __init__(self, run_id: str, token: CancelToken, start: Callable[[], Awaitable[R]]) -> None:
        self.run_id = run_id
        self.token = token
        self._task: asyncio.Task[R] = asyncio.ensure_future(start())

    def cancel(self, *, force: bool = False) -> None:
        self.token.cancel(force=force)

    @property
    def done(self) -> bool:
        return self._task.done()

    @property
    def status(self) -> str:
        """`running`, `interrupted`, `failed` (an error, or a result that is not a
        success) or `succeeded`."""
        if not self._task.done():
            return "running"
        if self._task.cancelled() or isinstance(self._task.exception(), Interrupted):
            return "interrupted"
        if self._task.exception() is not None:
            return "failed"
        return self._result_status(self._task.result())

    def _result_status(self, result: R) -> str:
        raise NotImplementedError

    async def wait(self) -> R:
        return await asyncio.shield(self._task)


class ApplyRun(_LocalRun["ApplyResult"]):
    """An apply running in this process (the local engine)."""

    kind = "apply"

    def _result_status(self, result: ApplyResult) -> str:
        return _exit_status(result.exit_code)


def _exit_status(code: int) -> str:
    return "succeeded" if code == 0 else "interrupted" if code == 130 else "failed"


class _Outcome(Protocol):
    def done(self) -> bool: ...
    def exception(self) -> BaseException | None: ...
    def result(self) -> Any: ...


class ElsewhereApply:
    """The `RunHandle` of an apply running elsewhere (on another loop, in another
    process), used from the loop that started it: `_outcome` is the future of its
    result (asyncio's or concurrent.futures'), `_waiter` an asyncio future resolved with
    it once every event has been re-emitted here."""

    kind = "apply"
    engine = "local"
    run_id: str
    _outcome: _Outcome
    _waiter: asyncio.Future[ApplyResult]

    @property
    def done(self) -> bool:
        return self._outcome.done()

    @property
    def status(self) -> str:
        if not self._outcome.done():
            return "running"
        exc = self._outcome.exception()
        if isinstance(exc, (Interrupted, asyncio.CancelledError)):
            return "interrupted"
        if exc is not None:
            return "failed"
        return _exit_status(self._outcome.result().exit_code)

    async def wait(self) -> ApplyResult:
        return await asyncio.shield(self._waiter)


class SyncRun(_LocalRun["SyncResult"]):
    """A repository sync running in this process (the local engine)."""

    kind = "sync"

    def _result_status(self, result: SyncResult) -> str:
        return "succeeded" if result.ok else "failed"
