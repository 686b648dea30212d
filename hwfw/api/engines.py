"""Engines: what executes a run. The server (and later `hwfw run`) starts runs through
this interface only, so a run on another engine looks the same as a local one.

An `Engine` starts an apply of a saved plan or a repository sync and returns a
`RunHandle` (hwfw.api.runs: run id, kind, engine, cancel, done, wait). It also says
whether a run recorded as running is still alive (`alive(record)`): when the server
starts, a run whose engine says no is marked interrupted and can be resumed.

`LocalEngine` runs the operation from this process; a run belongs to the process
(`owner`: pid, host and the process's start time, so a reused pid is not mistaken for
it). By default an apply is an asyncio task of the caller's loop. With `apply_in`
(what `hwfw serve` uses, from settings.server.apply_in) its BMC traffic (hundreds of
hosts at once) never queues the server's requests and streams behind it:
"process" runs it in a worker process (hwfw.api.worker: an interpreter of its own,
killed with the server), "thread" on an event loop of its own in a worker thread of
this process (`own_loop=True` says the same). Either way its events come back to the
loop that started it in order, and a cancel reaches it as it would there. A workspace
with an injected clock (tests) runs its applies in a thread: a clock does not cross a
process.

`TemporalEngine` ("temporal") plans in this process as `hwfw apply --engine temporal`
does, hands the plan to a rollout workflow and follows it (hwfw.api.temporal): its
events reach the caller as a local run's do. Its runs belong to the Temporal service,
not to this process (no `owner`): one is alive while its rollout exists there, so a
restarted server follows it again (`attach`) instead of marking it interrupted.
Stopping the server only stops following (`detach`); `cancel` stops the rollout.
It runs applies only (`kinds`): a repository sync runs on the local engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hwfw.cancel import CancelToken
from hwfw.clock import SystemClock
from hwfw.events import CallbackSink, Event
from hwfw.state.lock import acting_as
from hwfw.state.serverstore import RunRecord

from .runs import ApplyRun, ElsewhereApply, EventTarget, RunHandle, SyncRun, event_sink
from .temporal import TemporalApplyRun, TemporalTarget, attach_rollout
from .worker import ProcessApply, start_message

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions, ApplyResult
    from hwfw.config.model import Settings

    from .plans import PlanDocument
    from .workspace import Workspace

__all__ = ["Engine", "LocalEngine", "TemporalEngine", "ThreadedApply", "default_engines", "process_identity"]


class Engine(Protocol):
    name: str

    def owner(self) -> dict[str, Any] | None:
        """What a run record's `owner` is set to for runs this engine starts here."""
        ...

    def start_apply(self, workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, *,
                    on_event: EventTarget | None, cancel: CancelToken, principal: str) -> RunHandle: ...

    def start_sync(self, workspace: Workspace, *, run_id: str, all_images: bool, on_event: EventTarget | None,
                   cancel: CancelToken, principal: str) -> RunHandle: ...

    def alive(self, run: RunRecord) -> bool | Awaitable[bool]:
        """Is the run recorded as running still executing somewhere? (An engine that must
        ask a service returns an awaitable.) An engine whose runs outlive the server also
        has `attach(workspace, record, *, on_event, cancel) -> RunHandle`, to follow one
        again, and `kinds`, the run kinds it executes when not both."""
        ...


def process_identity(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, from /proc), or None when
    there is no such process: a pid plus this names one process, even after pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


class ThreadedApply(ElsewhereApply):
    """An apply on an event loop of its own in a worker thread (`LocalEngine(own_loop=True)`);
    the same handle as `ApplyRun`, used from the loop that started it."""

    def __init__(self, run_id: str, token: CancelToken, begin: Callable[[], ApplyRun]) -> None:
        self.run_id = run_id
        self.token = token
        self._outcome: concurrent.futures.Future[ApplyResult] = concurrent.futures.Future()
        self._waiter = asyncio.wrap_future(self._outcome)    # resolved on the starting loop, after every event
        context = contextvars.copy_context()                 # the principal the run acts for (acting_as)

        def main() -> None:
            try:
                result = asyncio.run(self._go(begin))
            except BaseException as exc:   # noqa: BLE001 - handed to whoever waits, as ApplyRun would
                self._outcome.set_exception(exc)
            else:
                self._outcome.set_result(result)

        self._thread = threading.Thread(target=context.run, args=(main,), name=f"hwfw-apply-{run_id}", daemon=True)
        self._thread.start()

    @staticmethod
    async def _go(begin: Callable[[], ApplyRun]) -> ApplyResult:
        return await begin().wait()

    def cancel(self, *, force: bool = False) -> None:
        self.token.cancel(force=force)      # thread-safe: delivered on the run's own loop


class LocalEngine:
    """Runs in this process (see the module docstring)."""

    name = "local"

    def __init__(self, *, own_loop: bool = False, apply_in: str | None = None) -> None:
        self.apply_in = apply_in or ("thread" if own_loop else "task")
        if self.apply_in not in ("task", "thread", "process"):
            raise ValueError(f"apply_in: task, thread or process, not {self.apply_in!r}")

    def owner(self) -> dict[str, Any] | None:
        pid = os.getpid()
        return {"pid": pid, "host": socket.gethostname(), "started": process_identity(pid) or ""}

    def start_apply(self, workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, *,
                    on_event: EventTarget | None, cancel: CancelToken,
                    principal: str) -> ApplyRun | ThreadedApply | ProcessApply:
        where = self.apply_in
        if where == "process" and not isinstance(getattr(workspace, "clock", None), SystemClock):
            where = "thread"
        if where == "process":
            return ProcessApply(options.run_id or "", cancel, start_message(workspace, plan, options, principal),
                                event_sink(on_event))
        with acting_as(principal):   # the run's task inherits it: its locks and audit entries name the principal
            if where == "task":
                return workspace.start_apply(plan, options, on_event=on_event, cancel=cancel)
            home = asyncio.get_running_loop()
            target = event_sink(on_event)

            def relay(event: Event) -> None:
                if target is not None:
                    home.call_soon_threadsafe(target.emit, event)   # in order, on the loop that started the run

            return ThreadedApply(options.run_id or "", cancel, lambda: workspace.start_apply(
                plan, options, on_event=CallbackSink(relay), cancel=cancel))

    def start_sync(self, workspace: Workspace, *, run_id: str, all_images: bool, on_event: EventTarget | None,
                   cancel: CancelToken, principal: str) -> SyncRun:
        async def start() -> Any:
            return await workspace.sync_repository(all_images=all_images, on_event=on_event, cancel=cancel,
                                                   run_id=run_id)

        with acting_as(principal):
            return SyncRun(run_id, cancel, start)

    def alive(self, run: RunRecord) -> bool:
        owner = run.owner or {}
        if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
            return False
        return process_identity(owner["pid"]) == owner.get("started")


class TemporalEngine:
    """Rollouts on a Temporal service (see the module docstring); `settings` are the
    workspace's (settings.temporal names the service), `target` overrides them."""

    name = "temporal"
    kinds = ("apply",)

    def __init__(self, settings: Settings, target: TemporalTarget | None = None) -> None:
        self.settings = settings
        self.target = target

    def owner(self) -> dict[str, Any] | None:
        return None   # the run belongs to the service, whichever process follows it

    def start_apply(self, workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, *,
                    on_event: EventTarget | None, cancel: CancelToken, principal: str) -> TemporalApplyRun:
        with acting_as(principal):   # the planning's lock and the rollout's memo name the principal
            run = workspace.start_apply(plan, options, on_event=on_event, cancel=cancel, engine="temporal",
                                        temporal=self.target, recorded=False)
        assert isinstance(run, TemporalApplyRun)
        return run

    def start_sync(self, workspace: Workspace, *, run_id: str, all_images: bool, on_event: EventTarget | None,
                   cancel: CancelToken, principal: str) -> SyncRun:
        return LocalEngine().start_sync(workspace, run_id=run_id, all_images=all_images, on_event=on_event,
                                        cancel=cancel, principal=principal)

    async def alive(self, run: RunRecord) -> bool:
        """The rollout exists on the service (running, or ended since: attaching records
        its end); a service that cannot be asked is given the benefit of the doubt."""
        from temporalio.service import RPCError

        from hwfw.engine.temporal.client import rollout_exists
        from hwfw.errors import HwfwError

        from .temporal import temporal_client

        try:
            client = await temporal_client(self.settings, self.target)
            return await rollout_exists(client, run.run_id)
        except (HwfwError, RPCError):
            return True

    def attach(self, workspace: Workspace, run: RunRecord, *, on_event: EventTarget | None,
               cancel: CancelToken) -> TemporalApplyRun:
        return attach_rollout(self.settings, run.run_id, event_sink(on_event), cancel, target=self.target,
                              clock=workspace.clock)


def default_engines(apply_in: str = "process", settings: Settings | None = None) -> Mapping[str, Engine]:
    """The engines this hwfw has, by name; `apply_in` is settings.server.apply_in, and
    `settings` (the workspace's) give the Temporal engine its service."""
    engines: dict[str, Engine] = {"local": LocalEngine(apply_in=apply_in)}
    if settings is not None:
        engines["temporal"] = TemporalEngine(settings)
    return engines
