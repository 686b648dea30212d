"""`Workspace`: one hwfw workspace (the directory holding hwfw.yaml) and what can be done with it.

Every operation of the CLI is a method here; the CLI, and later the HTTP server, only
parse, call and render. Methods are coroutines (the inventory, plan and apply talk to
BMCs concurrently; file work runs in a thread so a server's event loop stays free).
The workspace files are read afresh by each operation, so an edit (a `git pull`) is
seen by the next call. Hints in the errors an operation raises name the workspace as
the caller gave it (hwfw/invocation.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, TypeVar

from hwfw import __version__, invocation
from hwfw.cancel import CancelToken
from hwfw.clock import Clock, SystemClock, utc_now_iso
from hwfw.config.loader import display_path, find_root
from hwfw.config.model import Workspace as Config
from hwfw.connect import check_workspace, load_workspace, read_live_inventory, select_hosts
from hwfw.errors import HwfwError, Interrupted, Problem
from hwfw.events import EventSink, FanOutSink

from .history import RunsAccess, run_status
from .plans import PlanDocument, load_plan
from .repository import DEFAULT_SYNC_PARALLELISM, RepositoryAccess, SyncResult
from .runs import ApplyRun, EventTarget, cancellable, event_sink, new_run_id
from .snapshots import read_inventory_snapshot
from .state import StateAccess, read_state
from .temporal import TemporalApplyRun, TemporalTarget, start_temporal_apply

# The apply, planning and compliance stacks (HTTP clients, drivers, networkx) are
# imported by the methods that use them: `hwfw validate` does not pay for them.
if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions, ApplyResult, Confirm
    from hwfw.compliance.gate import CheckReport
    from hwfw.compliance.report import ComplianceReport
    from hwfw.inventory.collect import NeedsPreflight
    from hwfw.inventory.model import Inventory
    from hwfw.plan.model import Plan

__all__ = ["RecordRun", "RunRecording", "ValidationReport", "Workspace", "open_workspace"]

T = TypeVar("T")
# Where a command gets the fleet: None reads the BMCs, a Path is a snapshot file.
InventorySource: TypeAlias = "Inventory | Path | None"


@dataclass(frozen=True)
class ValidationReport:
    """`validate()`: every problem (errors and warnings) and whether the workspace loads."""

    problems: tuple[Problem, ...]
    config: Config | None

    @property
    def ok(self) -> bool:
        return self.config is not None

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    def to_json(self) -> list[dict[str, object]]:
        return [p.to_json() for p in self.problems]


def open_workspace(path: str | Path = ".", *, insecure: bool = False, ca_bundle: str | Path | None = None,
                   clock: Clock | None = None) -> Workspace:
    """The workspace at `path`; WorkspaceNotFound when it holds no hwfw.yaml. See `Workspace`."""
    ws = Workspace(path, insecure=insecure, ca_bundle=ca_bundle, clock=clock)
    find_root(ws.path)
    return ws


class RunRecording(Protocol):
    """Records one run somewhere (hwfw.api.service.record: the workspace's run store).
    Entering gives the event sink to add to the run's (None: not recorded)."""

    async def __aenter__(self) -> EventSink | None: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def finish(self, status: str, *, message: str = "") -> None: ...


# `record=` of apply: (the loaded workspace, the run's id, the clock) -> its recording.
RecordRun: TypeAlias = "Callable[[Config, str, Clock], RunRecording]"


async def _recorded(recording: RunRecording, events: EventSink | None,
                    execute: Callable[[EventSink | None], Awaitable[ApplyResult]]) -> ApplyResult:
    """`execute` with its events and its end also given to `recording`."""
    from hwfw.events import FanOutSink

    async with recording as recorder:
        sinks = [s for s in (events, recorder) if s is not None]
        try:
            result = await execute(FanOutSink(*sinks) if sinks else None)
        except Interrupted as exc:
            await recording.finish("interrupted", message=exc.message)
            raise
        except HwfwError as exc:
            await recording.finish("failed", message=exc.message)
            raise
        await recording.finish(run_status(result.exit_code), message=result.message)
        return result


async def _unrecorded(status: str, engine: str, *, finished: str | None = None) -> None:
    """The run log of a Temporal run whose caller keeps its record."""


def _exactly(options: ApplyOptions) -> None:
    """A saved plan is applied exactly: what would change it is part of making it."""
    given = [name for name, value in (("--exclude", options.exclude), ("--accept-unknown", options.accept_unknown),
                                      ("--allow-unreachable", options.allow_unreachable)) if value]
    if given:
        again = invocation.command("plan", "--out", str(options.plan_file or "PLAN"))
        raise HwfwError(f"{', '.join(given)} cannot change a saved plan: it is applied exactly as it was made",
                        hint=f"give them to {again} instead, then apply that plan")


class Workspace:
    """One workspace. `insecure` turns BMC certificate verification off (a lab only);
    `ca_bundle` is the CA bundle for every BMC that does not name its own (it replaces
    settings.ca_bundle); `clock` (hwfw/clock.py) times every operation (tests inject a
    virtual one)."""

    def __init__(self, path: str | Path = ".", *, insecure: bool = False, ca_bundle: str | Path | None = None,
                 clock: Clock | None = None) -> None:
        self.path = Path(path).resolve()
        self.insecure = insecure
        self.ca_bundle = Path(ca_bundle).resolve() if ca_bundle is not None else None
        self.clock: Clock = clock or SystemClock()
        self.state = StateAccess(self.load)
        self.repository = RepositoryAccess(self.path, self.load, clock)
        self.runs = RunsAccess(self.load, self.clock)

    def __repr__(self) -> str:
        return f"Workspace({str(self.path)!r})"

    @property
    def display(self) -> str:
        """The workspace as messages name it (relative to the current directory when inside it)."""
        return display_path(self.path) or "."

    # ------------------------------------------------------------------ loading

    def load(self) -> Config:
        """The workspace, loaded and checked; ConfigError lists every problem."""
        with invocation.using(self.path):
            config = load_workspace(self.path)
        if self.ca_bundle is not None:
            config = dataclasses.replace(config, settings=dataclasses.replace(config.settings,
                                                                               ca_bundle=self.ca_bundle))
        return config

    def _engine_setting(self) -> str:
        """settings.engine of hwfw.yaml, read on its own (the run loads and checks the whole
        workspace, and reports a broken file)."""
        from hwfw.config.yamlio import loads, read_text

        try:
            doc = loads(read_text(find_root(self.path)))
        except (HwfwError, OSError, ValueError):
            return "local"
        settings = doc.get("settings") if isinstance(doc, dict) else None
        engine = settings.get("engine") if isinstance(settings, dict) else None
        return engine if engine == "temporal" else "local"

    async def _in_thread(self, func: Callable[[], T]) -> T:
        with invocation.using(self.path):
            return await asyncio.to_thread(func)

    async def validate(self, *, verify_images: bool = False) -> ValidationReport:
        """Every file against its schema and rules, every problem at once; also that every
        image a baseline needs can be obtained (`verify_images` hashes every local source
        file, not only small ones)."""
        config, problems = await self._in_thread(
            lambda: check_workspace(self.path, images=True, verify_images=verify_images))
        return ValidationReport(tuple(problems), config)

    # ------------------------------------------------------------------ reading the fleet

    async def inventory(self, *, targets: Sequence[str] = (), exclude: Sequence[str] = (),
                        cancel: CancelToken | None = None) -> Inventory:
        """Read every selected BMC (read-only). `targets`: host names or globs (a
        `HOST/COMPONENT` target selects its host); `exclude`: host globs left out. A host
        that cannot be read is in the result with `reachable=False` and why."""
        config = await self._in_thread(self.load)

        async def body() -> Inventory:
            return await read_live_inventory(config, targets=targets, exclude=exclude, insecure=self.insecure,
                                             clock=self.clock)

        with invocation.using(self.path):
            return await cancellable(body, cancel, "inventory")

    async def _fleet(self, config: Config, source: InventorySource, targets: Sequence[str],
                     exclude: Sequence[str], cancel: CancelToken | None, what: str) -> Inventory:
        fleet: Inventory = await self._with_fleet(config, source, targets, exclude, cancel, what)
        return fleet

    async def _with_fleet(self, config: Config, source: InventorySource, targets: Sequence[str],
                          exclude: Sequence[str], cancel: CancelToken | None, what: str,
                          needs_preflight: NeedsPreflight | None = None,
                          then: Callable[[Inventory], Any] | None = None) -> Any:
        """The fleet's inventory, or `then(inventory)`: read live, `then` runs while the
        BMC sessions are logged out; `needs_preflight` picks the hosts whose pre-flight
        facts are read (default: all)."""
        if source is not None:
            fleet = read_inventory_snapshot(source, targets=targets, exclude=exclude) if isinstance(source, Path) \
                else source
            return fleet if then is None else then(fleet)

        async def body() -> Any:
            return await read_live_inventory(config, targets=targets, exclude=exclude, insecure=self.insecure,
                                             clock=self.clock, needs_preflight=needs_preflight, then=then)

        return await cancellable(body, cancel, what)

    # ------------------------------------------------------------------ plan

    async def plan(self, *, targets: Sequence[str] = (), exclude: Sequence[str] = (),
                   accept_unknown: Iterable[tuple[str, str]] = (), allow_unreachable: bool = False,
                   parallelism: int | None = None, inventory: InventorySource = None, lock: bool = True,
                   cancel: CancelToken | None = None) -> PlanDocument:
        """What apply would do, in what order, with how many reboots. Read-only.

        `targets` (HOST or HOST/COMPONENT globs) and `exclude` (host globs) select;
        `accept_unknown` (host glob, component) pairs may be flashed over an unknown
        version; `allow_unreachable` makes unreadable hosts warnings instead of errors;
        `inventory` plans offline against a snapshot (a path) or an Inventory;
        `lock` holds the workspace lock while the state and the fleet are read."""
        from hwfw.config.digests import input_digests
        from hwfw.plan import needs_preflight
        from hwfw.plan import plan as make_plan

        config = await self._in_thread(self.load)
        with invocation.using(self.path):
            select_hosts(config, targets, exclude)  # a typo in a host pattern fails before any BMC is read
            accepted = tuple(accept_unknown)
            async with read_state(config, operation="plan", lock=lock) as state:
                def planned(fleet: Inventory) -> Plan:
                    return make_plan(config, fleet, state, targets=targets, exclude=exclude,
                                     accept_unknown=accepted, allow_unreachable=allow_unreachable,
                                     parallelism=parallelism or config.settings.parallelism)

                # Pre-flight facts (job queues, pending BIOS settings...) only for hosts with
                # steps; the plan is made while the BMC sessions are logged out.
                triage = needs_preflight(config, state, targets=targets, accept_unknown=accepted, exclude=exclude)
                result: Plan = await self._with_fleet(config, inventory, targets, exclude, cancel, "plan",
                                                      needs_preflight=triage, then=planned)
            doc = result.to_json(utc_now_iso(self.clock), input_digests(config), __version__)
        return PlanDocument(result, doc)

    def load_plan(self, path: Path) -> PlanDocument:
        """A saved plan (`plan --out`); see hwfw.api.load_plan."""
        with invocation.using(self.path):
            return load_plan(path)

    # ------------------------------------------------------------------ apply

    def start_apply(self, plan: PlanDocument | Path | None = None, options: ApplyOptions | None = None, *,
                    on_event: EventTarget | None = None, on_plan: Callable[[Plan], None] | None = None,
                    confirm: Confirm | None = None, cancel: CancelToken | None = None,
                    observe: Callable[[Any], None] | None = None, record: RecordRun | None = None,
                    engine: str | None = None, temporal: TemporalTarget | None = None, detach: bool = False,
                    tuning: dict[str, Any] | None = None, recorded: bool = True) -> ApplyRun | TemporalApplyRun:
        """Start an apply in the background (on the running event loop); returns its
        handle at once. See `apply` for the arguments; `engine` (default settings.engine),
        `temporal`, `detach` and `tuning` are those of hwfw.api.temporal. A Temporal run
        is recorded in the run store unless `recorded=False` (hwfw serve keeps its own
        runs' records)."""
        from hwfw.apply.run import ApplyOptions, run_apply

        options = options or ApplyOptions()
        run_id = options.run_id or new_run_id()
        options = dataclasses.replace(options, run_id=run_id, insecure=options.insecure or self.insecure)
        token = cancel or CancelToken()
        saved = self.load_plan(plan) if isinstance(plan, Path) else plan
        if saved is not None:
            options = dataclasses.replace(options, plan_file=saved.path or options.plan_file)
            _exactly(options)
        engine = engine or self._engine_setting()
        if detach and engine != "temporal":
            raise HwfwError("--detach needs the temporal engine: a local apply runs in this process",
                            hint="add --engine temporal (or set settings.engine: temporal)")
        if engine == "temporal":
            async def load() -> Config:
                return await self._in_thread(self.load)

            with invocation.using(self.path):
                return start_temporal_apply(load, run_id, options, token, saved=saved, sink=event_sink(on_event),
                                            on_plan=on_plan, confirm=confirm, observe=observe, clock=self.clock,
                                            target=temporal, detach=detach,
                                            record=self.runs.recorder(run_id) if recorded else _unrecorded,
                                            tuning=tuning)

        async def execute(config: Config, events: EventSink | None) -> ApplyResult:
            with invocation.using(self.path):
                task = asyncio.ensure_future(run_apply(
                    config, options, events=events, confirm=confirm, show=on_plan, clock=self.clock,
                    cancel=token, saved_plan=saved.document if saved is not None else None, observe=observe))
                try:
                    return await task
                except asyncio.CancelledError:
                    me = asyncio.current_task()
                    if task.cancelled() and token.cancelled and (me is None or not me.cancelling()):
                        raise Interrupted("apply interrupted before any update was sent; nothing changed on "
                                          "the BMCs", hint="run it again when you are ready") from None
                    raise

        async def start() -> ApplyResult:
            config = await self._in_thread(self.load)
            if record is None:
                return await execute(config, event_sink(on_event))
            return await _recorded(record(config, run_id, self.clock), event_sink(on_event),
                                   lambda events: execute(config, events))

        return ApplyRun(run_id, token, start)

    async def apply(self, plan: PlanDocument | Path | None = None, options: ApplyOptions | None = None, *,
                    on_event: EventTarget | None = None, on_plan: Callable[[Plan], None] | None = None,
                    confirm: Confirm | None = None, cancel: CancelToken | None = None,
                    observe: Callable[[Any], None] | None = None, record: RecordRun | None = None,
                    metrics_file: Path | None = None, engine: str | None = None,
                    temporal: TemporalTarget | None = None, detach: bool = False) -> ApplyResult:
        """Bring the fleet to its baselines: settle what an interrupted run left open,
        plan (or take `plan`, a saved plan, checked for staleness), show it to `on_plan`,
        ask `confirm` (unless `options.auto_approve`; None: no question), flash, reset,
        verify. Events (hwfw/events.py) go to `on_event`, a sink or a function. `cancel`
        stops it with the semantics of SIGTERM (hwfw/cancel.py); before anything is sent
        a cancel raises Interrupted. `record` also records the run and its events (the CLI
        passes hwfw.api.service.record.record_apply: the workspace's run store, where
        `hwfw serve` and `hwfw run` list it). Returns the run's result (`exit_code`, `summary`).

        `engine="temporal"` (or settings.engine) hands the confirmed plan to a rollout
        workflow on the Temporal service `temporal` names (default settings.temporal)
        and follows it to its end; `detach` returns once it started. There, `cancel`
        only stops following: the rollout goes on (hwfw.api.temporal); the run is
        recorded in the run store whatever `record` is.

        settings.notifications get the run's alerts (hwfw.api.observe; queued ones are
        waited for at most the longest target timeout); `metrics_file` receives the
        run's metrics in node_exporter's textfile format when it ends."""
        from .observe import RunObservers

        config = await self._in_thread(self.load)
        observers = RunObservers(config, clock=self.clock, workspace_name=self.display, metrics_file=metrics_file)
        mine = event_sink(on_event)
        sinks = ([mine] if mine is not None else []) + observers.sinks
        observers.start()
        try:
            run = self.start_apply(plan, options, on_event=FanOutSink(*sinks) if len(sinks) > 1 else mine,
                                   on_plan=on_plan, confirm=confirm, cancel=cancel, observe=observe, record=record,
                                   engine=engine, temporal=temporal, detach=detach)
            return await run.wait()
        finally:
            await observers.close()

    async def notify_test(self, target: str | None = None) -> list[dict[str, Any]]:
        """Send a test message to every target of settings.notifications (or the one
        named): [{"target", "url" (privacy form), "ok", "error"}]; a failure is also an
        audit log entry. NotFoundError for no such target, CredentialError when its URL
        cannot be resolved."""
        from .observe import send_test

        config = await self._in_thread(self.load)
        return await send_test(config, clock=self.clock, workspace_name=self.display, target=target)

    # ------------------------------------------------------------------ repository, gate, report

    async def sync_repository(self, *, all_images: bool = False, parallelism: int = DEFAULT_SYNC_PARALLELISM,
                              on_event: EventTarget | None = None, cancel: CancelToken | None = None,
                              run_id: str | None = None) -> SyncResult:
        """Fetch the images the baselines reference into the cache (see RepositoryAccess.sync)."""
        with invocation.using(self.path):
            return await self.repository.sync(all_images=all_images, parallelism=parallelism, on_event=on_event,
                                              cancel=cancel, run_id=run_id)

    async def check(self, *, base_ref: str | None = None, inventory: InventorySource = None, strict: bool = False,
                    verify_images: bool = False) -> CheckReport:
        """The offline pre-merge gate: everything validate checks, plus satisfiable
        baselines, stepping stones, obtainable images, sequences, critical images,
        downgrades against `base_ref` (a Git revision) and the fleet in `inventory` (a
        snapshot). Never contacts a BMC."""
        from hwfw.compliance.gate import run_check

        fleet = read_inventory_snapshot(inventory) if isinstance(inventory, Path) else inventory
        name = display_path(inventory) if isinstance(inventory, Path) else None
        return await self._in_thread(lambda: run_check(self.path, base_ref=base_ref, inventory=fleet,
                                                       inventory_name=name, strict=strict,
                                                       verify_images=verify_images))

    async def compliance(self, *, targets: Sequence[str] = (), exclude: Sequence[str] = (),
                         inventory: InventorySource = None, cancel: CancelToken | None = None,
                         notify: bool = True) -> ComplianceReport:
        """Per baseline and component: hosts compliant, behind, ahead, unknown, missing,
        unreachable. Reads every selected BMC, or uses `inventory` (a snapshot). With
        `notify` (and settings.notifications), hosts behind a critical image are alerted."""
        from hwfw.compliance.report import build_report

        config = await self._in_thread(self.load)
        with invocation.using(self.path):
            chosen = [h.name for h in select_hosts(config, targets, exclude)] if targets or exclude else []
            fleet = await self._fleet(config, inventory, targets, exclude, cancel, "compliance report")
            snapshot = display_path(inventory) if isinstance(inventory, Path) else None
            report = build_report(config, fleet, generated_at=utc_now_iso(self.clock), workspace_name=self.display,
                                  source="snapshot" if snapshot else "live", snapshot=snapshot, targets=chosen)
        if config.settings.notifications and notify:
            from .observe import notify_report

            await notify_report(config, report.to_json(__version__), clock=self.clock, workspace_name=self.display)
        return report

