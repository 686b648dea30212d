"""The parts of hwfw.api.service on their own: the event hub, the run recorder, the
progress fold, following a run through drops, recovery after a restart, engines'
process identity, the scheduler, the workspace watcher and API tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.api.engines import LocalEngine, ThreadedApply, process_identity
from hwfw.api.plans import PlanDocument
from hwfw.api.runs import ApplyRun
from hwfw.api.service import DROPPED, EventHub, FirmwareService, HubMessage, Principal, RunProgress, RunRecorder
from hwfw.api.service.tasks import Scheduler
from hwfw.api.service.tokens import authenticate, create_token
from hwfw.api.service.watch import WorkspaceWatcher
from hwfw.cancel import CancelToken
from hwfw.clock import FakeClock
from hwfw.errors import Interrupted
from hwfw.events import CallbackSink, Event
from hwfw.logs import redactor
from hwfw.state.serverstore import RunRecord, open_server_store
from tests.helpers import edit

OPERATOR = Principal("alice", "operator")


def _event(name: str, n: int = 0, **payload: Any) -> Event:
    return Event(name, "2026-01-01T00:00:00Z", "r1", payload={"n": n, **payload})


# ---------------------------------------------------------------------------- hub


def test_a_full_subscription_is_dropped_with_a_last_message_and_a_failing_listener_is_isolated(
        caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        hub = EventHub()
        seen: list[int] = []

        def broken(message: HubMessage) -> None:
            raise RuntimeError("listener bug")

        hub.listen(broken)
        stop = hub.listen(lambda m: seen.append(m.seq))
        slow, other = hub.subscribe("r1", maxsize=3), hub.subscribe("r2", maxsize=3)
        for seq in range(1, 6):
            hub.publish(HubMessage("r1", seq, {"seq": seq}))
        assert seen == [1, 2, 3, 4, 5]                      # the broken listener did not stop the others
        assert slow.dropped and hub.subscribers == 1 and hub.dropped == 1
        got = [await slow.get() for _ in range(slow.queue.qsize())]
        assert [m.seq for m in got] == [1, 2, DROPPED.seq]  # the last slot says it was dropped
        assert other.queue.empty()                          # another run's subscriber saw nothing
        stop()
        hub.publish(HubMessage("r1", 6, None))
        assert seen == [1, 2, 3, 4, 5]

    with caplog.at_level(logging.WARNING, logger="hwfw"):
        asyncio.run(main())
    assert sum("listener" in r.getMessage() for r in caplog.records) == 1     # logged once, not per message


# ---------------------------------------------------------------------------- recorder and progress


def test_the_recorder_numbers_redacts_publishes_and_stores(tmp_path: Path) -> None:
    redactor.register("pa55word-of-a-bmc")

    async def main() -> None:
        store = open_server_store(_settings(tmp_path))
        hub = EventHub()
        try:
            with hub.subscribe("r1") as sub:
                recorder = RunRecorder("r1", store, hub, first_seq=4)
                for i in range(3):
                    recorder.emit(_event("warning", i, message=f"login as admin:pa55word-of-a-bmc {i}"))
                assert recorder.last_seq == 6 and [(await sub.get()).seq for _ in range(3)] == [4, 5, 6]
                await recorder.flush()
                stored = await store.events("r1")
                assert [s for s, _ in stored] == [4, 5, 6]
                assert all("pa55word" not in e["message"] and "***" in e["message"] for _, e in stored)
                assert recorder.progress.warnings[0].endswith("*** 0")
        finally:
            await store.aclose()

    asyncio.run(main())


def test_a_failing_store_never_breaks_the_run(tmp_path: Path) -> None:
    class Broken:
        def describe(self) -> str:
            return "a broken store"

        async def append_events(self, run_id: str, events: Any) -> None:
            raise OSError("disk full")

    async def main() -> None:
        hub = EventHub()
        with hub.subscribe("r1") as sub:
            recorder = RunRecorder("r1", Broken(), hub)  # type: ignore[arg-type]
            recorder.emit(_event("warning", message="x"))
            await recorder.flush()
            recorder.emit(_event("warning", message="y"))
            await recorder.flush()
            assert [(await sub.get()).seq for _ in range(2)] == [1, 2]

    asyncio.run(main())


def test_progress_folds_a_host_through_its_steps() -> None:
    progress = RunProgress()
    events = [
        {"type": "run-started", "time": "t0", "run": {"hosts": ["h1", "h2"]}},
        {"type": "host-started", "time": "t1", "host": "h1", "steps": 2},
        {"type": "step-started", "time": "t2", "host": "h1", "step": {"id": "s1", "kind": "flash", "component": "bmc",
                                                                       "from": "1", "to": "2"}},
        {"type": "step-progress", "time": "t3", "host": "h1", "step_id": "s1", "percent": 40.0, "message": "upload"},
        {"type": "step-finished", "time": "t4", "host": "h1", "step_id": "s1", "kind": "flash",
         "outcome": {"status": "pending-activation", "seconds": 3}},
        {"type": "step-started", "time": "t5", "host": "h1", "step": {"id": "s2", "kind": "activate"}},
        {"type": "step-finished", "time": "t6", "host": "h1", "step_id": "s2", "kind": "activate",
         "outcome": {"status": "failed", "seconds": 1, "message": "reset refused"}},
        {"type": "host-finished", "time": "t7", "host": "h2",
         "outcome": {"status": "converged", "steps_done": 0, "steps_total": 0, "resets": {}, "seconds": 0}},
    ]
    for seq, event in enumerate(events, 1):
        progress.apply(seq, event)
    doc = progress.to_json()
    h1, h2 = doc["hosts"]
    assert h1["state"] == "running" and h1["steps_done"] == 1 and h1["steps_total"] == 2
    assert [(s["id"], s["state"], s["started"], s["finished"]) for s in h1["steps"]] == [
        ("s1", "pending-activation", "t2", "t4"), ("s2", "failed", "t5", "t6")]
    assert h1["steps"][0]["percent"] == 40.0 and h1["steps"][1]["message"] == "reset refused"
    assert h2["state"] == "done" and doc["counts"] == {"running": 1, "done": 1} and doc["last_seq"] == 8


# ---------------------------------------------------------------------------- runs


class _Burst:
    """A run handle emitting `count` events as fast as it can, then succeeding."""

    kind, engine = "apply", "test"

    def __init__(self, run_id: str, sink: Any, count: int, followed: Callable[[], bool]) -> None:
        self.run_id = run_id

        async def go() -> Any:
            while not followed():                     # a follower is subscribed: its queue can overflow
                await asyncio.sleep(0)
            for i in range(count):
                sink.emit(Event("warning", "2026-01-01T00:00:00Z", run_id, payload={"message": str(i)}))
                if i % 50 == 0:
                    await asyncio.sleep(0)
            return dataclasses.make_dataclass("R", [("exit_code", int), ("message", str)])(0, "done")

        self.task = asyncio.ensure_future(go())

    def cancel(self, *, force: bool = False) -> None:
        self.task.cancel()

    @property
    def done(self) -> bool:
        return self.task.done()

    @property
    def status(self) -> str:
        return "succeeded" if self.task.done() and not self.task.cancelled() else "running"

    async def wait(self) -> Any:
        return await asyncio.shield(self.task)


class _BurstEngine(LocalEngine):
    name = "test"

    def __init__(self, count: int, followed: Callable[[], bool]) -> None:
        self.count = count
        self.followed = followed

    def start_apply(self, workspace: Any, plan: Any, options: Any, *, on_event: Any, cancel: CancelToken,
                    principal: str) -> Any:
        return _Burst(options.run_id, on_event, self.count, self.followed)


@pytest.mark.slow
def test_a_slow_follower_gets_every_event_once_in_order_through_drops(lab_copy: Path) -> None:
    """A client whose queue overflows is caught up from the store: it sees 1..N, once each."""
    async def main() -> None:
        async with FirmwareService.open(lab_copy, scan=False) as service:
            service.runs.engines = {"test": _BurstEngine(2000, lambda: service.hub.subscribers > 0)}
            service.runs.engine = "test"
            service.runs.queue_size = 8
            run = await service.runs.start_apply(OPERATOR, PlanDocument(None, {"steps": []}),  # type: ignore[arg-type]
                                                 _options(), plan_id="0123456789abcdef", rollout={})
            seqs = []
            async for item in service.follow(run.run_id):
                seqs.append(item.seq)
                assert item.text == json.dumps(item.event, separators=(",", ":"), ensure_ascii=False)
                if len(seqs) % 7 == 0:
                    for _ in range(20):               # a slow consumer: the producer runs ahead, its queue
                        await asyncio.sleep(0)        # overflows

            assert seqs == list(range(1, 2001))
            assert service.hub.dropped >= 1
            final = await service.runs.get(run.run_id)
            assert final.status == "succeeded" and final.message == "done" and final.owner is not None
            # a run followed after it ended: all of it from the store, then the end
            assert [i.seq async for i in service.follow(run.run_id, after=1990)] == list(range(1991, 2001))

    asyncio.run(main())


@pytest.mark.slow
def test_a_follower_behind_a_burst_gets_it_in_few_batches(lab_copy: Path) -> None:
    """follow_batches (what the WebSocket sends): every event once, in order, several to a
    message when they were waiting, never more than the limit."""
    async def main() -> None:
        async with FirmwareService.open(lab_copy, scan=False) as service:
            service.runs.engines = {"test": _BurstEngine(600, lambda: service.hub.subscribers > 0)}
            service.runs.engine = "test"
            run = await service.runs.start_apply(OPERATOR, PlanDocument(None, {"steps": []}),  # type: ignore[arg-type]
                                                 _options(), plan_id="0123456789abcdef", rollout={})
            batches = [batch async for batch in service.runs.follow_batches(run.run_id, limit=40)]
            assert [i.seq for b in batches for i in b] == list(range(1, 601))
            assert all(0 < len(b) <= 40 for b in batches)
            assert len(batches) < 100               # the producer emits 50 between yields: they go together
            assert batches[-1][-1].published is not None     # the end was followed live, not read back

    asyncio.run(main())


class _LoopRecordingWorkspace:
    """Starts an 'apply' that emits numbered events, then waits for its cancel."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def start_apply(self, plan: Any, options: Any, *, on_event: Any, cancel: CancelToken) -> ApplyRun:
        async def body() -> Any:
            self.threads.add(threading.get_ident())
            stopped = asyncio.Event()
            cancel.subscribe(lambda _count: stopped.set())
            for i in range(500):
                on_event.emit(Event("warning", "2026-01-01T00:00:00Z", options.run_id, payload={"message": str(i)}))
                if i % 50 == 0:
                    await asyncio.sleep(0)
            await stopped.wait()
            raise Interrupted("cancelled")

        return ApplyRun(options.run_id, cancel, body)


def test_an_apply_on_its_own_loop_relays_events_in_order_and_is_cancelled() -> None:
    """The server's engine runs an apply on a loop of its own (a worker thread): its events
    reach the server's loop in order, a cancel reaches the apply, its end the waiter."""
    workspace = _LoopRecordingWorkspace()

    async def main() -> None:
        here = threading.get_ident()
        got: list[tuple[int, str]] = []
        all_in = asyncio.Event()

        def seen(event: Event) -> None:
            got.append((threading.get_ident(), event.payload["message"]))
            if len(got) == 500:
                all_in.set()

        handle = LocalEngine(own_loop=True).start_apply(
            workspace, None, dataclasses.replace(_options(), run_id="r1"),  # type: ignore[arg-type]
            on_event=CallbackSink(seen), cancel=CancelToken(), principal="alice (operator)")
        assert isinstance(handle, ThreadedApply) and handle.run_id == "r1"
        await all_in.wait()
        assert handle.status == "running" and not handle.done
        handle.cancel()
        with pytest.raises(Interrupted):
            await handle.wait()
        assert handle.done and handle.status == "interrupted"
        assert [m for _, m in got] == [str(i) for i in range(500)]
        assert {t for t, _ in got} == {here} and here not in workspace.threads and len(workspace.threads) == 1

    asyncio.run(main())


def _options() -> Any:
    from hwfw.apply.run import ApplyOptions

    return ApplyOptions()


@pytest.mark.slow
def test_a_run_whose_owner_is_gone_is_interrupted_at_start_and_a_live_one_is_kept(lab_copy: Path) -> None:
    gone_pid = subprocess.Popen(["true"])
    gone_pid.wait()
    engine = LocalEngine()
    alive_owner = engine.owner()
    base = RunRecord(run_id="gone", plan_id="0123456789abcdef", status="running", created="2026-01-01T00:00:00Z",
                     created_by="alice (operator)", owner={"pid": gone_pid.pid, "host": alive_owner["host"],
                                                           "started": "1"})

    async def main() -> None:
        async with FirmwareService.open(lab_copy, scan=False) as service:
            pass   # creates the store
        store = open_server_store(_settings_of(lab_copy))
        await store.create_run(base)
        await store.create_run(dataclasses.replace(base, run_id="here", owner=alive_owner))
        await store.aclose()
        async with FirmwareService.open(lab_copy, scan=False) as service:
            gone, here = await service.runs.get("gone"), await service.runs.get("here")
            assert gone.status == "interrupted" and "resume" in gone.message and gone.finished
            assert here.status == "running"                      # this process still runs it
            assert (await service.run("gone"))["resumable"] is True
            assert [a["action"] for a in await service.audit(target="gone")] == ["run-interrupted"]

    asyncio.run(main())


@pytest.mark.slow
def test_a_temporal_rollout_is_recorded_in_the_run_store_and_a_server_restart_leaves_it_running(
        lab_copy: Path) -> None:
    """`hwfw run` and `hwfw serve` share one run store: a rollout recorded by the CLI is
    listed by the server, which does not judge it (its owner is the Temporal service)."""
    from hwfw.api import open_workspace

    async def main() -> None:
        runs = open_workspace(lab_copy).runs
        await runs.recorder("rollout-1")("running", "temporal")
        async with FirmwareService.open(lab_copy, scan=False) as service:
            record = await service.runs.get("rollout-1")
            assert (record.engine, record.status, record.owner) == ("temporal", "running", None)
            assert record.created and record.created_by
        await runs.recorder("rollout-1")("succeeded", "temporal", finished="2026-01-01T01:00:00Z")
        async with FirmwareService.open(lab_copy, scan=False) as service:
            record = await service.runs.get("rollout-1")
            assert (record.status, record.finished) == ("succeeded", "2026-01-01T01:00:00Z")
            assert await service.audit(target="rollout-1") == []

    asyncio.run(main())


@pytest.mark.slow
def test_process_identity_tells_processes_apart() -> None:
    me = process_identity(os.getpid())
    assert me is not None and me.isdigit()
    child = subprocess.Popen(["true"])
    child.wait()
    assert process_identity(child.pid) is None


# ---------------------------------------------------------------------------- scheduler, watcher


def test_the_scheduler_keeps_running_a_task_that_fails(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> int:
        runs = {"n": 0}
        enough = asyncio.Event()

        async def job() -> None:
            runs["n"] += 1
            if runs["n"] == 5:
                enough.set()
            raise ValueError("flaky")

        scheduler = Scheduler(FakeClock())
        scheduler.every("flaky", 30, job)
        scheduler.start()
        await enough.wait()
        await scheduler.stop()
        return runs["n"]

    with caplog.at_level(logging.WARNING, logger="hwfw"):
        assert asyncio.run(main()) >= 5
    assert sum("flaky" in r.getMessage() for r in caplog.records) == 1       # the same failure logged once
    with pytest.raises(ValueError):
        Scheduler().every("bad", 0, lambda: asyncio.sleep(0))


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.test", "-c", "user.name=t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.slow
def test_the_watcher_sees_a_pull_a_broken_file_and_nothing_else(lab_copy: Path) -> None:
    _git(lab_copy, "init", "-q")
    _git(lab_copy, "add", "-A")
    _git(lab_copy, "commit", "-qm", "one")
    first = _git(lab_copy, "rev-parse", "HEAD")

    async def main() -> None:
        async with FirmwareService.open(lab_copy, scan=False) as service:
            watcher: WorkspaceWatcher = service.watcher
            assert watcher.view.valid and watcher.view.source.commit == first and not watcher.view.source.dirty
            assert await watcher.check() is False
            edit(lab_copy / "baselines.yaml", "baselines:\n", "# a reviewed change\nbaselines:\n")
            _git(lab_copy, "commit", "-qam", "two")               # what a deploy job's pull does
            assert await watcher.check() is True
            assert watcher.view.source.commit == _git(lab_copy, "rev-parse", "HEAD") != first
            edit(lab_copy / "baselines.yaml", "baselines:\n", "baselines: [\n")
            assert await watcher.check() is True
            view = service.status()["workspace"]
            assert view["valid"] is False and view["errors"] >= 1 and view["dirty"] is True
            assert any(str(p["file"]).endswith("baselines.yaml") and p["line"] for p in view["problems"])

    asyncio.run(main())


# ---------------------------------------------------------------------------- tokens


def test_a_token_authenticates_and_nothing_else_does(tmp_path: Path) -> None:
    async def main() -> tuple[str, list[Any]]:
        store = open_server_store(_settings(tmp_path))
        try:
            token, record = await create_token(store, name="ci", role="operator", created_by="root@h")
            assert (await authenticate(store, token)) == Principal("ci", "operator", record.token_id)
            assert (await store.get_token(record.token_id)).digest != token.split("_")[2]   # only a digest
            with pytest.raises(Exception, match="unknown role"):
                await create_token(store, name="x", role="admin", created_by="root@h")
            return token, [await authenticate(store, t) for t in ("", "hwfw_", token + "x", token.upper())]
        finally:
            await store.aclose()

    token, others = asyncio.run(main())
    assert others == [None, None, None, None]
    _mutations_are_refused(token, tmp_path)


def _mutations_are_refused(token: str, tmp_path: Path) -> None:
    @settings(max_examples=60, deadline=None)
    @given(st.integers(min_value=0, max_value=len(token) - 1), st.characters(codec="ascii"))
    def one(index: int, char: str) -> None:
        """Hypothesis: any token that differs from the real one in one character is refused."""
        mutated = token[:index] + char + token[index + 1:]
        if mutated == token:
            return

        async def check() -> Any:
            store = open_server_store(_settings(tmp_path))
            try:
                return await authenticate(store, mutated)
            finally:
                await store.aclose()

        assert asyncio.run(check()) is None

    one()


def _settings(tmp_path: Path) -> Any:
    from hwfw.config.model import Settings

    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path / ".hwfw")


def _settings_of(workspace: Path) -> Any:
    from hwfw.api import open_workspace

    return open_workspace(workspace).load().settings
