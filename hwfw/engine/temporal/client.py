"""The client side of the Temporal engine: start a rollout, follow it, list, show and
stop rollouts.

Following reads the workflows' queries, never their state files: the rollout's
`progress` (its events and the hosts in flight) and each host's `events`, merged into
one stream in the local engine's order (a host's step events before its
host-finished), so `hwfw apply --engine temporal` shows the same live view and JSON
events as the local engine, from any machine that reaches the Temporal service, as
often as anyone likes (`hwfw run attach`). Following is only reading: stopping it
(Ctrl-C) leaves the rollout running; `stop_rollout` (hwfw run cancel) stops it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from hwfw.errors import HwfwError
from hwfw.events import Event, EventSink, guarded
from hwfw.logs import get_logger

from .model import (
    CONTROL_QUEUE,
    ROLLOUT_WORKFLOW,
    RolloutInput,
    RolloutResult,
    host_workflow_id,
    rollout_workflow_id,
    run_id_of,
)

__all__ = ["Follower", "RolloutInfo", "describe_rollout", "event_of", "list_rollouts", "rollout_exists",
           "start_rollout", "stop_rollout"]

log = get_logger("engine.temporal.client")

QUERY_TIMEOUT = timedelta(seconds=10)
_ENVELOPE = ("type", "time", "run_id", "format_version", "host", "step_id", "image", "sha256")


def event_of(doc: Mapping[str, Any]) -> Event:
    """An event back from its JSON document (hwfw.events.Event.to_json)."""
    return Event(name=doc["type"], time=doc["time"], run_id=doc.get("run_id", ""), host=doc.get("host"),
                 step_id=doc.get("step_id"), image=doc.get("image"), sha256=doc.get("sha256"),
                 payload={k: v for k, v in doc.items() if k not in _ENVELOPE})


async def start_rollout(client: Client, inp: RolloutInput, memo: Mapping[str, Any]) -> WorkflowHandle[Any, Any]:
    """Start the rollout of a run; an id already running is refused by Temporal."""
    return await client.start_workflow(ROLLOUT_WORKFLOW, inp, id=rollout_workflow_id(inp.run_id),
                                       task_queue=CONTROL_QUEUE, memo={"hwfw": dict(memo)}, result_type=RolloutResult)


def _handle(client: Client, run_id: str) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(rollout_workflow_id(run_id), result_type=RolloutResult)


class Follower:
    """Follows one rollout, emitting its events to `sink` (see the module docstring)."""

    def __init__(self, client: Client, run_id: str, sink: EventSink | None, *, poll: float = 0.3,
                 warn: Any = None) -> None:
        self.client = client
        self.run_id = run_id
        self.sink = guarded(sink)
        self.poll = poll
        self.warn = warn
        self.seq = 0
        self.host_seq: dict[str, int] = {}
        self.silent_since: float | None = None

    async def follow(self, stop: asyncio.Event | None = None) -> RolloutResult | None:
        """Until the rollout ends (its result) or `stop` is set (None)."""
        handle = _handle(self.client, self.run_id)
        loop = asyncio.get_running_loop()
        while stop is None or not stop.is_set():
            progress = await self._query(handle, "progress", self.seq)
            if progress is not None:
                self.silent_since = None
                await self._emit(progress)
                if progress["result"] is not None:
                    return await handle.result()
            elif await self._closed(handle):
                return await handle.result()
            else:
                self.silent_since = self.silent_since or loop.time()
                if loop.time() - self.silent_since > QUERY_TIMEOUT.total_seconds() and self.warn is not None:
                    self.warn("no hwfw worker answers for the workflows (queue hwfw.control): start one with "
                              "`hwfw worker`; the rollout waits for it")
                    self.silent_since = loop.time()
            await _wait(stop, self.poll)
        return None

    async def _emit(self, progress: Mapping[str, Any]) -> None:
        for doc in progress["events"]:
            if doc["type"] == "host-finished":
                await self._host(doc["host"])
            self.sink.emit(event_of(doc))
            self.seq += 1
        self.seq = max(self.seq, progress["last"])
        for host in list(progress["running"]):
            await self._host(host)

    async def _host(self, host: str) -> None:
        child = self.client.get_workflow_handle(host_workflow_id(self.run_id, host))
        got = await self._query(child, "events", self.host_seq.get(host, 0))
        if got is None:
            return
        for doc in got["events"]:
            self.sink.emit(event_of(doc))
        self.host_seq[host] = max(self.host_seq.get(host, 0), got["last"])

    async def _query(self, handle: WorkflowHandle[Any, Any], name: str, arg: Any) -> Any:
        try:
            return await handle.query(name, arg, rpc_timeout=QUERY_TIMEOUT)
        except (TimeoutError, RPCError) as exc:
            log.debug("query %s of %s: %s", name, handle.id, exc)
            return None
        except Exception as exc:  # WorkflowQueryFailedError and friends: a host not started yet
            log.debug("query %s of %s: %s", name, handle.id, exc)
            return None

    async def _closed(self, handle: WorkflowHandle[Any, Any]) -> bool:
        try:
            desc = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise HwfwError(f"no rollout {self.run_id} on this Temporal service ({exc.message})",
                                hint="list them with: hwfw run list") from None
            return False   # the service is restarting or unreachable: keep waiting for it
        return desc.status not in (None, WorkflowExecutionStatus.RUNNING)


async def _describe(handle: WorkflowHandle[Any, Any], run_id: str) -> Any:
    try:
        return await handle.describe()
    except RPCError as exc:
        raise HwfwError(f"no rollout {run_id} on this Temporal service ({exc.message})",
                        hint="list them with: hwfw run list") from None


async def _wait(stop: asyncio.Event | None, seconds: float) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


@dataclass(frozen=True)
class RolloutInfo:
    """One rollout as `hwfw run list|show` shows it."""

    run_id: str
    status: str                   # running | succeeded | failed | interrupted
    started: datetime | None
    finished: datetime | None
    hosts: int
    workspace: str
    started_by: str
    exit_code: int | None = None
    counts: Mapping[str, int] | None = None
    detail: str = ""


def _status(status: WorkflowExecutionStatus | None, exit_code: int | None) -> str:
    if status == WorkflowExecutionStatus.RUNNING:
        return "running"
    if status == WorkflowExecutionStatus.COMPLETED:
        return "succeeded" if exit_code == 0 else "interrupted" if exit_code == 130 else "failed"
    if status in (WorkflowExecutionStatus.CANCELED, WorkflowExecutionStatus.TERMINATED):
        return "interrupted"
    return "failed"


async def list_rollouts(client: Client, *, workspace: str | None = None, limit: int = 50) -> list[RolloutInfo]:
    """Rollouts on the service, newest first (those of `workspace` only, when given)."""
    query = f"WorkflowType = '{ROLLOUT_WORKFLOW}' AND ExecutionStatus != 'ContinuedAsNew'"
    out: list[RolloutInfo] = []
    async for ex in client.list_workflows(query, limit=limit * 4):
        run_id = run_id_of(ex.id)
        if run_id is None:
            continue
        memo = (await ex.memo()).get("hwfw") or {}
        if workspace is not None and memo.get("workspace") != workspace:
            continue
        code = await _exit_code(client, run_id) if ex.status == WorkflowExecutionStatus.COMPLETED else None
        out.append(RolloutInfo(run_id=run_id, status=_status(ex.status, code),
                               started=_first_start(memo, ex.start_time), finished=ex.close_time,
                               hosts=int(memo.get("hosts", 0)),
                               workspace=str(memo.get("workspace", "")), started_by=str(memo.get("started_by", "")),
                               exit_code=code))
        if len(out) >= limit:
            break
    out.sort(key=lambda r: r.started or datetime.min, reverse=True)
    return out


def _first_start(memo: Mapping[str, Any], fallback: datetime | None) -> datetime | None:
    started = memo.get("started")
    if isinstance(started, str):
        try:
            return datetime.fromisoformat(started.replace("Z", "+00:00"))
        except ValueError:
            pass
    return fallback


async def _exit_code(client: Client, run_id: str) -> int | None:
    try:
        result: RolloutResult = await _handle(client, run_id).result()
    except Exception:  # failed or terminated: no result
        return None
    return result.exit_code


async def describe_rollout(client: Client, run_id: str) -> RolloutInfo:
    """One rollout, with its counts so far (running) or its result (ended)."""
    handle = _handle(client, run_id)
    desc = await _describe(handle, run_id)
    memo = (await desc.memo()).get("hwfw") or {}
    counts: Mapping[str, int] | None = None
    exit_code: int | None = None
    detail = ""
    if desc.status == WorkflowExecutionStatus.RUNNING:
        progress = await handle.query("progress", 0, rpc_timeout=QUERY_TIMEOUT)
        counts = {"finished": progress["finished"], "in_flight": len(progress["running"]),
                  "hosts": progress["hosts"]}
        detail = f"{progress['finished']}/{progress['hosts']} hosts finished, {len(progress['running'])} in flight"
    elif desc.status == WorkflowExecutionStatus.COMPLETED:
        result: RolloutResult = await handle.result()
        counts, exit_code, detail = result.counts, result.exit_code, result.error
    return RolloutInfo(run_id=run_id, status=_status(desc.status, exit_code),
                       started=_first_start(memo, desc.start_time), finished=desc.close_time,
                       hosts=int(memo.get("hosts", 0)),
                       workspace=str(memo.get("workspace", "")), started_by=str(memo.get("started_by", "")),
                       exit_code=exit_code, counts=counts, detail=detail)


async def rollout_exists(client: Client, run_id: str) -> bool:
    """Was the rollout of this run started on the service (running or ended)? RPCError
    when the service cannot tell (unreachable)."""
    try:
        await _handle(client, run_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def stop_rollout(client: Client, run_id: str, *, force: bool = False) -> None:
    """hwfw run cancel: the rollout's `stop` signal (see hwfw.engine.temporal.workflows)."""
    handle = _handle(client, run_id)
    desc = await _describe(handle, run_id)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise HwfwError(f"rollout {run_id} has ended; nothing to cancel", hint=f"see it with: hwfw run show {run_id}")
    await handle.signal("stop", force)
