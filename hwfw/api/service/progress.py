"""A run's progress, folded from its events: per host, each step's state, timings, errors.

`RunProgress.apply(event)` takes one event (schemas/events.schema.json) at a time, so
the server keeps a live view of an active run and rebuilds the view of a past run from
its stored events; the dashboard folds the same events the same way in the browser.
Host states: `waiting` (not started), `running`, then from the host's outcome `done`
(converged), `failed` (failed, rolled back, refused), `skipped` (skipped, deferred, not
started) or `interrupted`. Step states: `waiting`, `running`, then the step outcome's
status (`ok`, `pending-activation`, `not-needed`, `failed`, `skipped`, `interrupted`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["HOST_STATE", "RunProgress"]

HOST_STATE = {"converged": "done", "failed": "failed", "rolled-back": "failed", "refused": "failed",
              "skipped": "skipped", "deferred": "skipped", "not-started": "skipped", "interrupted": "interrupted"}


@dataclass
class StepView:
    id: str
    kind: str
    component: str | None = None
    from_version: str | None = None
    to_version: str | None = None
    state: str = "running"
    started: str | None = None
    finished: str | None = None
    percent: float | None = None
    message: str | None = None
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "component": self.component, "from": self.from_version,
                "to": self.to_version, "state": self.state, "started": self.started, "finished": self.finished,
                "percent": self.percent, "message": self.message, "seconds": self.seconds}


@dataclass
class HostView:
    name: str
    state: str = "waiting"
    status: str | None = None          # the host outcome's status once finished
    steps_total: int = 0
    steps_done: int = 0
    started: str | None = None
    finished: str | None = None
    seconds: float | None = None
    message: str | None = None
    steps: dict[str, StepView] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "status": self.status, "steps_total": self.steps_total,
                "steps_done": self.steps_done, "started": self.started, "finished": self.finished,
                "seconds": self.seconds, "message": self.message,
                "steps": [s.to_json() for s in self.steps.values()]}


@dataclass
class RunProgress:
    """The fold of one run's events (see the module docstring)."""

    hosts: dict[str, HostView] = field(default_factory=dict)
    last_seq: int = 0
    started: str | None = None
    finished: str | None = None
    summary: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)   # a sync: image id -> last state

    def _host(self, name: str) -> HostView:
        view = self.hosts.get(name)
        if view is None:
            view = self.hosts[name] = HostView(name)
        return view

    def apply(self, seq: int, event: dict[str, Any]) -> None:
        self.last_seq = max(self.last_seq, seq)
        kind, when, host = event.get("type"), event.get("time"), event.get("host")
        if kind == "run-started":
            self.started = when
            for name in (event.get("run") or {}).get("hosts", ()):
                self._host(name)
        elif kind == "run-finished":
            self.finished, self.summary = when, event.get("summary")
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif str(kind).startswith("image-") and kind != "image-served":
            self.images[str(event.get("image"))] = {"event": event.get("event"), "bytes": event.get("bytes"),
                                                    "total": event.get("total"), "error": event.get("error")}
        elif host is not None:
            self._host_event(self._host(host), str(kind), when, event)

    def _host_event(self, view: HostView, kind: str, when: str | None, event: dict[str, Any]) -> None:
        if kind == "host-started":
            view.state, view.started, view.steps_total = "running", when, int(event.get("steps", 0))
        elif kind == "step-started":
            step = event.get("step") or {}
            view.steps[step.get("id", "?")] = StepView(
                id=step.get("id", "?"), kind=step.get("kind", "?"), component=step.get("component"),
                from_version=step.get("from"), to_version=step.get("to"), started=when)
        elif kind == "step-progress":
            step_view = view.steps.get(str(event.get("step_id")))
            if step_view is not None:
                step_view.percent, step_view.message = event.get("percent"), event.get("message")
        elif kind == "step-finished":
            outcome = event.get("outcome") or {}
            step_view = view.steps.get(str(event.get("step_id")))
            if step_view is None:
                step_view = view.steps[str(event.get("step_id"))] = StepView(str(event.get("step_id")),
                                                                              str(event.get("kind")))
            step_view.state, step_view.finished = str(outcome.get("status", "?")), when
            step_view.seconds, step_view.message = outcome.get("seconds"), outcome.get("message") or step_view.message
            if step_view.state in ("ok", "pending-activation", "not-needed"):
                view.steps_done += 1
        elif kind == "host-finished":
            outcome = event.get("outcome") or {}
            view.status = str(outcome.get("status"))
            view.state = HOST_STATE.get(view.status, view.status)
            view.finished, view.seconds = when, outcome.get("seconds")
            view.steps_done = int(outcome.get("steps_done", view.steps_done))
            view.steps_total = int(outcome.get("steps_total", view.steps_total))
            view.message = outcome.get("message")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for view in self.hosts.values():
            out[view.state] = out.get(view.state, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"last_seq": self.last_seq, "started": self.started, "finished": self.finished,
                "summary": self.summary, "warnings": list(self.warnings), "counts": self.counts(),
                "hosts": [self.hosts[h].to_json() for h in sorted(self.hosts)],
                "images": [{"id": k, **v} for k, v in sorted(self.images.items())]}
