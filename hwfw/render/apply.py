"""An apply run for people: a live view on a terminal, plain lines otherwise.

`ApplyLiveView` is an event sink (hwfw/events.py) subscribed to the run's events: per
host the current step, task percent, elapsed time and ETA, plus a fleet summary line.
It reads the same payloads `hwfw apply --format json` writes, decoding outcomes with
their `from_json` (hwfw/apply/events.py); it never recomputes one.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hwfw.apply import events as ae
from hwfw.config.model import format_duration
from hwfw.events import Event
from hwfw.plan.model import Plan

__all__ = ["ApplyLiveView"]


def _step_name(step_id: str) -> str:
    """`lab-dell-01/flash/bios` -> `flash/bios`."""
    return step_id.split("/", 1)[1] if "/" in step_id else step_id


class ApplyLiveView:
    """See the module docstring. `plan` (set once the plan is shown) gives the ETAs."""

    def __init__(self, console: Console, plan: Plan | None = None) -> None:
        self.console = console
        self.plan = plan
        self.live_mode = console.is_terminal
        self.rows: dict[str, dict[str, Any]] = {}
        self.totals = {"hosts": 0, "done": 0, "failed": 0}
        self.time_scale = 1.0
        self.remaining: dict[str, float] = {}
        self.estimates: dict[str, float] = {}
        self.t0 = time.monotonic()
        self.live: Live | None = None
        self.repeats: dict[str, int] = {}   # warning text -> times seen
        self._handlers: Mapping[str, Callable[[Event], None]] = {
            ae.RUN_STARTED: self._run_started, ae.HOST_STARTED: self._host_started,
            ae.STEP_STARTED: self._step_started, ae.STEP_PROGRESS: self._step_progress,
            ae.STEP_FINISHED: self._step_finished, ae.HOST_FINISHED: self._host_finished,
            ae.RUN_FINISHED: self._run_finished, ae.WARNING: self._warning}

    def emit(self, event: Event) -> None:
        handler = self._handlers.get(event.name)
        if handler is not None:
            handler(event)

    # -- drawing
    def _table(self) -> Group:
        table = Table(box=None, padding=(0, 1), show_header=True, header_style="dim")
        for col in ("host", "step", "progress", "elapsed", "ETA"):
            table.add_column(col)
        for host, r in self.rows.items():
            if r.get("finished"):
                continue
            pct = r.get("percent")
            eta = self.remaining.get(host, 0.0) / self.time_scale
            table.add_row(host, escape(r.get("step", "starting")), f"{pct:.0f}%" if pct is not None else
                          escape(r.get("message", "")[:40]), format_duration(time.monotonic() - r["t0"]),
                          format_duration(eta) if eta else "")
        t = self.totals
        line = Text(f"{t['done']}/{t['hosts']} hosts finished, {t['failed']} failed, "
                    f"{format_duration(time.monotonic() - self.t0)} elapsed", style="bold")
        return Group(table, line)

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def _line(self, text: str, style: str = "") -> None:
        if self.live is not None:
            self.live.console.print(Text(text, style=style))
        else:
            self.console.print(Text(text, style=style))

    def _row(self, host: str) -> dict[str, Any]:
        return self.rows.setdefault(host, {"t0": time.monotonic()})

    # -- events
    def _run_started(self, e: Event) -> None:
        run = e.payload["run"]
        self.t0 = time.monotonic()
        self.totals["hosts"] = len(run["hosts"])
        self.time_scale = run.get("time_scale") or 1.0
        if self.plan is not None:
            for s in self.plan.steps:
                self.remaining[s.host] = self.remaining.get(s.host, 0.0) + s.estimate_seconds
                self.estimates[s.id] = s.estimate_seconds
        if self.live_mode:
            self.live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        self._line(f"Applying to {len(run['hosts'])} host(s), run {run['run_id']} (parallelism {run['parallelism']}"
                   + (f", max unavailable {run['max_unavailable']}" if run.get("max_unavailable") else "")
                   + (f", canary {run['canary']}" if run.get("canary") else "") + ")")

    def _host_started(self, e: Event) -> None:
        assert e.host is not None
        self.rows[e.host] = {"t0": time.monotonic(), "step": "pre-flight"}
        self._refresh()

    def _step_started(self, e: Event) -> None:
        assert e.host is not None
        step = e.payload["step"]
        self.estimates.setdefault(step["id"], step["estimate_seconds"])
        self._row(e.host).update(step=_step_name(step["id"]), percent=None, message="")
        if not self.live_mode:
            self._line(f"{e.host}: {_step_name(step['id'])} ...")
        self._refresh()

    def _step_progress(self, e: Event) -> None:
        assert e.host is not None
        self._row(e.host).update(percent=e.payload.get("percent"), message=e.payload.get("message", ""))
        self._refresh()

    def _step_finished(self, e: Event) -> None:
        host, step_id = e.host, e.step_id
        assert host is not None and step_id is not None
        outcome = ae.StepOutcome.from_json(e.payload["outcome"])
        self.remaining[host] = max(0.0, self.remaining.get(host, 0.0) - self.estimates.get(step_id, 0.0))
        name = _step_name(step_id)
        if outcome.status == ae.STEP_FAILED:
            self._line(f"{host}: {name} failed: {outcome.message}", "red")
        elif outcome.status == ae.STEP_SKIPPED:
            if outcome.reason == ae.SKIP_UPSTREAM or self.live_mode is False:
                self._line(f"{host}: {name} skipped: {outcome.reason}", "dim")
        elif not self.live_mode:
            self._line(f"{host}: {name} {outcome.status}" + (f" ({outcome.message})" if outcome.message else ""))
        self._refresh()

    def _host_finished(self, e: Event) -> None:
        host = e.host
        assert host is not None
        outcome = ae.HostOutcome.from_json(e.payload["outcome"])
        self._row(host)["finished"] = True
        self.totals["done"] += 1
        if outcome.status != ae.HOST_CONVERGED:
            self.totals["failed"] += outcome.status in ae.FAILED_OUTCOMES
        style = "green" if outcome.status == ae.HOST_CONVERGED else "red" if outcome.status in (
            ae.HOST_FAILED, ae.HOST_ROLLED_BACK, ae.HOST_REFUSED, ae.HOST_SKIPPED) else "yellow"
        resets = ", ".join(f"{n} {k}" for k, n in sorted(outcome.resets.items()))
        self._line(f"{host}: {outcome.status}" + (f" - {outcome.message}" if outcome.message else "")
                   + (f" ({resets})" if resets else ""), style)
        self._refresh()

    def _run_finished(self, e: Event) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        self._repeated()
        summary = ae.RunSummary.from_json(e.payload["summary"])
        style = "green" if summary.exit_code == 0 else "yellow" if summary.exit_code == 2 else "red"
        self.console.print(Text(summary.line(), style=f"bold {style}"))

    def _warning(self, e: Event) -> None:
        # The same warning again (a BMC polled while it stays busy) is counted, not
        # printed: the run's end says how often it came.
        text = f"warning: {e.host + ': ' if e.host else ''}{e.payload['message']}"
        seen = self.repeats.get(text)
        self.repeats[text] = (seen or 0) + 1
        if seen is None:
            self._line(text, "yellow")

    def _repeated(self) -> None:
        for text, count in self.repeats.items():
            if count > 1:
                self.console.print(Text(f"{text} (repeated {count} times)", style="yellow"))
        self.repeats.clear()
