"""The worker-process protocol (hwfw.api.worker) in one process: `ProcessApply` (the
server's end) and `serve_child` (the worker's end) joined by two real OS pipes, with
a stand-in for the apply. The real worker runs under the server tests
(tests/server: acceptance, kill and resume, metrics), where `hwfw serve` uses it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwfw.api.worker import Channel, ProcessApply, event_from_wire, event_to_wire, serve_child
from hwfw.apply.run import ApplyResult
from hwfw.cancel import CancelToken
from hwfw.errors import HwfwError, Interrupted, StateError
from hwfw.events import Event, EventSink

Begin = Callable[[dict[str, Any], EventSink, CancelToken], Awaitable[Any]]
START = b'{"start":{"what":"a stand-in apply"}}\n'


def _events(n: int) -> list[Event]:
    return [Event("step-finished" if i % 3 else "warning", f"2026-01-01T00:00:{i % 60:02d}Z", "r1",
                  host=f"node{i % 7:02d}" if i % 2 else None, step_id=f"s{i}" if i % 5 else None,
                  payload={"n": i, "message": f"event {i} \u00e9\n\"quoted\"", "none": None, "list": [i, {"x": i}]})
            for i in range(n)]


class _Linked:
    """A worker's end running `begin` in this loop, over two OS pipes."""

    def __init__(self, begin: Begin, *, exit_code: int = 0, speak: bool = True) -> None:
        self.begin = begin
        self.exit_code = exit_code
        self.speak = speak               # False: the worker dies without a word
        self.parent_gone = asyncio.Event()
        self.start: dict[str, Any] | None = None
        self.child: asyncio.Task[None] | None = None

    async def open(self) -> Channel:
        loop = asyncio.get_running_loop()
        down_r, down_w = os.pipe()          # server -> worker
        up_r, up_w = os.pipe()              # worker -> server
        server_reader, worker_reader = asyncio.StreamReader(), asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(server_reader), os.fdopen(up_r, "rb"))
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(worker_reader), os.fdopen(down_r, "rb"))
        to_worker, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(down_w, "wb"))
        to_server, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(up_w, "wb"))

        async def begin(start: dict[str, Any], sink: EventSink, token: CancelToken) -> Any:
            self.start = start
            return await self.begin(start, sink, token)

        async def worker() -> None:
            try:
                if self.speak:
                    await serve_child(worker_reader, to_server.write, begin, parent_gone=self.parent_gone.set)
                else:
                    await worker_reader.readline()
            finally:
                to_server.close()

        self.child = asyncio.ensure_future(worker())

        async def exited() -> int:
            assert self.child is not None
            await self.child
            return self.exit_code

        return Channel(server_reader, to_worker.write, to_worker.close, exited)


def _handle(linked: _Linked, seen: list[Event], first: asyncio.Event | None = None) -> ProcessApply:
    class Sink:
        def emit(self, event: Event) -> None:
            seen.append(event)
            if first is not None:
                first.set()

    return ProcessApply("r1", CancelToken(), START, Sink(), open_channel=linked.open)


def test_every_event_arrives_once_in_order_then_the_result() -> None:
    sent = _events(3000)

    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        for i, event in enumerate(sent):
            sink.emit(event)
            if i % 100 == 0:
                await asyncio.sleep(0)       # the apply goes on between bursts
        return ApplyResult(0, "200 hosts updated", run_id="r1", extra={"hosts": 200})

    async def main() -> None:
        seen: list[Event] = []
        linked = _Linked(apply)
        handle = _handle(linked, seen)
        assert handle.status == "running" and not handle.done and handle.kind == "apply"
        result = await handle.wait()
        assert len(seen) == len(sent)                # every event re-emitted before the waiter wakes
        assert seen == sent                          # in order, field for field (None payload values kept)
        assert result == ApplyResult(0, "200 hosts updated", run_id="r1", extra={"hosts": 200})
        assert handle.done and handle.status == "succeeded"
        assert linked.start == {"what": "a stand-in apply"}
        assert not linked.parent_gone.is_set()       # the worker ended on its own

    asyncio.run(main())


def test_a_result_that_is_not_a_success_says_so() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        return ApplyResult(130, "cancelled at a safe point")

    async def main() -> None:
        handle = _handle(_Linked(apply), [])
        assert (await handle.wait()).exit_code == 130
        assert handle.status == "interrupted"

    asyncio.run(main())


def test_the_apply_s_exception_reaches_the_waiter_after_its_events() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        for event in _events(50):
            sink.emit(event)
        raise StateError("the state file is locked by bob", hint="wait for bob")

    async def main() -> None:
        seen: list[Event] = []
        handle = _handle(_Linked(apply), seen)
        with pytest.raises(StateError) as caught:
            await handle.wait()
        assert caught.value.message == "the state file is locked by bob" and caught.value.hint == "wait for bob"
        assert seen == _events(50)
        assert handle.status == "failed"

    asyncio.run(main())


class _Unpicklable(HwfwError):
    def __init__(self, message: str, lock: Any) -> None:
        super().__init__(message, hint="see the lock")
        self.lock = lock


def test_an_exception_that_cannot_cross_the_pipe_arrives_as_an_hwfw_error_saying_the_same() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        raise _Unpicklable("cannot reach the BMC", lock=asyncio.Lock)   # a class defined here: not re-creatable

    async def main() -> None:
        handle = _handle(_Linked(apply), [])
        with pytest.raises(HwfwError) as caught:
            await handle.wait()
        assert caught.value.message == "cannot reach the BMC" and caught.value.hint == "see the lock"
        assert handle.status == "failed"

    asyncio.run(main())


def test_cancel_and_force_cancel_reach_the_worker_s_token_in_order() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        stopped = asyncio.Event()

        def on_cancel(count: int) -> None:
            sink.emit(Event("warning", "2026-01-01T00:00:00Z", "r1",
                            payload={"cancel": count, "requests": token.requests}))
            if count == 2:
                stopped.set()

        token.subscribe(on_cancel)
        sink.emit(Event("run-started", "2026-01-01T00:00:00Z", "r1"))
        await stopped.wait()
        raise Interrupted("interrupted: in-flight steps stopped where they were", hint="resume it")

    async def main() -> None:
        seen: list[Event] = []
        started = asyncio.Event()
        handle = _handle(_Linked(apply), seen, started)
        handle.cancel()                          # before the worker is there: kept, sent when it is
        await started.wait()
        handle.cancel(force=True)
        with pytest.raises(Interrupted):
            await handle.wait()
        assert [e.name for e in seen] == ["run-started", "warning", "warning"]
        assert [(e.payload["cancel"], e.payload["requests"]) for e in seen[1:]] == [(1, 1), (2, 2)]
        assert handle.status == "interrupted" and handle.token.requests == 2

    asyncio.run(main())


def test_a_worker_that_dies_without_an_outcome_fails_the_run_naming_the_signal() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        raise AssertionError("not reached")

    async def main() -> None:
        handle = _handle(_Linked(apply, exit_code=-9, speak=False), [])
        with pytest.raises(HwfwError, match="killed by signal 9"):
            await handle.wait()
        assert handle.status == "failed"

    asyncio.run(main())


def test_the_end_of_its_input_tells_the_worker_its_server_is_gone() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        await asyncio.Event().wait()      # runs until the server goes
        raise AssertionError("not reached")

    async def main() -> None:
        linked = _Linked(apply)
        channel = await linked.open()
        channel.write(START)
        channel.close()
        await linked.parent_gone.wait()
        assert linked.start == {"what": "a stand-in apply"}
        assert linked.child is not None
        linked.child.cancel()

    asyncio.run(main())


_text = st.text(max_size=20)
_json = st.recursive(st.none() | st.booleans() | st.integers() | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=10)


@given(name=_text, time=_text, run_id=_text, host=st.none() | _text, step_id=st.none() | _text,
       image=st.none() | _text, sha256=st.none() | _text, payload=st.dictionaries(_text, _json, max_size=4))
def test_an_event_crosses_the_wire_unchanged(name: str, time: str, run_id: str, host: str | None,
                                             step_id: str | None, image: str | None, sha256: str | None,
                                             payload: dict[str, Any]) -> None:
    event = Event(name, time, run_id, host, step_id, image, sha256, payload)
    assert event_from_wire(json.loads(json.dumps(event_to_wire(event)))) == event


def test_a_force_cancel_alone_reaches_the_worker_as_a_second_request() -> None:
    async def apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> ApplyResult:
        stopped = asyncio.Event()
        token.subscribe(lambda count: stopped.set())
        await stopped.wait()
        return ApplyResult(130, f"{token.requests} cancel requests")

    async def main() -> None:
        handle = _handle(_Linked(apply), [])
        handle.cancel(force=True)
        assert (await handle.wait()).message == "2 cancel requests"

    asyncio.run(main())
