"""Shared steps of the commands that read a workspace and its fleet."""

from __future__ import annotations

import asyncio
import fnmatch
import json
from pathlib import Path
from typing import Sequence

import click

from hwfw.cli.common import warn
from hwfw.config.model import Workspace
from hwfw.connect import load_workspace, read_live_inventory, target_hosts
from hwfw.errors import ConfigError, HwfwError, Problem, SourceLocation
from hwfw.inventory.model import Inventory


def insecure_option(func):  # type: ignore[no-untyped-def]
    return click.option("--insecure", is_flag=True,
                        help="Do not verify BMC TLS certificates (prints a warning).")(func)


def target_option(func):  # type: ignore[no-untyped-def]
    return click.option("--target", "targets", multiple=True, metavar="HOST",
                        help="Only these hosts (repeatable).")(func)


def load(directory: Path) -> Workspace:
    return load_workspace(directory)


def warn_insecure(insecure: bool) -> None:
    if insecure:
        warn("--insecure: BMC TLS certificates are NOT verified; anyone on the path can "
             "impersonate a BMC and read its credentials")


def inventory_for(workspace: Workspace, *, snapshot: Path | None, targets: Sequence[str],
                  insecure: bool) -> Inventory:
    """The live inventory, or a recorded snapshot when `snapshot` is given."""
    if snapshot is not None:
        return read_snapshot(snapshot, targets)
    warn_insecure(insecure)
    return asyncio.run(read_live_inventory(workspace, targets=targets, insecure=insecure))


def read_snapshot(path: Path, targets: Sequence[str] = ()) -> Inventory:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HwfwError(f"cannot read inventory snapshot {path}: {exc}",
                        hint="write one with: hwfw inventory --out snapshot.json") from exc
    from hwfw.config.schema import validate

    problems = validate("inventory-snapshot", doc, None)
    if problems:
        raise ConfigError([Problem(p.message, SourceLocation(str(path), 1, 1), code=p.code, expected=p.expected)
                           for p in problems], hint="the snapshot does not match schemas/inventory-snapshot.schema.json")
    inventory = Inventory.from_json(doc)
    if targets:
        patterns = target_hosts(targets)
        inventory = Inventory(hosts={k: v for k, v in inventory.hosts.items()
                                     if any(fnmatch.fnmatchcase(k, p) for p in patterns)},
                              registries=inventory.registries)
    return inventory
