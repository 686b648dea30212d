"""Tasks (and vendor jobs) as data-driven state machines on the virtual clock.

A task's future is a list of *steps* with absolute virtual times: each may change
TaskState, PercentComplete (optionally ramping linearly from the previous step), add
messages, update vendor fields (`oem`) and trigger a named *effect* the profile
implements (flash, BMC reset...). Steps are plain dicts, so tasks persist to JSON and
resume after a restart. A task can also *wait* (for a host reset, StartUpdate, an AC
cycle); the profile extends it with new steps when that happens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from hwfw.sim.service.base import BmcService

TERMINAL = frozenset({"Completed", "Exception", "Killed", "Cancelled"})


@dataclass
class Task:
    id: str
    name: str
    created: float
    state: str = "New"
    percent: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    end: float | None = None
    monitor: str | None = None
    visible_at: float = 0.0
    purge_at: float | None = None
    monitor_purge_at: float | None = None
    monitor_204_served: bool = False
    hidden: bool = False
    kind: str = "update"
    waiting: str | None = None
    last_step_at: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    oem: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def status(self) -> str:
        """TaskStatus: Critical if any message is Critical, else Warning if any, else OK."""
        sev = {m.get("MessageSeverity") or m.get("Severity") for m in self.messages}
        if "Critical" in sev or self.state == "Exception":
            return "Critical"
        if "Warning" in sev:
            return "Warning"
        return "OK"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Task:
        return cls(**d)


def steps_from(start: float, *items: tuple[float, dict[str, Any]]) -> list[dict[str, Any]]:
    """Absolute steps from (delay-after-previous, fields) pairs starting at `start`."""
    out = []
    t = start
    for delay, fields in items:
        t += delay
        out.append({"at": t, **fields})
    return out


class TaskEngine:
    """Runs every task of one BMC; the service supplies effects and persistence."""

    def __init__(self, service: BmcService, max_tasks: int = 64) -> None:
        self.service = service
        self.max_tasks = max_tasks
        self.tasks: dict[str, Task] = {}
        self.listeners: list[Callable[[Task], None]] = []
        self._gen = 0

    @property
    def _now(self) -> float:
        return self.service.world.clock.now()

    # ------------------------------------------------------------ creation and timers
    def add(self, task: Task) -> Task:
        self.tasks[task.id] = task
        task.last_step_at = self._now
        self._evict()
        self._changed(task)
        return task

    def _evict(self) -> None:
        while len(self.tasks) > self.max_tasks:
            oldest = next(iter(self.tasks))
            self.tasks.pop(oldest)

    def schedule(self, task: Task, steps: Iterable[dict[str, Any]]) -> None:
        task.steps.extend(steps)
        task.steps.sort(key=lambda s: s["at"])
        task.waiting = None
        self._arm(task)

    def _arm(self, task: Task) -> None:
        if not task.steps:
            return
        gen = self._gen
        self.service.world.scheduler.at(task.steps[0]["at"], lambda: self._fire(task.id, gen))

    def _fire(self, task_id: str, gen: int) -> None:
        task = self.tasks.get(task_id)
        if task is None or gen != self._gen:
            return
        now = self._now
        fired = False
        while task.steps and task.steps[0]["at"] <= now + 1e-9:
            step = task.steps.pop(0)
            self._apply(task, step)
            fired = True
            if task.terminal:
                task.steps.clear()
        if task.steps and fired:
            self._arm(task)

    def _apply(self, task: Task, step: dict[str, Any]) -> None:
        task.last_step_at = step["at"]
        if "percent" in step:
            task.percent = int(step["percent"])
        if "messages" in step:
            task.messages = list(step["messages"])
        if "message" in step:
            task.messages.append(step["message"])
        if "add_messages" in step:
            task.messages.extend(step["add_messages"])
        if "oem" in step:
            task.oem.update(step["oem"])
        if "name" in step:
            task.name = step["name"]
        if "state" in step:
            self.set_state(task, step["state"], at=step["at"])
        if "waiting" in step:
            task.waiting = step["waiting"]
        if "effect" in step:
            self.service.task_effect(task, step["effect"], step.get("args") or {})
        self._changed(task)

    def set_state(self, task: Task, state: str, at: float | None = None) -> None:
        job_state = task.oem.get("JobState")
        if task.state == state and job_state == task.data.get("_logged_job_state"):
            return
        changed = task.state != state
        task.state = state
        if changed and state in TERMINAL:
            task.end = at if at is not None else self._now
            task.waiting = None
            task.steps.clear()
            self.service.on_task_terminal(task)
        if job_state is not None:  # a vendor job (Dell): log its own state, the DMTF one beside it
            task.data["_logged_job_state"] = job_state
            self.service.world.events.emit(self.service.name, "task", id=task.id, state=job_state, task_state=state,
                                           percent=task.percent, name=task.name)
        else:
            self.service.world.events.emit(self.service.name, "task", id=task.id, state=state,
                                           percent=task.percent, name=task.name)

    def finish(self, task: Task, state: str, messages: list[dict[str, Any]] | None = None,
               percent: int | None = None) -> None:
        """End a task now (cancel, delete, failure outside the step plan)."""
        if messages is not None:
            task.messages.extend(messages)
        if percent is not None:
            task.percent = percent
        self.set_state(task, state)
        self._changed(task)

    def _changed(self, task: Task) -> None:
        self.service.touch()
        for listener in self.listeners:
            listener(task)

    # ------------------------------------------------------------ reads
    def percent(self, task: Task) -> int:
        """PercentComplete now, interpolated while a ramping step approaches."""
        if task.steps and task.steps[0].get("ramp") and "percent" in task.steps[0]:
            nxt = task.steps[0]
            t0, t1 = task.last_step_at, nxt["at"]
            if t1 > t0:
                frac = min(1.0, max(0.0, (self._now - t0) / (t1 - t0)))
                return int(task.percent + (int(nxt["percent"]) - task.percent) * frac)
        return task.percent

    def get(self, task_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        if task is None:
            return None
        now = self._now
        if now < task.visible_at or (task.purge_at is not None and now >= task.purge_at):
            return None
        return task

    def by_monitor(self, path: str) -> Task | None:
        for task in self.tasks.values():
            if task.monitor == path:
                return task
        return None

    def visible(self) -> list[Task]:
        return [t for t in self.tasks.values() if not t.hidden and self.get(t.id) is not None]

    def waiting_for(self, what: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.waiting == what and not t.terminal]

    def active(self) -> list[Task]:
        return [t for t in self.tasks.values() if not t.terminal]

    # ------------------------------------------------------------ life cycle
    def wipe(self) -> None:
        """The BMC rebooted: its task list is gone, as after a real BMC reset."""
        self._gen += 1
        self.tasks.clear()

    def to_list(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.tasks.values()]

    def restore(self, items: list[dict[str, Any]]) -> None:
        self._gen += 1
        self.tasks = {d["id"]: Task.from_dict(d) for d in items}
        for task in self.tasks.values():
            self._arm(task)


def inject_exception(steps: list[dict[str, Any]], at_percent: int, message: dict[str, Any]) -> list[dict[str, Any]]:
    """Cut a step plan where PercentComplete reaches `at_percent` and end it in Exception there."""
    out: list[dict[str, Any]] = []
    prev_t, prev_p = (steps[0]["at"], 0) if steps else (0.0, 0)
    for step in steps:
        p = int(step.get("percent", prev_p))
        if p >= at_percent and p > prev_p:
            frac = (at_percent - prev_p) / (p - prev_p)
            at = prev_t + (step["at"] - prev_t) * frac
            out.append({"at": at, "percent": at_percent, "ramp": bool(step.get("ramp")), "state": "Exception",
                        "message": message, "effect": "failed"})
            return out
        if step.get("state") == "Completed" or step.get("effect") in ("flash_done",):
            out.append({"at": step["at"], "percent": max(at_percent, p), "state": "Exception", "message": message,
                        "effect": "failed"})
            return out
        out.append(step)
        prev_t, prev_p = step["at"], p
    return out
