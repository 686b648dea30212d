"""Inventory snapshots: what every BMC reported, written to a file and read back offline.

The document is schemas/inventory-snapshot.schema.json (what `hwfw inventory --format
json` prints); `plan`, `check` and `compliance` accept one instead of reading the BMCs.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path

from hwfw.clock import Clock, utc_now_iso
from hwfw.config.schema import validate
from hwfw.connect import target_hosts
from hwfw.errors import ConfigError, HwfwError, Problem, SourceLocation
from hwfw.inventory.model import Inventory
from hwfw.invocation import command
from hwfw.state.files import atomic_write_bytes, atomic_write_json

__all__ = ["read_inventory_snapshot", "write_document", "write_inventory_snapshot"]


def read_inventory_snapshot(path: Path, *, targets: Sequence[str] = (), exclude: Sequence[str] = ()) -> Inventory:
    """A snapshot file, checked against its schema, narrowed to `targets` / `exclude` (host globs)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HwfwError(f"cannot read inventory snapshot {path}: {exc}",
                        hint=f"write one with: {command('inventory', '--output', 'snapshot.json')}") from exc
    problems = validate("inventory-snapshot", doc, None)
    if problems:
        raise ConfigError([Problem(p.message, SourceLocation(str(path), 1, 1), code=p.code, expected=p.expected)
                           for p in problems],
                          hint="the snapshot does not match schemas/inventory-snapshot.schema.json")
    inventory = Inventory.from_json(doc)
    patterns = target_hosts(targets)
    if patterns or exclude:
        inventory = Inventory(hosts={k: v for k, v in inventory.hosts.items()
                                     if (not patterns or any(fnmatch.fnmatchcase(k, p) for p in patterns))
                                     and not any(fnmatch.fnmatchcase(k, x) for x in exclude)},
                              registries=inventory.registries)
    return inventory


def write_inventory_snapshot(inventory: Inventory, path: Path, *, clock: Clock | None = None) -> dict[str, object]:
    """Write `inventory` as a snapshot (atomically); returns the document written."""
    doc = inventory.to_json(utc_now_iso(clock))
    atomic_write_json(path, doc, mode=0o644)
    return doc


def write_document(path: Path, text: str) -> None:
    """Write a report (`--output FILE`) atomically: a reader never sees half of it."""
    atomic_write_bytes(path, text.encode(), mode=0o644)
