"""hwfw's public Python API: everything the CLI does, as typed coroutines.

    import asyncio
    from hwfw.api import ApplyOptions, open_workspace

    async def main() -> None:
        ws = open_workspace("examples/lab")
        plan = await ws.plan()
        print(plan.plan.summary.line())
        result = await ws.apply(plan, ApplyOptions(auto_approve=True), on_event=print)
        print(result.exit_code, result.summary.line() if result.summary else result.message)

    asyncio.run(main())

`open_workspace(path)` gives a `Workspace`: `validate()`, `inventory()`, `plan()`
(a `PlanDocument`: `save()` it, `load_plan()` it back), `apply()` / `start_apply()`
(a `RunHandle` with a run id and `cancel()`), `sync_repository()`, `check()`,
`compliance()`, `state` (list, show, force_unlock) and `repository` (images, verify,
gc, add, import). Results are the library's own typed values (re-exported here) and
their `to_json()` documents follow the schemas in `schemas/`. Events are
`hwfw.events.Event`s given to `on_event` (a sink or a function). A `CancelToken`
stops an operation with the semantics of SIGTERM. `FirmwareManager` is a three-call
facade for provisioning systems. The simulator is in `hwfw.api.sim`.

The CLI (and the HTTP server) use nothing but this package, hwfw.render and the
foundation modules (tests/test_layers.py). Names are imported when first used, so
`import hwfw.api` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_EXPORTS: dict[str, str] = {
    # the API itself
    "Workspace": "hwfw.api.workspace", "open_workspace": "hwfw.api.workspace",
    "ValidationReport": "hwfw.api.workspace", "InventorySource": "hwfw.api.workspace",
    "PlanDocument": "hwfw.api.plans", "load_plan": "hwfw.api.plans",
    "RunHandle": "hwfw.api.runs", "ApplyRun": "hwfw.api.runs", "EventTarget": "hwfw.api.runs",
    "StateAccess": "hwfw.api.state", "StateRow": "hwfw.api.state", "StateView": "hwfw.api.state",
    "Migrated": "hwfw.api.state",
    "RepositoryAccess": "hwfw.api.repository", "ImageRow": "hwfw.api.repository",
    "SyncResult": "hwfw.api.repository", "CacheReport": "hwfw.api.repository",
    "DEFAULT_SYNC_PARALLELISM": "hwfw.api.repository", "catalog_readers": "hwfw.api.repository",
    "read_inventory_snapshot": "hwfw.api.snapshots", "write_inventory_snapshot": "hwfw.api.snapshots",
    "write_document": "hwfw.api.snapshots",
    "format_check_report": "hwfw.api.formats", "ACTIVATIONS": "hwfw.api.formats",
    "parse_duration": "hwfw.api.formats", "display_path": "hwfw.api.formats",
    "FirmwareManager": "hwfw.api.manager",
    "TemporalTarget": "hwfw.api.temporal", "TemporalApplyRun": "hwfw.api.temporal",
    "RunsAccess": "hwfw.api.history", "RunRow": "hwfw.api.history",
    "serve_worker": "hwfw.api.site_worker", "WorkerInfo": "hwfw.api.site_worker",
    # cancellation and events
    "CancelToken": "hwfw.cancel", "Event": "hwfw.events", "EventSink": "hwfw.events",
    "JsonLinesSink": "hwfw.events", "CallbackSink": "hwfw.events", "FanOutSink": "hwfw.events",
    # result types of the layers below
    "ApplyOptions": "hwfw.apply.run", "ApplyResult": "hwfw.apply.run",
    "RunSummary": "hwfw.apply.events", "HostOutcome": "hwfw.apply.events", "StepOutcome": "hwfw.apply.events",
    "Plan": "hwfw.plan.model", "HostPlan": "hwfw.plan.model", "Change": "hwfw.plan.model",
    "Step": "hwfw.plan.model",
    "Inventory": "hwfw.inventory.model", "HostInventory": "hwfw.inventory.model",
    "CheckReport": "hwfw.compliance.gate", "ComplianceReport": "hwfw.compliance.report",
    "State": "hwfw.state.model", "ComponentRecord": "hwfw.state.model", "LockInfo": "hwfw.state.lock",
    "SyncReport": "hwfw.repository.sync", "AddResult": "hwfw.repository.add", "ImportReport": "hwfw.repository.add",
    "Problem": "hwfw.errors",
}

__all__ = ["ACTIVATIONS", "AddResult", "ApplyOptions", "ApplyResult", "ApplyRun", "CacheReport", "CallbackSink",
           "CancelToken", "Change", "CheckReport", "ComplianceReport", "ComponentRecord",
           "DEFAULT_SYNC_PARALLELISM", "Event", "EventSink", "EventTarget", "FanOutSink", "FirmwareManager",
           "HostInventory", "HostOutcome", "HostPlan", "ImageRow", "ImportReport", "Inventory", "InventorySource",
           "JsonLinesSink", "LockInfo", "Migrated", "Plan", "PlanDocument", "Problem", "RepositoryAccess",
           "RunHandle", "RunRow", "RunSummary", "RunsAccess", "State", "StateAccess", "StateRow", "StateView", "Step",
           "StepOutcome",
           "SyncReport", "SyncResult", "TemporalApplyRun", "TemporalTarget", "ValidationReport", "WorkerInfo",
           "Workspace", "catalog_readers", "display_path", "format_check_report", "load_plan", "open_workspace",
           "parse_duration", "read_inventory_snapshot", "serve_worker", "write_document", "write_inventory_snapshot"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hwfw.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from hwfw.api.formats import ACTIVATIONS, display_path, format_check_report, parse_duration
    from hwfw.api.history import RunRow, RunsAccess
    from hwfw.api.manager import FirmwareManager
    from hwfw.api.plans import PlanDocument, load_plan
    from hwfw.api.repository import (
        DEFAULT_SYNC_PARALLELISM,
        CacheReport,
        ImageRow,
        RepositoryAccess,
        SyncResult,
        catalog_readers,
    )
    from hwfw.api.runs import ApplyRun, EventTarget, RunHandle
    from hwfw.api.site_worker import WorkerInfo, serve_worker
    from hwfw.api.snapshots import read_inventory_snapshot, write_document, write_inventory_snapshot
    from hwfw.api.state import Migrated, StateAccess, StateRow, StateView
    from hwfw.api.temporal import TemporalApplyRun, TemporalTarget
    from hwfw.api.workspace import InventorySource, ValidationReport, Workspace, open_workspace
    from hwfw.apply.events import HostOutcome, RunSummary, StepOutcome
    from hwfw.apply.run import ApplyOptions, ApplyResult
    from hwfw.cancel import CancelToken
    from hwfw.compliance.gate import CheckReport
    from hwfw.compliance.report import ComplianceReport
    from hwfw.errors import Problem
    from hwfw.events import CallbackSink, Event, EventSink, FanOutSink, JsonLinesSink
    from hwfw.inventory.model import HostInventory, Inventory
    from hwfw.plan.model import Change, HostPlan, Plan, Step
    from hwfw.repository.add import AddResult, ImportReport
    from hwfw.repository.sync import SyncReport
    from hwfw.state.lock import LockInfo
    from hwfw.state.model import ComponentRecord, State
