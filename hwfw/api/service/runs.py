"""`RunManager`: the runs a server starts, follows, cancels and resumes, on any engine.

A run is created in the store (`queued`), started through its engine
(hwfw.api.engines), marked `running`, and supervised: when its handle finishes, every
event is flushed to the store, the hooks run (the server re-reads the fleet after an
apply), and the record gets its final status, summary and message. Every record change
is a compare-and-set and is published on the hub, so streams, metrics and
notifications see it.

One run at a time per server: a second start gets ConflictError naming the first; an
apply of another process holding the workspace lock is named too. When the server
starts, a run recorded as running whose engine no longer runs it (the server was
killed) is marked interrupted; resuming it settles what it left open on the BMCs and
continues (hwfw.apply.resume), without flashing anything twice. A run of an engine
whose runs outlive the server (a Temporal rollout) that is still alive is followed
again (`attach`): its new events continue its numbering, and its end is recorded as
if the server had never stopped. Stopping the server detaches from such a run
instead of cancelling it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import json
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from hwfw.cancel import CancelToken
from hwfw.clock import Clock, utc_now_iso
from hwfw.errors import ConflictError, HwfwError, NotFoundError
from hwfw.events import Event
from hwfw.logs import get_logger, redactor
from hwfw.state.serverstore import TERMINAL, AuditRecord, RunRecord, ServerStore

from ..engines import Engine
from ..runs import RunHandle, new_run_id
from .hub import EventHub, HubMessage
from .progress import RunProgress
from .recorder import RunRecorder
from .tokens import Principal

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions

    from ..plans import PlanDocument
    from ..workspace import Workspace

__all__ = ["ActiveRun", "RunManager", "Streamed"]

log = get_logger("api.runs")

INTERRUPTED_BY_RESTART = ("the server stopped while this run was in progress; resume it to settle what it left "
                          "open on the BMCs and continue")
SERVER = "hwfw serve"


class Streamed(NamedTuple):
    """One event of a followed run: its number, the event, its JSON text, and when it was
    published (None for events read back from the store)."""

    seq: int
    event: dict[str, Any]
    text: str
    published: float | None = None


def _text(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _stored_item(seq: int, event: dict[str, Any]) -> Streamed:
    return Streamed(seq, event, _text(event))


@dataclass
class ActiveRun:
    record: RunRecord
    handle: RunHandle
    recorder: RunRecorder
    supervisor: asyncio.Task[None] | None = None


class RunManager:
    def __init__(self, workspace: Workspace, store: ServerStore, hub: EventHub, engines: Mapping[str, Engine],
                 clock: Clock, *, engine: str = "local") -> None:
        self.workspace = workspace
        self.store = store
        self.hub = hub
        self.engines = engines
        self.engine = engine
        self.clock = clock
        self.after_run: list[Callable[[RunRecord], Awaitable[None]]] = []
        self._active: dict[str, ActiveRun] = {}
        self._starting = asyncio.Lock()
        self.live = asyncio.Lock()     # held while a plan or a scan reads the BMCs
        self.queue_size = 1024         # per streaming client; a slower one catches up from the store

    # ------------------------------------------------------------------ records

    def now(self) -> str:
        return utc_now_iso(self.clock)

    async def get(self, run_id: str) -> RunRecord:
        active = self._active.get(run_id)
        if active is not None:
            return active.record
        record = await self.store.get_run(run_id)
        if record is None:
            raise NotFoundError(f"no run {run_id}", hint="GET /api/firmware/runs lists the runs")
        return record

    async def _set(self, record: RunRecord, **changes: Any) -> RunRecord:
        new = await self.store.update_run(dataclasses.replace(record, **changes), expected_version=record.version)
        active = self._active.get(new.run_id)
        if active is not None:
            active.record = new
        self.hub.publish(HubMessage(new.run_id, 0, None, run=new.to_json()))
        return new

    async def audit(self, principal: str, action: str, target: str, **detail: Any) -> None:
        await self.store.add_audit(AuditRecord(self.now(), principal, action, target, detail))

    def current(self) -> ActiveRun | None:
        return next(iter(self._active.values()), None)

    async def recover(self) -> list[RunRecord]:
        """Mark interrupted every run recorded as queued or running whose engine (one of this
        server's) no longer runs it; follow again the runs a server started on an engine
        that keeps them alive (`attach`). Returns the runs marked interrupted."""
        out = []
        for record in await self.store.list_runs(limit=1000, statuses=("queued", "running")):
            engine = self.engines.get(record.engine)
            if engine is None:
                continue   # not ours to judge
            alive = engine.alive(record)
            if inspect.isawaitable(alive):
                alive = await alive
            if not alive:
                out.append(await self._set(record, status="interrupted", finished=self.now(),
                                           message=INTERRUPTED_BY_RESTART))
                await self.audit(SERVER, "run-interrupted", record.run_id, reason="server restart")
            elif hasattr(engine, "attach") and record.plan_id is not None and not self._active:
                await self._attach(engine, record)   # a server's run (the CLI follows its own)
        return out

    async def _attach(self, engine: Any, record: RunRecord) -> None:
        """Follow again a run this server started before it stopped: the events it
        recorded are not recorded twice, new ones continue their numbering."""
        progress = RunProgress()
        seen: Counter[str] = Counter()
        last = 0
        async for batch in self._stored(record.run_id, 0, 5000):
            for item in batch:
                progress.apply(item.seq, item.event)
                seen[_key(item.event)] += 1
                last = item.seq
        recorder = RunRecorder(record.run_id, self.store, self.hub, first_seq=last + 1)
        recorder.progress = progress
        handle = engine.attach(self.workspace, record, on_event=_Unseen(recorder, seen), cancel=CancelToken())
        active = ActiveRun(record, handle, recorder)
        self._active[record.run_id] = active
        active.supervisor = asyncio.ensure_future(self._supervise(active))
        await self.audit(SERVER, "run-attached", record.run_id, engine=record.engine)

    # ------------------------------------------------------------------ starting

    @asynccontextmanager
    async def live_operation(self, what: str) -> AsyncIterator[None]:
        """Read the BMCs (a plan, a live check) after any other read has finished (they
        are short), while no run goes on (ConflictError naming it otherwise)."""
        async with self.live:
            await self.ensure_idle(what)
            yield

    async def _check_free(self, what: str) -> None:
        active = self.current()
        if active is not None:
            r = active.record
            raise ConflictError(f"cannot {what}: run {r.run_id} ({r.kind} by {r.created_by}, {r.status}) holds the "
                                "workspace", hint=f"wait for it to end, or cancel it: POST /api/firmware/runs/"
                                                  f"{r.run_id}/cancel")

    async def ensure_idle(self, what: str) -> None:
        """ConflictError naming the holder when a run of this server, or an apply of
        another process (the workspace lock), holds the workspace."""
        await self._check_free(what)
        holder = await self.workspace.state.lock_info()
        if holder is not None:
            raise ConflictError(f"cannot {what}: the workspace is locked: {holder.describe()}",
                                hint="wait for that run to end")

    async def start_apply(self, principal: Principal, plan: PlanDocument, options: ApplyOptions, *, plan_id: str,
                          rollout: dict[str, Any], resumed_from: str | None = None) -> RunRecord:
        async with self._starting, self.live:
            await self.ensure_idle("start a run")
            engine = self.engines[self.engine]
            run_id = new_run_id()
            hosts = tuple(sorted({str(s["host"]) for s in plan.document.get("steps", ())}))
            record = RunRecord(run_id=run_id, plan_id=plan_id, status="queued", kind="apply", engine=engine.name,
                               created=self.now(), created_by=principal.display, rollout=rollout,
                               hosts=hosts or tuple(h["name"] for h in plan.document.get("hosts", ())),
                               resumed_from=resumed_from, owner=engine.owner())
            await self.store.create_run(record)
            recorder = RunRecorder(run_id, self.store, self.hub)
            options = dataclasses.replace(options, run_id=run_id)
            handle = engine.start_apply(self.workspace, plan, options, on_event=recorder, cancel=CancelToken(),
                                        principal=principal.display)
            return await self._started(record, handle, recorder)

    async def start_sync(self, principal: Principal, *, all_images: bool) -> RunRecord:
        async with self._starting, self.live:
            await self._check_free("sync the repository")
            engine = self.engines[self.engine]
            if "sync" not in getattr(engine, "kinds", ("apply", "sync")):
                engine = self.engines["local"]   # a repository sync runs here, whatever engine applies
            run_id = new_run_id()
            record = RunRecord(run_id=run_id, plan_id=None, status="queued", kind="sync", engine=engine.name,
                               created=self.now(), created_by=principal.display, owner=engine.owner(),
                               rollout={"all_images": all_images})
            await self.store.create_run(record)
            recorder = RunRecorder(run_id, self.store, self.hub)
            handle = engine.start_sync(self.workspace, run_id=run_id, all_images=all_images, on_event=recorder,
                                       cancel=CancelToken(), principal=principal.display)
            return await self._started(record, handle, recorder)

    async def _started(self, record: RunRecord, handle: RunHandle, recorder: RunRecorder) -> RunRecord:
        active = ActiveRun(record, handle, recorder)
        self._active[record.run_id] = active
        active.record = await self._set(record, status="running", started=self.now())
        active.supervisor = asyncio.ensure_future(self._supervise(active))
        return active.record

    async def _supervise(self, active: ActiveRun) -> None:
        message = ""
        result: Any = None
        try:
            result = await active.handle.wait()
            if getattr(result, "extra", {}).get("detached"):
                await active.recorder.flush()   # it goes on where it runs: followed again at the next start
                self._active.pop(active.record.run_id, None)
                return
        except asyncio.CancelledError:
            message = "the server stopped while this run was in progress"
        except HwfwError as exc:
            message = redactor(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        except Exception as exc:  # a bug: the record still says how the run ended
            log.error("run %s failed", active.record.run_id, exc_info=True)
            message = redactor(f"{type(exc).__name__}: {exc}")
        try:
            await active.recorder.flush()
            status = active.handle.status if active.handle.done else "interrupted"
            summary = active.recorder.progress.summary or _summary_of(result)
            if result is not None and not message:
                message = redactor(_message_of(result))
            for hook in list(self.after_run):
                try:
                    await hook(active.record)
                except Exception:
                    log.warning("a hook after run %s failed", active.record.run_id, exc_info=True)
            await self._set(active.record, status=status, finished=self.now(), summary=summary or {},
                            message=message[:4000])
        finally:
            self._active.pop(active.record.run_id, None)

    # ------------------------------------------------------------------ cancel, detail, follow

    async def cancel(self, principal: Principal, run_id: str, *, force: bool = False) -> RunRecord:
        record = await self.get(run_id)
        active = self._active.get(run_id)
        if active is None:
            if record.terminal:
                raise ConflictError(f"run {run_id} has already ended ({record.status})", hint="nothing to cancel")
            where = (f"stop its rollout with: hwfw run cancel {run_id}" if record.engine == "temporal" else
                     "cancel it where it runs (Ctrl-C / SIGTERM for the CLI)")
            raise ConflictError(f"run {run_id} is not executed by this server ({record.engine} engine, owner "
                                f"{record.owner})", hint=where)
        active.handle.cancel(force=force)
        await self.audit(principal.display, "run-cancelled", run_id, force=force)
        return active.record

    async def progress(self, run_id: str) -> RunProgress:
        active = self._active.get(run_id)
        if active is not None:
            return active.recorder.progress
        progress = RunProgress()
        after = 0
        while True:
            batch = await self.store.events(run_id, after=after, limit=5000)
            for seq, event in batch:
                progress.apply(seq, event)
                after = seq
            if len(batch) < 5000:
                return progress

    async def follow(self, run_id: str, after: int = 0, *, poll: float = 0.5) -> AsyncGenerator[Streamed, None]:
        """The run's events numbered above `after`, in order, then the live ones until the
        run ends. A run this server does not execute is followed from the store."""
        async with aclosing(self.follow_batches(run_id, after, poll=poll)) as batches:
            async for batch in batches:
                for item in batch:
                    yield item

    async def follow_batches(self, run_id: str, after: int = 0, *, poll: float = 0.5,
                             limit: int = 1000) -> AsyncGenerator[list[Streamed], None]:
        """`follow` in batches: every event already there when the reader asks (at most
        `limit`), so a reader that fell behind a burst catches up in a few writes."""
        record = await self.get(run_id)
        while True:
            with self.hub.subscribe(run_id, maxsize=self.queue_size) as sub:
                active = self._active.get(run_id)
                if active is not None:
                    await active.recorder.flush()
                async for batch in self._stored(run_id, after, limit):
                    yield batch
                    after = batch[-1].seq
                if active is None:
                    record = await self.get(run_id)
                    if record.terminal:
                        async for batch in self._stored(run_id, after, limit):
                            yield batch
                        return
                    await self.clock.sleep(poll)     # another process's run: read the store again
                    continue
                ended = caught_up = False
                while not ended and not caught_up:
                    live: list[Streamed] = []
                    msg: HubMessage | None = await sub.get()
                    while msg is not None:
                        if msg.seq < 0:
                            caught_up = True         # dropped: catch up from the store
                            break
                        if msg.seq > 0 and msg.seq > after:
                            if msg.seq != after + 1:
                                caught_up = True     # a gap: catch up from the store
                                break
                            assert msg.event is not None
                            live.append(Streamed(msg.seq, msg.event, msg.text or _text(msg.event), msg.published))
                            after = msg.seq
                        elif msg.seq == 0 and msg.run is not None and msg.run.get("status") in TERMINAL:
                            ended = True
                            break
                        msg = sub.get_nowait() if len(live) < limit else None
                    if live:
                        yield live
                if ended:
                    async for batch in self._stored(run_id, after, limit):
                        yield batch
                    return

    async def _stored(self, run_id: str, after: int, limit: int = 1000) -> AsyncIterator[list[Streamed]]:
        while True:
            rows = await self.store.events(run_id, after=after, limit=limit)
            if rows:
                yield [_stored_item(seq, event) for seq, event in rows]
                after = rows[-1][0]
            if len(rows) < limit:
                return

    async def shutdown(self, timeout: float = 60.0) -> None:
        """Cancel every active run (SIGTERM semantics) and wait for it to reach a safe point;
        a run that outlives the server (it has `detach`) is only no longer followed."""
        for active in list(self._active.values()):
            detach = getattr(active.handle, "detach", None)
            if callable(detach):
                detach()
            else:
                active.handle.cancel()
        tasks = [a.supervisor for a in self._active.values() if a.supervisor is not None]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()


def _summary_of(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    summary = getattr(result, "summary", None)
    if callable(summary):            # a SyncResult
        return dict(summary())
    return None


def _message_of(result: Any) -> str:
    message = getattr(result, "message", None)
    if isinstance(message, str):
        return message
    if callable(getattr(result, "summary", None)):
        counts = result.summary()
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
    return ""


def _key(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, ensure_ascii=False)


class _Unseen:
    """The event sink of a re-attached run: an event already recorded (the follower
    replays what the engine retained) is dropped once per time it was recorded."""

    def __init__(self, recorder: RunRecorder, seen: Counter[str]) -> None:
        self.recorder = recorder
        self.seen = seen
        self.left = sum(seen.values())

    def emit(self, event: Event) -> None:
        if self.left:
            key = _key(json.loads(redactor(_text(event.to_json()))))   # as the recorder stored it
            if self.seen[key] > 0:
                self.seen[key] -= 1
                self.left -= 1
                return
        self.recorder.emit(event)
