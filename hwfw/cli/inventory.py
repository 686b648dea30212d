"""`hwfw inventory [DIR]`: what the fleet runs, read live from every BMC."""

from __future__ import annotations

from pathlib import Path

import click

from hwfw.api import open_workspace, write_inventory_snapshot
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    app_context,
    emit_json,
    examples,
    format_option,
    insecure_options,
    output_option,
    run,
    selection_options,
    warn_insecure,
    workspace_argument,
)
from hwfw.clock import utc_now_iso
from hwfw.render.inventory import render_inventory_text


@examples("hwfw inventory examples/lab",
          "hwfw inventory -C examples/lab --target 'lab-dell-*' --format json",
          "hwfw inventory --exclude lab-hpe-02 --output snapshot.json")
@cli.command()
@workspace_argument
@format_option()
@selection_options
@insecure_options
@output_option("Also write the inventory as a snapshot (schemas/inventory-snapshot.schema.json) for offline "
               "use by plan --inventory and check --inventory.")
def inventory(output_format: str, targets: tuple[str, ...], exclude: tuple[str, ...], insecure: bool,
              ca_bundle: Path | None, output: Path | None) -> None:
    """Read every BMC's firmware inventory (read-only). Exit 1 if a host cannot be read."""
    app = app_context()
    ws = open_workspace(app.workspace_dir, insecure=insecure, ca_bundle=ca_bundle)
    warn_insecure(insecure)
    inv = run(lambda cancel: ws.inventory(targets=targets, exclude=exclude, cancel=cancel))
    if output is not None:
        write_inventory_snapshot(inv, output)
        app.err.print(f"Inventory snapshot written to {output}")
    if output_format == "json":
        emit_json(inv.to_json(utc_now_iso()))
    else:
        render_inventory_text(inv, app.out)
    unreachable = [h for h in inv.hosts.values() if not h.reachable]
    raise click.exceptions.Exit(EXIT_ERROR if unreachable else EXIT_OK)
