"""`hwfw apply [DIR]`: plan, confirm, and bring the fleet to its baselines.

The CLI only wires options to `hwfw.apply.run.run_apply`, renders the plan and the
progress (`RichHooks`: a live view on stderr, plain lines when stderr is not a
terminal; `--format json`: one event per line on stdout) and picks the exit code.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from hwfw.apply.events import (HOST_CONVERGED, STEP_FAILED, STEP_SKIPPED, HostOutcome, RunInfo, RunSummary,
                               StepOutcome)
from hwfw.apply.hooks import JsonLinesHooks
from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.cli import cli
from hwfw.cli.common import EXIT_INTERRUPTED, app_context, format_option, stderr_console, stdout_console, workspace_argument
from hwfw.cli.inputs import insecure_option, load, target_option, warn_insecure
from hwfw.config.model import format_duration, parse_duration
from hwfw.errors import HwfwError
from hwfw.plan.model import Plan, Step
from hwfw.render.plan import render_text

EXIT_HELP = """Exit codes: 0 every host converged (or nothing to do); 1 an error, or a host failed,
was rolled back, refused, skipped or not started; 2 only deferred hosts remain (the
--window/--until ended before they could start: nothing is wrong, run apply again in
the next window); 130 interrupted (state is consistent; run apply again to resume)."""


class RichHooks:
    """People's progress view: per host the current step, task percent, elapsed time
    and ETA, plus a fleet summary line. Plain lines when stderr is not a terminal."""

    def __init__(self, console: Console, plan: Plan | None = None) -> None:
        self.console = console
        self.live_mode = console.is_terminal
        self.rows: dict[str, dict[str, Any]] = {}
        self.totals = {"hosts": 0, "done": 0, "failed": 0}
        self.time_scale = 1.0
        self.remaining: dict[str, float] = {}
        self.t0 = time.monotonic()
        self.live: Live | None = None
        self.plan = plan

    # -- rendering
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

    # -- hooks
    def run_started(self, info: RunInfo) -> None:
        self.totals["hosts"] = len(info.hosts)
        self.time_scale = info.time_scale or 1.0
        if self.plan is not None:
            for s in self.plan.steps:
                self.remaining[s.host] = self.remaining.get(s.host, 0.0) + s.estimate_seconds
        if self.live_mode:
            self.live = Live(self._table(), console=self.console, refresh_per_second=4, transient=True)
            self.live.start()
        self._line(f"Applying to {len(info.hosts)} host(s), run {info.run_id} (parallelism {info.parallelism}"
                   + (f", max unavailable {info.max_unavailable}" if info.max_unavailable else "")
                   + (f", canary {info.canary}" if info.canary else "") + ")")

    def host_started(self, host: str, steps: int) -> None:
        self.rows[host] = {"t0": time.monotonic(), "step": "pre-flight"}
        self._refresh()

    def step_started(self, host: str, step: Step) -> None:
        r = self.rows.setdefault(host, {"t0": time.monotonic()})
        r.update(step=step.id.split("/", 1)[1], percent=None, message="")
        if not self.live_mode:
            self._line(f"{host}: {step.id.split('/', 1)[1]} ...")
        self._refresh()

    def step_progress(self, host: str, step: Step, percent: float | None, message: str) -> None:
        r = self.rows.setdefault(host, {"t0": time.monotonic()})
        r.update(percent=percent, message=message)
        self._refresh()

    def step_finished(self, host: str, step: Step, outcome: StepOutcome) -> None:
        self.remaining[host] = max(0.0, self.remaining.get(host, 0.0) - step.estimate_seconds)
        name = step.id.split("/", 1)[1]
        if outcome.status == STEP_FAILED:
            self._line(f"{host}: {name} failed: {outcome.message}", "red")
        elif outcome.status == STEP_SKIPPED:
            if outcome.reason == "upstream failed" or self.live_mode is False:
                self._line(f"{host}: {name} skipped: {outcome.reason}", "dim")
        elif not self.live_mode:
            self._line(f"{host}: {name} {outcome.status}" + (f" ({outcome.message})" if outcome.message else ""))
        self._refresh()

    def host_finished(self, host: str, outcome: HostOutcome) -> None:
        r = self.rows.setdefault(host, {"t0": time.monotonic()})
        r["finished"] = True
        self.totals["done"] += 1
        if outcome.status not in (HOST_CONVERGED,):
            self.totals["failed"] += outcome.status in ("failed", "rolled-back")
        style = "green" if outcome.status == HOST_CONVERGED else "red" if outcome.status in (
            "failed", "rolled-back", "refused", "skipped") else "yellow"
        resets = ", ".join(f"{n} {k}" for k, n in sorted(outcome.resets.items()))
        self._line(f"{host}: {outcome.status}" + (f" - {outcome.message}" if outcome.message else "")
                   + (f" ({resets})" if resets else ""), style)
        self._refresh()

    def run_finished(self, summary: RunSummary) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        style = "green" if summary.exit_code == 0 else "yellow" if summary.exit_code == 2 else "red"
        self.console.print(Text(summary.line(), style=f"bold {style}"))

    def warning(self, message: str, host: str | None = None) -> None:
        self._line(f"warning: {host + ': ' if host else ''}{message}", "yellow")


def parse_until(text: str, now: datetime) -> datetime:
    """`HH:MM` (today, or tomorrow once passed; local time) or an ISO 8601 date-time."""
    text = text.strip()
    try:
        t = datetime.strptime(text, "%H:%M")
        local_now = now.astimezone()
        when = local_now.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)
        if when <= local_now:
            when += timedelta(days=1)
        return when
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: expected HH:MM or an ISO 8601 date-time", param_hint="--until") from None
    return when if when.tzinfo else when.astimezone()


def _confirm_on_terminal(plan: Plan) -> bool:
    if not sys.stdin.isatty():
        raise HwfwError("apply needs confirmation but stdin is not a terminal",
                        hint="review the plan, then run again with --auto-approve (or apply a saved plan "
                             "with --plan FILE --auto-approve)")
    err = stderr_console()
    err.print("\n[bold]Do you want to apply this plan?[/bold] hwfw will flash and reset the hosts above. "
              "Only 'yes' is accepted.")
    answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
    return answer.strip() == "yes"


def _sigterm_as_interrupt() -> None:
    """Before the executor installs its own handlers, SIGTERM behaves like Ctrl-C."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


@cli.command(epilog=EXIT_HELP)
@workspace_argument
@format_option()
@target_option
@insecure_option
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Apply this saved plan (hwfw plan --out) exactly, after checking it is not stale.")
@click.option("--refresh-stale", is_flag=True, help="With --plan: re-plan the hosts that drifted and ask again.")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (automation).")
@click.option("--parallelism", type=click.IntRange(min=1), help="Hosts at once (default settings.parallelism).")
@click.option("--max-unavailable", metavar="N|P%", help="Hosts out of service at once (default policies).")
@click.option("--canary", type=click.IntRange(min=0), help="First N hosts must converge before the rest start.")
@click.option("--failure-budget", metavar="N|P%", help="Stop starting hosts once more than this failed.")
@click.option("--window", metavar="DURATION", help="Maintenance window from now, e.g. 4h: never start a step "
              "whose estimate would overrun it; hosts not started are deferred.")
@click.option("--until", "until_text", metavar="TIME", help="End of the window as HH:MM or an ISO date-time.")
@click.option("--allow-pending", is_flag=True, help="Touch hosts with unrelated pending jobs or BIOS settings.")
@click.option("--sync", is_flag=True, help="Fetch images missing from the cache first.")
def apply(output_format: str, targets: tuple[str, ...], insecure: bool, plan_file: Path | None, refresh_stale: bool,
          auto_approve: bool, parallelism: int | None, max_unavailable: str | None, canary: int | None,
          failure_budget: str | None, window: str | None, until_text: str | None, allow_pending: bool,
          sync: bool) -> None:
    """Bring the fleet to its baselines: plan, confirm, flash, reset, verify.

    Resumable: an interrupted or killed apply is settled and continued by the next
    one; nothing is flashed twice. Ctrl-C (or SIGTERM) once: start nothing new and let
    in-flight steps finish; twice: leave them running on the BMCs (recorded).
    """
    app = app_context()
    _sigterm_as_interrupt()
    workspace = load(app.workspace)
    warn_insecure(insecure)
    try:
        window_s = parse_duration(window) if window else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    options = ApplyOptions(
        targets=targets, plan_file=plan_file, refresh_stale=refresh_stale, auto_approve=auto_approve,
        parallelism=parallelism, max_unavailable=max_unavailable, canary=canary, failure_budget=failure_budget,
        window=window_s, until=parse_until(until_text, datetime.now().astimezone()) if until_text else None,
        allow_pending=allow_pending, insecure=insecure, sync=sync)
    err = stderr_console()
    shown: dict[str, Plan] = {}

    def show(plan: Plan) -> None:
        shown["plan"] = plan
        if output_format == "text":
            render_text(plan, stdout_console())
        else:
            err.print(plan.summary.line())

    hooks: Any
    if output_format == "json":
        hooks = JsonLinesHooks(sys.stdout)
    else:
        hooks = _LazyRich(err, shown)
    try:
        result = asyncio.run(run_apply(workspace, options, hooks=hooks, show=show,
                                       confirm=_confirm_on_terminal, handle_signals=True))
    except KeyboardInterrupt:
        err.print("[red]Interrupted before anything was sent; nothing changed.[/red]")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    if result.message and (result.summary is None or output_format == "json"):
        err.print(escape(result.message), style="green" if result.exit_code == 0 else "red")
    raise click.exceptions.Exit(result.exit_code)


class _LazyRich:
    """RichHooks created when the run starts (it needs the plan for ETAs)."""

    def __init__(self, console: Console, shown: dict[str, Plan]) -> None:
        self.console, self.shown = console, shown
        self.inner: RichHooks | None = None

    def __getattr__(self, name: str) -> Any:
        if self.inner is None:
            self.inner = RichHooks(self.console, self.shown.get("plan"))
        return getattr(self.inner, name)
