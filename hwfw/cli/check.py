"""`hwfw check [DIR]`: the offline pre-merge gate. Never contacts a BMC."""

from __future__ import annotations

import os
from pathlib import Path

import click

from hwfw.api import CheckReport, format_check_report, open_workspace, write_document
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    app_context,
    emit_text,
    examples,
    format_option,
    output_option,
    run,
    workspace_argument,
)
from hwfw.errors import WorkspaceNotFound
from hwfw.render.check import render_text, summary_line

PRE_COMMIT_HINT = ("the hwfw-check pre-commit hook checks the directory given in its args; name your "
                   "workspace in .pre-commit-config.yaml: hooks: [{id: hwfw-check, args: [path/to/workspace]}]")


@examples("hwfw check examples/lab",
          "hwfw check -C examples/lab --strict --base-ref origin/main",
          "hwfw check --format sarif --srcroot . --output hwfw.sarif",
          "hwfw check --inventory snapshot.json --verify-images")
@cli.command()
@workspace_argument
@format_option("junit", "sarif", "github", "codequality")
@click.option("--strict", is_flag=True, help="Warnings are errors (drift, critical images, sequence coverage).")
@click.option("--base-ref", metavar="REF",
              help="Also report baseline targets lower than at this Git revision (e.g. origin/main).")
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="SNAPSHOT", help="Also check the fleet in this snapshot (hwfw inventory --output): drift and "
                                       "downgrades.")
@output_option("Write the --format output to FILE and print the text report instead.")
@click.option("--srcroot", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="SARIF paths are relative to this directory (default: the workspace). Pass the "
                   "repository root when the workspace is a subdirectory and the log goes to GitHub.")
@click.option("--verify-images", is_flag=True,
              help="Hash every local image file against its sha256 (by default only files up to 16 MiB).")
def check(output_format: str, strict: bool, base_ref: str | None, snapshot: Path | None, output: Path | None,
          srcroot: Path | None, verify_images: bool) -> None:
    """The offline pre-merge gate; never contacts a BMC.

    Everything validate checks, plus: satisfiable baselines, stepping-stone paths,
    images (obtainable: the local file there and matching, or cached, or a URL not
    fetched yet) and their policy, sequence coverage, literal secrets in every YAML
    file, critical images, downgrades against a Git revision (--base-ref) and fleet
    drift and downgrades against a snapshot (--inventory).

    Exit 0 when there is no error-level finding, 1 otherwise (warnings count with
    --strict).
    """
    app = app_context()
    ws_dir = app.workspace_dir
    try:
        ws = open_workspace(ws_dir)
        report = run(lambda _cancel: ws.check(base_ref=base_ref, inventory=snapshot, strict=strict,
                                              verify_images=verify_images))
    except WorkspaceNotFound as exc:
        if os.environ.get("PRE_COMMIT"):  # set by pre-commit for every hook it runs
            raise WorkspaceNotFound(exc.message, hint=PRE_COMMIT_HINT) from None
        raise
    document = _render(report, output_format, srcroot)
    if output is not None:
        write_document(output, document)
        render_text(report, app.out)
        app.err.print(f"Wrote the {output_format} report to {output}")
    elif output_format == "text":
        render_text(report, app.out)
    else:
        if document:  # a clean run in `github` format prints nothing at all
            emit_text(document)
        app.err.print(summary_line(report), markup=False, highlight=False)
    raise click.exceptions.Exit(EXIT_OK if report.ok else EXIT_ERROR)


def _render(report: CheckReport, output_format: str, srcroot: Path | None) -> str:
    if output_format != "text":
        return format_check_report(report, output_format, srcroot)
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    render_text(report, Console(file=buffer, no_color=True, width=200, soft_wrap=True))
    return buffer.getvalue()


__all__ = ["check"]
