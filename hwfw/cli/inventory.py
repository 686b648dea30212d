"""`hwfw inventory [DIR]`: what the fleet runs, read live from every BMC."""

from __future__ import annotations

from pathlib import Path

import click

from hwfw.cli import cli
from hwfw.cli.common import EXIT_ERROR, EXIT_OK, app_context, emit_json, format_option, workspace_argument
from hwfw.cli.inputs import insecure_option, inventory_for, load, target_option
from hwfw.clock import utc_now_iso
from hwfw.render.inventory import render_inventory_text
from hwfw.state.files import atomic_write_json


@cli.command()
@workspace_argument
@format_option()
@target_option
@insecure_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write an inventory snapshot (schemas/inventory-snapshot.schema.json) for "
                   "offline use by plan --inventory and check --inventory.")
def inventory(output_format: str, targets: tuple[str, ...], insecure: bool, out: Path | None) -> None:
    """Read every BMC's firmware inventory (read-only). Exit 1 if a host is unreachable."""
    app = app_context()
    workspace = load(app.workspace)
    inv = inventory_for(workspace, snapshot=None, targets=targets, insecure=insecure)
    doc = inv.to_json(utc_now_iso())
    if out is not None:
        atomic_write_json(out, doc, mode=0o644)
        app.err.print(f"Inventory snapshot written to {out}")
    if output_format == "json":
        emit_json(doc)
    else:
        render_inventory_text(inv, app.out)
    unreachable = [h for h in inv.hosts.values() if not h.reachable]
    raise click.exceptions.Exit(EXIT_ERROR if unreachable else EXIT_OK)
