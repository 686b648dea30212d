"""`hwfw plan [DIR]`: what apply would do, in what order, with how many reboots."""

from __future__ import annotations

from pathlib import Path

import click

from hwfw import __version__
from hwfw.cli import cli
from hwfw.cli.common import (EXIT_CHANGES, EXIT_ERROR, EXIT_OK, app_context, emit_json, emit_text,
                             format_option, workspace_argument)
from hwfw.cli.inputs import insecure_option, inventory_for, load, target_option
from hwfw.clock import utc_now_iso
from hwfw.config.digests import input_digests
from hwfw.plan import plan as make_plan
from hwfw.render.plan import render_markdown, render_text
from hwfw.state.files import atomic_write_json
from hwfw.state.lock import WorkspaceLock
from hwfw.state.store import StateStore


def parse_accept(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        host, sep, component = value.partition(":")
        if not sep or not host or not component:
            raise click.BadParameter(f"{value!r}: expected HOST:COMPONENT", param_hint="--accept-unknown")
        out.append((host, component))
    return out


@cli.command()
@workspace_argument
@format_option("markdown")
@target_option
@insecure_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Save the plan for `hwfw apply --plan FILE`.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there are no changes, 1 on error, 2 when changes are pending.")
@click.option("--parallelism", type=click.IntRange(min=1), help="Hosts at once (for the estimate).")
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Plan offline against a snapshot written by `hwfw inventory --out`.")
@click.option("--accept-unknown", multiple=True, metavar="HOST:COMPONENT",
              help="Flash over an unknown or uncomparable current version (repeatable).")
@click.option("--allow-unreachable", is_flag=True, help="Unreachable hosts are warnings, not errors.")
@click.option("--strict", is_flag=True,
              help="Warnings are errors (e.g. a change that could not be rolled back under on_failure: rollback-host).")
@click.option("--lock/--no-lock", default=True, show_default=True,
              help="Hold the workspace lock while reading state and the simulated fleet.")
@click.option("--max-chars", type=click.IntRange(min=1000), metavar="N",
              help="With --format markdown: cut between hosts to stay within N characters, with a note "
                   "saying how many hosts were left out (a pull-request comment holds 65,536).")
def plan(output_format: str, targets: tuple[str, ...], insecure: bool, out: Path | None,
         detailed_exitcode: bool, parallelism: int | None, snapshot: Path | None,
         accept_unknown: tuple[str, ...], allow_unreachable: bool, strict: bool, lock: bool,
         max_chars: int | None) -> None:
    """Compare the live fleet with the workspace and show the update plan. Read-only.

    Exit codes: 0 ok, 1 error (refused items, unreachable hosts; with --strict also any
    warning), 2 changes pending with --detailed-exitcode.
    """
    if max_chars is not None and output_format != "markdown":
        raise click.UsageError("--max-chars applies only to --format markdown")
    app = app_context()
    workspace = load(app.workspace)
    accepted = parse_accept(accept_unknown)
    guard = WorkspaceLock(workspace.settings.runtime_dir, "plan") if lock else None
    if guard:
        guard.acquire()
    try:
        state = StateStore(workspace.settings.state_path).load()
        inventory = inventory_for(workspace, snapshot=snapshot, targets=targets, insecure=insecure)
    finally:
        if guard:
            guard.release()
    result = make_plan(workspace, inventory, state, targets=targets, accept_unknown=accepted,
                       allow_unreachable=allow_unreachable,
                       parallelism=parallelism or workspace.settings.parallelism)
    doc = result.to_json(utc_now_iso(), input_digests(workspace), __version__)
    if out is not None:
        atomic_write_json(out, doc, mode=0o644)
    if output_format == "json":
        emit_json(doc)
    elif output_format == "markdown":
        emit_text(render_markdown(result, max_chars))
    else:
        render_text(result, app.out)
    if out is not None:
        app.err.print(f"Saved the plan to {out}; apply it with: hwfw apply --plan {out}")
    if result.errored:
        raise click.exceptions.Exit(EXIT_ERROR)
    warnings = [f"{h.name}: {f.message}" for h in result.hosts for f in h.findings if f.severity == "warning"]
    if strict and warnings:
        app.err.print(f"--strict: {len(warnings)} warning(s) count as errors.", style="red")
        raise click.exceptions.Exit(EXIT_ERROR)
    if detailed_exitcode and result.has_changes:
        raise click.exceptions.Exit(EXIT_CHANGES)
    raise click.exceptions.Exit(EXIT_OK)

