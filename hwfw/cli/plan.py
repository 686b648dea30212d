"""`hwfw plan [DIR]`: what apply would do, in what order, with how many reboots."""

from __future__ import annotations

from pathlib import Path

import click

from hwfw.api import open_workspace
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    accept_options,
    app_context,
    emit_json,
    emit_text,
    examples,
    format_option,
    insecure_options,
    parallelism_option,
    parse_accept,
    run,
    selection_options,
    warn_insecure,
    workspace_argument,
)
from hwfw.invocation import command
from hwfw.render.plan import render_markdown, render_text


@examples("hwfw plan examples/lab",
          "hwfw plan -C examples/lab --target 'lab-dell-*' --out plan.json",
          "hwfw plan --exclude lab-hpe-02 --allow-unreachable --detailed-exitcode",
          "hwfw plan --inventory snapshot.json --format markdown --max-chars 60000")
@cli.command()
@workspace_argument
@format_option("markdown")
@selection_options
@insecure_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), metavar="PLAN",
              help="Save the plan to PLAN for `hwfw apply --plan PLAN` (Terraform's -out). The file records the "
                   "workspace, so apply finds it from anywhere.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 0 when there are no changes, 1 on error, 2 when changes are pending.")
@parallelism_option("Hosts at once, for the estimate (default settings.parallelism).")
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="SNAPSHOT", help="Plan offline against a snapshot written by `hwfw inventory --output`.")
@accept_options
@click.option("--strict", is_flag=True,
              help="Warnings are errors (e.g. a change that could not be rolled back under on_failure: rollback-host).")
@click.option("--lock/--no-lock", default=True, show_default=True,
              help="Hold the workspace lock while reading state and the simulated fleet.")
@click.option("--max-chars", type=click.IntRange(min=1000), metavar="N",
              help="With --format markdown: cut between hosts to stay within N characters, with a note "
                   "saying how many hosts were left out (a pull-request comment holds 65,536).")
def plan(output_format: str, targets: tuple[str, ...], exclude: tuple[str, ...], insecure: bool,
         ca_bundle: Path | None, out: Path | None, detailed_exitcode: bool, parallelism: int | None,
         snapshot: Path | None, accept_unknown: tuple[str, ...], allow_unreachable: bool, strict: bool,
         lock: bool, max_chars: int | None) -> None:
    """Compare the live fleet with the workspace and show the update plan. Read-only.

    Exit codes: 0 ok, 1 error (refused items, hosts that cannot be read; with --strict
    also any warning), 2 changes pending with --detailed-exitcode.
    """
    if max_chars is not None and output_format != "markdown":
        raise click.UsageError("--max-chars applies only to --format markdown")
    app = app_context()
    accepted = parse_accept(accept_unknown)
    ws = open_workspace(app.workspace_dir, insecure=insecure, ca_bundle=ca_bundle)
    if snapshot is None:
        warn_insecure(insecure)
    made = run(lambda cancel: ws.plan(targets=targets, exclude=exclude, accept_unknown=accepted,
                                      allow_unreachable=allow_unreachable, parallelism=parallelism,
                                      inventory=snapshot, lock=lock, cancel=cancel))
    if out is not None:
        made = made.save(out, ws.path)
    result = made.plan
    if output_format == "json":
        emit_json(made.to_json())
    elif output_format == "markdown":
        emit_text(render_markdown(result, max_chars))
    else:
        render_text(result, app.out)
    if out is not None:
        # The plan records its workspace: this command works from anywhere.
        app.err.print(f"Saved the plan to {out}; apply it with: {command('apply', '--plan', str(out))}",
                      markup=False)
    if result.errored:
        raise click.exceptions.Exit(EXIT_ERROR)
    warnings = [f"{h.name}: {f.message}" for h in result.hosts for f in h.findings if f.severity == "warning"]
    if strict and warnings:
        app.err.print(f"--strict: {len(warnings)} warning(s) count as errors.", style="red")
        raise click.exceptions.Exit(EXIT_ERROR)
    if detailed_exitcode and result.has_changes:
        raise click.exceptions.Exit(EXIT_CHANGES)
    raise click.exceptions.Exit(EXIT_OK)
