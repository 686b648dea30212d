"""Vendor profiles: one module per BMC family, each a data table plus overrides.

Profile `<name>` lives in `hwfw/sim/profiles/<name>.py`: the class `<Name>Service` and
`PROFILE`, a `SimProfile` with the facts a real server of that vendor has burnt in.
`profiles()` finds them by looking at the modules of this package, so adding a profile
is adding its module. Helper modules (no `PROFILE`) are skipped.

A profile may have variants (other shapes of the same vendor's service, chosen with the
host option `variant:`): variant `<v>` of `<name>` is the class `<V><Name>Service` in
`hwfw/sim/profiles/<name>_<v>.py` (no `PROFILE` there: it is a helper module).

This is the simulator's own list of the vendors it imitates. It deliberately does not
come from the client's `hwfw.vendor_registry`: the simulator stands in for real
hardware, so a wrong fact in the client must not be copied into it
(tests/test_vendor_registry.py checks the two lists name the same vendors, in the same
order, and agree on the IANA numbers). The order is alphabetical with the fallback
profile (`generic`) last.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwfw.sim.service.base import BmcService

__all__ = ["SimProfile", "profile_named", "profiles", "service_class"]


@dataclass(frozen=True, slots=True)
class SimProfile:
    """One simulated vendor.

    `ipmi_ids`: (IANA manufacturer id, product id) its BMC answers to Get Device ID.
    Serial numbers look like the vendor's: `serial_prefix` then `serial_length`
    characters, digits only when `serial_digits_only`. `fallback`: the plain profile
    listed last (the client's registry keeps its generic record last too).
    """

    name: str
    ipmi_ids: tuple[int, int]
    serial_prefix: str
    serial_length: int
    serial_digits_only: bool = False
    variants: tuple[str, ...] = ()
    fallback: bool = False

    @property
    def service_class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_")) + "Service"


@functools.cache
def profiles() -> Mapping[str, SimProfile]:
    """Every profile of this package by name: alphabetical, the fallback last."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        profile = getattr(module, "PROFILE", None)
        if isinstance(profile, SimProfile) and profile.name == info.name:
            found.append(profile)
        elif isinstance(profile, SimProfile):
            raise RuntimeError(f"{module.__name__}: PROFILE is named {profile.name!r}, not {info.name!r}")
    found.sort(key=lambda p: (p.fallback, p.name))
    return MappingProxyType({p.name: p for p in found})


def profile_named(name: str) -> SimProfile | None:
    """The profile of a fleet `profile:` value, or None."""
    return profiles().get(name)


def service_class(profile: str, variant: str | None = None) -> type[BmcService]:
    """The BmcService subclass for a fleet `profile:` value (and `options.variant`)."""
    spec = profiles()[profile]
    if variant is None:
        module = importlib.import_module(f"{__name__}.{spec.name}")
        cls: type[BmcService] = getattr(module, spec.service_class_name)
        return cls
    if variant not in spec.variants:
        known = ", ".join(spec.variants) or "none"
        raise ValueError(f"profile {profile!r} has no variant {variant!r} (it has: {known})")
    module = importlib.import_module(f"{__name__}.{spec.name}_{variant}")
    variant_cls: type[BmcService] = getattr(module, variant.capitalize() + spec.service_class_name)
    return variant_cls
