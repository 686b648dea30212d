"""Vendor adapters: how each BMC family maps its resources to hwfw's inventory.

There is one adapter per record of `hwfw.vendor_registry`, in `hwfw/vendors/<name>.py`
as the class `<Name>Adapter` (`DellAdapter` in dell.py). `select_adapter(root, manager)`
picks the adapter with the highest detection score (the record's hints: ServiceRoot
`Vendor` first, then root `Oem` keys, then the Manager's Manufacturer/Model); the
generic (DMTF-only) adapter is the default.

The adapter modules are imported on first use, so importing the inventory's data types
(`hwfw.vendors.model`) does not load them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from typing import Any

from hwfw.vendor_registry import DEFAULT_VENDOR, VENDORS, VendorRecord
from hwfw.vendors.base import BmcFacts, StandardAdapter, VendorAdapter

__all__ = ["BmcFacts", "StandardAdapter", "VendorAdapter", "adapter_class", "adapter_named", "adapters",
           "root_adapter", "select_adapter"]

# Scores the service root alone can reach (ServiceRoot.Vendor 100, root Oem keys 90)
# are above what the Manager's hints can give (80): from here on, reading the Manager
# cannot change which adapter is selected.
_ROOT_DECIDES = 90


def adapter_class(record: VendorRecord) -> type[StandardAdapter]:
    """The adapter class of a registry vendor (raises when its module lacks one)."""
    module = importlib.import_module(f"hwfw.vendors.{record.name}")
    cls: type[StandardAdapter] = getattr(module, f"{record.class_prefix}Adapter")
    return cls


@cache
def adapters() -> tuple[VendorAdapter, ...]:
    """One adapter per registry vendor, in registry order."""
    return tuple(adapter_class(record)() for record in VENDORS)


def select_adapter(root: Mapping[str, Any], manager: Mapping[str, Any] | None = None) -> VendorAdapter:
    """The adapter that claims this BMC most strongly (generic when none does)."""
    best = adapter_named(DEFAULT_VENDOR)
    best_score = 0
    for adapter in adapters():
        score = adapter.detect(root, manager)
        if score > best_score:
            best, best_score = adapter, score
    return best


def root_adapter(root: Mapping[str, Any]) -> VendorAdapter | None:
    """The adapter `select_adapter` picks whatever the Manager says, when the service
    root alone decides (its `Vendor` or `Oem` keys name a vendor); None when the
    Manager's Manufacturer or Model could still change the choice."""
    best = select_adapter(root, None)
    return best if best.detect(root, None) >= _ROOT_DECIDES else None


def adapter_named(name: str) -> VendorAdapter:
    for adapter in adapters():
        if adapter.name == name:
            return adapter
    raise KeyError(name)
