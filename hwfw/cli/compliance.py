"""`hwfw compliance [DIR]`: the fleet compliance report, for people who do not run the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwfw import __version__
from hwfw.api import open_workspace, write_document
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_OK,
    app_context,
    emit_text,
    examples,
    format_option,
    insecure_options,
    output_option,
    run,
    selection_options,
    warn_insecure,
    workspace_argument,
)
from hwfw.render.compliance import headline, render_markdown, render_text
from hwfw.render.compliance_html import render_html


@examples("hwfw compliance examples/lab",
          "hwfw compliance -C examples/lab --format html --output report.html",
          "hwfw compliance --inventory snapshot.json --exclude 'lab-gen-*' --format json")
@cli.command()
@workspace_argument
@format_option("markdown", "html")
@selection_options
@insecure_options
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="SNAPSHOT", help="Report on a snapshot (hwfw inventory --output) instead of reading the BMCs.")
@output_option("Write the report to FILE instead of stdout.")
def compliance(output_format: str, targets: tuple[str, ...], exclude: tuple[str, ...], insecure: bool,
               ca_bundle: Path | None, snapshot: Path | None, output: Path | None) -> None:
    """Fleet compliance report per baseline and component (read-only).

    Per baseline and component: hosts compliant, behind, ahead, unknown, missing or
    unreachable, with percentages; hosts behind on critical images first.

    Reads every BMC (or --inventory SNAPSHOT). Formats: text, json
    (schemas/compliance.schema.json), markdown, html (one self-contained page).
    Exit 0 when the report was made, 1 on errors.
    """
    app = app_context()
    ws = open_workspace(app.workspace_dir, insecure=insecure, ca_bundle=ca_bundle)
    if snapshot is None:
        warn_insecure(insecure)
    report = run(lambda cancel: ws.compliance(targets=targets, exclude=exclude, inventory=snapshot, cancel=cancel))
    if output_format == "text" and output is None:
        render_text(report, app.out)
        raise click.exceptions.Exit(EXIT_OK)
    if output_format == "json":
        document = json.dumps(report.to_json(__version__), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    elif output_format == "markdown":
        document = render_markdown(report)
    elif output_format == "html":
        document = render_html(report, __version__)
    else:
        from io import StringIO

        from rich.console import Console

        buffer = StringIO()
        render_text(report, Console(file=buffer, no_color=True, width=120))
        document = buffer.getvalue()
    if output is None:
        emit_text(document)
    else:
        write_document(output, document)
        app.err.print(f"Wrote the {output_format} report to {output}: {headline(report)}", markup=False)
    raise click.exceptions.Exit(EXIT_OK)
