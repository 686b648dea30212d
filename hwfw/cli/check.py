"""`hwfw check [DIR]`: the offline pre-merge gate. Never contacts a BMC."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from hwfw import __version__
from hwfw.cli import cli
from hwfw.cli.common import EXIT_ERROR, EXIT_OK, app_context, emit_text, format_option, workspace_argument
from hwfw.compliance.gate import CheckReport, run_check
from hwfw.compliance.output import to_codequality, to_github, to_json, to_junit
from hwfw.compliance.sarif import to_sarif
from hwfw.config.loader import display_path
from hwfw.errors import WorkspaceNotFound
from hwfw.render.check import render_text, summary_line

PRE_COMMIT_HINT = ("the hwfw-check pre-commit hook checks the directory given in its args; name your "
                   "workspace in .pre-commit-config.yaml: hooks: [{id: hwfw-check, args: [path/to/workspace]}]")


@cli.command()
@workspace_argument
@format_option("junit", "sarif", "github", "codequality")
@click.option("--strict", is_flag=True, help="Warnings are errors (drift, critical images, sequence coverage).")
@click.option("--base-ref", metavar="REF",
              help="Also report baseline targets lower than at this Git revision (e.g. origin/main).")
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Also check the fleet in this snapshot (hwfw inventory --out): drift and downgrades.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the --format output to this file and print the text report instead.")
@click.option("--srcroot", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="SARIF paths are relative to this directory (default: the workspace). Pass the "
                   "repository root when the workspace is a subdirectory and the log goes to GitHub.")
def check(output_format: str, strict: bool, base_ref: str | None, snapshot: Path | None, out: Path | None,
          srcroot: Path | None) -> None:
    """The offline pre-merge gate; never contacts a BMC.

    Everything validate checks, plus: satisfiable baselines, stepping-stone paths,
    images and their policy, sequence coverage, literal secrets in every YAML file,
    critical images, downgrades against a Git revision (--base-ref) and fleet drift
    and downgrades against a snapshot (--inventory).

    Exit 0 when there is no error-level finding, 1 otherwise (warnings count with
    --strict).
    """
    app = app_context()
    inventory = None
    if snapshot is not None:
        from hwfw.cli.inputs import read_snapshot  # the live-inventory stack, only when needed

        inventory = read_snapshot(snapshot)
    try:
        report = run_check(app.workspace, base_ref=base_ref, inventory=inventory,
                           inventory_name=display_path(snapshot) if snapshot else None, strict=strict)
    except WorkspaceNotFound as exc:
        if os.environ.get("PRE_COMMIT"):  # set by pre-commit for every hook it runs
            raise WorkspaceNotFound(exc.message, hint=PRE_COMMIT_HINT) from None
        raise
    document = _render(report, output_format, srcroot)
    if out is not None:
        from hwfw.state.files import atomic_write_bytes

        atomic_write_bytes(out, document.encode(), mode=0o644)
        render_text(report, app.out)
        app.err.print(f"Wrote the {output_format} report to {out}")
    elif output_format == "text":
        render_text(report, app.out)
    else:
        if document:  # a clean run in `github` format prints nothing at all
            emit_text(document)
        app.err.print(summary_line(report), markup=False, highlight=False)
    raise click.exceptions.Exit(EXIT_OK if report.ok else EXIT_ERROR)


def _render(report: CheckReport, output_format: str, srcroot: Path | None) -> str:
    if output_format == "json":
        return _dumps(to_json(report, __version__))
    if output_format == "sarif":
        return _dumps(to_sarif(report, __version__, srcroot))
    if output_format == "junit":
        return to_junit(report)
    if output_format == "github":
        return to_github(report)
    if output_format == "codequality":
        return _dumps(to_codequality(report))
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    render_text(report, Console(file=buffer, no_color=True, width=200, soft_wrap=True))
    return buffer.getvalue()


def _dumps(doc: object) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


__all__ = ["check"]
