"""Following Redfish asynchronous operations to their end, whatever the BMC's dialect.

The variants (protocol brief sections 1.7 and 0.3-0.4):

- spec: `202 + Location: <monitor>`; the monitor answers 202 (Task body) while running,
  then the original request's final response (200/201/204 or an error), then may 404;
- OpenBMC bmcweb: the monitor answers 204 once, then 404;
- Dell: `Location` is a Task URI (`/TaskService/Tasks/JID_...`) answering 200 with a
  running TaskState, purged soon after completion;
- Supermicro: 202 whose body carries the Task URI in
  `Accepted.@Message.ExtendedInfo[].MessageArgs`;
- TaskState outside the DMTF enum (Dell `UserIntervention`, SMC `Failed`, `Scheduled`):
  unknown states keep polling until the deadline; `UserIntervention` means "written,
  needs a reboot or AC cycle" and ends the wait.

The BMC may disappear while the task runs (self-update): connection errors and 5xx are
tolerated until the deadline; a 401 is handled by the session (re-login).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from hwfw.clock import Clock
from hwfw.errors import BmcAuthError, BmcError, BmcUnreachable
from hwfw.logs import get_logger
from hwfw.redfish.client import parse_retry_after
from hwfw.redfish.errors import RedfishMessage, extended_info, parse_error_info
from hwfw.redfish.session import RedfishSession

__all__ = [
    "TERMINAL_FAILED",
    "TERMINAL_OK",
    "TaskOutcome",
    "TaskProgress",
    "TaskRef",
    "follow_task",
    "task_ref_from_response",
]

log = get_logger("redfish.tasks")

TERMINAL_OK = frozenset({"Completed"})
TERMINAL_FAILED = frozenset({"Exception", "Killed", "Cancelled", "Aborted", "Failed"})
# Dell: the image is written, activation needs a host reboot or a virtual AC cycle.
TERMINAL_NEEDS_ACTION = frozenset({"UserIntervention"})
_RUNNING = frozenset({"New", "Starting", "Running", "Suspended", "Interrupted", "Pending", "Stopping",
                      "Service", "Cancelling", "Scheduled", "Queued"})
# A freshly created Dell job may 404 for a few seconds (sushy retries 3 x 10 s).
_NOT_YET_THERE_POLLS = 3


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Where to watch an operation: the task monitor and/or the Task resource."""

    monitor: str | None = None
    task: str | None = None

    def __bool__(self) -> bool:
        return bool(self.monitor or self.task)


@dataclass(frozen=True, slots=True)
class TaskProgress:
    """One observation while polling (for progress hooks)."""

    state: str | None
    percent: int | None
    messages: tuple[RedfishMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How an operation ended.

    `ok` is True (Completed, or the monitor returned a 2xx final response), False
    (Exception/Killed/Cancelled/error response) or None when the task vanished before
    its end was seen: verify the result by re-reading the inventory.
    """

    state: str
    ok: bool | None
    status: int | None = None
    body: Mapping[str, Any] | None = None
    messages: tuple[RedfishMessage, ...] = ()
    percent: int | None = None
    task_uri: str | None = None
    needs_action: bool = False
    message_id: str | None = None
    detail: str = ""
    polls: int = field(default=0, compare=False)


def task_ref_from_response(session: RedfishSession, response: httpx.Response) -> TaskRef:
    """The task monitor and Task URIs an action answer points at (empty if none)."""
    monitor = response.headers.get("location")
    monitor = session.client.uri_of(monitor) if monitor else None
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            body = None
    task: str | None = None
    if isinstance(body, dict):
        if _is_task(body) and isinstance(body.get("@odata.id"), str):
            task = body["@odata.id"]  # sushy prefers the body's Task over Location
        else:
            task = _task_uri_in_messages(extended_info(body))
    if monitor and "/TaskService/Tasks/" in monitor and task is None:
        task, monitor = monitor, None  # Dell and Supermicro: Location is the Task itself
    if monitor and task and monitor.rstrip("/") == task.rstrip("/"):
        monitor = None
    return TaskRef(monitor=monitor, task=session.client.uri_of(task) if task else None)


def _task_uri_in_messages(messages: tuple[RedfishMessage, ...]) -> str | None:
    for m in messages:
        for arg in m.args:
            if "/TaskService/Tasks/" in arg or "/TaskMonitors/" in arg or "/Jobs/" in arg:
                return arg
    return None


def _is_task(body: Mapping[str, Any]) -> bool:
    kind = str(body.get("@odata.type", ""))
    return "TaskState" in body or "JobState" in body or ".Task" in kind or "#Task." in kind


async def follow_task(session: RedfishSession, ref: TaskRef | httpx.Response, *, clock: Clock,
                      timeout: float, poll_interval: float = 5.0, min_interval: float = 0.0,
                      max_interval: float = 60.0,
                      on_progress: Callable[[TaskProgress], Awaitable[None] | None] | None = None) -> TaskOutcome:
    """Poll an operation until it ends or `timeout` seconds (on `clock`) have passed.

    Polls the monitor while there is one (honouring `Retry-After`, bounded by
    min/max_interval), otherwise the Task. Raises `BmcError` when the deadline passes
    with the task still running or the BMC still unreachable.
    """
    if isinstance(ref, httpx.Response):
        if ref.status_code not in (202,) and not ref.headers.get("location"):
            body = json_object(ref)
            return TaskOutcome(state="Completed" if ref.status_code < 400 else "Exception",
                               ok=ref.status_code < 400, status=ref.status_code, body=body,
                               messages=extended_info(body))
        ref = task_ref_from_response(session, ref)
    if not ref:
        raise BmcError("no task monitor or Task URI to follow", host=session.host)
    deadline = clock.monotonic() + timeout
    monitor, task = ref.monitor, ref.task
    polls = 0
    misses = 0
    last: TaskProgress | None = None
    last_error: BmcError | None = None
    while True:
        uri = monitor or task
        assert uri is not None
        polls += 1
        wait = poll_interval
        try:
            response = await session.request("GET", uri, check=False, retries=1)
        except BmcAuthError:
            raise
        except BmcError as exc:  # unreachable/5xx while the BMC flashes itself: keep trying
            last_error = exc
        else:
            last_error = None
            status = response.status_code
            body = json_object(response)
            after = parse_retry_after(response.headers.get("retry-after"), clock)
            if after is not None:
                wait = after
            if status == 404:
                if uri == monitor and task:
                    monitor = None  # the monitor is gone; the Task may still tell us
                    continue
                if last is None and misses < _NOT_YET_THERE_POLLS:
                    misses += 1
                else:
                    return TaskOutcome(state=last.state if last and last.state else "Gone", ok=None, status=404,
                                       percent=last.percent if last else None, task_uri=task,
                                       messages=last.messages if last else (), polls=polls,
                                       detail="the task disappeared before its end was seen; verify the result")
            elif uri == monitor and status != 202:
                outcome = _final_from_monitor(response, body, task, polls)
                if outcome is not None:
                    return outcome
                # A 200 Task body with a running state: keep polling.
                last = _progress(body)
            elif status >= 500 or status in (429,):
                last_error = BmcError(f"polling answered HTTP {status}", host=session.host,
                                      url=str(response.request.url), status=status)
            elif status >= 400:
                info = parse_error_info(response)
                return TaskOutcome(state="Exception", ok=False, status=status, body=body, messages=info.messages,
                                   task_uri=task, message_id=info.message_id, detail=info.message, polls=polls)
            else:
                progress = _progress(body)
                last = progress
                done = _terminal(progress, body, status, task or uri, polls)
                if done is not None:
                    return done
            if last is not None and on_progress is not None:
                result = on_progress(last)
                if result is not None:
                    await result
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            state = last.state if last and last.state else "unknown"
            reason = f"; last error: {last_error.message}" if last_error else ""
            cls = BmcUnreachable if last_error and isinstance(last_error, BmcUnreachable) else BmcError
            raise cls(f"task did not finish within {timeout:g}s (last state {state}{reason})",
                      host=session.host, url=str(session.client.url_for(uri)),
                      hint="the BMC may still be working; check its task list before retrying")
        await clock.sleep(min(max(wait, min_interval), max_interval, remaining))


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None (empty, not JSON, not an object)."""
    if not response.content:
        return None
    try:
        doc = response.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _progress(body: Mapping[str, Any] | None) -> TaskProgress:
    if not body:
        return TaskProgress(state=None, percent=None)
    state = body.get("TaskState") or body.get("JobState")
    pct = body.get("PercentComplete")
    raw = body.get("Messages")
    msgs = tuple(RedfishMessage.from_json(m) for m in raw if isinstance(m, dict)) if isinstance(raw, list) else ()
    # Supermicro placeholder messages have every field empty; drop them.
    msgs = tuple(m for m in msgs if m.message_id or m.message)
    return TaskProgress(state=str(state) if state is not None else None,
                        percent=int(pct) if isinstance(pct, (int, float)) else None, messages=msgs)


def _terminal(progress: TaskProgress, body: Mapping[str, Any] | None, status: int, task: str | None,
              polls: int) -> TaskOutcome | None:
    state = progress.state
    if state is None or state in _RUNNING:
        return None
    ok: bool | None
    if state in TERMINAL_OK:
        ok = True
    elif state in TERMINAL_FAILED:
        ok = False
    elif state in TERMINAL_NEEDS_ACTION:
        ok = True
    else:
        log.debug("unknown TaskState %r; still polling", state)
        return None
    failing = next((m for m in progress.messages if (m.severity or "").lower() in ("critical", "warning")
                    and not ok), None) or (progress.messages[-1] if progress.messages else None)
    return TaskOutcome(state=state, ok=ok, status=status, body=body, messages=progress.messages,
                       percent=progress.percent, task_uri=task, needs_action=state in TERMINAL_NEEDS_ACTION,
                       message_id=failing.message_id if failing else None,
                       detail=failing.message if failing else "", polls=polls)


def _final_from_monitor(response: httpx.Response, body: Mapping[str, Any] | None, task: str | None,
                        polls: int) -> TaskOutcome | None:
    """The monitor stopped answering 202: this is the operation's final response
    (or, on BMCs that serve the Task at the monitor URI, a Task body to judge)."""
    status = response.status_code
    if body is not None and _is_task(body):
        return _terminal(_progress(body), body, status, task, polls)
    if status >= 400:
        info = parse_error_info(response)
        return TaskOutcome(state="Exception", ok=False, status=status, body=body, messages=info.messages,
                           task_uri=task, message_id=info.message_id, detail=info.message, polls=polls)
    msgs = extended_info(body) if body else ()
    return TaskOutcome(state="Completed", ok=True, status=status, body=body, messages=msgs, task_uri=task,
                       polls=polls)
