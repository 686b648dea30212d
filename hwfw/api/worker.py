"""Applies in a worker process: what `hwfw serve` runs an apply in (settings.server.apply_in).

An apply of hundreds of hosts is a lot of Python work (HTTP to every BMC, polling,
events). In the server's process it shares one interpreter lock with the server's
event loop, and the requests and WebSocket streams of the server wait behind it. In
a worker process it has an interpreter of its own; the server only reads its events
from a pipe.

The child is `python -m hwfw.api.worker`, started with asyncio's subprocess support,
not multiprocessing: both ends stay on their event loops (no thread blocked in
`Connection.recv`), nothing of the server's process is forked (it runs threads and an
event loop) and the child does not re-import the server's main module as a spawned
multiprocessing child would. The child runs what the server's own-loop engine runs
(`Workspace.start_apply(plan, options, on_event=..., cancel=...)`, then `wait()`) with
the server's principal (`acting_as`); it writes the workspace's state, intent ledger
and audit log as any apply does. The run store (run record, events) stays the
server's: the child never opens it.

The protocol: one JSON object per line, both ways.

- server -> child: first `{"start": {...}}` (the workspace as the server opened it,
  the principal, and the plan and options pickled: the child runs this hwfw's own
  code), then `{"cancel": {"force": bool}}` for each cancel request. End of input
  means the server is gone: the child exits at once, as a thread of a killed server
  would stop (a surviving child would keep holding the workspace lock). On Linux the
  child also asks the kernel to kill it when the server dies (PR_SET_PDEATHSIG).
- child -> server: `{"event": [...]}` for each event, in the order emitted (the
  Event's fields, redacted by the child, which knows the secrets it used), then
  exactly one `{"result": ...}` or `{"error": ...}` (pickled ApplyResult or exception).

The parent side is `ProcessApply`, a `RunHandle` like `ThreadedApply`
(hwfw.api.engines): events re-emitted on the loop that started the run, `wait()`
resolved after the last of them, `cancel(force=)` delivered to the child's CancelToken.
"""

from __future__ import annotations

import asyncio
import base64
import ctypes
import json
import logging
import os
import pickle
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hwfw.cancel import CancelToken
from hwfw.errors import HwfwError
from hwfw.events import CallbackSink, Event, EventSink
from hwfw.logs import get_logger, redactor
from hwfw.state.lock import acting_as

from .runs import ElsewhereApply

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions, ApplyResult

    from .plans import PlanDocument
    from .workspace import Workspace

__all__ = ["Channel", "ProcessApply", "event_from_wire", "event_to_wire", "serve_child", "spawn_worker",
           "start_message"]

log = get_logger("api.worker")

LINE_LIMIT = 256 * 1024 * 1024     # a result holds the plan and its summary: a large line
PR_SET_PDEATHSIG = 1


def event_to_wire(event: Event) -> list[Any]:
    """The event's fields, in order (None kept: a payload reads the same on both sides)."""
    return [event.name, event.time, event.run_id, event.host, event.step_id, event.image, event.sha256,
            dict(event.payload)]


def event_from_wire(fields: list[Any]) -> Event:
    name, time, run_id, host, step_id, image, sha256, payload = fields
    return Event(name, time, run_id, host, step_id, image, sha256, payload)


def _line(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _pickled(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def _unpickled(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))   # noqa: S301 - written by this hwfw's own worker, over a pipe


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else an HwfwError saying the same."""
    try:
        pickle.loads(pickle.dumps(exc))   # noqa: S301 - our own bytes
        return exc
    except Exception:
        if isinstance(exc, HwfwError):
            return HwfwError(exc.message, hint=exc.hint)
        return HwfwError(f"{type(exc).__name__}: {exc}")


def start_message(workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, principal: str) -> bytes:
    """The first line to a worker: what to apply, where, for whom."""
    return _line({"start": {"workspace": str(workspace.path), "insecure": workspace.insecure,
                            "ca_bundle": str(workspace.ca_bundle) if workspace.ca_bundle else None,
                            "principal": principal, "plan": _pickled(plan), "options": _pickled(options),
                            "log_level": get_logger("hwfw").getEffectiveLevel()}})


# ---------------------------------------------------------------------------- server side


@dataclass
class Channel:
    """The server's end of a worker: its lines, a way to write to it, its exit."""

    reader: asyncio.StreamReader
    write: Callable[[bytes], None]
    close: Callable[[], None]          # end of input: the worker exits
    exited: Callable[[], Awaitable[int | None]]   # its exit code (negative: killed by that signal)


async def spawn_worker() -> Channel:
    """`python -m hwfw.api.worker` of this interpreter, in the server's working directory.
    Started from the server's event loop thread, which lives as long as the server: the
    kernel's parent-death signal is tied to the thread that started the child."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "hwfw.api.worker", stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, limit=LINE_LIMIT)
    assert proc.stdin is not None and proc.stdout is not None
    stdin = proc.stdin

    def close() -> None:
        if not stdin.is_closing():
            stdin.close()

    return Channel(proc.stdout, stdin.write, close, proc.wait)


class ProcessApply(ElsewhereApply):
    """An apply in a worker process; the same handle as `ThreadedApply`, used from the
    loop that started it. `open_channel` starts the worker (tests give an in-process one)."""

    def __init__(self, run_id: str, token: CancelToken, start: bytes, target: EventSink | None, *,
                 open_channel: Callable[[], Awaitable[Channel]] = spawn_worker) -> None:
        self.run_id = run_id
        self.token = token
        self._target = target
        self._channel: Channel | None = None
        self._cancels: list[bool] = []            # asked before the worker was there
        self._result: asyncio.Future[ApplyResult] = asyncio.get_running_loop().create_future()
        self._outcome = self._waiter = self._result       # resolved after the last event is re-emitted
        self._task = asyncio.ensure_future(self._run(open_channel, start))

    async def _run(self, open_channel: Callable[[], Awaitable[Channel]], start: bytes) -> None:
        try:
            channel = self._channel = await open_channel()
            channel.write(start)
            for force in self._cancels:
                channel.write(_line({"cancel": {"force": force}}))
            outcome = await self._read(channel.reader)
            channel.close()
            code = await channel.exited()
        except BaseException as exc:
            if self._channel is not None:
                self._channel.close()       # the worker sees the end of its input and exits
            self._result.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        if outcome is None:
            how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
            outcome = HwfwError(f"the apply's worker process {how} before the apply ended",
                                hint="see the server's log; the state and intent ledger say where each host is: "
                                     "resume the run")
        if isinstance(outcome, BaseException):
            self._result.set_exception(outcome)
        else:
            self._result.set_result(outcome)

    async def _read(self, reader: asyncio.StreamReader) -> Any:
        """Re-emit the worker's events in order; its result or exception, None at a premature end."""
        while line := await reader.readline():
            message = json.loads(line)
            if "event" in message:
                if self._target is not None:
                    try:
                        self._target.emit(event_from_wire(message["event"]))
                    except Exception:   # a sink's bug never breaks the run (hwfw/events.py)
                        log.warning("a sink of run %s failed", self.run_id, exc_info=True)
            elif "result" in message:
                return _unpickled(message["result"])
            elif "error" in message:
                return _unpickled(message["error"])
        return None

    def cancel(self, *, force: bool = False) -> None:
        self.token.cancel(force=force)
        if self._channel is None:
            self._cancels.append(force)
        elif not self.done:
            self._channel.write(_line({"cancel": {"force": force}}))


# ---------------------------------------------------------------------------- worker side

Begin = Callable[[dict[str, Any], EventSink, CancelToken], Awaitable[Any]]


async def serve_child(reader: asyncio.StreamReader, write: Callable[[bytes], None], begin: Begin, *,
                      parent_gone: Callable[[], None]) -> None:
    """The worker's side: read the start, run `begin(start, sink, token)`, stream its
    events and then its outcome to `write`; cancel requests go to the token, the end of
    input calls `parent_gone` (the worker: exit at once)."""
    first = await reader.readline()
    if not first:
        parent_gone()
        return
    start = json.loads(first)["start"]
    token = CancelToken()

    def send(event: Event) -> None:
        write(redactor(json.dumps({"event": event_to_wire(event)}, ensure_ascii=False,
                                  separators=(",", ":"))).encode() + b"\n")

    async def listen() -> None:
        while line := await reader.readline():
            request = json.loads(line).get("cancel")
            if request is not None:
                token.cancel(force=bool(request.get("force")))
        parent_gone()

    listener = asyncio.ensure_future(listen())
    try:
        result = await begin(start, CallbackSink(send), token)
    except BaseException as exc:   # noqa: BLE001 - handed to the server's waiter, as a thread's would be
        listener.cancel()
        write(_line({"error": _pickled(_portable(exc))}))
        if not isinstance(exc, Exception):
            raise
    else:
        listener.cancel()
        write(_line({"result": _pickled(result)}))


async def _begin_apply(start: dict[str, Any], sink: EventSink, token: CancelToken) -> Any:
    from hwfw.logs import configure

    from .workspace import Workspace

    level = int(start.get("log_level") or logging.WARNING)
    configure(0 if level >= logging.WARNING else 1 if level >= logging.INFO else 2)
    workspace = Workspace(start["workspace"], insecure=bool(start["insecure"]), ca_bundle=start["ca_bundle"])
    with acting_as(start["principal"]):   # the run's task inherits it: locks and audit entries name the principal
        run = workspace.start_apply(_unpickled(start["plan"]), _unpickled(start["options"]), on_event=sink,
                                    cancel=token)
    return await run.wait()


def _die_with_parent() -> None:
    """Linux: SIGKILL when the server dies, however it dies."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot ask to die with the server (prctl); the end of the pipe still stops this worker")
    if os.getppid() != parent:     # it died before the request
        os._exit(1)


async def _worker_main(out_fd: int) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    closed = loop.create_future()
    transport, _ = await loop.connect_write_pipe(lambda: _Closing(closed), os.fdopen(out_fd, "wb"))
    await serve_child(reader, transport.write, _begin_apply, parent_gone=lambda: os._exit(1))
    transport.close()      # after every buffered line is written
    await closed


class _Closing(asyncio.Protocol):
    def __init__(self, closed: asyncio.Future[None]) -> None:
        self.closed = closed

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def main() -> None:
    _die_with_parent()
    out_fd = os.dup(1)         # the protocol's; anything printed goes to the server's stderr
    os.dup2(2, 1)
    asyncio.run(_worker_main(out_fd))


if __name__ == "__main__":
    main()
