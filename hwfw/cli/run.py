"""`hwfw run list|show|cancel|attach`: the runs of a workspace, on either engine.

Thin: hwfw.api's `Workspace.runs` does the work (the run log, the Temporal service).
`attach` renders a rollout's events exactly as `hwfw apply` does (the live view, or JSON
lines with --format json) and exits with the run's exit code; Ctrl-C stops following
only.
"""

from __future__ import annotations

import sys

import click
from rich.markup import escape

from hwfw.api import JsonLinesSink, RunRow, TemporalTarget, open_workspace
from hwfw.cli import cli
from hwfw.cli.common import (
    app_context,
    emit_json,
    emit_text,
    examples,
    format_option,
    run,
    stderr_console,
    temporal_options,
    workspace_option,
)
from hwfw.events import EventSink
from hwfw.render.apply import ApplyLiveView

STATUS_STYLE = {"running": "cyan", "succeeded": "green", "failed": "red", "interrupted": "yellow"}


def _target(address: str | None, namespace: str | None) -> TemporalTarget:
    return TemporalTarget(address, namespace)


@examples("hwfw run list -C examples/lab",
          "hwfw run attach 3f2a9c0d1e4b --temporal-address 10.0.0.5:7233",
          "hwfw run cancel 3f2a9c0d1e4b")
@cli.group("run")
def run_group() -> None:
    """List, show, follow and stop the runs of a workspace (local and Temporal engines)."""


def _line(r: RunRow) -> str:
    style = STATUS_STYLE.get(r.status, "")
    hosts = f"{r.hosts} hosts" if r.hosts else ""
    code = f"exit {r.exit_code}" if r.exit_code is not None else ""
    parts = [r.run_id, r.engine.ljust(8), f"[{style}]{r.status.ljust(11)}[/{style}]" if style else r.status.ljust(11),
             r.started or "-", r.finished or "-", hosts, code, escape(r.detail)]
    return "  ".join(p for p in parts if p)


@examples("hwfw run list -C examples/lab", "hwfw run list --format json")
@run_group.command("list")
@workspace_option
@temporal_options
@format_option()
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
def run_list(output_format: str, temporal_address: str | None, namespace: str | None, limit: int) -> None:
    """Runs, newest first: RUN ENGINE STATUS STARTED FINISHED."""
    ws = open_workspace(app_context().workspace_dir)
    rows = run(lambda _cancel: ws.runs.list(limit=limit, temporal=_target(temporal_address, namespace)))
    if output_format == "json":
        emit_json([r.to_json() for r in rows])
        return
    if not rows:
        emit_text("(no runs)")
        return
    out = app_context().out
    for r in rows:
        out.print(_line(r), highlight=False, soft_wrap=True)


@examples("hwfw run show 3f2a9c0d1e4b -C examples/lab", "hwfw run show 3f2a9c0d1e4b --format json")
@run_group.command("show")
@workspace_option
@temporal_options
@format_option()
@click.argument("run_id", metavar="RUN")
def run_show(output_format: str, temporal_address: str | None, namespace: str | None, run_id: str) -> None:
    """One run: its engine, status, times and (Temporal) its progress or result."""
    ws = open_workspace(app_context().workspace_dir)
    row = run(lambda _cancel: ws.runs.show(run_id, temporal=_target(temporal_address, namespace)))
    if output_format == "json":
        emit_json(row.to_json())
        return
    app_context().out.print(_line(row), highlight=False, soft_wrap=True)


@examples("hwfw run cancel 3f2a9c0d1e4b -C examples/lab", "hwfw run cancel 3f2a9c0d1e4b --force")
@run_group.command("cancel")
@workspace_option
@temporal_options
@click.option("--force", is_flag=True, help="Stop in-flight steps too, where they are (the next apply settles them).")
@click.argument("run_id", metavar="RUN")
def run_cancel(temporal_address: str | None, namespace: str | None, force: bool, run_id: str) -> None:
    """Stop a run: nothing new starts and in-flight steps finish (again, or --force: stop them too)."""
    ws = open_workspace(app_context().workspace_dir)
    message = run(lambda _cancel: ws.runs.cancel(run_id, force=force, temporal=_target(temporal_address, namespace)))
    stderr_console().print(escape(message))


@examples("hwfw run attach 3f2a9c0d1e4b -C examples/lab",
          "hwfw run attach 3f2a9c0d1e4b --temporal-address 10.0.0.5:7233 --format json")
@run_group.command("attach")
@workspace_option
@temporal_options
@format_option()
@click.argument("run_id", metavar="RUN")
def run_attach(output_format: str, temporal_address: str | None, namespace: str | None, run_id: str) -> None:
    """Follow a Temporal rollout to its end, as hwfw apply shows it; exit with its exit code.

    Ctrl-C stops following; the rollout goes on."""
    ws = open_workspace(app_context().workspace_dir)
    err = stderr_console()
    events: EventSink = JsonLinesSink(sys.stdout) if output_format == "json" else ApplyLiveView(err)
    result = run(lambda cancel: ws.runs.attach(run_id, on_event=events, cancel=cancel,
                                               temporal=_target(temporal_address, namespace)))
    if result.message and (result.summary is None or output_format == "json"):
        err.print(escape(result.message), style="green" if result.exit_code == 0 else "red")
    raise click.exceptions.Exit(result.exit_code)
