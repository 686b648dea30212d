"""The rollout workflow and the host workflow. Deterministic: no I/O, no wall clock, no
import-time side effects (Temporal replays this code from its history on any worker).

**Rollout** (one per apply): reads the run's hosts a slice at a time from the state
writer, admits them in plan order by the scheduler's rules (hwfw.apply.scheduler:
parallelism, canary, failure budget, maintenance window; max-unavailable slots handed
to hosts on request), starts one host workflow per admitted host, and ends with the
run's summary once every host reported. Hosts in flight never exceed `children`
(at most 1,000 by default, within Temporal's 2,000 pending children per execution);
before its history reaches `history` events it continues as new, carrying the
scheduler's state, the hosts in flight and the last events, so a plan of any size is
one rollout. Hosts report to the rollout's workflow id by signal, which reaches
whichever run of it is current; host workflows outlive a run that continues as new.

**Host** (one per host): runs the host's DAG as the executor's walk does (steps start
when their predecessors are done, BMC-changing steps one at a time, verifications
beside them; a failed step's descendants are skipped; no step starts that would overrun
the window; the host asks the rollout for a max-unavailable slot before its first
host-disruptive step and gives it back after its last). Each piece (begin, a step,
finish) is an activity on the site's queue; then it hands its records to the state
writer and reports to the rollout.

Followers read both through queries: `progress(after)` on the rollout (its events, the
hosts in flight), `events(after)` on a host. `stop` (hwfw run cancel) is a signal: the
first stops starting anything new and lets in-flight steps reach a safe point, a
second (or `force`) cancels in-flight steps where they are, as SIGINT does locally.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from hwfw.apply.events import (
        HOST_CONVERGED,
        HOST_DEFERRED,
        HOST_FAILED,
        HOST_INTERRUPTED,
        HOST_NOT_STARTED,
        HOST_ROLLED_BACK,
        RUN_FINISHED,
        SKIP_ABORTED,
        SKIP_INTERRUPTED,
        SKIP_UPSTREAM,
        SKIP_WINDOW,
        STEP_FAILED,
        STEP_INTERRUPTED,
        STEP_SKIPPED,
        ApplyEvents,
        HostOutcome,
        RunInfo,
        StepOutcome,
    )
    from hwfw.apply.scheduler import Rollout, Scheduler, host_shape
    from hwfw.engine.temporal.model import (
        CONTROL_QUEUE,
        EVENTS_CARRIED,
        EVENTS_KEPT,
        HOST_WORKFLOW,
        ROLLOUT_WORKFLOW,
        STATE_ATTEMPT_SECONDS,
        STATE_QUEUE,
        SUMMARY_HOSTS,
        BeginRun,
        FinishRun,
        HostBrief,
        HostCall,
        HostInput,
        HostReply,
        HostSpec,
        LoadHost,
        LoadHosts,
        RecordHost,
        RecordHosts,
        RolloutInput,
        RolloutResult,
        StepTiming,
        host_workflow_id,
        seconds,
        site_queue,
    )
    from hwfw.engine.temporal.rules import (
        EventLog,
        WorkflowClock,
        blocked_by,
        descendants,
        restore_scheduler,
        scheduler_snapshot,
        summary_of,
    )
    from hwfw.events import Event
    from hwfw.plan.model import Step

RECORD_BATCH = 500        # hosts written to the state in one activity, at most
START_BATCH = 50          # host workflows started in one workflow task, at most
FATAL = ("StalePlan", "WorkspaceLocked", "NoHostFile")


def _iso() -> str:
    return workflow.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _clock() -> WorkflowClock:
    return WorkflowClock(workflow.now, workflow.sleep)


def _retry(t: StepTiming, attempts: int | None = None) -> RetryPolicy:
    return RetryPolicy(initial_interval=seconds(t.retry_first), backoff_coefficient=2.0,
                       maximum_interval=seconds(t.retry_most),
                       maximum_attempts=t.attempts if attempts is None else attempts,
                       non_retryable_error_types=list(FATAL))


async def _state(name: str, arg: Any, t: StepTiming, result_type: Any = None) -> Any:
    """An activity of the state writer: retried until it succeeds (a state writer that
    is down or restarting only delays the rollout), except for the fatal refusals."""
    return await workflow.execute_activity(name, arg, task_queue=STATE_QUEUE, result_type=result_type,
                                           start_to_close_timeout=seconds(STATE_ATTEMPT_SECONDS),
                                           retry_policy=_retry(t, attempts=0))


def _cause(exc: BaseException) -> str:
    while isinstance(exc, ActivityError) and exc.cause is not None:
        exc = exc.cause
    return str(exc) or type(exc).__name__


# ================================================================== host


@workflow.defn(name=HOST_WORKFLOW, sandboxed=False)
class HostWorkflow:
    def __init__(self) -> None:
        self.log = EventLog(keep=1_000_000)
        self.slot: dict[str, Any] | None = None
        self.stop: dict[str, Any] | None = None

    @workflow.signal(name="slot")
    def slot_decided(self, decision: dict[str, Any]) -> None:
        self.slot = decision

    @workflow.signal(name="stop")
    def stop_host(self, stop: dict[str, Any]) -> None:
        if self.stop is None:
            self.stop = dict(stop)
        elif stop.get("force"):
            self.stop["force"] = True   # the first stop's outcome and reason stay

    @property
    def hard(self) -> bool:
        return bool(self.stop and self.stop.get("force"))

    @workflow.query(name="events")
    def events(self, after: int) -> dict[str, Any]:
        return {"events": self.log.after(after), "last": self.log.last}

    @workflow.run
    async def run(self, inp: HostInput) -> str:
        """The host's outcome status (the outcome itself went to the rollout by signal;
        the rollout's history holds this result too, so it stays one word)."""
        try:
            spec: HostSpec = await _state("hwfw.load_host", LoadHost(inp.run_id, inp.index), inp.timing,
                                          result_type=HostSpec)
        except ActivityError as exc:
            outcome = HostOutcome(HOST_FAILED, f"could not load its plan: {_cause(exc)}").to_json()
            await _report(inp, RecordHost(host=inp.host, outcome=outcome), keep_slot=False)
            return str(outcome["status"])
        return str((await _HostWalk(self, inp, spec).run())["status"])


async def _report(inp: HostInput, record: RecordHost, *, keep_slot: bool) -> None:
    """The host's end: its records to the state writer (written before the rollout hears
    of it, so a rollout that ended has every host recorded), then its outcome, alone, to
    the rollout (its history stays small: no records, no audit entries)."""
    await _state("hwfw.record_hosts", RecordHosts(inp.run_id, [record]), inp.timing)
    await workflow.get_external_workflow_handle(inp.rollout).signal("host_finished", {
        "host": inp.host, "outcome": record.outcome, "keep_slot": keep_slot})


class _HostWalk:
    """One host's run (see the module docstring)."""

    def __init__(self, wf: HostWorkflow, inp: HostInput, spec: HostSpec) -> None:
        self.wf, self.inp, self.spec = wf, inp, spec
        self.host = spec.host
        self.steps = [Step.from_json(s) for s in spec.steps]
        self.by_id = {s.id: s for s in self.steps}
        self.shape = host_shape(self.host, self.steps)
        self.clock = _clock()
        self.t0 = self.clock.monotonic()
        self.events = ApplyEvents(wf.log, self.clock, inp.run_id)
        self.rules = Scheduler(Rollout(deadline=inp.deadline, time_scale=inp.time_scale), [], self.clock)
        self.queue = site_queue(spec.site)
        self.records: dict[str, dict[str, Any]] = dict(spec.records)
        self.checkpoint = spec.checkpoint
        self.extra: dict[str, Any] = dict(spec.extra)   # the host's BIOS settings, validation, watchdog records
        self.extra_changed: set[str] = set()
        self.results: dict[str, dict[str, Any]] = {}
        self.resets: dict[str, int] = {}
        self.audit: list[dict[str, Any]] = []
        self.resolutions: list[dict[str, Any]] = []
        self.power_state: str | None = None
        self.failure: str | None = None
        self.halt: tuple[str, str] | None = None
        self.holds_slot = False
        self.on_failure = inp.on_failure
        self.sent: list[asyncio.Future[Any]] = []

    # ------------------------------------------------------------------ pieces
    def call(self, **extra: Any) -> HostCall:
        return HostCall(run_id=self.inp.run_id, host=self.host, vendor=self.spec.vendor, model=self.spec.model,
                        steps=self.spec.steps, records=dict(self.records), checkpoint=self.checkpoint,
                        on_failure=self.on_failure, allow_pending=self.inp.allow_pending, sync=self.inp.sync,
                        results=dict(self.results), resets=dict(self.resets), failure=self.failure,
                        halt=list(self.halt) if self.halt else None, holds_slot=self.holds_slot,
                        power_state=self.power_state, hard=self.wf.hard,
                        resolved=[r["intent"] for r in self.resolutions], elapsed=self.clock.monotonic() - self.t0,
                        plan=self.spec.plan, extra=dict(self.extra), **extra)

    async def piece(self, name: str, call: HostCall, *, long: bool = False) -> HostReply:
        t = self.inp.timing
        reply: HostReply = await workflow.execute_activity(
            name, call, task_queue=self.queue, result_type=HostReply,
            start_to_close_timeout=seconds(t.host if long else t.step), heartbeat_timeout=seconds(t.heartbeat),
            retry_policy=_retry(t))
        self.records.update(reply.records)
        self.extra.update(reply.extra)
        self.extra_changed.update(reply.extra)
        if reply.checkpoint is not None:
            self.checkpoint = reply.checkpoint
        self.audit += reply.audit
        self.resolutions += reply.resolutions
        self.results.update(reply.results)
        for kind, n in reply.resets.items():
            self.resets[kind] = self.resets.get(kind, 0) + n
        self.power_state = reply.power_state or self.power_state
        for doc in reply.events:
            self.wf.log.add(doc)
        return reply

    # ------------------------------------------------------------------ life cycle
    async def run(self) -> dict[str, Any]:
        self.events.host_started(self.host, len(self.steps))
        decided: dict[str, Any] | None
        try:
            decided = (await self.piece("hwfw.host_begin", self.call(), long=True)).outcome
        except ActivityError as exc:
            decided = HostOutcome(HOST_FAILED, f"could not begin: {_cause(exc)}", 0, len(self.steps)).to_json()
        if decided is None:
            await self.walk()
        outcome = await self.finish(decided)
        keep = outcome["status"] == HOST_FAILED and self.holds_slot
        await asyncio.gather(*self.sent)
        await _report(self.inp, RecordHost(host=self.host, outcome=outcome, records=self.records,
                                           checkpoint=self.checkpoint, audit=self.audit, resolutions=self.resolutions,
                                           extra={k: self.extra[k] for k in sorted(self.extra_changed)}),
                      keep_slot=keep)
        return outcome

    async def finish(self, decided: dict[str, Any] | None) -> dict[str, Any]:
        if decided is None and self.failure and self.on_failure == "rollback-host" and not self.wf.hard \
                and self.shape.window and not self.holds_slot:
            slot = await self.ask_slot()   # a rollback may reset the host: take it out of service first
            if slot["go"]:
                self.holds_slot = True
            else:
                self.events.warning(f"no rollback: it may take the host out of service ({slot['reason']})", self.host)
                self.on_failure = "halt-host"
        try:
            reply = await self.piece("hwfw.host_finish", self.call(outcome=decided), long=True)
        except ActivityError as exc:
            return HostOutcome(HOST_FAILED, f"could not finish: {_cause(exc)}", 0, len(self.steps)).to_json()
        assert reply.outcome is not None
        return reply.outcome

    # ------------------------------------------------------------------ the walk
    async def walk(self) -> None:
        pending = list(self.steps)
        running: dict[str, asyncio.Task[StepOutcome]] = {}
        lock = asyncio.Lock()
        stopped_hard = False
        while True:
            if not self.halt and not self.failure:
                await self.start_ready(pending, running, lock)
            if not running:
                return
            watch = asyncio.ensure_future(workflow.wait_condition(lambda: self.wf.hard))
            await workflow.wait([*running.values(), watch], return_when=asyncio.FIRST_COMPLETED)
            if not watch.done():
                watch.cancel()
            if self.wf.hard and not stopped_hard:
                stopped_hard = True
                for task in running.values():
                    task.cancel()
            for sid in [sid for sid, task in running.items() if task.done()]:
                self.finished(self.by_id[sid], running.pop(sid).result())

    async def start_ready(self, pending: list[Step], running: dict[str, asyncio.Task[StepOutcome]],
                          lock: asyncio.Lock) -> None:
        ids = set(self.by_id)
        for step in list(pending):
            if blocked_by(step, ids, {k: v["status"] for k, v in self.results.items()}):
                continue
            stop = self.stop_reason()
            if stop is None and not self.rules.fits(step.estimate_seconds):
                stop = (HOST_DEFERRED, SKIP_WINDOW)
            if stop:
                self.halt = stop
                return
            if step.id in self.shape.window and not self.holds_slot:
                if running:
                    return  # take the host out of service only once its staging settled
                slot = await self.ask_slot()
                if not slot["go"]:
                    self.halt = (slot.get("outcome") or HOST_NOT_STARTED, slot.get("reason") or "")
                    return
                self.holds_slot = True
            pending.remove(step)
            running[step.id] = asyncio.ensure_future(self.run_step(step, lock))

    def stop_reason(self) -> tuple[str, str] | None:
        stop = self.wf.stop
        if stop is None:
            return None
        reason = SKIP_INTERRUPTED if stop["outcome"] == HOST_INTERRUPTED else SKIP_ABORTED
        outcome = HOST_INTERRUPTED if self.results else (stop["outcome"] or HOST_INTERRUPTED)
        return (outcome, stop.get("reason") or reason)

    async def ask_slot(self) -> dict[str, Any]:
        if not self.inp.slots_limited:
            return {"go": True}
        self.wf.slot = None
        await workflow.get_external_workflow_handle(self.inp.rollout).signal(
            "slot_request", {"host": self.host, "child": workflow.info().workflow_id})
        await workflow.wait_condition(lambda: self.wf.slot is not None)
        assert self.wf.slot is not None
        return self.wf.slot

    async def run_step(self, step: Step, lock: asyncio.Lock) -> StepOutcome:
        self.events.step_started(self.host, step)
        try:
            if step.kind == "verify":
                reply = await self.piece("hwfw.host_step", self.call(step=step.id))
            else:
                async with lock:
                    reply = await self.piece("hwfw.host_step", self.call(step=step.id))
        except asyncio.CancelledError:
            out = StepOutcome(STEP_INTERRUPTED, "interrupted; its intent stays open for the next run")
        except ActivityError as exc:
            out = StepOutcome(STEP_FAILED, f"the step could not run: {_cause(exc)}")
        else:
            assert reply.outcome is not None
            return StepOutcome.from_json(reply.outcome)
        self.events.step_finished(self.host, step, out)
        return out

    def finished(self, step: Step, outcome: StepOutcome) -> None:
        self.results[step.id] = outcome.to_json()
        if outcome.status == STEP_FAILED:
            self.failure = f"{step.id}: {outcome.message}"
            if self.on_failure == "abort-run":
                self.signal_rollout("abort", f"run aborted: {step.id} failed")
            for sid in descendants(self.steps, step.id):
                if sid not in self.results:
                    skipped = StepOutcome(STEP_SKIPPED, f"skipped: {SKIP_UPSTREAM}", reason=SKIP_UPSTREAM)
                    self.results[sid] = skipped.to_json()
                    self.events.step_finished(self.host, self.by_id[sid], skipped)
        elif outcome.status == STEP_INTERRUPTED:
            self.halt = (HOST_INTERRUPTED, SKIP_INTERRUPTED)
        elif step.id == self.shape.last_disruptive and self.holds_slot:
            self.holds_slot = False
            self.signal_rollout("slot_release", self.host)

    def signal_rollout(self, name: str, arg: Any) -> None:
        handle = workflow.get_external_workflow_handle(self.inp.rollout)
        self.sent.append(asyncio.ensure_future(handle.signal(name, arg)))


# ================================================================== rollout


@workflow.defn(name=ROLLOUT_WORKFLOW)
class RolloutWorkflow:
    @workflow.init
    def __init__(self, inp: RolloutInput) -> None:
        carry = inp.carry or {}
        self.inp = inp
        self.clock = _clock()
        k = inp.knobs
        self.rollout = Rollout(parallelism=max(1, min(k.parallelism, inp.children)),
                               max_unavailable=k.max_unavailable, canary=k.canary, failure_budget=k.failure_budget,
                               deadline=k.deadline, time_scale=k.time_scale)
        self.sched: Scheduler = restore_scheduler(self.rollout, self.clock, carry.get("scheduler"))
        log = carry.get("log") or {}
        self.log = EventLog(EVENTS_KEPT, log.get("docs", ()), log.get("first", 1))
        self.events = ApplyEvents(self.log, self.clock, inp.run_id)
        self.running: dict[str, str] = dict(carry.get("running", {}))
        self.slot_waiting: dict[str, str] = dict(carry.get("slot_waiting", {}))
        self.outcomes: dict[str, dict[str, Any]] = dict(carry.get("outcomes", {}))
        self.counts: dict[str, int] = dict(carry.get("counts", {}))
        self.complete: bool = carry.get("complete", True)
        self.to_record: list[RecordHost] = []
        self.recording = False
        self.interrupted: bool = carry.get("interrupted", False)
        self.aborted: bool = carry.get("aborted", False)
        self.hard: bool = carry.get("hard", False)
        self.offset: int = carry.get("offset", 0)
        self.t0: float = carry.get("t0", 0.0)
        self.runs: int = carry.get("runs", 1)
        self.peak: int = carry.get("peak", 0)
        self.result: dict[str, Any] | None = None
        self.outgoing: list[asyncio.Future[Any]] = []
        self.starting: list[asyncio.Future[None]] = []
        # what the run starts with (its input carries the previous run's state): not
        # counted against history_bytes, or a large carry would continue as new at once
        self.start_bytes = workflow.info().get_current_history_size()
        # children this run started that have not closed yet (what the server counts as
        # pending against its limit; children of earlier runs count there no more)
        self.children_open = 0
        self.closing: set[asyncio.Future[None]] = set()

    # ------------------------------------------------------------------ what followers read
    @workflow.query(name="progress")
    def progress(self, after: int) -> dict[str, Any]:
        return {"events": self.log.after(after), "last": self.log.last, "running": dict(self.running),
                "hosts": self.inp.hosts, "finished": sum(self.counts.values()), "result": self.result,
                "runs": self.runs, "peak_in_flight": self.peak, "interrupted": self.interrupted}

    # ------------------------------------------------------------------ what hosts and operators send
    @workflow.signal(name="host_finished")
    def host_finished(self, doc: dict[str, Any]) -> None:
        host = doc["host"]
        if host not in self.running:
            return  # told twice (a retried signal)
        outcome = HostOutcome.from_json(doc["outcome"])
        self.running.pop(host)
        self.slot_waiting.pop(host, None)
        self.sched.host_finished(host, outcome.status, keep_slot=bool(doc.get("keep_slot")))
        self.note(host, outcome)
        if doc.get("unrecorded"):   # it never ran: the rollout records its outcome
            self.to_record.append(RecordHost(host=host, outcome=doc["outcome"]))
        if outcome.status in (HOST_FAILED, HOST_ROLLED_BACK) and self.inp.on_failure == "abort-run":
            self.begin_abort(f"run aborted: {host} {outcome.status}")
        self.grant()

    @workflow.signal(name="slot_request")
    def slot_request(self, doc: dict[str, Any]) -> None:
        self.slot_waiting[doc["host"]] = doc["child"]
        self.grant()

    @workflow.signal(name="slot_release")
    def slot_release(self, host: str) -> None:
        self.sched.release_slot(host)
        self.grant()

    @workflow.signal(name="abort")
    def abort(self, reason: str) -> None:
        self.begin_abort(reason)

    @workflow.signal(name="stop")
    def stop(self, force: bool = False) -> None:
        if not self.interrupted:
            self.interrupted = True
            self.sched.stop(HOST_INTERRUPTED, "interrupted")
            self.events.warning("interrupted (hwfw run cancel): starting nothing new; in-flight steps finish "
                                "(cancel again, or with --force, to leave them running on the BMCs)")
            self.broadcast({"outcome": HOST_INTERRUPTED, "reason": "interrupted"})
            self.grant()
            if not force:
                return
        if not self.hard:
            self.hard = True
            self.events.warning("interrupted again: stopping in-flight steps where they are; the next hwfw apply "
                                "settles them")
            self.broadcast({"outcome": HOST_INTERRUPTED, "reason": "interrupted", "force": True})

    def begin_abort(self, reason: str) -> None:
        if self.sched.stopped:
            return
        self.aborted = True
        self.sched.stop(HOST_NOT_STARTED, reason)
        self.events.warning(reason + ": starting nothing new; in-flight steps finish")
        self.broadcast({"outcome": HOST_NOT_STARTED, "reason": reason})
        self.grant()

    def broadcast(self, stop: dict[str, Any]) -> None:
        for child in self.running.values():
            self.send(child, "stop", stop)

    def grant(self) -> None:
        """Answer every waiting slot request the scheduler decides now (in request order;
        the scheduler ranks the waiting hosts itself)."""
        for host, child in list(self.slot_waiting.items()):
            decision = self.sched.request_slot(host)
            if decision.verdict == "wait":
                continue
            del self.slot_waiting[host]
            self.send(child, "slot", {"go": decision.go, "outcome": decision.outcome, "reason": decision.reason})

    def send(self, workflow_id: str, signal: str, arg: Any) -> None:
        async def deliver() -> None:
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(signal, arg)
            except ApplicationError:
                pass  # the host workflow ended meanwhile: nothing to tell it
        self.outgoing.append(asyncio.ensure_future(deliver()))

    # ------------------------------------------------------------------ outcomes
    def note(self, host: str, outcome: HostOutcome) -> None:
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        if sum(self.counts.values()) > SUMMARY_HOSTS and self.complete:
            self.complete = False
            self.outcomes = {h: o for h, o in self.outcomes.items() if o["status"] != HOST_CONVERGED}
        if (self.complete or outcome.status != HOST_CONVERGED) and len(self.outcomes) < SUMMARY_HOSTS:
            self.outcomes[host] = outcome.to_json()
        self.events.host_finished(host, outcome)

    def decided(self, host: str, outcome: HostOutcome) -> None:
        """An outcome the rollout decided without starting the host."""
        self.note(host, outcome)
        self.to_record.append(RecordHost(host=host, outcome=outcome.to_json()))

    async def recorder(self) -> None:
        """Hands the hosts that ended to the state writer: whatever ended while the last
        batch was being written goes in the next (group commit, one write per batch)."""
        while True:
            await workflow.wait_condition(lambda: bool(self.to_record))
            batch, self.to_record = self.to_record[:RECORD_BATCH], self.to_record[RECORD_BATCH:]
            self.recording = True
            try:
                await _state("hwfw.record_hosts", RecordHosts(self.inp.run_id, batch), self.inp.timing)
            finally:
                self.recording = False

    async def flush(self) -> None:
        await workflow.wait_condition(lambda: not self.to_record and not self.recording)

    async def settle_down(self) -> None:
        """Before this run closes: every host that ended recorded, every signal sent
        delivered and every signal received handled; again while handling signals
        brought more to record or to send. A batch still being written when the run
        closes would be cancelled, and lost; so would a signal not yet delivered
        (Temporal drops what a closed run sent): a slot decision lost that way leaves
        its host waiting for ever, while this run's scheduler counts it as a holder."""
        while True:
            await self.flush()
            await asyncio.gather(*self.outgoing, return_exceptions=True)
            await workflow.wait_condition(workflow.all_handlers_finished)
            self.outgoing = [f for f in self.outgoing if not f.done()]
            if not self.to_record and not self.recording and not self.outgoing:
                return

    # ------------------------------------------------------------------ the run
    @workflow.run
    async def run(self, inp: RolloutInput) -> RolloutResult:
        recorder = asyncio.ensure_future(self.recorder())
        try:
            return await self.roll(inp)
        finally:
            recorder.cancel()

    async def roll(self, inp: RolloutInput) -> RolloutResult:
        if inp.carry is None:
            self.t0 = self.clock.monotonic()
            try:
                await _state("hwfw.begin_run", BeginRun(inp.run_id, inp.lineage, inp.serial, _iso()), inp.timing)
            except ActivityError as exc:
                return self.refused(_cause(exc))
            r = self.rollout
            self.events.run_started(RunInfo(
                run_id=inp.run_id, hosts=tuple(inp.names), steps=inp.steps, parallelism=r.parallelism,
                max_unavailable=r.max_unavailable, canary=r.canary, failure_budget=r.failure_budget,
                on_failure=inp.on_failure, time_scale=r.time_scale,
                deadline_seconds=None if r.deadline is None else max(0.0, (r.deadline - self.t0) * r.time_scale)))
        loaded: deque[HostBrief] = deque()
        while self.offset < inp.hosts:
            await self.continue_if_long()
            if not loaded:
                loaded.extend(await _state("hwfw.load_hosts", LoadHosts(inp.run_id, self.offset, inp.per_load),
                                           inp.timing, result_type=list[HostBrief]))
                if not loaded:
                    break
            if await self.admit(loaded[0]):
                loaded.popleft()
                self.offset += 1
                if sum(1 for f in self.starting if not f.done()) >= START_BATCH:
                    # end this workflow task: Temporal fails one that runs for seconds
                    # (it takes that for a deadlock), and admitting a host costs milliseconds
                    await asyncio.gather(*self.starting)
        while self.running:
            await workflow.wait_condition(lambda: not self.running or self.too_long())
            await self.continue_if_long()
        return await self.end()

    async def admit(self, brief: HostBrief) -> bool:
        """Start (or decide) the host at the offset; False when the rollout must
        continue as new first (the host is then admitted by the next run)."""
        if brief.preset is not None:   # refused or skipped before the run: recorded by begin_run
            self.note(brief.host, HostOutcome.from_json(brief.preset))
            return True
        if len(self.sched.canaries) < self.rollout.canary and brief.host not in self.sched.canaries:
            self.sched.canaries.append(brief.host)
        await workflow.wait_condition(
            lambda: (self.children_open < self.inp.children
                     and self.sched.admit(brief.host, brief.estimate).verdict != "wait") or self.too_long())
        decision = self.sched.admit(brief.host, brief.estimate)
        if decision.verdict == "wait" or self.children_open >= self.inp.children:
            return False
        if not decision.go:
            self.decided(brief.host, HostOutcome(decision.outcome or HOST_NOT_STARTED, decision.reason, 0, brief.steps))
            return True
        self.sched.host_started(brief.host)
        self.sched.downtime[brief.host] = brief.downtime
        child = host_workflow_id(self.inp.run_id, brief.host)
        self.running[brief.host] = child
        self.peak = max(self.peak, len(self.running))
        # not awaited here: the hosts admitted in one workflow task start together (awaiting
        # each start would admit one host per round trip to the server)
        self.starting = [f for f in self.starting if not f.done()]
        self.children_open += 1
        self.starting.append(asyncio.ensure_future(self.start_host(brief, child)))
        return True

    async def start_host(self, brief: HostBrief, child: str) -> None:
        k = self.rollout
        try:
            handle = await workflow.start_child_workflow(
                HOST_WORKFLOW, HostInput(run_id=self.inp.run_id, rollout=workflow.info().workflow_id, host=brief.host,
                                         index=brief.index,
                                         on_failure=self.inp.on_failure, allow_pending=self.inp.allow_pending,
                                         sync=self.inp.sync, timing=self.inp.timing, deadline=k.deadline,
                                         time_scale=k.time_scale, slots_limited=k.max_unavailable is not None),
                id=child, task_queue=CONTROL_QUEUE, parent_close_policy=workflow.ParentClosePolicy.ABANDON)
        except (WorkflowAlreadyStartedError, FailureError) as exc:
            # the host never ran here (its id is taken by another execution): it failed to start
            self.children_open -= 1
            self.host_finished({"host": brief.host, "unrecorded": True, "outcome": HostOutcome(
                HOST_FAILED, f"its host workflow could not start: {exc}", 0, brief.steps).to_json()})
            return
        closed = asyncio.ensure_future(self.child_closed(handle))
        self.closing.add(closed)
        closed.add_done_callback(self.closing.discard)

    async def child_closed(self, handle: workflow.ChildWorkflowHandle[Any, Any]) -> None:
        """Temporal counts a child as pending until it closes, after it reported its
        outcome: the slot it holds under `children` is given back only then."""
        try:
            await handle
        except FailureError:
            pass   # failed, cancelled or terminated: its outcome (if any) came by signal
        finally:
            self.children_open -= 1

    def too_long(self) -> bool:
        info = workflow.info()
        return (info.is_continue_as_new_suggested() or info.get_current_history_length() > self.inp.history
                or info.get_current_history_size() - self.start_bytes > self.inp.history_bytes)

    async def continue_if_long(self) -> None:
        if not self.too_long():
            return
        await asyncio.gather(*self.starting)   # every admitted host started before this run closes
        await self.settle_down()
        carry = {"scheduler": scheduler_snapshot(self.sched), "log": self.log.carry(EVENTS_CARRIED),
                 "running": self.running, "slot_waiting": self.slot_waiting, "outcomes": self.outcomes,
                 "counts": self.counts,
                 "complete": self.complete, "interrupted": self.interrupted, "aborted": self.aborted,
                 "hard": self.hard, "offset": self.offset, "t0": self.t0, "runs": self.runs + 1, "peak": self.peak}
        inp = self.inp
        workflow.continue_as_new(RolloutInput(
            run_id=inp.run_id, lineage=inp.lineage, serial=inp.serial, hosts=inp.hosts, knobs=inp.knobs,
            on_failure=inp.on_failure, allow_pending=inp.allow_pending, sync=inp.sync, timing=inp.timing,
            steps=inp.steps, names=[], children=inp.children, history=inp.history,
            history_bytes=inp.history_bytes, per_load=inp.per_load,
            carry=carry))

    async def end(self) -> RolloutResult:
        await self.settle_down()
        outcomes = {h: HostOutcome.from_json(o) for h, o in self.outcomes.items()}
        took = self.clock.monotonic() - self.t0
        summary, code = summary_of(self.inp.run_id, outcomes, self.counts, interrupted=self.interrupted,
                                   aborted=self.aborted, seconds=took, complete=self.complete)
        doc = summary.to_json()
        doc.update(counts={s: self.counts.get(s, 0) for s in doc["counts"]}, exit_code=code)
        self.log.emit(Event(RUN_FINISHED, _iso(), self.inp.run_id, payload={"summary": doc}))
        await _state("hwfw.finish_run", FinishRun(self.inp.run_id, _iso(), code, self.interrupted), self.inp.timing)
        result = RolloutResult(run_id=self.inp.run_id, counts=dict(self.counts), exit_code=code,
                               interrupted=self.interrupted, aborted=self.aborted, seconds=took,
                               hosts=self.outcomes, complete_hosts=self.complete, peak_in_flight=self.peak,
                               runs=self.runs)
        self.result = {"exit_code": code, "counts": dict(self.counts)}
        await workflow.wait_condition(workflow.all_handlers_finished)
        return result

    def refused(self, why: str) -> RolloutResult:
        self.result = {"exit_code": 1, "counts": {}, "error": why}
        return RolloutResult(run_id=self.inp.run_id, counts={}, exit_code=1, interrupted=False, aborted=False,
                             seconds=0.0, hosts={}, complete_hosts=True, error=why)
