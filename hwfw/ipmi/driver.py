"""The one thread that drives pyghmi, and the conversations it runs for the client.

A *conversation* is a generator of `Request`s (`ask`, `checked`); `converse()` hands it
to the driver thread and awaits its result, so `hwfw.ipmi.client` only writes the
steps of each IPMI command sequence.

Threading: one pyghmi driver thread
-----------------------------------
pyghmi is blocking, and its event loop (`Session.wait_for_rsp`) processes the packets
of *every* session in the process, in whichever thread calls it. Driving it from several
threads at once is not safe: in pyghmi 1.6.19 `wait_for_rsp` holds `WAITING_SESSIONS`
and (timeout -> `_mark_broken` -> `logout`) takes `KEEPALIVE_SESSIONS`, while
`send_payload` holds `KEEPALIVE_SESSIONS` and (`_xmit_packet`) takes `WAITING_SESSIONS`;
with one thread per BMC (`asyncio.to_thread`) that lock-order inversion deadlocked
the whole client as soon as a session timed out under load (seen in our tests).

So all pyghmi calls run on ONE daemon thread, `hwfw-ipmi`, started on first use. It
runs each conversation as a generator of steps on pyghmi's asynchronous API (the
`Session(onlogon=...)` login and `raw_command(..., callback=...)`), pumps pyghmi's loop
in short slices, enforces each conversation's deadline itself (so pyghmi's own retry
ladder, tens of seconds on a dead BMC, never holds anything), and resolves a
`concurrent.futures.Future` the caller awaits. Any number of BMCs are served
concurrently by that single thread; when idle it blocks on its queue (no CPU).
Conversations with the same BMC run one after the other (pyghmi would otherwise hand
both the same session). The timeout of a conversation starts when it starts (not while
it waits behind another one for the same BMC). The one synchronous step of pyghmi's
login (Set Session Privilege Level, sent from inside packet processing) is replaced by
an asynchronous one (`hwfw.ipmi.session.LoginSession`), so nothing in a conversation
blocks the driver; an asyncio timeout of `timeout + 2 s` stays as a safety net all the same.

A broken handshake fails at once, never after the timeout: `LoginSession` ends the
login on a protocol error with its cause, and when the BMC named another cipher suite
(3 instead of 17, or the reverse) the conversation logs in again with that one, once.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generator, Sequence, TypeVar

import pyghmi.ipmi.private.constants as pyghmi_constants
import pyghmi.ipmi.private.session as pyghmi_session

from hwfw.errors import IpmiError
from hwfw.ipmi.session import command_done, session_class
from hwfw.logs import get_logger, redactor

__all__ = ["Failure", "RawResponse", "Request", "Steps", "ask", "checked", "converse", "describe_code", "ipmi_url"]

log = get_logger("ipmi")

T = TypeVar("T")

#: Conversations the driver runs at once; more wait in line (their timeout not yet running).
MAX_ACTIVE = 256

_HANDSHAKE_HINT = ("the BMC broke the RMCP+ handshake: hwfw uses cipher suites 17 (SHA-256) and 3 (SHA-1); "
                   "check which cipher suites are enabled on the BMC's LAN channel (ipmitool -C 3 or -C 17 tries one)")
_PUMP_SLICE = 0.02
_SAFETY_MARGIN = 2.0
_INITTING: dict[Any, Any] = pyghmi_session.Session.initting_sessions


@dataclass(frozen=True, slots=True)
class RawResponse:
    netfn: int
    command: int
    code: int  # completion code
    data: bytes

    @property
    def ok(self) -> bool:
        return self.code == 0


def ipmi_url(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"ipmi://{host}:{port}"


# --------------------------------------------------------------------------------------
# Conversations: generators of requests, run by the driver thread
# --------------------------------------------------------------------------------------


class Failure(Exception):
    """A per-host failure; becomes IpmiError."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _Deadline(Failure):
    """Our time limit passed before the BMC answered."""


@dataclass(frozen=True, slots=True)
class Request:
    netfn: int
    command: int
    data: bytes
    what: str
    retry: bool = True
    wait: float | None = None  # give up quietly (answer None) after this many seconds


Steps = Generator[Request, "RawResponse | None", T]


def describe_code(netfn: int, command: int, code: int) -> str:
    specific = pyghmi_constants.command_completion_codes.get((netfn + 1, command), {})
    text = specific.get(code) or pyghmi_constants.ipmi_completion_codes.get(code) or "unknown completion code"
    return f"completion code 0x{code:02X} ({text})"


def ask(netfn: int, command: int, data: bytes | Sequence[int] = b"", *, what: str) -> Steps[RawResponse]:
    response = yield Request(netfn, command, bytes(data), what)
    assert response is not None
    return response


def checked(netfn: int, command: int, data: bytes | Sequence[int] = b"", *, what: str) -> Steps[bytes]:
    response = yield from ask(netfn, command, data, what=what)
    if response.code:
        raise Failure(f"{what} failed: {describe_code(netfn, command, response.code)}")
    return response.data


class _Conversation:
    def __init__(
        self,
        *,
        address: str,
        port: int,
        username: str,
        password: str,
        timeout: float,
        label: str,
        what: str,
        steps: Callable[[], Steps[Any]],
        send_close: bool,
        future: concurrent.futures.Future[Any],
        on_start: Callable[[], object],
    ) -> None:
        self.address = address
        self.port = port
        self.key = (address, port)
        self.username = username
        self.password = password
        self.timeout = timeout
        self.label = label
        self.url = ipmi_url(address, port)
        self.what = what
        self.make_steps = steps
        self.send_close = send_close
        self.future = future
        self.on_start = on_start
        self.cancelled = False
        self.deadline = 0.0
        self.started = 0.0
        self.state = "pending"  # pending -> login -> running -> done
        self.session: Any = None
        self.steps: Steps[Any] | None = None
        self.request: Request | None = None
        self.login_outcome: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.step_until: float | None = None
        self.suites: list[int | None] = []  # cipher suites tried (None: pyghmi's choice, 17 then 3)
        self.failures: list[str] = []  # broken handshakes so far

    def error(self, failure: Failure, last_exception: BaseException | None) -> IpmiError:
        message = failure.message
        hint = failure.hint
        if isinstance(failure, _Deadline):
            if last_exception is not None:
                message += f" (last protocol error: {last_exception!r})"
            if hint is None:
                hint = f"check that IPMI over LAN is enabled on the BMC and UDP port {self.port} is reachable"
        return IpmiError(redactor(message), host=self.label, url=self.url, hint=hint)


class _Waiting:
    """A conversation already accepted (its future is running) that waits for its BMC."""

    __slots__ = ("conv",)

    def __init__(self, conv: _Conversation) -> None:
        self.conv = conv


class _Driver(threading.Thread):
    """The one thread that talks to pyghmi (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(name="hwfw-ipmi", daemon=True)
        self.inbox: queue.SimpleQueue[_Conversation] = queue.SimpleQueue()
        self.pending: collections.deque[_Conversation | _Waiting] = collections.deque()
        self.active: list[_Conversation] = []
        self.busy: set[tuple[str, int]] = set()
        self.last_exception: tuple[float, BaseException] | None = None

    def submit(self, conversation: _Conversation) -> None:
        self.inbox.put(conversation)

    # -- loop ------------------------------------------------------------------------------

    def run(self) -> None:
        while True:
            try:
                if not self.active and not self.pending:
                    self.pending.append(self.inbox.get())  # idle: block, no CPU
                self._tick()
            except Exception:  # never let the driver die
                log.exception("ipmi driver: unexpected error")

    def _tick(self) -> None:
        while True:
            try:
                self.pending.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        self._start_pending()
        for conv in list(self.active):
            deferred = getattr(conv.session, "deferred", None)
            while deferred:
                try:
                    deferred.pop(0)()
                except Exception as exc:
                    self._fail(conv, Failure(f"RMCP+ login: {exc}"))
                    break
        now = time.monotonic()
        for conv in list(self.active):
            if conv.state == "done":
                continue
            if conv.cancelled:
                self._fail(conv, Failure(f"{conv.what}: abandoned (the caller gave up)"))
            elif conv.state == "login" and conv.login_outcome is not None:
                self._logged_in(conv)
            elif conv.state == "running" and conv.reply is not None:
                self._answered(conv)
            elif now >= conv.deadline:
                stage = conv.request.what if conv.state == "running" and conv.request else "RMCP+ login"
                self._fail(conv, _Deadline(f"{stage}: no valid IPMI answer within {conv.timeout:g} s"))
            elif conv.state == "running" and conv.step_until is not None and now >= conv.step_until:
                self._advance(conv, None)
        if not self.active:
            return
        wait = min([_PUMP_SLICE] + [max(0.0, c.deadline - time.monotonic()) for c in self.active])
        try:
            pyghmi_session.Session.wait_for_rsp(timeout=wait)
        except Exception as exc:
            # pyghmi parses every session's packets here; a malformed datagram can raise.
            self.last_exception = (time.monotonic(), exc)
            log.debug("ipmi driver: pyghmi raised while pumping: %r", exc)

    def _start_pending(self) -> None:
        """Start what can start; the rest waits for its BMC (or for a free slot)."""
        still: collections.deque[_Conversation | _Waiting] = collections.deque()
        while self.pending:
            item = self.pending.popleft()
            if isinstance(item, _Waiting):
                conv = item.conv
                if conv.cancelled:
                    self._finish(conv, None, conv.error(Failure(f"{conv.what}: abandoned (the caller gave up)"), None))
                    continue
            else:
                conv = item
                # Exactly once per conversation: False if the caller already cancelled.
                if conv.cancelled or not conv.future.set_running_or_notify_cancel():
                    continue
            if conv.key in self.busy or len(self.active) >= MAX_ACTIVE:
                still.append(_Waiting(conv))
                continue
            self._begin(conv)
        self.pending.extend(still)

    # -- steps -----------------------------------------------------------------------------

    def _begin(self, conv: _Conversation) -> None:
        self.busy.add(conv.key)
        self.active.append(conv)
        conv.started = time.monotonic()
        conv.deadline = conv.started + conv.timeout
        conv.state = "login"
        try:
            conv.on_start()
        except RuntimeError:  # the caller's event loop is gone
            conv.cancelled = True
        log.debug("ipmi %s (%s): %s", conv.label, conv.url, conv.what)
        self._login(conv, None)

    def _login(self, conv: _Conversation, suite: int | None) -> None:
        """Start (or restart, with another cipher suite) the RMCP+ login of `conv`."""
        conv.suites.append(suite)
        conv.login_outcome = None
        session_type = session_class(suite)
        session: Any = None

        def onlogon(response: dict[str, Any]) -> None:
            if conv.login_outcome is None and conv.session is session:
                conv.login_outcome = dict(response)

        key = (conv.address, conv.username, conv.password, conv.port, None)
        stale = _INITTING.get(key)
        if stale is not None and (stale.broken or not stale.logging):
            _INITTING.pop(key, None)
        try:
            # The session object `pyghmi.ipmi.command.Command` wraps (we only need its
            # raw_command). Not Command itself: its asynchronous constructor pumps the shared
            # event loop (wait_for_rsp(0)), so an exception raised while parsing *another*
            # BMC's garbage would surface here and fail this healthy conversation.
            session = conv.session = session_type(
                bmc=conv.address, userid=conv.username, password=conv.password, port=conv.port, onlogon=onlogon
            )
        except Exception as exc:  # unresolvable address, socket errors
            self._fail(conv, Failure(f"cannot start an IPMI session: {exc}"))
            return
        # pyghmi 1.6.19 files a new session in Session.initting_sessions under the str
        # credentials but removes it (_xmit_packet, _mark_broken) under the utf-8 encoded
        # ones, so the entry stays forever and the next Command for the same BMC and
        # credentials gets this (by then dead) session back and never logs in.
        if _INITTING.get(key) is conv.session:
            _INITTING.pop(key, None)

    def _logged_in(self, conv: _Conversation) -> None:
        outcome = conv.login_outcome or {}
        if "error" in outcome:
            error = str(outcome["error"])
            retry = outcome.get("retry_suite")
            if outcome.get("protocol"):
                conv.failures.append(error)
                if retry is not None and retry not in conv.suites:
                    log.info("ipmi %s (%s): %s; logging in again with cipher suite %s", conv.label, conv.url,
                             error, retry)
                    self._drop_session(conv)
                    self._login(conv, retry)
                    return
                self._fail(conv, Failure("IPMI login failed: " + "; then ".join(conv.failures),
                                          _HANDSHAKE_HINT))
                return
            lowered = error.lower()
            hint = None
            if "password" in lowered or "unauthorized name" in lowered or "rakp" in lowered:
                hint = "check the IPMI user name and password configured for this BMC"
            prefix = "; then ".join(conv.failures + [""]) if conv.failures else ""
            self._fail(conv, Failure(f"IPMI login failed: {prefix}{error}", hint))
            return
        conv.state = "running"
        conv.steps = conv.make_steps()
        self._advance(conv, None)

    def _answered(self, conv: _Conversation) -> None:
        reply, conv.reply = conv.reply or {}, None
        request = conv.request
        assert request is not None
        if "error" in reply and "data" not in reply:
            if reply.get("code") == 0xFFFF:
                self._fail(conv, _Deadline(f"{request.what}: the BMC stopped answering"))
            else:
                self._fail(conv, Failure(f"{request.what}: {reply['error']}"))
            return
        try:
            response = RawResponse(
                netfn=int(reply["netfn"]),
                command=int(reply["command"]),
                code=int(reply["code"]),
                data=bytes(reply["data"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            self._fail(conv, Failure(f"{request.what}: malformed answer ({exc!r})"))
            return
        self._advance(conv, response)

    def _advance(self, conv: _Conversation, value: RawResponse | None) -> None:
        if conv.session is not None:
            command_done(conv.session)
        conv.step_until = None
        assert conv.steps is not None
        try:
            request = conv.steps.send(value) if conv.request is not None else next(conv.steps)
        except StopIteration as stop:
            self._finish(conv, stop.value, None)
            return
        except Failure as failure:
            self._fail(conv, failure)
            return
        except Exception as exc:
            self._fail(conv, Failure(f"{conv.what}: unexpected {type(exc).__name__}: {exc}"))
            return
        conv.request = request

        def callback(response: dict[str, Any]) -> None:
            if "error" not in response and (
                response.get("netfn") != request.netfn + 1 or response.get("command") != request.command
            ):
                return  # not the answer to this request
            if conv.request is request and conv.reply is None:
                conv.reply = dict(response)

        if request.wait is not None:
            conv.step_until = time.monotonic() + request.wait
        try:
            conv.session.raw_command(
                netfn=request.netfn,
                command=request.command,
                data=list(request.data),
                retry=request.retry,
                callback=callback,
            )
        except Exception as exc:
            self._fail(conv, Failure(f"{request.what}: {exc}"))

    # -- endings ---------------------------------------------------------------------------

    def _drop_session(self, conv: _Conversation) -> None:
        """Forget a session whose login failed (pyghmi already marked it broken)."""
        session, conv.session = conv.session, None
        if session is not None:
            command_done(session)
            try:
                session.logged = 0
                session.logout()
            except Exception as exc:
                log.debug("ipmi %s: logout: %r", conv.url, exc)

    def _fail(self, conv: _Conversation, failure: Failure) -> None:
        last = None
        if self.last_exception is not None and self.last_exception[0] >= conv.started:
            last = self.last_exception[1]
        self._finish(conv, None, conv.error(failure, last))

    def _finish(self, conv: _Conversation, result: Any, error: BaseException | None) -> None:
        conv.state = "done"
        if conv in self.active:
            self.active.remove(conv)
        self.busy.discard(conv.key)
        if conv.steps is not None:
            conv.steps.close()
        session, conv.session = conv.session, None
        if session is not None:
            command_done(session)
            try:
                if not conv.send_close:
                    session.logged = 0  # logout() then only cleans up, sends nothing
                # Close Session (only if logged in) goes out once, without waiting for the
                # reply: BMCs have few session slots, so failed conversations close too.
                session.logout()
            except Exception as exc:
                log.debug("ipmi %s: logout: %r", conv.url, exc)
        if error is not None:
            log.debug("ipmi %s (%s): %s failed: %s", conv.label, conv.url, conv.what, error)
        try:
            if error is not None:
                conv.future.set_exception(error)
            else:
                conv.future.set_result(result)
        except concurrent.futures.InvalidStateError:
            pass  # the caller cancelled


_DRIVER: _Driver | None = None
_DRIVER_LOCK = threading.Lock()


def _driver() -> _Driver:
    global _DRIVER
    with _DRIVER_LOCK:
        if _DRIVER is None or not _DRIVER.is_alive():
            _DRIVER = _Driver()
            _DRIVER.start()
        return _DRIVER


# --------------------------------------------------------------------------------------
# The async wrapper
# --------------------------------------------------------------------------------------


def _consume(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def converse(
    address: str,
    port: int,
    username: str,
    password: str,
    *,
    timeout: float,
    host: str | None,
    what: str,
    steps: Callable[[], Steps[T]],
    send_close: bool = True,
) -> T:
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    redactor.register(password)
    label = host or address
    loop = asyncio.get_running_loop()
    started: asyncio.Future[None] = loop.create_future()

    def mark_started() -> None:
        if not started.done():
            started.set_result(None)

    cfuture: concurrent.futures.Future[T] = concurrent.futures.Future()
    conversation = _Conversation(
        address=address,
        port=port,
        username=username,
        password=password,
        timeout=timeout,
        label=label,
        what=what,
        steps=steps,
        send_close=send_close,
        future=cfuture,
        on_start=lambda: loop.call_soon_threadsafe(mark_started),
    )
    afuture = asyncio.wrap_future(cfuture, loop=loop)
    afuture.add_done_callback(_consume)
    _driver().submit(conversation)
    try:
        first: set[asyncio.Future[Any]] = {started, afuture}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        return await asyncio.wait_for(asyncio.shield(afuture), timeout + _SAFETY_MARGIN)
    except TimeoutError:
        conversation.cancelled = True
        raise IpmiError(
            f"{what}: no answer within {timeout:g} s (the IPMI driver was blocked)",
            host=label,
            url=ipmi_url(address, port),
        ) from None
    except BaseException:
        conversation.cancelled = True
        raise
    finally:
        if not started.done():
            started.cancel()
