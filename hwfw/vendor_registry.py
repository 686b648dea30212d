"""The vendor registry: one record per BMC family hwfw knows, and nothing else knows them.

Every vendor list in hwfw is derived from `VENDORS`: the `--vendor` choices of the CLI,
the inventory adapter (`hwfw/vendors/<name>.py`) and apply driver
(`hwfw/apply/drivers/<name>.py`) looked up for a BMC, the IANA enterprise numbers IPMI
reports, and the vendor facts the planner uses (estimates, activation, rollback). The
planner asks a record; it never compares vendor names.

This is a foundation module (no hwfw imports) because the lowest layer that needs it is
`config`, and the facts are product knowledge, not workspace configuration. The
simulator (`hwfw/sim`) keeps its own list on purpose, so that a wrong fact here is caught
by a test against the simulator instead of being copied into it
(tests/test_vendor_registry.py compares the two). The JSON Schemas in `schemas/` list
no vendor: their vendor fields are plain strings, and the workspace loader checks each
name against `VENDOR_NAMES` (`hwfw.config.vendorfields`).

Adding a vendor: docs/adding-a-vendor.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

__all__ = ["DEFAULT_VENDOR", "Detection", "VENDORS", "VENDOR_NAMES", "VendorRecord", "record_for",
           "record_or_default", "vendor_for_iana"]

MIN = 60.0
T = TypeVar("T")


def _frozen(d: Mapping[str, T] | None = None) -> Mapping[str, T]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, slots=True)
class Detection:
    """How a BMC of this vendor names itself, read without credentials where possible.

    Scores (`hwfw.vendors.select_adapter` keeps the highest): 100 when the ServiceRoot
    `Vendor` is one of `vendor_names` or contains one of `vendor_words`; 90 when the
    ServiceRoot `Oem` object has one of `oem_keys`; 80 when the Manager's `Manufacturer`
    contains one of `manufacturer_words` or its `Model` one of `model_words`. Words are
    compared in lower case. A record without hints never claims a BMC.
    """

    vendor_words: tuple[str, ...] = ()
    vendor_names: tuple[str, ...] = ()
    oem_keys: tuple[str, ...] = ()
    manufacturer_words: tuple[str, ...] = ()
    model_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VendorRecord:
    """Everything hwfw's code branches on for one vendor.

    `name` is the vendor's id in every file hwfw reads (`vendor: dell`) and the module
    name of its adapter, driver and simulator profile.
    `iana_ids`: IANA enterprise numbers its BMCs report in IPMI Get Device ID.
    `flash_seconds`: typical push + flash time per component kind, where it differs
    from the planner's default (`hwfw.plan.estimate`).
    `reset_seconds`: typical time per reset kind (`bmc-reset`, `host-reboot`,
    `ac-cycle`) until the BMC answers again, where it differs from the default.
    `activation`: the reset a component kind needs on this vendor, where it differs from
    the default (`hwfw.plan.activation`).
    `previous_image`: the BMC keeps the replaced image of each component and can flash
    it back (a rollback needs no repository copy), except for `no_previous_image` kinds.
    `licence_free`: BMCs that sell firmware updates as a licensed feature still update
    these component kinds without the licence, through the update method
    `licence_free_method`; a missing licence matters only to a plan that flashes another
    kind (or to a BMC without that method). None: the vendor licenses no update.
    `session_context`: its BMCs keep a client-supplied `Context` given at login (Session
    v1.5) and show it with the session (True), are documented not to (False), or there
    is no public record either way (None: hwfw decides from the Session schema version
    the BMC's login answers name, and from what the BMC did with it;
    hwfw/redfish/login_context.py). Sources: docs/vendor-behaviour.md, "Sessions".
    """

    name: str
    iana_ids: tuple[int, ...] = ()
    detection: Detection = field(default_factory=Detection)
    flash_seconds: Mapping[str, float] = field(default_factory=_frozen)
    reset_seconds: Mapping[str, float] = field(default_factory=_frozen)
    activation: Mapping[str, str] = field(default_factory=_frozen)
    previous_image: bool = False
    no_previous_image: frozenset[str] = frozenset()
    licence_free: frozenset[str] | None = None
    licence_free_method: str | None = None
    session_context: bool | None = None

    def needs_licence(self, kinds: frozenset[str] | set[str], update_methods: tuple[str, ...]) -> bool:
        """Would flashing these component kinds need the vendor's optional licence?"""
        if not kinds:
            return False
        if self.licence_free is None or self.licence_free_method not in update_methods:
            return True
        return not kinds <= self.licence_free

    def keeps_previous_image(self, kind: str) -> bool:
        """Can the BMC itself restore the image a flash of `kind` replaced?"""
        return self.previous_image and kind not in self.no_previous_image

    @property
    def class_prefix(self) -> str:
        """`Dell` for `dell`: the prefix of its `DellAdapter`, `DellDriver`, `DellService`."""
        return "".join(part.capitalize() for part in self.name.split("_"))


# Alphabetical, the generic record (the fallback; detection ties go to the earlier record)
# last. The simulator lists its profiles in the same order.
VENDORS: tuple[VendorRecord, ...] = (
    VendorRecord(
        name="dell",
        iana_ids=(674,),
        detection=Detection(vendor_words=("dell",), oem_keys=("Dell",), manufacturer_words=("dell",),
                            model_words=("idrac",)),
        # The Lifecycle Controller applies power supply firmware during POST.
        activation=_frozen({"psu": "host-reboot"}),
        # iDRAC keeps the replaced image of each device as a "Previous-" inventory member
        # and installs it again on request; CPLD images are not kept.
        previous_image=True, no_previous_image=frozenset({"cpld"}),
        # Dell's published session answers carry no Context, and its Redfish guide lists
        # 400 PropertyUnknown among the answers to a login POST.
        session_context=False,
    ),
    VendorRecord(
        name="hpe",
        # 11 is Hewlett-Packard's number, still reported by older iLO firmware; 47196 is HPE's.
        iana_ids=(11, 47196),
        detection=Detection(vendor_words=("hewlett",), vendor_names=("hpe", "hp"), oem_keys=("Hpe", "Hp"),
                            manufacturer_words=("hpe",), model_words=("ilo",)),
        # iLO uploads and flashes its own firmware in about 4 min, and is back from a
        # reset in about 1 min (other BMCs take about 2).
        flash_seconds=_frozen({"bmc": 4 * MIN}),
        reset_seconds=_frozen({"bmc-reset": 1 * MIN}),
    ),
    VendorRecord(
        name="supermicro",
        iana_ids=(10876,),
        detection=Detection(vendor_words=("supermicro",), oem_keys=("Supermicro",),
                            manufacturer_words=("supermicro",)),
        # SimpleUpdate and pushes of NIC, storage, GPU and PSU firmware need the
        # SFT-DCMS-SINGLE (or SFT-OOB-LIC) licence; BMC, BIOS and CPLD images go through
        # the multipart upload and UpdateService.StartUpdate without it (Supermicro
        # Redfish Reference Guide, "Firmware update").
        licence_free=frozenset({"bmc", "bios", "cpld"}), licence_free_method="smc-startupdate",
    ),
    # DMTF Redfish only (OpenBMC bmcweb, the DMTF mockups, anything no record claims).
    # OpenBMC bmcweb keeps a login's Context since 2022 (older builds refuse it: hwfw
    # then logs in without and remembers).
    VendorRecord(name="generic", session_context=True),
)

VENDOR_NAMES: tuple[str, ...] = tuple(v.name for v in VENDORS)

# The vendor of a BMC no other record claims: standard DMTF behaviour.
DEFAULT_VENDOR = "generic"

_BY_NAME = {v.name: v for v in VENDORS}
_BY_IANA = {number: v.name for v in VENDORS for number in v.iana_ids}


def record_for(name: str | None) -> VendorRecord | None:
    """The record of vendor `name`, or None for no or an unknown vendor."""
    return _BY_NAME.get(name) if name else None


def record_or_default(name: str | None) -> VendorRecord:
    """The record of vendor `name`; the default vendor's for no or an unknown vendor."""
    return _BY_NAME.get(name or "") or _BY_NAME[DEFAULT_VENDOR]


def vendor_for_iana(manufacturer_id: int) -> str | None:
    """The vendor whose BMCs report this IANA enterprise number over IPMI, if any."""
    return _BY_IANA.get(manufacturer_id)
