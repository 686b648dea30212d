"""`Workspace.runs`: the runs of a workspace, whatever engine ran them (`hwfw run ...`).

Runs are recorded in the workspace's run store (hwfw.state.serverstore, the one `hwfw
serve` keeps its runs in): a local run started by the CLI with the process running it
(`owner`; hwfw.api.service.record), a Temporal run once its rollout started (here,
`recorder`). `list` and `show` read the store and, for Temporal runs, ask the Temporal
service how they stand
(also rollouts of the namespace started elsewhere); `cancel` stops a run: a Temporal
rollout by its `stop` signal, a local run by SIGTERM to its process (its own cancel
semantics: first, nothing new starts; again, in-flight steps stop); `attach` follows a
Temporal rollout (a local run's events go to the terminal that started it).
"""

from __future__ import annotations

import builtins
import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hwfw.cancel import CancelToken
from hwfw.clock import Clock, utc_now_iso
from hwfw.errors import HwfwError, StaleStateError
from hwfw.state.lock import operator
from hwfw.state.serverstore import RunRecord, ServerStore, open_server_store

from .engines import process_identity
from .runs import EventTarget, event_sink
from .temporal import TemporalTarget, follow_rollout, temporal_client

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyResult
    from hwfw.config.model import Workspace as Config

__all__ = ["RunRow", "RunsAccess", "run_status"]


def run_status(exit_code: int) -> str:
    return "succeeded" if exit_code == 0 else "interrupted" if exit_code == 130 else "failed"


@dataclass(frozen=True)
class RunRow:
    """One run as `hwfw run list|show` shows it."""

    run_id: str
    engine: str
    status: str
    started: str | None
    finished: str | None
    hosts: int | None = None
    exit_code: int | None = None
    started_by: str = ""
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "engine": self.engine, "status": self.status, "started": self.started,
                "finished": self.finished, "hosts": self.hosts, "exit_code": self.exit_code,
                "started_by": self.started_by, "detail": self.detail}


def _alive(owner: dict[str, Any] | None) -> bool:
    if not owner or owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
        return False
    return process_identity(owner["pid"]) == owner.get("started")


class RunsAccess:
    """See the module docstring."""

    def __init__(self, load: Callable[[], Config], clock: Clock) -> None:
        self._load = load
        self.clock = clock

    @contextlib.asynccontextmanager
    async def _store(self, config: Config) -> AsyncIterator[ServerStore]:
        store = open_server_store(config.settings)
        try:
            yield store
        finally:
            await store.aclose()

    def recorder(self, run_id: str) -> Callable[..., Awaitable[None]]:
        """`record(status, engine, finished=None)`: create or update this run's record."""

        async def record(status: str, engine: str, *, finished: str | None = None) -> None:
            async with self._store(self._load()) as store:
                current = await store.get_run(run_id)
                if current is None:
                    now = utc_now_iso(self.clock)
                    pid = os.getpid()
                    owner = {"pid": pid, "host": socket.gethostname(), "started": process_identity(pid) or ""} \
                        if engine == "local" else None
                    await store.create_run(RunRecord(run_id=run_id, plan_id=None, status=status, started=now,
                                                     created=now, created_by=operator(), engine=engine, owner=owner))
                    return
                with contextlib.suppress(StaleStateError):
                    await store.update_run(replace(current, status=status, finished=finished, engine=engine),
                                           expected_version=current.version)

        return record

    async def _get(self, config: Config, run_id: str) -> RunRecord | None:
        async with self._store(config) as store:
            return await store.get_run(run_id)

    async def list(self, *, limit: int = 50, temporal: TemporalTarget | None = None) -> list[RunRow]:
        """Newest first: the run log, Temporal rollouts' states refreshed from the service
        (and rollouts of its namespace this log does not know)."""
        config = self._load()
        async with self._store(config) as store:
            records = await store.list_runs(limit=limit)
        rows = [self._row(r) for r in records]
        if any(r.engine == "temporal" for r in records) or config.settings.engine == "temporal" or temporal:
            rows = await self._with_temporal(config, rows, limit, temporal)
        return sorted(rows, key=lambda r: r.started or "", reverse=True)[:limit]

    def _row(self, r: RunRecord) -> RunRow:
        status = r.status
        if r.engine == "local" and status == "running" and not _alive(r.owner):
            status = "interrupted"   # its process is gone: killed; the next apply settles what it left
        return RunRow(run_id=r.run_id, engine=r.engine, status=status, started=r.started, finished=r.finished,
                      started_by=f"pid {r.owner['pid']}" if r.owner else "")

    async def _with_temporal(self, config: Config, rows: builtins.list[RunRow], limit: int,
                             target: TemporalTarget | None) -> builtins.list[RunRow]:
        from hwfw.engine.temporal.client import list_rollouts

        try:
            client = await temporal_client(config.settings, target)
        except HwfwError as exc:
            return [replace(r, detail=f"Temporal unreachable: {exc.message}") if r.engine == "temporal" else r
                    for r in rows]
        found = {info.run_id: info for info in await list_rollouts(client, limit=limit)}
        out = []
        for r in rows:
            info = found.pop(r.run_id, None) if r.engine == "temporal" else None
            out.append(r if info is None else _from_info(info))
        return out + [_from_info(info) for info in found.values()]

    async def show(self, run_id: str, *, temporal: TemporalTarget | None = None) -> RunRow:
        config = self._load()
        record = await self._get(config, run_id)
        if record is not None and record.engine == "local":
            return self._row(record)
        from hwfw.engine.temporal.client import describe_rollout

        client = await temporal_client(config.settings, temporal)
        return _from_info(await describe_rollout(client, run_id))

    async def cancel(self, run_id: str, *, force: bool = False, temporal: TemporalTarget | None = None) -> str:
        """Stop a run (see the module docstring); what was done, for people."""
        config = self._load()
        record = await self._get(config, run_id)
        if record is not None and record.engine == "local":
            return self._cancel_local(record, force)
        from hwfw.engine.temporal.client import stop_rollout

        client = await temporal_client(config.settings, temporal)
        await stop_rollout(client, run_id, force=force)
        return (f"Asked rollout {run_id} to stop: " + ("in-flight steps stop where they are" if force else
                "nothing new starts, in-flight steps finish (cancel again, or --force, to stop them too)"))

    def _cancel_local(self, record: RunRecord, force: bool) -> str:
        if record.status != "running" or not _alive(record.owner):
            raise HwfwError(f"run {record.run_id} is not running", hint=f"see it with: hwfw run show {record.run_id}")
        pid = int(record.owner["pid"])  # type: ignore[index]
        for _ in range(2 if force else 1):
            os.kill(pid, signal.SIGTERM)
        return f"Sent SIGTERM{' twice' if force else ''} to the apply of run {record.run_id} (pid {pid})"

    async def attach(self, run_id: str, *, on_event: EventTarget | None = None, cancel: CancelToken | None = None,
                     temporal: TemporalTarget | None = None) -> ApplyResult:
        """Follow a Temporal rollout from its retained events to its end; `cancel` stops
        following only."""
        config = self._load()
        record = await self._get(config, run_id)
        if record is not None and record.engine == "local":
            raise HwfwError(f"run {run_id} runs on the local engine: its events go to the terminal that started it",
                            hint="attach follows runs on Temporal (hwfw apply --engine temporal)")
        client = await temporal_client(config.settings, temporal)
        result = await follow_rollout(client, run_id, event_sink(on_event), cancel, clock=self.clock)
        if record is not None and not result.extra.get("detached"):
            await self.recorder(run_id)(run_status(result.exit_code), "temporal", finished=utc_now_iso(self.clock))
        return result


def _from_info(info: Any) -> RunRow:
    iso = (lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ") if d is not None else None)  # noqa: E731
    return RunRow(run_id=info.run_id, engine="temporal", status=info.status, started=iso(info.started),
                  finished=iso(info.finished), hosts=info.hosts or None, exit_code=info.exit_code,
                  started_by=info.started_by, detail=info.detail)
