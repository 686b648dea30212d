"""`hwfw validate [DIR]`: schema and semantic checks of a workspace."""

from __future__ import annotations

import click

from hwfw.api import open_workspace
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    app_context,
    emit_json,
    examples,
    format_option,
    run,
    workspace_argument,
)
from hwfw.errors import ConfigError


@examples("hwfw validate examples/lab",
          "hwfw validate -C examples/lab --format json",
          "hwfw validate --verify-images")
@cli.command()
@workspace_argument
@format_option()
@click.option("--verify-images", is_flag=True,
              help="Hash every local image file against its sha256 (by default only files up to 16 MiB).")
def validate(output_format: str, verify_images: bool) -> None:
    """Check every file of a workspace against its schema and rules.

    Reports every problem at once as FILE:LINE:COL, including images a baseline needs
    that cannot be obtained (a local file gone or different, not cached either).
    Exit 0 valid, 1 invalid.
    """
    app = app_context()
    ws = open_workspace(app.workspace_dir)
    report = run(lambda _cancel: ws.validate(verify_images=verify_images))
    if output_format == "json":
        emit_json(report.to_json())
        raise click.exceptions.Exit(EXIT_OK if report.ok else EXIT_ERROR)
    if not report.ok:
        raise ConfigError(report.problems, hint=f"fix the problems above and run hwfw validate {ws.display} again")
    for p in report.problems:  # warnings only
        app.err.print(p.render(), markup=False)
    assert report.config is not None
    config = report.config
    app.err.print(f"[green]Workspace is valid:[/green] {len(config.hosts)} hosts, "
                  f"{len(config.baselines)} baselines, {len(config.repository.entries)} images.")
