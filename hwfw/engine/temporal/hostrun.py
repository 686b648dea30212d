"""One piece of one host's life cycle, run by the executor's own machinery, in an activity.

The host workflow walks the host's DAG; each piece (begin, a step, finish) runs here in
whatever worker of the site picks it up, so it is rebuilt from what the workflow knows:
the host's steps, its component records and checkpoint, and the walk so far. The
executor's `HostRun` (hwfw.apply.executor) then runs the piece exactly as the local
engine does: same drivers, same checks, same events, same ledger calls.

`HostLedger` is that ledger. Intents go to the worker's state backend at once (durable
before the request is sent, as always); everything else comes back to the workflow:
the records and checkpoint the piece wrote, its audit entries, and the intents it
resolved. The state writer writes the records and only then resolves those intents
(the ledger's order: intent, request, state, resolution), so an intent whose outcome
never reached the state stays open for resume, whatever dies in between.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Mapping

from hwfw.apply.events import ApplyEvents, HostOutcome, StepOutcome
from hwfw.apply.executor import ExecOptions, Executor, HostRun, ImageSource
from hwfw.apply.ledger import Ledger
from hwfw.apply.scheduler import host_shape
from hwfw.clock import Clock
from hwfw.config.model import Workspace
from hwfw.events import Event
from hwfw.plan.model import HostPlan, Plan, Step, Summary
from hwfw.state.backend import StateBackend
from hwfw.state.model import ComponentRecord, State

from .model import HostCall, HostReply

__all__ = ["Collector", "HostLedger", "HostPiece", "records_of"]

# Events the workflow itself emits (step-started, when it schedules the step) or that
# would only bloat its history (progress: the last one rides on the heartbeat).
WORKFLOW_EMITS = frozenset({"step-started", "step-progress"})


def records_of(doc: Mapping[str, Mapping[str, Any]]) -> dict[str, ComponentRecord]:
    return {key: ComponentRecord(**rec) for key, rec in doc.items()}


class HostLedger(Ledger):
    """The ledger of one piece of one host (see the module docstring)."""

    def __init__(self, workspace: Workspace, call: HostCall, clock: Clock, backend: StateBackend) -> None:
        checkpoints = {"hosts": {call.host: dict(call.checkpoint)}} if call.checkpoint else {}
        extra = {section: {call.host: value} for section, value in call.extra.items()}
        state = State(lineage="", serial=0, hosts={call.host: records_of(call.records)}, checkpoints=checkpoints,
                      extra=extra)
        super().__init__(workspace.settings, call.run_id, clock, state, backend=backend)
        self.changed: set[str] = set()
        self.extra_changed: set[str] = set()
        self.checkpoint_changed = False
        self.audits: list[dict[str, Any]] = []
        self.resolutions: list[dict[str, Any]] = []

    def put(self, host: str, key: str, record: ComponentRecord) -> None:
        super().put(host, key, record)
        self.changed.add(key)

    def put_extra(self, key: str, value: Any) -> None:
        super().put_extra(key, value)
        self.extra_changed.add(key)

    def set_checkpoint(self, host: str, checkpoint: Mapping[str, Any]) -> None:
        super().set_checkpoint(host, checkpoint)
        self.checkpoint_changed = True

    async def commit(self) -> None:
        """Nothing to write here: the workflow receives the changes and the state writer
        writes them (see the module docstring)."""

    async def resolve(self, intent_id: str, outcome: str, **details: Any) -> None:
        self.resolutions.append({"intent": intent_id, "outcome": outcome, "details": details})

    async def audit(self, *, host: str, component: str, action: str, outcome: str, before: str | None = None,
                    after: str | None = None, image_sha256: str | None = None, message: str | None = None) -> None:
        self.audits.append({"host": host, "component": component, "action": action, "outcome": outcome,
                            "before": before, "after": after, "image_sha256": image_sha256,
                            "message": message or None})


class Collector:
    """The piece's events as JSON documents; the last progress message is kept apart
    (the heartbeat carries it)."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []
        self.progress: dict[str, Any] = {}

    def emit(self, event: Event) -> None:
        if event.name == "step-progress":
            self.progress = {"step": event.step_id, "percent": event.payload.get("percent"),
                             "message": event.payload.get("message")}
        if event.name not in WORKFLOW_EMITS:
            self.docs.append(event.to_json())


class HostPiece:
    """A `HostRun` rebuilt from a HostCall, with its ledger and events (see the module
    docstring). `reply()` is what goes back to the workflow."""

    def __init__(self, workspace: Workspace, call: HostCall, *, backend: StateBackend, images: ImageSource,
                 clock: Clock, hard: bool = False) -> None:
        self.call = call
        self.steps = [Step.from_json(s) for s in call.steps]
        self.ledger = HostLedger(workspace, call, clock, backend)
        self.collector = Collector()
        host_plan = HostPlan.from_json(call.plan) if call.plan else \
            HostPlan(name=call.host, status="managed", reachable=True, vendor=call.vendor, model=call.model)
        plan = Plan(hosts=(host_plan,), steps=tuple(self.steps), summary=Summary(hosts=1, steps=len(self.steps)),
                    errored=False, applyable=True, complete=False, state_lineage="", state_serial=0)
        self.executor = Executor(plan, workspace, self.ledger, _no_opener, images, clock=clock, events=self.collector,
                                 options=ExecOptions(run_id=call.run_id, on_failure=call.on_failure,
                                                     allow_pending=call.allow_pending))
        self.executor._hard = hard
        self.run = HostRun(self.executor, host_shape(call.host, self.steps))
        self._restore(call)
        self.events: ApplyEvents = self.executor.events
        self.outcome: dict[str, Any] | None = None
        self.refusal: str | None = None
        self.settled: list[str] = []

    def _restore(self, call: HostCall) -> None:
        run = self.run
        run.results = {sid: StepOutcome.from_json(doc) for sid, doc in call.results.items()}
        run.resets = Counter(call.resets)
        run.failure = call.failure
        run.halt = (call.halt[0], call.halt[1]) if call.halt else None
        run.holds_slot = call.holds_slot
        run.power_state = call.power_state
        run.t0 = run.clock.monotonic() - call.elapsed

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def finish(self, outcome: HostOutcome) -> None:
        self.outcome = outcome.to_json()

    def reply(self) -> HostReply:
        ledger, run = self.ledger, self.run
        host = self.call.host
        records = {k: ledger.hosts.get(host, {})[k].to_json() for k in sorted(ledger.changed)
                   if k in ledger.hosts.get(host, {})}
        resets = dict(Counter(run.resets) - Counter(self.call.resets))
        results = {sid: o.to_json() for sid, o in run.results.items() if sid not in self.call.results}
        return HostReply(records=records, checkpoint=ledger.checkpoint(host) if ledger.checkpoint_changed else None,
                         audit=list(ledger.audits), events=list(self.collector.docs), resets=resets, results=results,
                         refusal=self.refusal, power_state=run.power_state, outcome=self.outcome,
                         failure=run.failure, settled=list(self.settled), resolutions=list(ledger.resolutions),
                         extra={s: (ledger.extra.get(s) or {}).get(host) for s in sorted(ledger.extra_changed)
                                if host in (ledger.extra.get(s) or {})})


def _no_opener(host: str) -> Any:
    raise AssertionError(f"{host}: a piece runs on the driver its activity opened")
