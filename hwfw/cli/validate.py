"""`hwfw validate [DIR]`: schema and semantic checks of a workspace."""

from __future__ import annotations

import click

from hwfw.cli import cli
from hwfw.cli.common import EXIT_ERROR, EXIT_OK, app_context, emit_json, format_option, workspace_argument
from hwfw.connect import check_workspace
from hwfw.errors import ConfigError


@cli.command()
@workspace_argument
@format_option()
def validate(output_format: str) -> None:
    """Check every file of a workspace against its schema and rules.

    Reports every problem at once as FILE:LINE:COL. Exit 0 valid, 1 invalid.
    """
    app = app_context()
    workspace, problems = check_workspace(app.workspace)
    if output_format == "json":
        emit_json([p.to_json() for p in problems])
        raise click.exceptions.Exit(EXIT_OK if workspace is not None else EXIT_ERROR)
    if workspace is None:
        raise ConfigError(problems, hint="fix the problems above and run hwfw validate again")
    for p in problems:  # warnings only
        app.err.print(p.render(), markup=False)
    app.err.print(f"[green]Workspace is valid:[/green] {len(workspace.hosts)} hosts, "
                  f"{len(workspace.baselines)} baselines, {len(workspace.repository.entries)} images.")
