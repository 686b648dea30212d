"""Applies on Temporal: `Workspace.start_apply(..., engine="temporal")`, workers, attaching.

An apply on the Temporal engine plans exactly as the local one (same lock, settling,
inventory, plan, confirmation), then hands the plan to a rollout workflow and follows
it: the events the caller receives are the local engine's, read from the workflows'
queries. Following is all this process does once the rollout started, so stopping it
(the cancel token: SIGINT in the CLI; `TemporalApplyRun.detach()`) only detaches: the
rollout goes on, and `attach` follows it again from anywhere (`attach_rollout`: the
same handle, for a server that restarted). `TemporalApplyRun.cancel()` (hwfw run
cancel) is what stops the rollout itself.

temporalio is imported by these functions, not by `import hwfw.api`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwfw.cancel import CancelToken
from hwfw.clock import utc_now_iso
from hwfw.errors import Interrupted
from hwfw.events import EventSink

from .runs import ApplyRun

if TYPE_CHECKING:
    from temporalio.client import Client

    from hwfw.apply.run import ApplyResult
    from hwfw.config.model import Settings
    from hwfw.engine.temporal.model import RolloutResult

__all__ = ["TemporalApplyRun", "TemporalTarget", "attach_rollout", "follow_rollout", "start_temporal_apply",
           "temporal_client"]


@dataclass(frozen=True)
class TemporalTarget:
    """Which Temporal service and namespace (None: settings.temporal of the workspace)."""

    address: str | None = None
    namespace: str | None = None

    def resolve(self, settings: Settings) -> tuple[str, str]:
        return (self.address or settings.temporal.address, self.namespace or settings.temporal.namespace)


async def temporal_client(settings: Settings, target: TemporalTarget | None) -> Client:
    from hwfw.engine.temporal.worker import connect_client

    address, namespace = (target or TemporalTarget()).resolve(settings)
    return await connect_client(address, namespace)


class TemporalApplyRun(ApplyRun):
    """An apply whose rollout runs on Temporal (a RunHandle; see the module docstring).
    `started` is set once the rollout workflow exists."""

    engine = "temporal"

    def __init__(self, run_id: str, token: CancelToken,
                 body: Callable[[TemporalApplyRun], Awaitable[ApplyResult]]) -> None:
        self.client: Client | None = None
        self.started = asyncio.Event()
        self._stops: list[asyncio.Future[None]] = []
        super().__init__(run_id, token, lambda: body(self))

    def cancel(self, *, force: bool = False) -> None:
        """Before the rollout started: stop planning (nothing was sent). After: stop the
        rollout (first: nothing new starts; second or `force`: in-flight steps stop)."""
        if self.client is None:
            self.token.cancel(force=force)
            return
        from hwfw.engine.temporal.client import stop_rollout

        stop = asyncio.ensure_future(stop_rollout(self.client, self.run_id, force=force))
        stop.add_done_callback(self._stop_failed)
        self._stops.append(stop)

    def _stop_failed(self, stop: asyncio.Future[None]) -> None:
        if not stop.cancelled() and stop.exception() is not None:
            from hwfw.logs import get_logger

            get_logger("api.temporal").warning("run %s: the stop signal was not sent: %s", self.run_id,
                                               stop.exception())

    def detach(self) -> None:
        """Stop following (the rollout goes on; the result is `detached`); before the
        rollout started, stop planning as `cancel` does."""
        self.token.cancel()


def result_of(res: RolloutResult, plan: Any = None) -> ApplyResult:
    """The ApplyResult of a finished rollout (its summary when it lists every host)."""
    from hwfw.apply.events import HOST_OUTCOMES, HostOutcome, RunSummary
    from hwfw.apply.run import ApplyResult

    if res.error:
        return ApplyResult(1, f"The rollout did not start: {res.error}", plan=plan, run_id=res.run_id)
    summary = None
    line = (f"Apply {'interrupted' if res.interrupted else 'finished'}: "
            + (", ".join(f"{res.counts[s]} {s}" for s in HOST_OUTCOMES if res.counts.get(s)) or "nothing to do"))
    if res.complete_hosts:
        summary = RunSummary(run_id=res.run_id, hosts={h: HostOutcome.from_json(o) for h, o in res.hosts.items()},
                             interrupted=res.interrupted, aborted=res.aborted, seconds=res.seconds)
        line = summary.line()
    return ApplyResult(res.exit_code, line, plan=plan, summary=summary, run_id=res.run_id,
                       extra={"engine": "temporal", "counts": dict(res.counts)})


async def follow_rollout(client: Client, run_id: str, sink: EventSink | None, token: CancelToken | None,
                         plan: Any = None, clock: Any = None) -> ApplyResult:
    """Follow a rollout to its end; a cancel request on `token` stops following only."""
    from hwfw.apply.events import ApplyEvents
    from hwfw.engine.temporal.client import Follower

    stop = asyncio.Event()
    unsubscribe = token.subscribe(lambda _count: stop.set()) if token is not None else None
    notes = ApplyEvents(sink, clock or _SystemClock(), run_id)
    try:
        res = await Follower(client, run_id, sink, warn=notes.warning).follow(stop)
    finally:
        if unsubscribe is not None:
            unsubscribe()
    if res is None:
        return _detached(run_id, plan)
    return result_of(res, plan)


def _detached(run_id: str, plan: Any = None) -> ApplyResult:
    from hwfw.apply.run import ApplyResult

    return ApplyResult(130, f"Stopped following; the rollout {run_id} goes on on Temporal. Follow it again "
                            f"with: hwfw run attach {run_id}; stop it with: hwfw run cancel {run_id}",
                       plan=plan, run_id=run_id, extra={"engine": "temporal", "detached": True})


def _SystemClock() -> Any:
    from hwfw.clock import SystemClock

    return SystemClock()


def start_temporal_apply(load: Callable[[], Awaitable[Any]], run_id: str, options: Any, token: CancelToken, *,
                         saved: Any, sink: EventSink | None, on_plan: Any, confirm: Any, observe: Any, clock: Any,
                         target: TemporalTarget | None, detach: bool, record: Callable[..., Awaitable[None]],
                         tuning: dict[str, Any] | None = None) -> TemporalApplyRun:
    """See Workspace.start_apply: plan here, hand over, start the rollout, follow it
    (or, with `detach`, return once it started). `record(status, engine, finished=...)`
    keeps the run log."""
    from hwfw.apply.run import ApplyResult, run_apply
    from hwfw.engine.temporal.client import start_rollout
    from hwfw.engine.temporal.launch import hand_over

    async def body(run: TemporalApplyRun) -> ApplyResult:
        config = await load()
        client = await temporal_client(config.settings, target)   # unreachable: fail before planning
        result = await run_apply(
            config, options, events=sink, confirm=confirm, show=on_plan, clock=clock, cancel=token,
            saved_plan=saved.document if saved is not None else None, observe=observe,
            hand_over=lambda handover: hand_over(config, options, handover, tuning=tuning))
        rollout = result.extra.pop("rollout", None)
        if rollout is None:
            return result
        if token.cancelled:
            raise Interrupted("apply interrupted before the rollout started; nothing changed on the BMCs",
                              hint="run it again when you are ready")
        await start_rollout(client, rollout, memo={
            "run_id": run_id, "workspace": str(config.root), "hosts": rollout.hosts,
            "started_by": _operator(), "started": utc_now_iso()})
        run.client = client
        run.started.set()
        await record("running", "temporal")
        if detach:
            return ApplyResult(0, f"Rollout {run_id} started on Temporal ({rollout.hosts} host(s)). Follow it with: "
                                  f"hwfw run attach {run_id}", plan=result.plan, run_id=run_id,
                               extra={"engine": "temporal", "detached": True})
        outcome = await follow_rollout(client, run_id, sink, token, plan=result.plan, clock=clock)
        if not outcome.extra.get("detached"):
            await record(_status(outcome.exit_code), "temporal", finished=utc_now_iso())
        return outcome

    return TemporalApplyRun(run_id, token, body)


def _status(exit_code: int) -> str:
    return "succeeded" if exit_code == 0 else "interrupted" if exit_code == 130 else "failed"


def _operator() -> str:
    from hwfw.state.lock import operator

    return operator()


def attach_rollout(settings: Settings, run_id: str, sink: EventSink | None, token: CancelToken, *,
                   target: TemporalTarget | None = None, clock: Any = None,
                   retry: float = 5.0) -> TemporalApplyRun:
    """Follow a rollout started earlier (by a server that stopped since) to its end, as
    a run handle: `cancel` stops the rollout, `detach` (or `token`) stops following. A
    service that cannot be reached yet is asked again every `retry` seconds (the rollout
    lives on it); a rollout it does not know never started: Interrupted."""

    async def body(run: TemporalApplyRun) -> ApplyResult:
        from hwfw.engine.temporal.client import rollout_exists

        client = await _reach(settings, target, token, retry)
        if client is None:
            return _detached(run_id)
        try:
            known = await rollout_exists(client, run_id)
        except Exception:  # the service is restarting: the follower waits for it
            known = True
        if not known:
            raise Interrupted(f"the rollout of run {run_id} never started on the Temporal service",
                              hint="resume the run: its plan is applied again from where the hosts are")
        run.client = client
        run.started.set()
        return await follow_rollout(client, run_id, sink, token, clock=clock)

    return TemporalApplyRun(run_id, token, body)


async def _reach(settings: Settings, target: TemporalTarget | None, token: CancelToken,
                 retry: float) -> Client | None:
    """A client of the service, asking until it answers; None once `token` is cancelled."""
    from hwfw.errors import HwfwError
    from hwfw.logs import get_logger

    stop = asyncio.Event()
    unsubscribe = token.subscribe(lambda _count: stop.set())
    warned = False
    try:
        while not stop.is_set():
            try:
                return await temporal_client(settings, target)
            except HwfwError as exc:
                if not warned:
                    get_logger("api.temporal").warning("%s; asking again every %.0f s", exc.message, retry)
                    warned = True
            try:
                await asyncio.wait_for(stop.wait(), retry)
            except TimeoutError:
                pass
        return None
    finally:
        unsubscribe()
