"""The executor: walks a plan's step DAG over `HostDriver`s. Pure orchestration, no HTTP.

Per host, in one asyncio task (hosts share nothing in memory but the run-wide rollout
gate, so a host's run could later become a durable workflow of its own):

    pre-host hook -> pre-flight -> checkpoint -> steps (DAG order) -> post-host hook
    -> power left as found

Steps run when their predecessors are done; BMC-changing steps (flash, activate) run
one at a time per host, verifications may overlap them. Every BMC-changing request is
bracketed by the ledger: intent (fsynced) -> driver call -> state write -> resolve.

A step is done only when a fresh read shows its version (verify). A failed step's
descendants are `skipped: upstream failed`; `on_failure` then decides: `halt-host`
(stop this host), `rollback-host` (flash the checkpoint versions back, reset, verify)
or `abort-run` (nothing new starts anywhere; in-flight steps finish).

Driver contract the executor relies on (hwfw/apply/driver.py): `flash` follows the
BMC's task to its real end; for an `Immediate` image whose BMC resets itself it
returns once the BMC is back. The activate step after it first re-reads the versions
and resets nothing when every image it activates already runs (no double resets).
`activate('host-reboot' | 'ac-cycle')` leaves the host On (POST done); the executor
powers a host that was Off back off at the end.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

import networkx as nx

from hwfw.apply import checkpoint as cpmod
from hwfw.apply.driver import (
    FLASH_PENDING,
    FLASH_SKIPPED_SAME,
    FLASH_UNCONFIRMED,
    FlashRequest,
    FlashResult,
    HostDriver,
    PreflightReport,
)
from hwfw.apply.events import (
    HOST_CONVERGED,
    HOST_DEFERRED,
    HOST_FAILED,
    HOST_INTERRUPTED,
    HOST_NOT_STARTED,
    HOST_REFUSED,
    HOST_ROLLED_BACK,
    HOST_SKIPPED,
    SKIP_ABORTED,
    SKIP_HALTED,
    SKIP_INTERRUPTED,
    SKIP_UPSTREAM,
    SKIP_WINDOW,
    STEP_FAILED,
    STEP_INTERRUPTED,
    STEP_NOT_NEEDED,
    STEP_OK,
    STEP_PENDING,
    STEP_SKIPPED,
    ApplyEvents,
    HostOutcome,
    RunInfo,
    RunSummary,
    StepOutcome,
)
from hwfw.apply.hostcmd import run_host_hook
from hwfw.apply.ledger import Ledger
from hwfw.apply.rollback import rollback_host
from hwfw.apply.scheduler import DISRUPTIVE_ACTIVATIONS, Gate, HostShape, Rollout, Scheduler, shapes_of
from hwfw.apply.settings_run import CHECKPOINT_KEY, SettingsSteps, own_staged, record, record_activation
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import BmcSessionLimit, HwfwError
from hwfw.events import EventSink
from hwfw.logs import get_logger, redactor
from hwfw.plan.model import Image, Plan, Step
from hwfw.retry import Backoff, RetryPolicy
from hwfw.state.model import ComponentRecord

log = get_logger("apply.executor")

# An optional hook of a driver (not part of HostDriver): awaited once a reset has been
# requested. Drivers that cannot tell (IPMI, in-memory) simply never call it.
_RESET_LISTENER = "on_reset_requested"

ON_FAILURE = ("halt-host", "rollback-host", "abort-run")


class ImageSource(Protocol):
    """Where flash steps get their image: a verified local path and, if an image
    server runs, the URL a pulling BMC fetches it from."""

    async def prepare(self, entry: RepositoryEntry) -> tuple[Path, str | None]: ...


DriverOpener = Callable[[str], "HostDriver | Awaitable[HostDriver]"]


@dataclass(frozen=True, slots=True)
class ExecOptions:
    run_id: str
    on_failure: str = "halt-host"
    allow_pending: bool = False
    rollout: Rollout = Rollout()


def _source_name(entry: RepositoryEntry) -> str:
    """The image's file name as the BMC sees it (drivers send it under this name)."""
    return entry.source.rsplit("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def describe(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, HwfwError) else f"{type(exc).__name__}: {exc}"
    return redactor(text)


class Executor:
    """Runs one plan. `interrupt()` (from a signal handler): first call stops starting
    anything new and lets in-flight steps finish; a second call cancels them at their
    current point (their intents stay open, in-flight task URIs are recorded)."""

    def __init__(self, plan: Plan, workspace: Workspace, ledger: Ledger, drivers: DriverOpener,
                 images: ImageSource, *, options: ExecOptions, events: EventSink | None = None,
                 clock: Clock | None = None) -> None:
        if options.on_failure not in ON_FAILURE:
            raise HwfwError(f"unknown on_failure policy {options.on_failure!r}",
                            hint=f"use one of {', '.join(ON_FAILURE)}")
        self.plan, self.workspace, self.ledger = plan, workspace, ledger
        self.drivers, self.images, self.options = drivers, images, options
        self.clock = clock or SystemClock()
        self.events = ApplyEvents(events, self.clock, options.run_id)
        self.shapes = shapes_of(plan.steps)
        self.scheduler = Scheduler(options.rollout, list(self.shapes), self.clock,
                                   downtime={h: sh.downtime_seconds for h, sh in self.shapes.items()})
        self.gate = Gate(self.scheduler)
        self.graph: nx.DiGraph = plan.graph
        self.outcomes: dict[str, HostOutcome] = {}
        self.interrupted = False
        self.aborted = False
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._runs: dict[str, HostRun] = {}
        self._hard = False

    # ------------------------------------------------------------------ run
    def _estimate(self, host: str, shape: HostShape) -> float:
        """The host's estimate as the plan shows it (its steps plus the per-host session
        and pre-checks): the window admits a host on the figure the operator reviewed."""
        planned = self.plan.host(host)
        return planned.estimate_seconds if planned is not None and planned.estimate_seconds else \
            shape.estimate_seconds

    async def run(self) -> RunSummary:
        t0 = self.clock.monotonic()
        r = self.options.rollout
        self.events.run_started(RunInfo(
            run_id=self.options.run_id, hosts=tuple(self.shapes), steps=len(self.plan.steps),
            parallelism=r.parallelism, max_unavailable=r.max_unavailable, canary=r.canary,
            failure_budget=r.failure_budget, on_failure=self.options.on_failure,
            deadline_seconds=None if r.deadline is None else max(0.0, (r.deadline - t0) * r.time_scale),
            time_scale=r.time_scale))
        for host, shape in self.shapes.items():
            decision = await self.gate.admit(host, self._estimate(host, shape))
            if not decision.go:
                self._not_started(host, decision.outcome or HOST_NOT_STARTED, decision.reason)
                continue
            self._tasks[host] = asyncio.create_task(self._host(shape), name=f"hwfw-apply-{host}")
        if self._tasks:
            results = await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            for result in results:  # KeyboardInterrupt, SystemExit...: not a host's failure, the process's end
                if isinstance(result, BaseException) and not isinstance(result, (Exception, asyncio.CancelledError)):
                    raise result
        summary = RunSummary(run_id=self.options.run_id, hosts=dict(self.outcomes), interrupted=self.interrupted,
                             aborted=self.aborted, seconds=self.clock.monotonic() - t0)
        self.events.run_finished(summary)
        return summary

    def _not_started(self, host: str, status: str, reason: str) -> None:
        shape = self.shapes[host]
        out = HostOutcome(status, reason, 0, len(shape.steps))
        self.outcomes[host] = out
        self.events.host_finished(host, out)

    def interrupt(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.scheduler.stop(HOST_INTERRUPTED, "interrupted")
            self.events.warning("interrupted: starting nothing new; in-flight steps finish, waits for resets "
                               "already requested are left to the next run (interrupt again to leave every "
                               "step running on the BMCs)")
            for run in list(self._runs.values()):
                run.leave_safe_point()
            asyncio.get_running_loop().create_task(self.gate.changed())
            return
        if not self._hard:
            self._hard = True
            self.events.warning("interrupted again: stopping in-flight steps where they are; "
                               "the next hwfw apply settles them")
            for task in self._tasks.values():
                task.cancel()

    def begin_abort(self, reason: str) -> None:
        """abort-run: start nothing new anywhere; in-flight steps finish."""
        if self.scheduler.stopped:
            return
        self.aborted = True
        self.scheduler.stop(HOST_NOT_STARTED, reason)
        self.events.warning(reason + ": starting nothing new; in-flight steps finish")
        asyncio.get_running_loop().create_task(self.gate.changed())

    async def _host(self, shape: HostShape) -> None:
        run = self._runs[shape.host] = HostRun(self, shape)
        try:
            outcome = await run.run()
        except asyncio.CancelledError:
            outcome = run.outcome_after_cancel()
        except Exception as exc:  # a bug must stay this host's failure, never kill the run
            log.exception("%s: unexpected error", shape.host)
            outcome = run.finish_outcome(HOST_FAILED, f"internal error: {describe(exc)}")
        keep = outcome.status == HOST_FAILED and run.holds_slot
        self.outcomes[shape.host] = outcome
        await self.gate.host_finished(shape.host, outcome.status, keep_slot=keep)
        self.events.host_finished(shape.host, outcome)
        if outcome.status in (HOST_FAILED, HOST_ROLLED_BACK) and self.options.on_failure == "abort-run":
            self.begin_abort(f"run aborted: {shape.host} {outcome.status}")

    async def open_driver(self, host: str) -> HostDriver:
        d = self.drivers(host)
        if inspect.isawaitable(d):
            d = await d
        if hasattr(d, "on_wait"):  # a BMC still resetting when the host starts: say why we wait
            d.on_wait = lambda message: self.events.warning(message, host)
        return d


class HostRun:
    """One host's pass through its steps (see the module docstring)."""

    def __init__(self, ex: Executor, shape: HostShape) -> None:
        self.ex, self.shape, self.host = ex, shape, shape.host
        self.ledger, self.events, self.clock = ex.ledger, ex.events, ex.clock
        self.steps = {s.id: s for s in shape.steps}
        self.results: dict[str, StepOutcome] = {}
        self.resets: Counter[str] = Counter()
        self.holds_slot = False
        self.halt: tuple[str, str] | None = None      # (host outcome, reason) once the host stops early
        self.failure: str | None = None
        self.power_state: str | None = None
        self.driver: HostDriver | None = None
        self.safe_point: asyncio.Task[Any] | None = None   # a step only waiting for a requested reset
        self.t0 = self.clock.monotonic()
        hp = ex.plan.host(self.host)
        self.vendor, self.model = (hp.vendor, hp.model) if hp else (None, None)
        self.settings = SettingsSteps(self)

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> HostOutcome:
        self.events.host_started(self.host, len(self.steps))
        hooks = self.ex.workspace.settings.hooks
        if hooks.pre_host:
            res = await self._hook(hooks.pre_host, "pre_host")
            if not res:
                return self.finish_outcome(HOST_SKIPPED, self.failure or "pre-host hook failed",
                                           reason="pre-host hook failed")
        outcome: HostOutcome | None = None
        try:
            driver = await self.ex.open_driver(self.host)
            async with driver:
                self.driver = driver
                outcome = await self._with_driver()
                if hooks.post_host and not self.ex._hard:
                    if not await self._hook(hooks.post_host, "post_host", outcome.status):
                        outcome = self.finish_outcome(HOST_FAILED, self.failure or "post-host hook failed")
                if outcome.status == HOST_CONVERGED:
                    outcome = await self._close()
        except HwfwError as exc:
            if isinstance(exc, BmcSessionLimit) and not self.results:
                # Nothing was sent: the host is refused on its own, like a pre-flight refusal.
                return self.finish_outcome(HOST_REFUSED, describe(exc), reason="host refused: session limit")
            message = describe(exc)
            outcome = self.finish_outcome(HOST_FAILED, message, reason=SKIP_HALTED)
            if hooks.post_host:
                await self._hook(hooks.post_host, "post_host", HOST_FAILED)
        return outcome

    async def _with_driver(self) -> HostOutcome:
        refusal = await self.begin()
        if refusal:
            return self.finish_outcome(HOST_REFUSED, refusal, reason="host refused by pre-flight")
        await self._walk()
        return await self.conclude()

    # ------------------------------------------------------------------ the pieces, for other engines
    # `run` is made of these; an engine that runs a host's life cycle one piece at a time,
    # each possibly in another process (hwfw.engine.temporal), calls them with the driver
    # open and walks the DAG itself, calling `run_step` for each step.
    async def begin(self) -> str | None:
        """Pre-flight, then the checkpoint: why the host is refused, or None."""
        refusal = await self._preflight()
        if refusal is None:
            await self._checkpoint()
        return refusal

    async def run_step(self, step: Step) -> StepOutcome:
        """One step of the host's DAG, whatever its kind, as the walk runs it (events,
        ledger); the caller runs BMC-changing steps of one host one at a time."""
        return await self._step(step, asyncio.Lock())

    async def conclude(self) -> HostOutcome:
        """After the walk: validate declared settings, then roll back (on_failure
        rollback-host), else the outcome."""
        if not self.failure and not self.halt and self.settings.declared:
            self.failure = await self.settings.validate()
        if self.failure and self.ex.options.on_failure == "rollback-host" and not self.ex._hard:
            return await rollback_host(self)
        return self._decide()

    async def close(self) -> HostOutcome:
        """A converged host: power left as found, checkpoint closed."""
        return await self._close()

    async def run_hook(self, which: str, outcome: str | None = None) -> bool:
        """The `pre_host` or `post_host` hook of settings.hooks (True when none is set)."""
        argv = getattr(self.ex.workspace.settings.hooks, which)
        return await self._hook(argv, which, outcome) if argv else True

    def _decide(self) -> HostOutcome:
        if self.failure:
            return self.finish_outcome(HOST_FAILED, self.failure)
        if self.halt:
            return self.finish_outcome(self.halt[0], self.halt[1])
        return self.finish_outcome(HOST_CONVERGED, "")

    def finish_outcome(self, status: str, message: str, *, reason: str | None = None) -> HostOutcome:
        """The host outcome; steps that never ran are reported as skipped."""
        skip = reason or (self.halt[1] if self.halt else SKIP_HALTED)
        for sid, step in self.steps.items():
            if sid not in self.results:
                self._skip(step, skip)
        done = sum(1 for o in self.results.values() if o.status in (STEP_OK, STEP_PENDING, STEP_NOT_NEEDED))
        return HostOutcome(status, message, done, len(self.steps), dict(self.resets),
                           self.clock.monotonic() - self.t0)

    def outcome_after_cancel(self) -> HostOutcome:
        return self.finish_outcome(HOST_INTERRUPTED, "interrupted; the next hwfw apply resumes it",
                                   reason=SKIP_INTERRUPTED)

    def _skip(self, step: Step, reason: str) -> None:
        out = StepOutcome(STEP_SKIPPED, f"skipped: {reason}", reason=reason)
        self.results[step.id] = out
        self.events.step_finished(self.host, step, out)

    async def _hook(self, argv: tuple[str, ...], which: str, outcome: str | None = None) -> bool:
        settings = self.ex.workspace.settings
        res = await run_host_hook(argv, which=which, host=self.host, run_id=self.ex.options.run_id,
                                  timeout=settings.hooks.timeout, workspace=self.ex.workspace.root,
                                  extra_env={"HWFW_HOST_OUTCOME": outcome} if outcome else None)
        await self.ledger.audit(host=self.host, component="host", action=which.replace("_", "-"),
                                outcome="ok" if res.ok else "failed", message=res.summary)
        if not res.ok:
            self.failure = res.summary
            self.events.warning(res.summary, self.host)
        return res.ok

    # ------------------------------------------------------------------ pre-flight, checkpoint
    async def _preflight(self) -> str | None:
        assert self.driver is not None
        uris = {r.task_uri for r in self.ledger.hosts.get(self.host, {}).values() if r.task_uri}
        settings_job = (record(self.ledger, self.host) or {}).get("job")
        known = tuple(sorted(uris | ({settings_job} if settings_job else set())))
        own = own_staged(self.ledger, self.host)
        report: PreflightReport = await self.driver.preflight(known_tasks=known,
                                                              allow_pending=self.ex.options.allow_pending,
                                                              known_settings=own)
        for w in report.warnings:
            self.events.warning(redactor(w), self.host)
        if report.blocking:
            return "pre-flight: " + "; ".join(redactor(b) for b in report.blocking)
        # The same job may be named by its task and its job URI (Dell): compare ids too.
        known_ids = {k.rstrip("/").rsplit("/", 1)[-1] for k in known}
        foreign = [f for f in report.in_flight
                   if f.uri not in known and f.uri.rstrip("/").rsplit("/", 1)[-1] not in known_ids]
        if foreign:
            names = ", ".join(f"{f.uri} ({f.state})" for f in foreign)
            return (f"update task(s) running that this workspace did not start: {names}; another copy of "
                    "the workspace may be updating this host")
        self.power_state = report.power_state
        return None

    async def _checkpoint(self) -> None:
        """Reconcile records with a fresh read, and write the checkpoint if none is open."""
        assert self.driver is not None
        running = await self.driver.read_versions()
        now = self.ledger.now()
        for key, rec in list(self.ledger.hosts.get(self.host, {}).items()):
            if rec.status in ("in-progress", "pending-activation") \
                    and cpmod.same_version(running.get(key), rec.version):
                self.ledger.put(self.host, key, ComponentRecord(
                    version=rec.version, status="ok", image_sha256=rec.image_sha256, image_id=rec.image_id,
                    previous_version=rec.previous_version, updated_at=now, run_id=rec.run_id))
        cp = self.ledger.checkpoint(self.host)
        if cp is None or cp.get("status") != cpmod.OPEN:
            cp = cpmod.new_checkpoint(run_id=self.ex.options.run_id, created=now, running=running,
                                      steps=self.shape.steps, power_state=self.power_state)
            if self.settings.wanted:
                cp[CHECKPOINT_KEY] = await self.settings.checkpoint_values()
            self.ledger.set_checkpoint(self.host, cp)
        await self.ledger.commit()

    @property
    def checkpoint(self) -> dict[str, Any]:
        cp = self.ledger.checkpoint(self.host)
        assert cp is not None
        return cp

    async def _close(self) -> HostOutcome:
        """The host converged: leave power as found and close the checkpoint."""
        cp = self.checkpoint
        if (cp.get("power_state") or "").lower() == "off" and cp.get("powered_on"):
            await self._set_power("Off")
        self._close_checkpoint(HOST_CONVERGED)
        await self.ledger.commit()
        return self.finish_outcome(HOST_CONVERGED, "")

    def _close_checkpoint(self, outcome: str) -> None:
        cp = dict(self.checkpoint)
        cp.update(status=cpmod.CLOSED, closed=self.ledger.now(), outcome=outcome, closed_by=self.ex.options.run_id)
        self.ledger.set_checkpoint(self.host, cp)

    async def _set_power(self, state: str) -> None:
        assert self.driver is not None
        iid = await self.ledger.open_intent(host=self.host, component="host", action="set-power", power=state)
        try:
            await self.driver.set_power(state, lambda p, m: None)
        except HwfwError as exc:
            await self.ledger.resolve(iid, "failed", message=describe(exc))
            self.events.warning(f"could not power the host {state} again: {describe(exc)}", self.host)
            return
        await self.ledger.resolve(iid, "done")
        await self.ledger.audit(host=self.host, component="host", action="set-power", outcome="ok", after=state)

    # ------------------------------------------------------------------ the walk
    async def _walk(self) -> None:
        lock = asyncio.Lock()
        pending = list(self.shape.steps)
        running: dict[asyncio.Task[StepOutcome], Step] = {}
        try:
            while True:
                if not self.halt and not self.failure:
                    await self._start_ready(pending, running, lock)
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    step = running.pop(task)
                    if task.cancelled():  # left at a safe point (an interrupt during a reset wait)
                        self._finished(step, StepOutcome(STEP_INTERRUPTED, "interrupted while waiting"))
                    else:
                        self._finished(step, task.result())
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for task, step in running.items():
                if task.done() and not task.cancelled() and task.exception() is None:
                    self._finished(step, task.result())
                elif step.id not in self.results:
                    self.results[step.id] = StepOutcome(STEP_INTERRUPTED, "interrupted")
            self.halt = (HOST_INTERRUPTED, SKIP_INTERRUPTED)
            await self.ledger.commit()
            return

    async def _start_ready(self, pending: list[Step], running: dict[asyncio.Task[StepOutcome], Step],
                           lock: asyncio.Lock) -> None:
        ids = self.steps
        for step in list(pending):
            if any(p in ids and p not in self.results for p in step.after):
                continue
            if any(p in ids and self.results[p].status not in (STEP_OK, STEP_PENDING, STEP_NOT_NEEDED)
                   for p in step.after):
                continue
            stop = self._stop_reason(step)
            if stop:
                self.halt = stop
                return
            if step.id in self.shape.window and not self.holds_slot:
                if running:
                    return  # take the host out of service only once its staging settled
                decision = await self.ex.gate.slot(self.host)
                if not decision.go:
                    self.halt = (decision.outcome or HOST_NOT_STARTED, decision.reason)
                    return
                self.holds_slot = True
            pending.remove(step)
            running[asyncio.create_task(self._step(step, lock))] = step

    def _stop_reason(self, step: Step) -> tuple[str, str] | None:
        s = self.ex.scheduler
        if s.stopped:
            reason = SKIP_INTERRUPTED if s.stop_outcome == HOST_INTERRUPTED else SKIP_ABORTED
            # a host that already did something stopped at a safe point: interrupted
            outcome = HOST_INTERRUPTED if self.results else (s.stop_outcome or HOST_INTERRUPTED)
            return (outcome, s.stop_reason or reason)
        if not s.fits(step.estimate_seconds):
            return (HOST_DEFERRED, SKIP_WINDOW)
        return None

    def _finished(self, step: Step, outcome: StepOutcome) -> None:
        self.results[step.id] = outcome
        if outcome.status == STEP_FAILED:
            self.failure = f"{step.id}: {outcome.message}"
            if self.ex.options.on_failure == "abort-run":
                self.ex.begin_abort(f"run aborted: {step.id} failed")
            for d in sorted(nx.descendants(self.ex.graph, step.id)):
                if d in self.steps and d not in self.results:
                    self._skip(self.steps[d], SKIP_UPSTREAM)
        elif outcome.status == STEP_INTERRUPTED:
            self.halt = (HOST_INTERRUPTED, SKIP_INTERRUPTED)
        elif step.id == self.shape.last_disruptive and self.holds_slot:
            self.holds_slot = False
            asyncio.get_running_loop().create_task(self.ex.gate.release_slot(self.host))

    async def _step(self, step: Step, lock: asyncio.Lock) -> StepOutcome:
        self.events.step_started(self.host, step)
        t0 = self.clock.monotonic()
        try:
            if step.kind == "verify":
                out = await (self.settings.verify(step) if self._is_settings(step) else self._verify(step))
            else:
                async with lock:
                    if step.kind == "configure":
                        out = await self.settings.configure(step)
                    else:
                        out = await (self._flash(step) if step.kind == "flash" else self._activate(step))
        except asyncio.CancelledError:
            out = StepOutcome(STEP_INTERRUPTED, "interrupted; its intent stays open for the next run",
                              seconds=self.clock.monotonic() - t0)
            self.events.step_finished(self.host, step, out)
            raise
        except HwfwError as exc:
            out = StepOutcome(STEP_FAILED, describe(exc))
        out = StepOutcome(out.status, out.message, out.reason, out.version, out.method, out.task_uri,
                          self.clock.monotonic() - t0)
        self.events.step_finished(self.host, step, out)
        return out

    def _progress(self, step: Step) -> Callable[[float | None, str], None]:
        def report(percent: float | None, message: str) -> None:
            self.events.step_progress(self.host, step, percent, redactor(message))
        return report

    # ------------------------------------------------------------------ step kinds
    def _entry(self, image: Image | None) -> RepositoryEntry | None:
        return self.ex.workspace.repository.get(image.id) if image else None

    def _scheme(self, image: Image | None) -> str | None:
        entry = self._entry(image)
        return entry.scheme if entry else None

    async def _flash(self, step: Step) -> StepOutcome:
        assert self.driver is not None and step.component and step.to_version and step.image
        key, to = step.component, step.to_version
        entry = self._entry(step.image)
        if entry is None:
            raise HwfwError(f"image {step.image.id!r} of the plan is not in the repository",
                            hint="the repository changed since the plan; plan again")
        rec = self.ledger.record(self.host, key)
        if rec is not None and rec.status == "pending-activation" and rec.image_sha256 == entry.sha256 \
                and cpmod.same_version(rec.version, to, entry.scheme):
            return StepOutcome(STEP_PENDING, f"{to} is already staged (not flashed again)", version=to)
        running = await self.driver.read_versions()
        if cpmod.same_version(running.get(key), to, entry.scheme):
            return StepOutcome(STEP_OK, f"{to} already runs (not flashed again)", version=to)
        return await self._send_flash(step, key, to, entry, rollback=False)

    async def _send_flash(self, step: Step, key: str, to: str, entry: RepositoryEntry | None, *,
                          rollback: bool) -> StepOutcome:
        """Flash `entry` (None: the BMC's own previous image, for a rollback), bracketed by
        the ledger: intent -> driver -> state -> resolve -> audit."""
        assert self.driver is not None
        driver = self.driver
        send: Callable[[Callable[[float | None, str], None]], Awaitable[FlashResult]]
        if entry is not None:
            kind, instance = cpmod.split_key(key)
            path, url = await self.ex.images.prepare(entry)
            request = FlashRequest(run_id=self.ex.options.run_id, step=step, kind=kind, instance=instance,
                                   entry=entry, image_path=path, image_url=url)
            send = lambda progress: driver.flash(request, progress)  # noqa: E731
        else:
            send = lambda progress: driver.flash_previous(step, progress)  # noqa: E731
        sha, image_id = (entry.sha256, entry.id) if entry is not None else (None, None)
        iid = await self.ledger.open_intent(
            host=self.host, component=key, action="flash", image_sha256=sha, step=step.id,
            image_id=image_id, from_version=step.from_version, to_version=to, activation=step.activation,
            apply_time=step.apply_time, rollback=rollback,
            **({"filename": _source_name(entry)} if entry is not None else {"via": "bmc-previous"}))
        base: dict[str, Any] = dict(version=to, image_sha256=sha, image_id=image_id,
                                    previous_version=step.from_version, run_id=self.ex.options.run_id,
                                    activation=step.activation)
        action = "rollback" if rollback else "flash"
        try:
            result = await send(self._progress(step))
        except asyncio.CancelledError:
            await self._record_in_flight(key, base)
            raise
        except HwfwError as exc:
            message = describe(exc)
            self.ledger.put(self.host, key, ComponentRecord(status="failed", updated_at=self.ledger.now(),
                                                            error=message, **base))
            await self.ledger.commit()
            await self.ledger.resolve(iid, "failed", message=message)
            await self.ledger.audit(host=self.host, component=key, action=action, outcome="failed",
                                    before=step.from_version, after=to, image_sha256=sha, message=message)
            return StepOutcome(STEP_FAILED, message)
        skipped = result.status == FLASH_SKIPPED_SAME   # the driver saw the version run: nothing to activate
        status = "pending-activation" if result.status == FLASH_PENDING else "ok" if skipped else "in-progress"
        # An unconfirmed flash stays in-progress (the next plan flashes it again) and keeps
        # why, for the verification to say the flash did not take.
        note = redactor(result.message) if result.status == FLASH_UNCONFIRMED else None
        self.ledger.put(self.host, key, ComponentRecord(status=status, updated_at=self.ledger.now(),
                                                        task_uri=None if skipped else result.task_uri, error=note,
                                                        **{**base, "activation": None} if skipped else base))
        await self.ledger.commit()
        await self.ledger.resolve(iid, result.status, method=result.method, task_uri=result.task_uri)
        await self.ledger.audit(host=self.host, component=key, action=action,
                                outcome="skipped" if skipped else result.status, before=step.from_version, after=to,
                                image_sha256=sha,
                                message=redactor(result.message) if skipped else f"method {result.method}")
        out = STEP_PENDING if result.status == FLASH_PENDING else STEP_NOT_NEEDED if skipped else STEP_OK
        return StepOutcome(out, redactor(result.message), version=to, method=result.method, task_uri=result.task_uri)

    async def _record_in_flight(self, key: str, base: dict[str, Any]) -> None:
        """Interrupted mid-flash: note the BMC task it may have left running."""
        assert self.driver is not None
        uri = None
        try:
            async with asyncio.timeout(10):
                tasks = await asyncio.shield(self.driver.in_flight())
            uri = next((t.uri for t in tasks if t.component in (None, key)), None)
        except (Exception, asyncio.CancelledError):  # best effort: the open intent is the real record
            pass
        self.ledger.put(self.host, key, ComponentRecord(status="in-progress", updated_at=self.ledger.now(),
                                                        task_uri=uri, **base))
        await self.ledger.commit()

    def _is_settings(self, step: Step) -> bool:
        """A verify step of BIOS settings (it follows a configure step)."""
        return self.steps.get(step.id.replace("/verify/", "/configure/", 1)) is not None

    def _activated(self, step: Step) -> list[tuple[str, str, str | None]]:
        """(component key, version expected to run, scheme) for each image the reset activates
        (BIOS settings it applies are not versions: see `settings.staged_by`)."""
        out = []
        for sid in step.activates:
            s = self.steps.get(sid)
            if s is not None and s.kind == "configure":
                continue
            if s is not None and s.component and s.to_version:
                out.append((s.component, s.to_version, self._scheme(s.image)))
            elif "/pending/" in sid:
                key = sid.split("/pending/", 1)[1]
                rec = self.ledger.record(self.host, key)
                if rec is not None:
                    entry = self.ex.workspace.repository.get(rec.image_id) if rec.image_id else None
                    out.append((key, rec.version, entry.scheme if entry else None))
        return out

    async def _activate(self, step: Step) -> StepOutcome:
        assert self.driver is not None and step.activation
        kind = step.activation
        targets = self._activated(step)
        settings = self.settings.staged_by(step)
        if not targets and not settings and step.activates and all(
                self.steps.get(a) is not None and self.steps[a].kind == "configure" for a in step.activates):
            return StepOutcome(STEP_NOT_NEEDED, f"the BIOS settings already read as declared; no {kind} sent")
        if targets and not settings:
            try:
                running = await self.driver.read_versions()
            except HwfwError:  # e.g. the BMC is resetting itself right now: the driver waits for it
                running = {}
            if all(cpmod.same_version(running.get(k), v, sc) for k, v, sc in targets):
                # Not counted in the host's resets: they count what hwfw sent.
                return StepOutcome(STEP_NOT_NEEDED, f"every image it activates already runs; no {kind} sent")
        return await self._reset(step, kind, [k for k, _, _ in targets], {k: v for k, v, _ in targets})

    async def _reset(self, step: Step, kind: str, keys: list[str], expect: dict[str, str] | None = None) -> StepOutcome:
        assert self.driver is not None
        fields: dict[str, Any] = dict(host=self.host, component=",".join(keys) or "host", action="activate",
                                      step=step.id, activation=kind, components=keys, versions=expect or {})
        intent = {"id": await self.ledger.open_intent(**fields)}
        if kind in DISRUPTIVE_ACTIVATIONS and (self.checkpoint.get("power_state") or "").lower() == "off":
            self.ledger.set_checkpoint(self.host, {**self.checkpoint, "powered_on": True})
        self._listen_for_reset(intent, fields)
        try:
            try:
                report = await self.driver.activate(kind, self._progress(step))
            finally:
                self._stop_listening()
        except HwfwError as exc:
            message = describe(exc)
            await self.ledger.commit()
            await self.ledger.resolve(intent["id"], "failed", message=message)
            await self.ledger.audit(host=self.host, component="host", action=f"activate:{kind}", outcome="failed",
                                    message=message)
            return StepOutcome(STEP_FAILED, message)
        self.resets[kind] += 1
        await record_activation(self, kind, report)
        now = self.ledger.now()
        for key in keys:
            rec = self.ledger.record(self.host, key)
            if rec is not None and rec.status == "pending-activation":
                self.ledger.update(self.host, key, status="in-progress", updated_at=now)
        await self.ledger.commit()
        await self.ledger.resolve(intent["id"], "done")
        await self.ledger.audit(host=self.host, component="host", action=f"activate:{kind}", outcome="ok",
                                message=", ".join(keys))
        return StepOutcome(STEP_OK, f"{kind} done")

    def _listen_for_reset(self, intent: dict[str, str], fields: dict[str, Any]) -> None:
        """Once the driver says the reset is under way, the intent says so (a new intent
        marked `requested` supersedes it): the rest of the activation is only waiting, a
        safe point an interrupt may leave; the next run settles it from the BMC and never
        sends the reset again."""
        step_task = asyncio.current_task()

        async def requested(what: str) -> None:
            if "requested" not in intent:
                intent["requested"] = what
                old = intent["id"]
                intent["id"] = await self.ledger.open_intent(**fields, requested=True, reset=redactor(what),
                                                             supersedes=old)
                await self.ledger.resolve(old, "superseded", by=intent["id"])
            self.safe_point = step_task
            if self.ex.interrupted:
                self.leave_safe_point()

        setattr(self.driver, _RESET_LISTENER, requested)

    def _stop_listening(self) -> None:
        self.safe_point = None
        if self.driver is not None and getattr(self.driver, _RESET_LISTENER, None) is not None:
            setattr(self.driver, _RESET_LISTENER, None)

    def leave_safe_point(self) -> bool:
        """Interrupted: stop waiting for a reset already requested (see `_listen_for_reset`)."""
        task, self.safe_point = self.safe_point, None
        if task is None or task.done():
            return False
        self.events.warning("interrupted while waiting for a reset that was already requested: leaving the "
                            "wait; the next hwfw apply checks what runs and does not reset again", self.host)
        task.cancel()
        return True

    async def _verify(self, step: Step) -> StepOutcome:
        assert self.driver is not None and step.component and step.to_version
        key, want, scheme = step.component, step.to_version, self._scheme(step.image)
        timing = self.ex.workspace.settings.timing
        # Up to stability_checks reads, stability_interval apart: the inventory may lag the flash.
        rereads = RetryPolicy(retries=max(1, timing.stability_checks) - 1,
                              backoff=Backoff.constant(timing.stability_interval)).attempts(self.clock)
        while True:
            got = (await self.driver.read_versions()).get(key)
            wait = None if cpmod.same_version(got, want, scheme) else rereads.next_delay()
            if wait is None:
                break
            await self.clock.sleep(wait)
        rec = self.ledger.record(self.host, key)
        now = self.ledger.now()
        if cpmod.same_version(got, want, scheme):
            self.ledger.put(self.host, key, ComponentRecord(
                version=want, status="ok", image_sha256=rec.image_sha256 if rec else None,
                image_id=rec.image_id if rec else None,
                previous_version=rec.previous_version if rec else step.from_version, updated_at=now,
                run_id=self.ex.options.run_id))
            await self.ledger.commit()
            await self.ledger.audit(host=self.host, component=key, action="verify", outcome="ok",
                                    before=step.from_version, after=got)
            return StepOutcome(STEP_OK, f"{key} runs {got}", version=got)
        message = f"{key}: the BMC reports {got!r}, expected {want!r}"
        if rec is not None and rec.status == "in-progress" and rec.error:
            message = f"{key}: the flash did not take: the BMC reports {got!r}, expected {want!r} ({rec.error})"
        why = await self._task_failure(rec.task_uri if rec else None, key)
        if why:
            message += f"; {why}"
        if rec is not None and rec.status != "pending-activation":
            self.ledger.put(self.host, key, ComponentRecord(
                version=want, status="failed", image_sha256=rec.image_sha256, image_id=rec.image_id,
                previous_version=rec.previous_version, updated_at=now, run_id=self.ex.options.run_id,
                error=message))
            await self.ledger.commit()
        await self.ledger.audit(host=self.host, component=key, action="verify", outcome="failed",
                                before=step.from_version, after=got, message=message)
        return StepOutcome(STEP_FAILED, message, version=got)

    async def _task_failure(self, task_uri: str | None, key: str) -> str | None:
        """The BMC's own words for a flash that did not take (a staged job that failed
        during the reboot), for the host's final error; None when it has none."""
        assert self.driver is not None
        try:
            why = await self.driver.task_failure(task_uri, key)
        except HwfwError as exc:
            log.info("%s: the task of %s is unreadable: %s", self.host, key, exc.message)
            return None
        return redactor(why) if why else None
