"""`hwfw apply [DIR]`: plan, confirm, and bring the fleet to its baselines.

The CLI only wires options to `hwfw.api.Workspace.apply`, renders the plan and
subscribes to the run's events (hwfw/events.py): `ApplyLiveView`, a live view on
stderr (plain lines when stderr is not a terminal), or with `--format json` one event
per line on stdout. SIGINT and SIGTERM are the run's cancel requests. Then it picks
the exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import click
from rich.markup import escape

from hwfw.api import (
    ApplyOptions,
    JsonLinesSink,
    Plan,
    PlanDocument,
    TemporalTarget,
    load_plan,
    open_workspace,
    parse_duration,
)
from hwfw.cancel import CancelToken
from hwfw.cli import cli
from hwfw.cli.common import (
    accept_options,
    app_context,
    engine_options,
    examples,
    format_option,
    insecure_options,
    interruptible_prompt,
    parallelism_option,
    parse_accept,
    run,
    selection_options,
    stderr_console,
    stdout_console,
    warn,
    warn_insecure,
    workspace_argument,
)
from hwfw.errors import HwfwError
from hwfw.events import EventSink
from hwfw.render.apply import ApplyLiveView
from hwfw.render.plan import render_text

EXIT_HELP = """Exit codes: 0 every host converged (or nothing to do); 1 an error, or a host failed,
was rolled back, refused, skipped (also: unreachable with --allow-unreachable) or not
started; 2 only deferred hosts remain (the --window/--until ended before they could
start: nothing is wrong, run apply again in the next window); 130 interrupted (state
is consistent; run apply again to resume)."""


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


def _confirm_on_terminal(token: CancelToken) -> Callable[[Plan], bool]:
    def confirm(plan: Plan) -> bool:
        if not sys.stdin.isatty():
            raise HwfwError("apply needs confirmation but stdin is not a terminal",
                            hint="review the plan, then run again with --auto-approve (or apply a saved plan "
                                 "with --plan FILE --auto-approve)")
        err = stderr_console()
        err.print("\n[bold]Do you want to apply this plan?[/bold] hwfw will flash and reset the hosts above. "
                  "Only 'yes' is accepted.")
        with interruptible_prompt(token):
            answer = click.prompt("  Enter a value", default="", show_default=False, err=True)
        return bool(answer.strip() == "yes")
    return confirm


def _saved_plan(plan_file: Path | None) -> PlanDocument | None:
    """The saved plan; its recorded workspace is used when none was given."""
    if plan_file is None:
        return None
    saved = load_plan(plan_file)
    app = app_context()
    recorded = saved.workspace
    if app.workspace is None and recorded is not None:
        app.workspace = recorded
    elif recorded is not None and app.workspace is not None and recorded != app.workspace.resolve():
        warn(f"{plan_file} was made from the workspace {recorded}; applying it in {app.workspace} (a plan made "
             "from other files is refused as stale)")
    return saved


@examples("hwfw apply examples/lab",
          "hwfw apply --plan plan.json --auto-approve",
          "hwfw apply -C examples/lab --exclude lab-hpe-02 --allow-unreachable -j 4 --canary 1",
          "hwfw apply --target 'lab-dell-*' --window 4h --format json",
          "hwfw apply --engine temporal --temporal-address 10.0.0.5:7233 --auto-approve --detach",
          "hwfw apply --auto-approve --metrics-file /var/lib/node_exporter/textfile/hwfw.prom")
@cli.command(epilog=EXIT_HELP)
@workspace_argument
@format_option()
@selection_options
@insecure_options
@accept_options
@click.option("--plan", "plan_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="PLAN",
              help="Apply this saved plan (hwfw plan --out) exactly, after checking it is not stale. It records "
                   "its workspace: no -C needed.")
@click.option("--refresh-stale", is_flag=True, help="With --plan: re-plan the hosts that drifted and ask again.")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (automation).")
@parallelism_option("Hosts at once (default settings.parallelism).")
@click.option("--max-unavailable", metavar="N|P%", help="Hosts out of service at once (default policies).")
@click.option("--canary", type=click.IntRange(min=0), help="First N hosts must converge before the rest start.")
@click.option("--failure-budget", metavar="N|P%", help="Stop starting hosts once more than this failed.")
@click.option("--window", metavar="DURATION", help="Maintenance window from now, e.g. 4h: never start a step "
              "whose estimate would overrun it; hosts not started are deferred.")
@click.option("--until", "until_text", metavar="TIME", help="End of the window as HH:MM or an ISO date-time.")
@click.option("--allow-pending", is_flag=True, help="Touch hosts with unrelated pending jobs or BIOS settings.")
@click.option("--sync", is_flag=True, help="Fetch images missing from the cache first.")
@engine_options
@click.option("--detach", is_flag=True, help="With --engine temporal: return once the rollout started "
              "(follow it with hwfw run attach RUN).")
@click.option("--metrics-file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help="Write the run's metrics there when it ends, in node_exporter's textfile format (atomically).")
def apply(output_format: str, targets: tuple[str, ...], exclude: tuple[str, ...], insecure: bool,
          ca_bundle: Path | None, accept_unknown: tuple[str, ...], allow_unreachable: bool, plan_file: Path | None,
          refresh_stale: bool, auto_approve: bool, parallelism: int | None, max_unavailable: str | None,
          canary: int | None, failure_budget: str | None, window: str | None, until_text: str | None,
          allow_pending: bool, sync: bool, engine: str | None, temporal_address: str | None,
          namespace: str | None, detach: bool, metrics_file: Path | None) -> None:
    """Bring the fleet to its baselines: plan, confirm, flash, reset, verify.

    Resumable: an interrupted or killed apply is settled and continued by the next
    one; nothing is flashed twice. Ctrl-C (or SIGTERM) once: start nothing new and let
    in-flight steps finish; twice: leave them running on the BMCs (recorded).

    With --engine temporal (or settings.engine) the plan runs as a rollout workflow on
    a Temporal service, executed by `hwfw worker` processes (one per site); this
    command follows it, and Ctrl-C only stops following: the rollout goes on
    (hwfw run attach RUN to follow it again, hwfw run cancel RUN to stop it).
    """
    saved = _saved_plan(plan_file)
    app = app_context()
    ws = open_workspace(app.workspace_dir, insecure=insecure, ca_bundle=ca_bundle)
    warn_insecure(insecure)
    try:
        window_s = parse_duration(window) if window else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--window") from None
    options = ApplyOptions(
        targets=targets, exclude=exclude, accept_unknown=tuple(parse_accept(accept_unknown)),
        allow_unreachable=allow_unreachable, plan_file=plan_file, refresh_stale=refresh_stale,
        auto_approve=auto_approve, parallelism=parallelism, max_unavailable=max_unavailable, canary=canary,
        failure_budget=failure_budget, window=window_s,
        until=parse_until(until_text, datetime.now().astimezone()) if until_text else None,
        allow_pending=allow_pending, insecure=insecure, sync=sync)
    err = stderr_console()
    view = ApplyLiveView(err)

    def show(plan: Plan) -> None:
        view.plan = plan  # for the ETAs
        if output_format == "text":
            render_text(plan, stdout_console())
        else:
            err.print(plan.summary.line())

    from hwfw.api.service.record import record_apply  # the run store: only when applying

    events: EventSink = JsonLinesSink(sys.stdout) if output_format == "json" else view
    result = run(lambda cancel: ws.apply(saved, options, on_event=events, on_plan=show,
                                         confirm=_confirm_on_terminal(cancel), cancel=cancel, record=record_apply,
                                         metrics_file=metrics_file, engine=engine,
                                         temporal=TemporalTarget(temporal_address, namespace), detach=detach))
    if result.message and (result.summary is None or output_format == "json"):
        err.print(escape(result.message), style="green" if result.exit_code == 0 else "red")
    raise click.exceptions.Exit(result.exit_code)

