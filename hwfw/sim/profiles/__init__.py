"""Vendor profiles: one module per BMC family, each a data table plus overrides.

`PROFILES` is the simulator's own list of the vendors it imitates, with the facts a
real server of that vendor has burnt in. It deliberately does not come from the
client's `hwfw.vendor_registry`: the simulator stands in for real hardware, so a wrong
fact in the client must not be copied into it (tests/test_vendor_registry.py checks the
two lists name the same vendors and agree on the IANA numbers).

Profile `<name>` lives in `hwfw/sim/profiles/<name>.py` as the class `<Name>Service`.
A profile may have variants (other shapes of the same vendor's service, chosen with the
host option `variant:`): variant `<v>` of `<name>` is the class `<V><Name>Service` in
`hwfw/sim/profiles/<name>_<v>.py`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hwfw.sim.service.base import BmcService


@dataclass(frozen=True, slots=True)
class SimProfile:
    """One simulated vendor.

    `ipmi_ids`: (IANA manufacturer id, product id) its BMC answers to Get Device ID.
    Serial numbers look like the vendor's: `serial_prefix` then `serial_length`
    characters, digits only when `serial_digits_only`.
    """

    name: str
    ipmi_ids: tuple[int, int]
    serial_prefix: str
    serial_length: int
    serial_digits_only: bool = False
    variants: tuple[str, ...] = ()

    @property
    def service_class_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_")) + "Service"


PROFILES: dict[str, SimProfile] = {p.name: p for p in (
    SimProfile("dell", ipmi_ids=(674, 256), serial_prefix="", serial_length=7),            # 7-character service tag
    SimProfile("hpe", ipmi_ids=(47196, 8224), serial_prefix="CZ", serial_length=8),
    SimProfile("supermicro", ipmi_ids=(10876, 6929), serial_prefix="S", serial_length=9, serial_digits_only=True),
    SimProfile("generic", ipmi_ids=(0, 0), serial_prefix="CSO", serial_length=8, variants=("minimal",)),
)}


def service_class(profile: str, variant: str | None = None) -> type[BmcService]:
    """The BmcService subclass for a fleet `profile:` value (and `options.variant`)."""
    spec = PROFILES[profile]
    if variant is None:
        module = importlib.import_module(f"hwfw.sim.profiles.{spec.name}")
        return getattr(module, spec.service_class_name)  # type: ignore[no-any-return]
    if variant not in spec.variants:
        raise ValueError(f"profile {profile!r} has no variant {variant!r} (it has: {', '.join(spec.variants) or 'none'})")
    module = importlib.import_module(f"hwfw.sim.profiles.{spec.name}_{variant}")
    return getattr(module, variant.capitalize() + spec.service_class_name)  # type: ignore[no-any-return]
