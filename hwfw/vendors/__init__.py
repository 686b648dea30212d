"""Vendor adapters: how each BMC family maps its resources to hwfw's inventory.

`select_adapter(root, manager)` picks the adapter with the highest detection score:
ServiceRoot `Vendor` first, then root `Oem` keys, then the Manager's
Manufacturer/Model; the generic (DMTF-only) adapter is the default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwfw.vendors.base import BmcFacts, StandardAdapter, VendorAdapter
from hwfw.vendors.dell import DellAdapter
from hwfw.vendors.generic import GenericAdapter
from hwfw.vendors.hpe import HpeAdapter
from hwfw.vendors.supermicro import SupermicroAdapter

__all__ = ["ADAPTERS", "BmcFacts", "StandardAdapter", "VendorAdapter", "adapter_named", "select_adapter"]

ADAPTERS: tuple[VendorAdapter, ...] = (DellAdapter(), HpeAdapter(), SupermicroAdapter(), GenericAdapter())


def select_adapter(root: Mapping[str, Any], manager: Mapping[str, Any] | None = None) -> VendorAdapter:
    """The adapter that claims this BMC most strongly (generic when none does)."""
    best: VendorAdapter = ADAPTERS[-1]
    best_score = 0
    for adapter in ADAPTERS:
        score = adapter.detect(root, manager)
        if score > best_score:
            best, best_score = adapter, score
    return best


def adapter_named(name: str) -> VendorAdapter:
    for adapter in ADAPTERS:
        if adapter.name == name:
            return adapter
    raise KeyError(name)
