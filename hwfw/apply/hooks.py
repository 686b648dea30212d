"""Progress reporting of an apply run: one protocol, several subscribers.

The executor calls a `Hooks` object at each event; hooks only observe (they return
nothing and must not block). `NullHooks` ignores everything, `JsonLinesHooks` writes
one JSON object per line (schemas/events.schema.json) for machines, and the CLI's
`RichHooks` (hwfw/cli/apply.py) draws a live view for people. The core never imports
rich. Every text that leaves through a hook passes the credential redactor.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Protocol, TextIO

from hwfw.apply.events import HostOutcome, RunInfo, RunSummary, StepOutcome, event_json
from hwfw.clock import Clock, SystemClock, utc_now_iso
from hwfw.logs import redactor
from hwfw.plan.model import Step


class Hooks(Protocol):
    def run_started(self, info: RunInfo) -> None: ...

    def host_started(self, host: str, steps: int) -> None: ...

    def step_started(self, host: str, step: Step) -> None: ...

    def step_progress(self, host: str, step: Step, percent: float | None, message: str) -> None: ...

    def step_finished(self, host: str, step: Step, outcome: StepOutcome) -> None: ...

    def host_finished(self, host: str, outcome: HostOutcome) -> None: ...

    def run_finished(self, summary: RunSummary) -> None: ...

    def warning(self, message: str, host: str | None = None) -> None: ...


class NullHooks:
    """Ignores every event; subclass it to listen to a few."""

    def run_started(self, info: RunInfo) -> None:
        pass

    def host_started(self, host: str, steps: int) -> None:
        pass

    def step_started(self, host: str, step: Step) -> None:
        pass

    def step_progress(self, host: str, step: Step, percent: float | None, message: str) -> None:
        pass

    def step_finished(self, host: str, step: Step, outcome: StepOutcome) -> None:
        pass

    def host_finished(self, host: str, outcome: HostOutcome) -> None:
        pass

    def run_finished(self, summary: RunSummary) -> None:
        pass

    def warning(self, message: str, host: str | None = None) -> None:
        pass


class MultiHooks:
    """Fans every event out to several hooks, in order."""

    def __init__(self, *hooks: Hooks) -> None:
        self.hooks = hooks

    def __getattr__(self, name: str) -> Any:
        targets = [getattr(h, name) for h in self.hooks]

        def call(*args: Any, **kwargs: Any) -> None:
            for t in targets:
                t(*args, **kwargs)

        return call


def _step_json(step: Step) -> dict[str, Any]:
    return {"id": step.id, "kind": step.kind, "component": step.component, "from": step.from_version,
            "to": step.to_version, "activation": step.activation, "estimate_seconds": step.estimate_seconds}


class JsonLinesHooks:
    """One JSON object per line (schemas/events.schema.json), flushed per event.

    Progress events are thinned to one per step per whole percent, so a chatty BMC
    cannot flood the stream.
    """

    def __init__(self, stream: TextIO | None = None, clock: Clock | None = None) -> None:
        self.stream = stream or sys.stdout
        self.clock = clock or SystemClock()
        self.run_id = ""
        self._last_percent: dict[str, int | None] = {}

    def _emit(self, type_: str, **fields: Any) -> None:
        doc = event_json(type_, utc_now_iso(self.clock), self.run_id, **fields)
        self.stream.write(redactor(json.dumps(doc, sort_keys=True, ensure_ascii=False)) + "\n")
        self.stream.flush()

    def run_started(self, info: RunInfo) -> None:
        self.run_id = info.run_id
        self._emit("run-started", run=info.to_json())

    def host_started(self, host: str, steps: int) -> None:
        self._emit("host-started", host=host, steps=steps)

    def step_started(self, host: str, step: Step) -> None:
        self._last_percent.pop(step.id, None)
        self._emit("step-started", host=host, step=_step_json(step))

    def step_progress(self, host: str, step: Step, percent: float | None, message: str) -> None:
        whole = None if percent is None else int(percent)
        if step.id in self._last_percent and self._last_percent[step.id] == whole and whole is not None:
            return
        self._last_percent[step.id] = whole
        self._emit("step-progress", host=host, step_id=step.id, percent=percent, message=message)

    def step_finished(self, host: str, step: Step, outcome: StepOutcome) -> None:
        self._last_percent.pop(step.id, None)
        self._emit("step-finished", host=host, step_id=step.id, kind=step.kind, outcome=outcome.to_json())

    def host_finished(self, host: str, outcome: HostOutcome) -> None:
        self._emit("host-finished", host=host, outcome=outcome.to_json())

    def run_finished(self, summary: RunSummary) -> None:
        self._emit("run-finished", summary=summary.to_json())

    def warning(self, message: str, host: str | None = None) -> None:
        self._emit("warning", host=host, message=message)
