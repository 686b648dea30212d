"""What a Task, a Dell job or a task monitor's answer says, and what it means.

A task follower (tasks.py) reads one observation per poll; a *verdict* function turns it
into an outcome or None (keep polling). The default verdict follows these rules:

- `Completed` ends the wait; its messages decide between success, "the BMC already
  has this image" (`UpdateSkippedSameVersion` and vendor twins: `skipped`, which the
  driver checks against the running version), a skip for any other reason
  (`UpdateSkipped`, `UpdateSkippedVersionTooLow`: nothing was installed, a failure
  whatever its severity) and a failure reported inside a completed task
  (`VerificationFailed`, ...);
- `Exception`/`Killed`/`Cancelled`/... (and vendor spellings) fail, with the most
  specific message;
- `UserIntervention` (Dell) means "written, needs a reboot or an AC cycle";
- states the caller calls *staged* (`Pending`/`Scheduled` for OnReset apply times)
  end the wait: only the activation remains;
- `OperationTransitionedToJob` moves the follower to the named job;
- anything else, including states outside the DMTF enum, keeps polling until the
  deadline: task state is a hint, the running version is the truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hwfw.logs import get_logger
from hwfw.redfish.errors import RedfishMessage, message_id_matches

__all__ = [
    "FAILED_STATES",
    "FAILURE_IDS",
    "NEEDS_ACTION_STATES",
    "OK_STATES",
    "RESET_HINTS",
    "RUNNING_STATES",
    "SKIPPED_OTHER",
    "SKIPPED_SAME",
    "Observation",
    "TaskOutcome",
    "any_message",
    "is_task_body",
    "judge_messages",
    "judge_task",
    "task_messages",
    "task_view",
]

log = get_logger("redfish.tasks")

RUNNING_STATES = frozenset({"New", "Starting", "Running", "Suspended", "Interrupted", "Pending", "Stopping",
                            "Service", "Cancelling", "Scheduled", "Scheduling", "Queued", "Downloading",
                            "Downloaded", "ReadyForExecution", "Waiting", "Paused", "PendingActivation",
                            "RebootPending", "RebootCompleted", "Validating", "Continue", "InProgress"})
OK_STATES = frozenset({"Completed"})
FAILED_STATES = frozenset({"Exception", "Killed", "Cancelled", "Aborted", "Failed", "CompletedWithErrors",
                           "RebootFailed", "Invalid", "Canceled"})
NEEDS_ACTION_STATES = frozenset({"UserIntervention"})
# Messages that mean "the BMC already has this image": success.
SKIPPED_SAME = ("Update.UpdateSkippedSameVersion", "UpdateSkippedSameVersion", "ComponentUpToDate",
                "UpdateSkippedSame", "RED052")
# Messages of a skip for another reason: nothing was installed (a failure, even at OK severity).
SKIPPED_OTHER = ("UpdateSkippedVersionTooLow", "UpdateSkipped")
FAILURE_IDS = ("VerificationFailed", "ApplyFailed", "ActivateFailed", "TransferFailed", "UpdateNotApplicable",
               "UpdateSkippedVersionTooLow", "UpdateSkipped", "CouldNotEstablishConnection",
               "ResourceAtUriUnauthorized", "RED106")
RESET_HINTS = ("ResetRequired", "AwaitToActivate", "SystemResetRequired", "JCP001", "RED014", "PR19")


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """How following an operation ended.

    `kind`: completed | staged | failed | vanished | skipped | needs-action (and
    transitioned, only between a verdict and the follower). `outage`: the BMC stopped
    answering at some point (it reset). `ok` is None when the task vanished before its
    end was seen: verify the result by reading the inventory.
    """

    kind: str
    state: str | None = None
    uri: str | None = None
    messages: tuple[RedfishMessage, ...] = ()
    message_id: str | None = None
    detail: str = ""
    outage: bool = False
    status: int | None = None
    percent: int | None = None
    body: Mapping[str, Any] | None = field(default=None, compare=False)
    polls: int = field(default=0, compare=False)

    @property
    def ok(self) -> bool | None:
        return {"failed": False, "vanished": None}.get(self.kind, True)

    @property
    def needs_action(self) -> bool:
        return self.kind == "needs-action"

    @property
    def task_uri(self) -> str | None:
        return self.uri


@dataclass(frozen=True, slots=True)
class Observation:
    """One answer of the resource being polled, as a verdict function sees it."""

    uri: str                                  # the task's own @odata.id when the body has one
    state: str | None
    percent: int | None
    messages: tuple[RedfishMessage, ...]
    body: Mapping[str, Any]
    outage: bool = False
    history: tuple[str, ...] = ()             # states seen before this one, oldest first


def is_task_body(body: Mapping[str, Any] | None) -> bool:
    if not body:
        return False
    kind = str(body.get("@odata.type", ""))
    return "TaskState" in body or "JobState" in body or ".Task" in kind or "#Task." in kind


def task_messages(body: Mapping[str, Any] | None) -> tuple[RedfishMessage, ...]:
    """Messages of a Task (or Dell job): `Messages[]`, or a job's own MessageId/Message;
    Supermicro's all-empty placeholder messages are dropped."""
    if not body:
        return ()
    out: list[RedfishMessage] = []
    raw = body.get("Messages")
    if isinstance(raw, list):
        out.extend(RedfishMessage.from_json(m) for m in raw if isinstance(m, Mapping))
    if body.get("MessageId") or (body.get("Message") and "JobState" in body):
        out.append(RedfishMessage(message_id=str(body.get("MessageId") or ""), message=str(body.get("Message") or ""),
                                  args=tuple(str(a) for a in body.get("MessageArgs") or ())))
    return tuple(m for m in out if m.message_id or m.message)


def task_view(body: Mapping[str, Any]) -> tuple[str | None, int | None, tuple[RedfishMessage, ...]]:
    """(state, percent, messages) of a Task or Dell job body."""
    state = body.get("TaskState") or body.get("JobState")
    pct = body.get("PercentComplete")
    return (str(state) if state is not None else None, int(pct) if isinstance(pct, (int, float)) else None,
            task_messages(body))


def any_message(messages: Iterable[RedfishMessage], *patterns: str) -> RedfishMessage | None:
    for m in messages:
        for p in patterns:
            if message_id_matches(m.message_id, p) or (m.message_id and m.message_id.endswith("." + p)) \
                    or (m.message_id and p in m.message_id):
                return m
    return None


def judge_messages(msgs: tuple[RedfishMessage, ...], state: str, uri: str | None,
                   outage: bool = False) -> TaskOutcome:
    """A finished operation's messages: skipped (same version), failed, or completed."""
    skipped = any_message(msgs, *SKIPPED_SAME)
    if skipped:
        return TaskOutcome("skipped", state, uri, msgs, skipped.message_id, skipped.message, outage)
    other = next((m for m in msgs if any(message_id_matches(m.message_id, k) for k in SKIPPED_OTHER)), None)
    if other:
        return TaskOutcome("failed", state, uri, msgs, other.message_id,
                           f"the BMC skipped the update: {other.message or other.message_id}", outage)
    bad = any_message(msgs, *FAILURE_IDS)
    if bad and (bad.severity or "").lower() in ("critical", "warning", "") and \
            not message_id_matches(bad.message_id, "UpdateSuccessful"):
        return TaskOutcome("failed", state, uri, msgs, bad.message_id, bad.message or bad.message_id, outage)
    last = msgs[-1] if msgs else None
    return TaskOutcome("completed", state, uri, msgs, last.message_id if last else None,
                       last.message if last else "", outage)


def judge_task(obs: Observation, staged: frozenset[str]) -> TaskOutcome | None:
    """The default verdict (see the module docstring); None = keep polling."""
    state, msgs, uri, outage = obs.state, obs.messages, obs.uri, obs.outage
    moved = any_message(msgs, "OperationTransitionedToJob")
    if moved and moved.args:
        return TaskOutcome("transitioned", state, moved.args[0], msgs)
    if state is None:
        return None
    if state in OK_STATES:
        return judge_messages(msgs, state, uri, outage)
    if state in FAILED_STATES:
        bad = next((m for m in reversed(msgs) if (m.severity or "").lower() == "critical"), None) or \
            any_message(msgs, *FAILURE_IDS) or (msgs[-1] if msgs else None)
        return TaskOutcome("failed", state, uri, msgs, bad.message_id if bad else None,
                           bad.message if bad else f"task ended {state}", outage=outage)
    if state in NEEDS_ACTION_STATES:
        return TaskOutcome("needs-action", state, uri, msgs, outage=outage,
                           detail=(msgs[-1].message if msgs else "written; needs a reboot or AC power cycle"))
    if state in staged:
        return TaskOutcome("staged", state, uri, msgs, outage=outage,
                           detail=(msgs[-1].message if msgs else f"staged ({state})"))
    if state not in RUNNING_STATES:
        log.debug("unknown task state %r at %s; still polling", state, uri)
    return None
