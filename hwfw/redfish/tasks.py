"""Following Redfish asynchronous operations to their end, whatever the BMC's dialect.

The variants (DSP0266 "Asynchronous operations", and what BMCs really do):

- spec: `202 + Location: <monitor>`; the monitor answers 202 (Task body) while running,
  then the original request's final response (200/201/204 or an error), then may 404;
- OpenBMC bmcweb: the monitor answers 204 once, then 404;
- Dell: `Location` is a Task URI (`/TaskService/Tasks/JID_...`) answering 200 with a
  running TaskState, 404 for the first seconds after creation, purged soon after
  completion and on every iDRAC reboot; the Dell job behind it survives both
  (`FollowPolicy.job_uri`);
- Supermicro: 202 whose body carries the Task URI in
  `Accepted.@Message.ExtendedInfo[].MessageArgs`, and a TaskMonitor that answers the
  Task body (202 while running, 200 at the end);
- HPE iLO 5: no task at all; `UpdateService.Oem.Hpe.State` is polled with its own
  observation and verdict (`FollowPolicy.observe`, `.verdict`, `.tolerate_errors`).

    policy = FollowPolicy(poll_interval=10, max_wait=1800, staged_states=frozenset({"Pending"}))
    outcome = await follow_task(session, response, clock=clock, policy=policy)

The BMC may disappear while the task runs (self-update): connection errors, 5xx and
429 are tolerated until the deadline (`outage` records that it went away); a refused
token triggers one fresh login. `TaskTimeout` is raised when `max_wait` passes first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from hwfw.clock import Clock
from hwfw.errors import BmcError
from hwfw.logs import get_logger
from hwfw.redfish.errors import RedfishMessage, extended_info, parse_error_info
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.taskstate import Observation, TaskOutcome, is_task_body, judge_messages, judge_task, task_view
from hwfw.retry import RetryPolicy, parse_retry_after, polling

__all__ = [
    "FollowPolicy",
    "Observation",
    "TaskOutcome",
    "TaskRef",
    "TaskTimeout",
    "default_verdict",
    "follow_task",
    "json_object",
    "task_ref_from_response",
]

log = get_logger("redfish.tasks")

Viewer = Callable[[Mapping[str, Any]], "tuple[str | None, int | None, tuple[RedfishMessage, ...]]"]


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Where to watch an operation: the task monitor and/or the Task resource."""

    monitor: str | None = None
    task: str | None = None

    def __bool__(self) -> bool:
        return bool(self.monitor or self.task)


def default_verdict(obs: Observation, policy: FollowPolicy) -> TaskOutcome | None:
    return judge_task(obs, policy.staged_states)


@dataclass(frozen=True, slots=True)
class FollowPolicy:
    """How to follow one operation on one kind of BMC.

    `retry_after_min`/`_max` bound the wait a BMC asks for with Retry-After (the poll
    interval otherwise; no wait is shorter than `retry_after_min`). `grace_polls`: 404s
    tolerated for a URI never seen yet (a job just created) before it counts as gone.
    `job_uri`: where the job behind a purged Task lives. `verdict(observation, policy)`:
    an outcome, or None to keep polling.
    `observe(body)`: (state, percent, messages) of a body. `tolerate_errors`: the polled
    resource is no task (HPE UpdateService): an error answer never ends the operation.
    `outage_statuses`: answers that mean the BMC went away (it is resetting).
    """

    poll_interval: float = 5.0
    max_wait: float = 600.0
    retry_after_min: float = 0.0
    retry_after_max: float = 60.0
    staged_states: frozenset[str] = frozenset()
    grace_polls: int = 3
    job_uri: Callable[[str], str | None] | None = None
    verdict: Callable[[Observation, FollowPolicy], TaskOutcome | None] = default_verdict
    observe: Viewer = task_view
    tolerate_errors: bool = False
    outage_statuses: frozenset[int] = frozenset({500, 502, 504})

    def polls(self) -> RetryPolicy:
        """The wait between polls: the interval, or the BMC's Retry-After within bounds."""
        return polling(self.poll_interval, min_wait=self.retry_after_min, max_wait=self.retry_after_max)


class TaskTimeout(BmcError):
    """The operation had not ended when the policy's `max_wait` passed."""

    def __init__(self, message: str, *, host: str, url: str | None, last_state: str | None, outage: bool,
                 hint: str | None = None) -> None:
        super().__init__(message, host=host, url=url, hint=hint)
        self.last_state = last_state
        self.outage = outage


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None (empty, not JSON, not an object)."""
    if not response.content:
        return None
    try:
        doc = response.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def task_ref_from_response(session: RedfishSession, response: httpx.Response) -> TaskRef:
    """The task monitor and Task URIs an action answer points at (empty if none)."""
    monitor = response.headers.get("location")
    monitor = session.client.uri_of(monitor) if monitor else None
    body = json_object(response)
    task: str | None = None
    if body is not None:
        if is_task_body(body) and isinstance(body.get("@odata.id"), str):
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


async def follow_task(session: RedfishSession, ref: TaskRef | httpx.Response, *, clock: Clock,
                      policy: FollowPolicy,
                      on_progress: Callable[[Observation], None] | None = None) -> TaskOutcome:
    """Poll an operation until it ends; see the module docstring.

    `ref` is a TaskRef or the action's answer (an answer without a monitor or Task is
    judged at once). `on_progress` sees every observation whose state, percent or
    messages changed. Raises `TaskTimeout` when `policy.max_wait` passes first.
    """
    if isinstance(ref, httpx.Response):
        answer, ref = ref, task_ref_from_response(session, ref)
        if not ref:
            return _synchronous(answer)
    if not ref:
        raise BmcError("no task monitor or Task URI to follow", host=session.host)
    return await _Follower(session, ref, clock, policy, on_progress).run()


def _synchronous(response: httpx.Response) -> TaskOutcome:
    body = json_object(response)
    if response.status_code >= 400:
        info = parse_error_info(response)
        return TaskOutcome("failed", "Exception", None, info.messages, info.message_id, info.message,
                           status=response.status_code, body=body)
    return replace(judge_messages(extended_info(body), "Completed", None), status=response.status_code, body=body)


async def _poll(session: RedfishSession, uri: str, clock: Clock) -> tuple[httpx.Response | BmcError, float | None]:
    """One GET of the polled resource, and the wait the BMC asked for (Retry-After), if
    any. A BMC that does not answer (resetting, refusing) is an error value, never an
    exception: the caller keeps polling until its deadline."""
    try:
        response = await session.request("GET", uri, check=False, retries=0)
    except BmcError as exc:
        return exc, None
    return response, parse_retry_after(response.headers.get("retry-after"), clock)


_AGAIN = "again"   # poll the next URI right away
_WAIT = "wait"     # poll again after the wait


@dataclass
class _Follower:
    session: RedfishSession
    ref: TaskRef
    clock: Clock
    policy: FollowPolicy
    on_progress: Callable[[Observation], None] | None
    monitor: str | None = None
    task: str | None = None
    job: str | None = None
    seen: set[str] = field(default_factory=set)
    misses: dict[str, int] = field(default_factory=dict)
    last: Observation | None = None
    history: list[str] = field(default_factory=list)
    carried: tuple[RedfishMessage, ...] = ()
    outage: bool = False
    polls: int = 0
    final_status: int | None = None   # the monitor's final answer, when the Task is read after it

    async def run(self) -> TaskOutcome:
        self.monitor, self.task = self.ref.monitor, self.ref.task
        waits = self.policy.polls().attempts(self.clock, deadline=self.clock.monotonic() + self.policy.max_wait)
        while True:
            uri = self.monitor or self.task or self.job
            if uri is None:
                return self._vanished(None)
            self.polls += 1
            answer, retry_after = await _poll(self.session, uri, self.clock)
            if isinstance(answer, BmcError):
                self.outage = True  # unreachable or refusing logins while the BMC resets
                log.debug("%s: polling %s: %s", self.session.host, uri, answer.message)
                step: TaskOutcome | str = _WAIT
            else:
                step = await self._answer(uri, answer)
            if isinstance(step, TaskOutcome):
                return replace(step, polls=self.polls)
            if step == _AGAIN:
                continue
            wait = waits.next_delay(retry_after)
            if wait is None:
                raise self._timeout()
            await self.clock.sleep(wait)

    async def _answer(self, uri: str, response: httpx.Response) -> TaskOutcome | str:
        status = response.status_code
        body = json_object(response)
        if status in (401, 403):
            self.outage = True  # the session was re-created and still refused: the BMC is half up
            await _try_login_again(self.session)
            return _WAIT
        if status >= 500 or status == 429 or (self.policy.tolerate_errors and status >= 400):
            self.outage = self.outage or status in self.policy.outage_statuses
            return _WAIT
        if status == 404:
            return self._gone(uri, status)
        if uri == self.monitor and status == 204:
            # bmcweb: 204 once when done; the Task (if known) has the messages.
            self.seen.add(uri)
            if self.task:
                self.monitor, self.final_status = None, status
                return _AGAIN
            return TaskOutcome("completed", "Completed", uri, self._last_messages(), outage=self.outage,
                               status=status)
        if uri == self.monitor and status != 202 and not is_task_body(body):
            self.seen.add(uri)  # the monitor's final answer: the original request's response
            if status >= 400:
                return self._error(uri if not self.task else self.task, response, body)
            outcome = judge_messages(extended_info(body), "Completed", self.task or uri, self.outage)
            return replace(outcome, status=status, body=body)
        if status >= 400:
            return self._error(uri, response, body)
        if body is None:
            return _WAIT
        self.seen.add(uri)
        return self._observed(uri, status, body)

    def _observed(self, uri: str, status: int, body: Mapping[str, Any]) -> TaskOutcome | str:
        state, percent, messages = self.policy.observe(body)
        here = body.get("@odata.id") if is_task_body(body) else None
        obs = Observation(str(here or uri), state, percent, messages, body, self.outage, tuple(self.history))
        if self.on_progress is not None and (self.last is None or (state, percent, len(messages)) !=
                                             (self.last.state, self.last.percent, len(self.last.messages))):
            self.on_progress(obs)
        self.last = obs
        if state is not None:
            self.history.append(state)
        verdict = self.policy.verdict(obs, self.policy)
        if verdict is None:
            return _WAIT
        if verdict.kind == "transitioned":
            self.job, self.task, self.monitor = verdict.uri, None, None
            self.carried = messages  # the Task's Update.* messages; a Job has only its own
            log.info("%s: operation moved to job %s", self.session.host, verdict.uri)
            return _AGAIN
        if self.carried and verdict.kind == "completed":
            verdict = judge_messages(messages + self.carried, verdict.state or "Completed", verdict.uri,
                                     self.outage)
        return replace(verdict, status=self.final_status or status, percent=percent, body=body)

    def _gone(self, uri: str, status: int) -> TaskOutcome | str:
        """A 404: a job just created (not there yet), or the resource is gone for good."""
        if uri not in self.seen and self.misses.get(uri, 0) < self.policy.grace_polls and not self.outage:
            self.misses[uri] = self.misses.get(uri, 0) + 1
            return _WAIT
        if uri == self.monitor:
            self.monitor = None  # the monitor is gone; the Task may still tell
        elif uri == self.task:
            self.task = None
            job = self.policy.job_uri(uri) if self.policy.job_uri else None
            self.job = self.job or job
        else:
            self.job = None
        if self.monitor or self.task or self.job:
            return _AGAIN
        return self._vanished(status)

    def _vanished(self, status: int | None) -> TaskOutcome:
        last = self.last
        return TaskOutcome("vanished", last.state if last else None, self.ref.task or self.ref.monitor,
                           self._last_messages(), outage=self.outage, status=status,
                           percent=last.percent if last else None,
                           detail="the task disappeared before its end was seen; verify the result")

    def _error(self, uri: str, response: httpx.Response, body: Mapping[str, Any] | None) -> TaskOutcome:
        info = parse_error_info(response)
        return TaskOutcome("failed", "Exception", uri, info.messages, info.message_id, info.message,
                           outage=self.outage, status=response.status_code, body=body)

    def _last_messages(self) -> tuple[RedfishMessage, ...]:
        return self.last.messages if self.last else ()

    def _timeout(self) -> TaskTimeout:
        state = self.last.state if self.last else None
        where = self.ref.task or self.ref.monitor
        return TaskTimeout(
            f"the task did not finish within {self.policy.max_wait:g}s (last state {state or 'unknown'}"
            f"{', BMC unreachable' if self.outage else ''})", host=self.session.host,
            url=str(self.session.client.url_for(where)) if where else None, last_state=state, outage=self.outage,
            hint="the BMC may still be working; check its task list before retrying")


async def _try_login_again(session: RedfishSession) -> None:
    """After a refused token: log in from scratch if the BMC lets us (the session's own
    re-login budget may be spent on a half-up BMC)."""
    try:
        await session.login_again()
        session.relogins = 0
    except BmcError as exc:
        log.debug("%s: login not possible yet: %s", session.host, exc.message)
