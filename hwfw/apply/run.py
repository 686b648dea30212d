"""`run_apply`: everything an apply does, in order, for hwfw.api (and tests) to call.

    lock -> connect -> log out sessions a killed run left open -> settle open intents
    (resume) -> inventory (waiting for BMCs a killed run left resetting) -> plan (or
    saved plan + staleness) -> show + confirm -> images ready -> execute -> record the run

Nothing here prints: the plan is handed to `show`, the question to `confirm`, and
progress, as events (hwfw/events.py), to the `events` sink. The workspace lock is held
from the first read of the state to the last write; a second apply fails at once,
naming the holder. State, lock and journals live in the backend `settings.backend`
names (hwfw.state.backend). A cancel token (hwfw/cancel.py) stops it with the
semantics of SIGINT/SIGTERM: nothing new starts, in-flight steps reach a safe point.
Every BMC session the run opens is journalled while it is open (sessions.py); every
image transfer from the run's image server is in its audit log (transfers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import inspect
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Self, Sequence

from hwfw.apply.checkpoint import irreversible_steps
from hwfw.apply.driver import DriverFactory, HostDriver
from hwfw.apply.drivers import make_driver
from hwfw.apply.events import HOST_REFUSED, HOST_SKIPPED, ApplyEvents, HostOutcome, RunSummary
from hwfw.apply.executor import ExecOptions, Executor
from hwfw.apply.ledger import Ledger, ensure_runtime_dir
from hwfw.apply.resume import SettleReport, close_converged_checkpoints, reread_resetting, settle_open_intents
from hwfw.apply.scheduler import Rollout, parse_count, shapes_of
from hwfw.apply.sessions import RunSessions, logout_leftovers
from hwfw.apply.transfers import TransferAudit
from hwfw.cancel import CancelToken
from hwfw.clock import Clock, SystemClock, utc_now_iso
from hwfw.config.digests import input_digests
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.connect import Connection, connect, read_inventory, settings_hosts
from hwfw.errors import HwfwError, StalePlanError
from hwfw.events import EventSink, FanOutSink, guarded
from hwfw.inventory.model import Inventory
from hwfw.invocation import command
from hwfw.logs import get_logger
from hwfw.plan.model import Plan
from hwfw.redfish.journal import journal_sessions
from hwfw.state.backend import open_backend

log = get_logger("apply.run")

RUNS_KEPT = 20

Confirm = Callable[[Plan], "bool | Awaitable[bool]"]


@dataclass(frozen=True, slots=True)
class ApplyOptions:
    """How one apply runs: which hosts, which plan, the rollout, what it may do.

    Selection: `targets` (HOST or HOST/COMPONENT globs), `exclude` (host globs),
    `accept_unknown` ((host glob, component) pairs whose unknown version may be flashed
    over), `allow_unreachable` (an unreachable host is reported and skipped instead of
    stopping the run). `plan_file`: a saved plan to apply exactly. Rollout: `parallelism`,
    `max_unavailable`, `canary`, `failure_budget` (counts or percentages as text),
    `window` (seconds) / `until`. `run_id`: a fresh one when None."""

    targets: tuple[str, ...] = ()
    plan_file: Path | None = None
    refresh_stale: bool = False
    auto_approve: bool = False
    parallelism: int | None = None
    max_unavailable: str | None = None
    canary: int | None = None
    failure_budget: str | None = None
    window: float | None = None          # seconds (real-world, like the plan's estimates)
    until: datetime | None = None        # an aware wall-clock deadline
    allow_pending: bool = False
    insecure: bool = False
    sync: bool = False
    on_failure: str | None = None        # default: settings.policies.on_failure
    run_id: str | None = None
    exclude: tuple[str, ...] = ()
    accept_unknown: tuple[tuple[str, str], ...] = ()
    allow_unreachable: bool = False


@dataclass
class ApplyResult:
    exit_code: int
    message: str = ""
    plan: Plan | None = None
    summary: RunSummary | None = None
    settled: SettleReport | None = None
    run_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handover:
    """An apply another engine executes (hwfw.engine.temporal), handed over once the plan
    is confirmed, while the workspace lock is still held: the plan, the rollout rules
    (`rollout.deadline` on the run's clock), the hosts the run must not touch
    (`settled.blocked`) or skips (`skipped`: unreachable, --allow-unreachable), and the
    state the plan was made against."""

    plan: Plan
    rollout: Rollout
    settled: SettleReport
    skipped: Mapping[str, str]
    state: Any                       # hwfw.state.model.State
    run_id: str
    clock: Clock


HandOver = Callable[[Handover], Awaitable["ApplyResult"]]


def _plan_hosts(doc: dict[str, Any]) -> tuple[str, ...]:
    return tuple(h["name"] for h in doc.get("hosts", ()))


class StoreImages:
    """Flash images from the workspace cache: verified once per run, published on the
    run's image server (if one runs) for BMCs that pull."""

    def __init__(self, workspace: Workspace, *, fetch: bool, server: Any = None,
                 warn: Callable[[str], None] | None = None) -> None:
        from hwfw.repository.store import ImageStore

        self.store = ImageStore(workspace)
        self.workspace = workspace
        self.fetch = fetch
        self.server = server
        self.warn = warn
        self._ready: dict[str, tuple[Path, str | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure_all(self, entries: Sequence[RepositoryEntry]) -> None:
        """Every image the plan flashes is present (fetched with --sync) and verified,
        before any host is touched."""
        for entry in entries:
            await self.prepare(entry)

    async def prepare(self, entry: RepositoryEntry) -> tuple[Path, str | None]:
        lock = self._locks.setdefault(entry.sha256, asyncio.Lock())
        async with lock:
            if entry.sha256 not in self._ready:
                self._vanished_source(entry)
                # A workspace-local source (images/x.bin) is copied in without --sync: no download.
                path = await self.store.ensure(entry, fetch=self.fetch or _is_local(entry.source))
                await asyncio.to_thread(self._verify, entry)
                url = (await self.server.publish_async(path, entry.sha256, image=entry.id)
                       if self.server is not None else None)
                self._ready[entry.sha256] = (path, url)
        return self._ready[entry.sha256]

    def _vanished_source(self, entry: RepositoryEntry) -> None:
        """A local source file that is gone while the cache still holds the image: the
        cached copy is flashed (its sha256 is the repository's), and the run says so."""
        if not _is_local(entry.source) or self.store.cached_path(entry) is None:
            return
        from hwfw.repository.sources import resolve_source

        path = resolve_source(entry, self.workspace.root).path
        if path is not None and not path.exists() and self.warn is not None:
            self.warn(f"image {entry.id!r}: its source file {entry.source} no longer exists; flashing the cached "
                      f"copy, verified against the repository's sha256 {entry.sha256[:12]}…")

    def _verify(self, entry: RepositoryEntry) -> None:
        with self.store.open_verified(entry):
            pass


def _is_local(source: str) -> bool:
    scheme = source.split("://", 1)[0].lower() if "://" in source else ""
    return scheme in ("", "file")


def resolve_rollout(workspace: Workspace, options: ApplyOptions, hosts: int, clock: Clock,
                    time_scale: float) -> Rollout:
    """CLI options over settings.policies, as counts; the window as a clock deadline."""
    pol = workspace.settings.policies
    deadline = None
    if options.window is not None:
        deadline = clock.monotonic() + options.window / time_scale
    if options.until is not None:
        until = clock.monotonic() + (options.until - clock.wall()).total_seconds()
        deadline = until if deadline is None else min(deadline, until)
    return Rollout(
        parallelism=max(1, options.parallelism or workspace.settings.parallelism),
        max_unavailable=parse_count(options.max_unavailable if options.max_unavailable is not None
                                    else pol.max_unavailable, hosts, option="--max-unavailable", minimum=1),
        canary=options.canary if options.canary is not None else pol.canary,
        failure_budget=parse_count(options.failure_budget if options.failure_budget is not None
                                   else pol.failure_budget, hosts, option="--failure-budget"),
        deadline=deadline, time_scale=time_scale)


async def run_apply(workspace: Workspace, options: ApplyOptions, *, events: EventSink | None = None,
                    confirm: Confirm | None = None, show: Callable[[Plan], None] | None = None,
                    clock: Clock | None = None, cancel: CancelToken | None = None,
                    saved_plan: Mapping[str, Any] | None = None,
                    observe: Callable[[Any], None] | None = None,
                    hand_over: HandOver | None = None) -> ApplyResult:
    """Plan (or load a saved plan), confirm, execute. See the module docstring.

    `saved_plan` is a saved plan document already read (else `options.plan_file` is
    read). `cancel` (hwfw/cancel.py): a request before the executor starts cancels the
    task running this coroutine (nothing was sent to a BMC; CancelledError propagates);
    while it executes, each request interrupts it (first: start nothing new, in-flight
    steps reach a safe point; second: stop them). `observe` is called with the
    connection (hosts, embedded simulator) once it is open: tests and benchmarks read
    the simulator's event log through it. `hand_over`: another engine executes the plan;
    it is called instead of the executor (see Handover) and its result returned."""
    clock = clock or SystemClock()
    sink = guarded(events)
    settings = workspace.settings
    ensure_runtime_dir(settings)
    run_id = options.run_id or uuid.uuid4().hex[:12]
    report = ApplyEvents(sink, clock, run_id)
    async with _Stopper(cancel) as stopper, open_backend(settings) as backend, backend.lock("apply"):
        ledger = await Ledger.open(backend, settings, run_id, clock)
        saved = dict(saved_plan) if saved_plan is not None else \
            _read_plan_file(options.plan_file) if options.plan_file else None
        targets = options.targets or (_plan_hosts(saved) if saved else ())
        with journal_sessions(RunSessions(ledger)):
            async with connect(workspace, insecure=options.insecure, targets=targets,
                               exclude=options.exclude if saved is None else (), clock=clock) as conn:
                if observe is not None:
                    observe(conn)
                return await _connected(workspace, options, ledger, conn, saved, targets, report, sink, clock,
                                        confirm, show, stopper, run_id, hand_over)


async def _connected(workspace: Workspace, options: ApplyOptions, ledger: Ledger, conn: Connection,
                     saved: dict[str, Any] | None, targets: Sequence[str], report: ApplyEvents, sink: EventSink,
                     clock: Clock, confirm: Confirm | None, show: Callable[[Plan], None] | None,
                     stopper: _Stopper, run_id: str, hand_over: HandOver | None) -> ApplyResult:
    """What run_apply does once the hosts are connected (see the module docstring)."""
    settings = workspace.settings
    await logout_leftovers(ledger, conn.hosts, insecure=conn.insecure, events=report)
    settled = await settle_open_intents(ledger, drivers_for(conn), settings=settings, clock=clock,
                                        hosts=set(conn.hosts), events=report)
    inventory = await reread_resetting(await read_inventory(conn), ledger, drivers_for(conn), conn.hosts,
                                       insecure=conn.insecure, events=report, bios_hosts=settings_hosts(conn))
    plan = _make_plan(workspace, options, saved, ledger, inventory, targets)
    if close_converged_checkpoints(ledger, plan, run_id):
        await ledger.commit()
    if show is not None:
        show(plan)
    early = _refuse_early(workspace, plan, settled, options)
    if early is not None:
        early.settled, early.run_id = settled, run_id
        return early
    if not options.auto_approve and confirm is not None and not await _ask(confirm, plan):
        return ApplyResult(1, "Apply cancelled.", plan=plan, settled=settled, run_id=run_id)
    rollout = resolve_rollout(workspace, options, len(shapes_of(plan.steps)), clock,
                              settings.timing.time_scale)
    if hand_over is not None:
        result = await hand_over(Handover(plan, rollout, settled, _skipped_unreachable(plan), ledger.state,
                                          run_id, clock))
        result.settled = settled
        return result
    summary = await _execute(workspace, options, plan, ledger, conn, sink, clock, rollout, settled,
                             stopper, run_id)
    return ApplyResult(summary.exit_code, summary.line(), plan=plan, summary=summary, settled=settled, run_id=run_id)


class _Stopper:
    """Routes the cancel requests of one apply (see run_apply): before the executor
    runs they cancel the run's task; while it runs they interrupt it; after it ends
    (the run is being recorded) they are too late to matter and are ignored."""

    def __init__(self, token: CancelToken | None) -> None:
        self.token = token
        self.task = asyncio.current_task()
        self.executor: Executor | None = None
        self.finished = False
        self.delivered = 0
        self._unsubscribe: Callable[[], None] | None = None

    async def __aenter__(self) -> Self:
        if self.token is not None:
            self._unsubscribe = self.token.subscribe(self._requested)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _requested(self, count: int) -> None:
        if self.finished:
            return
        if self.executor is None:
            if self.task is not None:
                self.task.cancel()
            return
        while self.delivered < min(count, 2):
            self.delivered += 1
            self.executor.interrupt()

    @contextlib.contextmanager
    def executing(self, executor: Executor) -> Iterator[None]:
        self.executor = executor
        if self.token is not None and self.token.requests:
            self._requested(self.token.requests)  # asked for while the executor was being built
        try:
            yield
        finally:
            self.executor, self.finished = None, True


async def _ask(confirm: Confirm, plan: Plan) -> bool:
    answer = confirm(plan)
    if inspect.isawaitable(answer):
        answer = await answer
    return bool(answer)


def _read_plan_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HwfwError(f"cannot read saved plan {path}: {exc}",
                        hint=f"write one with: {command('plan', '--out', str(path))}") from exc
    if not isinstance(doc, dict):
        raise HwfwError(f"{path} is not a saved hwfw plan",
                        hint=f"write one with: {command('plan', '--out', str(path))}")
    return doc


def drivers_for(conn: Connection, image_server: Any = None) -> DriverFactory:
    """host name -> a new driver for it (not yet logged in), on the connection's clock;
    `image_server` serves the images of BMCs that pull (None: no pulls)."""
    def driver(name: str) -> Awaitable[HostDriver]:
        return make_driver(conn.hosts[name], workspace=conn.workspace, clock=conn.clock, insecure=conn.insecure,
                           image_server=image_server)
    return driver


def _make_plan(workspace: Workspace, options: ApplyOptions, saved: dict[str, Any] | None, ledger: Ledger,
               inventory: Inventory, targets: Sequence[str]) -> Plan:
    from hwfw.plan import plan as make_plan

    state = ledger.state
    if saved is None:
        return make_plan(workspace, inventory, state, targets=targets, exclude=options.exclude,
                         accept_unknown=options.accept_unknown, allow_unreachable=options.allow_unreachable,
                         parallelism=options.parallelism, on_failure=options.on_failure)
    from hwfw.plan.planfile import staleness

    try:
        old = Plan.from_json(saved)
    except (ValueError, KeyError) as exc:
        raise HwfwError(f"{options.plan_file} is not a plan this hwfw can apply: {exc}",
                        hint=f"run {command('plan', '--out', str(options.plan_file or 'PLAN'))} again") from exc
    reasons = staleness(saved, input_digests(workspace), state, inventory)
    if not reasons:
        return old
    if not options.refresh_stale:
        plan_file = str(options.plan_file or "PLAN")
        raise StalePlanError(
            "saved plan is stale:\n  - " + "\n  - ".join(reasons),
            hint=f"plan again with: {command('plan', '--out', plan_file)} (then apply that), or re-plan just "
                 f"what drifted with: {command('apply', '--plan', plan_file, '--refresh-stale')}")
    drifted = {h for h in targets if any(r.startswith(f"host {h} ") for r in reasons)}
    if any(not r.startswith("host ") for r in reasons):
        drifted = set(targets)
    fresh = make_plan(workspace, inventory, state, targets=sorted(drifted), parallelism=options.parallelism,
                      accept_unknown=old.options.accept_unknown, allow_unreachable=old.options.allow_unreachable,
                      on_failure=options.on_failure)
    return merge_plans(old, fresh, drifted)


def merge_plans(old: Plan, fresh: Plan, replanned: set[str]) -> Plan:
    """`old` with the hosts in `replanned` replaced by `fresh`'s plan of them."""
    hosts = sorted([h for h in old.hosts if h.name not in replanned] + list(fresh.hosts), key=lambda h: h.name)
    order = {h.name: i for i, h in enumerate(hosts)}
    steps = sorted([s for s in old.steps if s.host not in replanned] + list(fresh.steps),
                   key=lambda s: order.get(s.host, len(order)))
    errored = any(h.errored for h in hosts)
    return replace(fresh, hosts=tuple(hosts), steps=tuple(steps), errored=errored,
                   applyable=not errored and bool(steps), complete=False, _graph=None)


def _refuse_early(workspace: Workspace, plan: Plan, settled: SettleReport,
                  options: ApplyOptions) -> ApplyResult | None:
    if plan.errored:
        return ApplyResult(1, "The plan has errors; nothing was applied:\n  " + "\n  ".join(plan.errors())
                           + "\n" + _leave_out_hint(plan, options), plan=plan)
    if workspace.settings.policies.refuse_irreversible:
        bad = irreversible_steps(plan.steps)
        if bad:
            return ApplyResult(1, "policies.refuse_irreversible: these steps cannot be rolled back:\n  "
                               + "\n  ".join(f"{s.id} ({s.from_version} -> {s.to_version})" for s in bad)
                               + "\nAdd the replaced versions to the repository, or change the policy.", plan=plan)
    if not plan.steps:
        not_done = {**settled.blocked, **_skipped_unreachable(plan)}
        blocked = "; ".join(f"{h}: {why}" for h, why in sorted(not_done.items()))
        return ApplyResult(1 if blocked else 0, ("No changes. " + blocked) if blocked else
                           "No changes. The fleet matches the baselines.", plan=plan)
    return None


def _skipped_unreachable(plan: Plan) -> dict[str, str]:
    """Hosts the plan left out because they could not be read (--allow-unreachable):
    reported as skipped, so a run never looks complete when they were not touched."""
    out = {}
    for h in plan.hosts:
        if h.status == "unreachable":
            why = next((f.message for f in h.findings), "the BMC did not answer")
            out[h.name] = f"skipped (--allow-unreachable): {why}"
    return out


def _leave_out_hint(plan: Plan, options: ApplyOptions) -> str:
    """What to do about a plan with errors: fix them, or leave the hosts out, in the
    exact words of this invocation (a saved plan is made again without them)."""
    bad = [h for h in plan.hosts if h.errored]
    bad_names = {h.name for h in bad}
    kept = [t for t in options.targets if t.split("/", 1)[0] not in bad_names]  # a named host is dropped
    if options.targets and not kept:
        return "Fix them; every host this apply was limited to has one."
    selection: list[str] = []
    for target in kept:
        selection += ["--target", target]
    for pattern in options.exclude:
        selection += ["--exclude", pattern]
    without = list(selection)
    for h in bad:
        if not options.targets or any(fnmatch.fnmatchcase(h.name, t.split("/", 1)[0]) for t in kept):
            without += ["--exclude", h.name]
    if options.plan_file:
        replan = command('plan', *without, '--out', str(options.plan_file))
        return f"Fix them, or plan again without those hosts: {replan}"
    hint = f"Fix them, or leave those hosts out: {command('apply', *without)}"
    if bad and all(h.status == "unreachable" for h in bad):
        hint += f" (or skip every host that cannot be read: {command('apply', *selection, '--allow-unreachable')})"
    return hint


async def _execute(workspace: Workspace, options: ApplyOptions, plan: Plan, ledger: Ledger, conn: Connection,
                   sink: EventSink, clock: Clock, rollout: Rollout, settled: SettleReport, stopper: _Stopper,
                   run_id: str) -> RunSummary:
    from hwfw.apply.imageserver import ImageServer

    blocked = settled.blocked
    runnable = replace(plan, steps=tuple(s for s in plan.steps if s.host not in blocked), _graph=None)
    entries = _entries(workspace, runnable)
    started = utc_now_iso(clock)
    transfers = TransferAudit(ledger, conn.hosts)
    async with ImageServer(workspace.settings, clock, events=FanOutSink(sink, transfers), run_id=run_id) as server:
        images = StoreImages(workspace, fetch=options.sync, server=server,
                             warn=ApplyEvents(sink, clock, run_id).warning)
        await images.ensure_all(entries)
        executor = Executor(runnable, workspace, ledger, drivers_for(conn, server), images,
                            events=sink, clock=clock,
                            options=ExecOptions(run_id=run_id, on_failure=options.on_failure
                                                or workspace.settings.policies.on_failure,
                                                allow_pending=options.allow_pending, rollout=rollout))
        for host, why in sorted(blocked.items()):
            executor.outcomes[host] = HostOutcome(HOST_REFUSED, why)
            executor.events.host_finished(host, executor.outcomes[host])
        for host, why in sorted(_skipped_unreachable(plan).items()):
            executor.outcomes[host] = HostOutcome(HOST_SKIPPED, why)
            executor.events.host_finished(host, executor.outcomes[host])
        with stopper.executing(executor):
            summary = await executor.run()
    await transfers.flush()
    _record_run(ledger, run_id, started, utc_now_iso(clock), summary)
    await ledger.commit()
    return summary


def _entries(workspace: Workspace, plan: Plan) -> list[RepositoryEntry]:
    seen: dict[str, RepositoryEntry] = {}
    for s in plan.steps:
        if s.kind == "flash" and s.image is not None and s.image.id not in seen:
            entry = workspace.repository.get(s.image.id)
            if entry is None:
                raise HwfwError(f"image {s.image.id!r} of the plan is not in the repository",
                                hint="the repository changed since the plan was made; plan again")
            seen[s.image.id] = entry
    return list(seen.values())


def _record_run(ledger: Ledger, run_id: str, started: str, finished: str, summary: RunSummary) -> None:
    runs = list(ledger.checkpoints.get("runs", []))
    runs.append({"run_id": run_id, "started": started, "finished": finished, "exit_code": summary.exit_code,
                 "hosts": {h: o.status for h, o in sorted(summary.hosts.items())}})
    ledger.checkpoints["runs"] = runs[-RUNS_KEPT:]
    ledger.touch()
