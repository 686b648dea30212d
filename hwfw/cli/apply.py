"""`hwfw apply [DIR]`: plan, confirm, and bring the fleet to its baselines.

The CLI only wires options to `hwfw.apply.run.run_apply`, renders the plan and
subscribes to the run's events (hwfw/events.py): `ApplyLiveView`, a live view on
stderr (plain lines when stderr is not a terminal), or with `--format json` one event
per line on stdout. Then it picks the exit code.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.cli import cli
from hwfw.cli.common import EXIT_INTERRUPTED, app_context, format_option, stderr_console, stdout_console, workspace_argument
from hwfw.cli.inputs import insecure_option, load, target_option, warn_insecure
from hwfw.config.model import parse_duration
from hwfw.errors import HwfwError
from hwfw.events import EventSink, JsonLinesSink
from hwfw.plan.model import Plan
from hwfw.render.apply import ApplyLiveView
from hwfw.render.plan import render_text

EXIT_HELP = """Exit codes: 0 every host converged (or nothing to do); 1 an error, or a host failed,
was rolled back, refused, skipped or not started; 2 only deferred hosts remain (the
--window/--until ended before they could start: nothing is wrong, run apply again in
the next window); 130 interrupted (state is consistent; run apply again to resume)."""


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
    view = ApplyLiveView(err)

    def show(plan: Plan) -> None:
        view.plan = plan  # for the ETAs
        if output_format == "text":
            render_text(plan, stdout_console())
        else:
            err.print(plan.summary.line())

    events: EventSink = JsonLinesSink(sys.stdout) if output_format == "json" else view
    try:
        result = asyncio.run(run_apply(workspace, options, events=events, show=show,
                                       confirm=_confirm_on_terminal, handle_signals=True))
    except KeyboardInterrupt:
        err.print("[red]Interrupted before anything was sent; nothing changed.[/red]")
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    if result.message and (result.summary is None or output_format == "json"):
        err.print(escape(result.message), style="green" if result.exit_code == 0 else "red")
    raise click.exceptions.Exit(result.exit_code)


# `hwfw provision`: the firmware-first flow for new servers is `apply` (README, "From
# racked server to configured server"); the alias names it and takes the same options.
provision = click.Command(
    "provision", params=apply.params, callback=apply.callback, epilog=EXIT_HELP,
    help="Provision servers firmware-first: the same run as apply.\n\n"
         "Pre-flight, firmware analysis, firmware updates, reboot and validation, BIOS settings (after the BIOS "
         "they need is active), post-configuration validation. Usually with --target for the new hosts.")
cli.add_command(provision)
