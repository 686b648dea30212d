"""Vendor profiles: one module per BMC family, each a data table plus overrides.

See each module's table comment for the brief sections its defaults come from.
"""

from __future__ import annotations

import importlib

from hwfw.sim.service.base import BmcService

PROFILES = {"generic": ("hwfw.sim.profiles.generic", "GenericService"),
            "dell": ("hwfw.sim.profiles.dell", "DellService"),
            "hpe": ("hwfw.sim.profiles.hpe", "HpeService"),
            "supermicro": ("hwfw.sim.profiles.supermicro", "SupermicroService")}


def service_class(profile: str) -> type[BmcService]:
    """The BmcService subclass for a fleet `profile:` value."""
    module, name = PROFILES[profile]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
