"""The state writer: the one process that writes a Temporal rollout's results.

`hwfw apply --engine temporal` plans under the workspace lock, writes the run's host
file (`RUNTIME_DIR/runs/RUN/hosts.jsonl`, one line per host in plan order), releases the
lock and starts the rollout. The worker started with `--state-writer`, on the machine
that holds the workspace state, then serves the queue `hwfw.state`:

* `begin_run` takes the workspace lock for the run (operation `apply (temporal run
  RUN)`) and keeps it until `finish_run`, so a local apply or a second rollout is
  refused at once, naming the holder, as with the local engine. It refuses a state
  that changed since the plan (lineage and serial), and records the run in the state's
  run list with the outcomes decided before the run (refused, skipped hosts).
* `load_hosts` reads the host file a slice at a time for the rollout, as briefs (what
  its rules read: a host's estimate and out-of-service time, not its plan); `load_host`
  reads one host for its host workflow, with its component records and checkpoint as
  the state holds them now.
* `record_hosts` writes what the pieces of hosts that ended did into the state, then
  resolves the intents those pieces resolved, then appends their audit entries: the
  ledger's own order. Each host workflow records its own host; calls that arrive while
  a write is under way are written together by the next one (group commit: one write
  for all of them, not one per host).
* `finish_run` closes the run's entry and releases the lock.

If this worker restarts mid-run, the next of these activities takes the lock again and
reopens the state. Its activities are retried until they succeed, except for a stale
plan or a workspace locked by someone else at the start (the run then ends, nothing
done).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hwfw.apply.ledger import Ledger
from hwfw.apply.run import RUNS_KEPT
from hwfw.apply.scheduler import host_shape
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import Workspace
from hwfw.errors import HwfwError, LockHeldError
from hwfw.logs import get_logger
from hwfw.plan.model import Step
from hwfw.state.backend import make_backend
from hwfw.state.files import atomic_write_bytes
from hwfw.state.model import ComponentRecord

from .model import HOST_EXTRA, BeginRun, FinishRun, HostBrief, HostSpec, LoadHost, LoadHosts, RecordHosts

__all__ = ["StateActivities", "StateKeeper", "host_file", "write_host_file"]

log = get_logger("engine.temporal.control")


def run_dir(workspace: Workspace, run_id: str) -> Path:
    return workspace.settings.runtime_dir / "runs" / run_id


def host_file(workspace: Workspace, run_id: str) -> Path:
    return run_dir(workspace, run_id) / "hosts.jsonl"


def write_host_file(workspace: Workspace, run_id: str, specs: list[HostSpec]) -> Path:
    """The run's hosts, in plan order, one JSON line each (written once, atomically)."""
    path = host_file(workspace, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(asdict(spec), sort_keys=True, separators=(",", ":")) for spec in specs)
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())
    return path


class GroupCommit:
    """Commits of one ledger by many callers: a caller's changes are written by the first
    commit that starts after it asked, and a commit under way takes along every caller
    that asked meanwhile (one write for all).

    A write costs time in proportion to the whole state (thousands of hosts: a tenth of
    a second, holding the interpreter lock), so when callers keep asking, the next write
    waits until writes have had at most WRITE_SHARE of the time: the worker's workflows
    and steps keep the rest (a host's end is recorded a little later, in a larger batch)."""

    WRITE_SHARE = 0.25

    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock
        self._asked: list[asyncio.Future[None]] = []
        self._writer: asyncio.Task[None] | None = None

    async def commit(self) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._asked.append(done)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write())
        await asyncio.shield(done)

    async def _write(self) -> None:
        while self._asked:
            batch, self._asked = self._asked, []
            began = self.clock.monotonic()
            try:
                await self.ledger.commit()
            except BaseException as exc:  # noqa: BLE001 - each caller gets it (its activity is retried)
                for f in batch:
                    if not f.done():
                        f.set_exception(exc)
                continue
            for f in batch:
                if not f.done():
                    f.set_result(None)
            if self._asked:
                took = self.clock.monotonic() - began
                await self.clock.sleep(took * (1 / self.WRITE_SHARE - 1))


@dataclass
class _OpenRun:
    run_id: str
    ledger: Ledger
    stack: AsyncExitStack
    offsets: list[int] | None = None      # byte offset of each line of the host file
    group: GroupCommit | None = None

    def writer(self, clock: Clock) -> GroupCommit:
        if self.group is None:
            self.group = GroupCommit(self.ledger, clock)
        return self.group


class StateKeeper:
    """The run this worker holds the workspace for (at most one at a time)."""

    def __init__(self, workspace: Workspace, clock: Clock | None = None) -> None:
        self.workspace = workspace
        self.clock = clock or SystemClock()
        self.current: _OpenRun | None = None

    async def open(self, run_id: str) -> _OpenRun:
        if self.current is not None:
            if self.current.run_id == run_id:
                return self.current
            raise LockHeldError(f"the workspace is held by the rollout {self.current.run_id}",
                                hint=f"wait for it to end, or stop it: hwfw run cancel {self.current.run_id}")
        settings = self.workspace.settings
        stack = AsyncExitStack()
        try:
            backend = make_backend(settings)
            stack.push_async_callback(backend.aclose)
            await stack.enter_async_context(backend.lock(f"apply (temporal run {run_id})"))
            ledger = await Ledger.open(backend, settings, run_id, self.clock)
        except BaseException:
            await stack.aclose()
            raise
        self.current = _OpenRun(run_id, ledger, stack)
        return self.current

    async def close(self, run_id: str) -> None:
        if self.current is not None and self.current.run_id == run_id:
            current, self.current = self.current, None
            await current.stack.aclose()

    async def aclose(self) -> None:
        if self.current is not None:
            await self.close(self.current.run_id)


def _runs(ledger: Ledger) -> list[dict[str, Any]]:
    return ledger.checkpoints.setdefault("runs", [])


def _entry(ledger: Ledger, run_id: str) -> dict[str, Any]:
    for entry in _runs(ledger):
        if entry.get("run_id") == run_id:
            return entry
    raise HwfwError(f"run {run_id} is not in the state's run list", hint="a bug: begin_run records it")


def _fatal(exc: HwfwError, kind: str) -> ApplicationError:
    return ApplicationError(exc.message + (f" (hint: {exc.hint})" if exc.hint else ""), type=kind,
                            non_retryable=True)


class StateActivities:
    """The state writer's activities (see the module docstring)."""

    def __init__(self, keeper: StateKeeper) -> None:
        self.keeper = keeper

    @property
    def workspace(self) -> Workspace:
        return self.keeper.workspace

    @activity.defn(name="hwfw.begin_run")
    async def begin_run(self, call: BeginRun) -> None:
        try:
            run = await self.keeper.open(call.run_id)
        except LockHeldError as exc:
            raise _fatal(exc, "WorkspaceLocked") from None
        ledger = run.ledger
        if any(e.get("run_id") == call.run_id for e in _runs(ledger)):
            return  # a retry, or the worker restarted: recorded already
        if (ledger.lineage, ledger.serial) != (call.lineage, call.serial):
            await self.keeper.close(call.run_id)
            raise ApplicationError(
                f"the state changed since the plan was made (serial {call.serial}, now {ledger.serial}); nothing "
                "was applied (hint: plan and apply again)", type="StalePlan", non_retryable=True)
        presets = {}
        for spec in self._read(run, 0, None):
            if spec.preset is not None:
                presets[spec.host] = spec.preset["status"]
        runs = _runs(ledger)
        runs.append({"run_id": call.run_id, "engine": "temporal", "started": call.started, "finished": None,
                     "exit_code": None, "hosts": presets})
        ledger.checkpoints["runs"] = runs[-RUNS_KEPT:]
        ledger.touch()
        await ledger.commit()

    @activity.defn(name="hwfw.load_hosts")
    async def load_hosts(self, call: LoadHosts) -> list[HostBrief]:
        run = await self.keeper.open(call.run_id)
        out = []
        for index, spec in enumerate(self._read(run, call.offset, call.limit), start=call.offset):
            shape = host_shape(spec.host, [Step.from_json(s) for s in spec.steps])
            out.append(HostBrief(host=spec.host, index=index, steps=len(spec.steps),
                                 estimate=shape.estimate_seconds, downtime=shape.downtime_seconds,
                                 preset=spec.preset))
        return out

    @activity.defn(name="hwfw.load_host")
    async def load_host(self, call: LoadHost) -> HostSpec:
        run = await self.keeper.open(call.run_id)
        specs = self._read(run, call.index, 1)
        if not specs:
            raise ApplicationError(f"the run's host file has no line {call.index}", type="NoHostFile",
                                   non_retryable=True)
        spec = specs[0]
        spec.records = {k: r.to_json() for k, r in run.ledger.hosts.get(spec.host, {}).items()}
        spec.checkpoint = run.ledger.checkpoint(spec.host)
        spec.extra = {section: (run.ledger.extra.get(section) or {})[spec.host] for section in HOST_EXTRA
                      if spec.host in (run.ledger.extra.get(section) or {})}
        return spec

    def _read(self, run: _OpenRun, offset: int, limit: int | None) -> list[HostSpec]:
        path = host_file(self.workspace, run.run_id)
        try:
            with path.open("rb") as fh:
                if run.offsets is None:
                    run.offsets = _line_offsets(fh)
                if offset >= len(run.offsets):
                    return []
                fh.seek(run.offsets[offset])
                count = len(run.offsets) - offset if limit is None else min(limit, len(run.offsets) - offset)
                return [HostSpec(**json.loads(fh.readline())) for _ in range(count)]
        except FileNotFoundError:
            raise ApplicationError(f"the run's host file {path} is missing: the state writer must run where the "
                                   "rollout was planned (it holds the workspace state)", type="NoHostFile",
                                   non_retryable=True) from None

    @activity.defn(name="hwfw.record_hosts")
    async def record_hosts(self, call: RecordHosts) -> None:
        run = await self.keeper.open(call.run_id)
        ledger = run.ledger
        outcomes = _entry(ledger, call.run_id)["hosts"]
        for item in call.hosts:
            for key, doc in item.records.items():
                ledger.put(item.host, key, ComponentRecord(**doc))
            if item.checkpoint is not None:
                ledger.set_checkpoint(item.host, item.checkpoint)
            for section, value in item.extra.items():
                held = ledger.extra.get(section)
                if not isinstance(held, dict):
                    held = ledger.extra[section] = {}
                held[item.host] = value   # in place: a copy of the section per host costs O(hosts)
            outcomes[item.host] = item.outcome["status"]
        ledger.touch()
        await run.writer(self.keeper.clock).commit()
        # each entry is its own durable append; a batch's are independent of one another,
        # so they go together (the order that matters: the records above, then the
        # resolutions, then the audit entries)
        await asyncio.gather(*(ledger.resolve(r["intent"], r["outcome"], **r["details"])
                               for item in call.hosts for r in item.resolutions))
        await asyncio.gather(*(ledger.audit(**entry) for item in call.hosts for entry in item.audit))

    @activity.defn(name="hwfw.finish_run")
    async def finish_run(self, call: FinishRun) -> None:
        run = await self.keeper.open(call.run_id)
        entry = _entry(run.ledger, call.run_id)
        entry.update(finished=call.finished, exit_code=call.exit_code)
        run.ledger.touch()
        await run.ledger.commit()
        await self.keeper.close(call.run_id)

    def activities(self) -> list[Callable[..., Any]]:
        return [self.begin_run, self.load_hosts, self.load_host, self.record_hosts, self.finish_run]


def _line_offsets(fh: Any) -> list[int]:
    offsets, pos = [], 0
    for line in fh:
        if line.strip():
            offsets.append(pos)
        pos += len(line)
    return offsets
