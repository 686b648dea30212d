"""`hwfw compliance [DIR]`: the fleet compliance report, for people who do not run the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hwfw import __version__
from hwfw.cli import cli
from hwfw.cli.common import EXIT_OK, app_context, emit_text, format_option, workspace_argument
from hwfw.cli.inputs import insecure_option, inventory_for, load, target_option
from hwfw.clock import utc_now_iso
from hwfw.compliance.report import build_report
from hwfw.config.loader import display_path
from hwfw.render.compliance import headline, render_markdown, render_text
from hwfw.render.compliance_html import render_html
from hwfw.state.files import atomic_write_bytes


@cli.command()
@workspace_argument
@format_option("markdown", "html")
@target_option
@insecure_option
@click.option("--inventory", "snapshot", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Report on a snapshot (hwfw inventory --out) instead of reading the BMCs.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report to this file instead of stdout.")
def compliance(output_format: str, targets: tuple[str, ...], insecure: bool, snapshot: Path | None,
               out: Path | None) -> None:
    """Fleet compliance report per baseline and component (read-only).

    Per baseline and component: hosts compliant, behind, ahead, unknown, missing or
    unreachable, with percentages; hosts behind on critical images first.

    Reads every BMC (or --inventory SNAPSHOT). Formats: text, json
    (schemas/compliance.schema.json), markdown, html (one self-contained page).
    Exit 0 when the report was made, 1 on errors.
    """
    app = app_context()
    workspace = load(app.workspace)
    inventory = inventory_for(workspace, snapshot=snapshot, targets=targets, insecure=insecure)
    report = build_report(workspace, inventory, generated_at=utc_now_iso(),
                          workspace_name=display_path(workspace.root) or ".",
                          source="snapshot" if snapshot else "live",
                          snapshot=display_path(snapshot) if snapshot else None, targets=targets)
    if output_format == "text" and out is None:
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
    if out is None:
        emit_text(document)
    else:
        atomic_write_bytes(out, document.encode(), mode=0o644)
        app.err.print(f"Wrote the {output_format} report to {out}: {headline(report)}", markup=False)
    raise click.exceptions.Exit(EXIT_OK)
