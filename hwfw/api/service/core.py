"""`FirmwareService`: hwfw as a long-running service over one workspace.

Everything `hwfw serve` offers, without HTTP: the fleet status, the offline gate and a
live compliance check, plans (made, decided, applied, resumed), runs (started through
an engine, followed, cancelled), the repository and its sync, one host's view, the
audit trail and API tokens. The HTTP server (hwfw/server) only authenticates, parses,
calls these methods and renders their JSON; another front end could do the same.

    async with FirmwareService.open("fleet/") as service:
        plan = await service.create_plan(principal, {"targets": ["rack1-*"]})
        ...

Parts other work builds on: `hub` (every run's events and record changes, for streams,
metrics, notifications), `observers` (notifications, metrics and the scheduled
compliance scan: observe.py), `scheduler` (periodic tasks: `every(name, seconds, job)`),
`runs.after_run` (hooks run when a run ends, before its final status is recorded),
`engines` (what executes runs; settings.server.engine picks one).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfw import __version__
from hwfw.clock import Clock, SystemClock, utc_now_iso
from hwfw.errors import ConflictError, NotFoundError
from hwfw.logs import redactor
from hwfw.state.lock import operator
from hwfw.state.serverstore import ApprovalRecord, PlanRecord, RunRecord, ServerStore, TokenRecord, open_server_store

from ..engines import Engine, default_engines
from ..workspace import Workspace, open_workspace
from .fleet import FleetView
from .hub import EventHub
from .observe import ServiceObservers
from .plans import PlanDesk
from .runs import RunManager, Streamed
from .tasks import Scheduler
from .tokens import Principal, authenticate, create_token
from .watch import WorkspaceWatcher

if TYPE_CHECKING:
    from hwfw.config.model import Settings
    from hwfw.config.model import Workspace as Config
    from hwfw.plan.model import Plan

__all__ = ["FirmwareService", "local_principal"]

TOKEN_CACHE_SECONDS = 5.0


def local_principal() -> Principal:
    """The user running hwfw on this machine (the CLI's principal)."""
    return Principal(operator(), "local")


class FirmwareService:
    """See the module docstring. Build it with `FirmwareService.open(path)`."""

    def __init__(self, workspace: Workspace, config: Config, store: ServerStore, *, clock: Clock | None = None,
                 engines: Mapping[str, Engine] | None = None) -> None:
        self.workspace = workspace
        self._config = config
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.hub = EventHub()
        settings = config.settings.server
        self.engines = dict(engines or default_engines(settings.apply_in, config.settings))
        self.scheduler = Scheduler(self.clock)
        self.fleet = FleetView(workspace, self.clock)
        self.runs = RunManager(workspace, store, self.hub, self.engines, self.clock, engine=settings.engine)
        self.plans = PlanDesk(workspace, store, self.runs, self.load, self.clock,
                              two_person_rule=lambda: self._config.settings.server.two_person_rule)
        self.watcher = WorkspaceWatcher(workspace.path, self._validate, lambda: utc_now_iso(self.clock))
        self.started = utc_now_iso(self.clock)
        self._tokens: dict[str, tuple[float, Principal | None]] = {}
        self.token_cache_seconds = TOKEN_CACHE_SECONDS
        self._background: set[asyncio.Task[Any]] = set()
        self.observers = ServiceObservers(self, config, self.clock)

    # ------------------------------------------------------------------ life cycle

    @classmethod
    @asynccontextmanager
    async def open(cls, path: str | Path, *, insecure: bool = False, ca_bundle: str | Path | None = None,
                   clock: Clock | None = None, scan: bool = True) -> AsyncIterator[FirmwareService]:
        """Open the workspace at `path` (it must load), its store, recover interrupted
        runs, start watching; `scan` reads the fleet once in the background."""
        workspace = open_workspace(path, insecure=insecure, ca_bundle=ca_bundle, clock=clock)
        config = await asyncio.to_thread(workspace.load)
        store = open_server_store(config.settings)
        service = cls(workspace, config, store, clock=clock)
        try:
            await service.start(scan=scan)
            yield service
        finally:
            await service.stop()

    async def start(self, *, scan: bool = True) -> None:
        await self.runs.recover()
        self.watcher.on_change(self._files_changed)
        await self.watcher.check()
        self.scheduler.every("watch", self._config.settings.server.watch_interval, self.watcher.check)
        self.runs.after_run.append(self._after_run)
        self.scheduler.start()
        self.observers.start()
        if scan:
            self.background(self.scan_fleet())

    async def stop(self) -> None:
        await self.scheduler.stop()
        await self.runs.shutdown()
        await self.observers.stop()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            try:
                await task
            except BaseException:   # cancelled or failed: nothing left to report at shutdown
                pass
        await self.store.aclose()

    def background(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    @property
    def settings(self) -> Settings:
        """The settings of the workspace as last loaded."""
        return self._config.settings

    def load(self) -> Config:
        """The workspace as it is now (ConfigError when it does not load); remembered
        as the last good one."""
        self._config = self.workspace.load()
        return self._config

    async def _validate(self) -> tuple[bool, list[dict[str, Any]], list[Path]]:
        report = await self.workspace.validate()
        files = list(report.config.files.values()) if report.config is not None else []
        if report.config is not None:
            self._config = report.config
        return report.ok, [json.loads(redactor(json.dumps(p))) for p in report.to_json()], files

    async def _files_changed(self, _view: Any) -> None:
        await self.fleet.rebuild()

    async def _after_run(self, record: RunRecord) -> None:
        if record.kind == "apply":
            await self.fleet.scan()

    async def scan_fleet(self) -> bool:
        """Read the fleet now unless a run or another live read is going on (False then)."""
        if self.runs.current() is not None or self.runs.live.locked():
            return False
        async with self.runs.live:
            await self.fleet.scan()
        return True

    # ------------------------------------------------------------------ tokens

    async def authenticate(self, token: str) -> Principal | None:
        """The principal of a bearer token (cached a few seconds: a revocation takes
        effect within `token_cache_seconds`)."""
        now = time.monotonic()
        cached = self._tokens.get(token)
        if cached is not None and now - cached[0] < self.token_cache_seconds:
            return cached[1]
        principal = await authenticate(self.store, token)
        if len(self._tokens) > 10000:
            self._tokens.clear()
        self._tokens[token] = (now, principal)
        return principal

    async def create_token(self, *, name: str, role: str, created_by: str) -> tuple[str, TokenRecord]:
        text, record = await create_token(self.store, name=name, role=role, created_by=created_by, clock=self.clock)
        await self.runs.audit(created_by, "token-created", record.token_id, name=name, role=role)
        return text, record

    # ------------------------------------------------------------------ status and checks

    def status(self) -> dict[str, Any]:
        """The fleet summary (served from memory)."""
        active = self.runs.current()
        current = None
        if active is not None:
            current = {**active.record.to_json(), "progress": {"last_seq": active.recorder.last_seq,
                                                               "counts": active.recorder.progress.counts()}}
        return {"workspace": {"path": str(self.workspace.path), **self.watcher.view.to_json()},
                **self.fleet.status_part(), "current_run": current, "scan": self.observers.last_scan,
                "server": {"version": __version__, "engine": self.runs.engine, "started": self.started}}

    async def check(self, *, live: bool = False) -> dict[str, Any]:
        """`hwfw check --format json`, or with `live` a fresh inventory and `hwfw
        compliance --format json` (the fleet view is updated with it)."""
        if not live:
            from ..formats import format_check_report

            return dict(json.loads(format_check_report(await self.workspace.check(), "json")))
        async with self.runs.live_operation("read the fleet"):
            await self.fleet.scan()
        if self.fleet.report is None:
            raise ConflictError(f"the fleet could not be read: {self.fleet.error}", hint="see the server's log")
        return self.fleet.report

    # ------------------------------------------------------------------ plans and runs

    async def create_plan(self, principal: Principal, body: Mapping[str, Any]) -> PlanRecord:
        async with self.runs.live_operation("make a plan"):
            return await self.plans.create(principal, dict(body))

    async def plan(self, plan_id: str) -> dict[str, Any]:
        return await self.plans.view(plan_id)

    async def plan_value(self, plan_id: str) -> Plan:
        return self.plans.document(await self.plans.get(plan_id)).plan

    async def list_plans(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.plans.summaries(limit)

    async def decide(self, principal: Principal, plan_id: str, verdict: str = "approved",
                     comment: str = "") -> ApprovalRecord:
        return await self.plans.decide(principal, plan_id, verdict, comment)

    async def start_update(self, principal: Principal, plan_id: str) -> RunRecord:
        return await self.plans.apply(principal, plan_id)

    async def resume(self, principal: Principal, run_id: str) -> RunRecord:
        return await self.plans.resume(principal, run_id)

    async def cancel(self, principal: Principal, run_id: str, *, force: bool = False) -> RunRecord:
        return await self.runs.cancel(principal, run_id, force=force)

    async def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The runs, newest first: `{"run": record, "resumable": bool}` each."""
        return [self._run_view(r) for r in await self.store.list_runs(limit=limit)]

    async def run(self, run_id: str) -> dict[str, Any]:
        """One run: its record, whether it can be resumed, and its progress (per host,
        each step's state, timings and errors)."""
        view = self._run_view(await self.runs.get(run_id))
        view["progress"] = (await self.runs.progress(run_id)).to_json()
        return view

    def _run_view(self, record: RunRecord) -> dict[str, Any]:
        active = self.runs.current()
        if active is not None and active.record.run_id == record.run_id:
            record = active.record
        resumable = record.status == "interrupted" and record.kind == "apply" and record.plan_id is not None
        return {"run": record.to_json(), "resumable": resumable}

    def follow(self, run_id: str, after: int = 0) -> AsyncGenerator[Streamed, None]:
        """The run's events numbered above `after`, then live ones until it ends
        (`Streamed`: seq, event, its JSON text, when it was published)."""
        return self.runs.follow(run_id, after)

    # ------------------------------------------------------------------ repository

    async def start_sync(self, principal: Principal, *, all_images: bool = False) -> RunRecord:
        run = await self.runs.start_sync(principal, all_images=all_images)
        await self.runs.audit(principal.display, "sync-started", run.run_id, all_images=all_images)
        return run

    async def repository(self) -> dict[str, Any]:
        images = await self.workspace.repository.images()
        active = self.runs.current()
        sync = None
        if active is not None and active.record.kind == "sync":
            sync = {**active.record.to_json(), "progress": active.recorder.progress.to_json()}
        return {"cache": str(await self.workspace.repository.cache_root()),
                "images": [i.to_json() for i in images], "sync": sync}

    # ------------------------------------------------------------------ hosts and audit

    def hosts(self, *, status: Sequence[str] = (), baseline: str | None = None, query: str | None = None,
              critical: bool | None = None) -> list[dict[str, Any]]:
        return self.fleet.hosts(status=status, baseline=baseline, query=query, critical=critical)

    async def host(self, name: str) -> dict[str, Any]:
        config = self._config
        host = config.host(name)
        if host is None:
            raise NotFoundError(f"no host {name} in the workspace's inventory",
                                hint="GET /api/firmware/hosts lists the hosts")
        runs = [r.to_json() for r in await self.store.list_runs(limit=200) if name in r.hosts][:20]
        audit = await self.workspace.state.audit_entries(host=name, limit=100)
        settings = {"bmc": redactor(host.bmc), "protocol": host.protocol, "vendor": host.vendor,
                    "model": host.model, "labels": dict(host.labels),
                    "baselines": [b.name for b in config.baselines_for(host)]}
        return {"name": name, "settings": settings, "compliance": self.fleet.host_report(name),
                "inventory": self.fleet.host_inventory(name), "runs": runs, "audit": audit}

    async def audit(self, *, limit: int = 200, target: str | None = None) -> list[dict[str, Any]]:
        return [a.to_json() for a in await self.store.audit(limit=limit, target=target)]

    async def record(self, principal: Principal, action: str, target: str, **detail: Any) -> None:
        """Add an entry to the server's audit trail (sign-in and sign-out, for instance)."""
        await self.runs.audit(principal.display, action, target, **detail)
