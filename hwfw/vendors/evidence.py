"""What a FirmwareInventory member says about the device it describes.

Each reader returns a `Decision` (a component kind and the evidence, in words) or
None when the member's property says nothing. Adapters ask them in order, the
standard properties first; docs/inventory-classification.md lists the order and the
sources of every table here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Decision",
    "classify",
    "flag",
    "kind_from_pci",
    "kind_from_related",
    "kind_from_text",
    "pci_ids",
    "related_uris",
]

Doc = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Decision:
    """A component kind and why (shown by `hwfw inventory -vv`)."""

    kind: str
    reason: str


# --------------------------------------------------------------------- RelatedItem

# Ordered: the first rule any related URI matches wins; rules, not URIs, are ordered,
# so the order of RelatedItem entries never decides.
_RELATED_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (kind, re.compile(pattern), why) for kind, pattern, why in (
        ("bmc", r"/Managers/[^/]+/?$", "the Manager"),
        ("bios", r"/Systems/[^/]+/Bios/?$", "the BIOS"),
        ("drive", r"/Drives/[^/]+/?$", "a Drive"),
        ("psu", r"/PowerSupplies/[^/]+/?$", "a PowerSupply"),
        ("nic", r"/(NetworkAdapters|NetworkInterfaces)/[^/]+(/NetworkDeviceFunctions/[^/]+)?/?$",
         "a NetworkAdapter"),
        ("raid", r"/Storage/[^/]+(/(Controllers|StorageControllers)/[^/]+)?/?$", "a Storage controller"),
    ))


def related_uris(member: Doc) -> tuple[str, ...]:
    """URIs in `RelatedItem`: an array of references by the schema, but some services
    send one reference or a bare URI string (Cisco IMC)."""
    raw = member.get("RelatedItem")
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        uri = item.get("@odata.id") if isinstance(item, dict) else item
        if isinstance(uri, str) and uri:
            out.append(uri)
    return tuple(out)


def kind_from_related(member: Doc) -> Decision | None:
    uris = related_uris(member)
    for kind, pattern, what in _RELATED_RULES:
        for uri in uris:
            if pattern.search(uri):
                return Decision(kind, f"RelatedItem links {what} ({uri})")
    return None


# --------------------------------------------------------------------- PCI ids

_PCI_IDS = re.compile(r"(?P<vendor>[0-9a-f]{4})(?P<device>[0-9a-f]{4})"
                      r"(?P<subvendor>[0-9a-f]{4})(?P<subdevice>[0-9a-f]{4})")
# Vendors whose server add-in devices are all of one kind (PCI-SIG vendor ids).
_PCI_VENDORS: dict[str, tuple[str, str]] = {
    "1000": ("raid", "Broadcom/LSI storage controllers"),
    "9005": ("raid", "Microchip/Adaptec storage controllers"),
    "1b4b": ("raid", "Marvell storage controllers"),
    "14e4": ("nic", "Broadcom NetXtreme Ethernet"),
    "15b3": ("nic", "Mellanox/NVIDIA networking"),
    "1077": ("nic", "QLogic/Marvell FastLinQ and Fibre Channel"),
    "10df": ("nic", "Emulex Fibre Channel"),
    "1924": ("nic", "Solarflare Ethernet"),
    "10de": ("gpu", "NVIDIA"),
    "102b": ("other", "Matrox (embedded video)"),
    "1a03": ("other", "ASPEED (embedded video)"),
}
# Intel makes NICs, SSDs and chipset parts: only its Ethernet controllers' device ids
# decide (I210, I350, 82599, X540, X550, X710/XL710/XXV710, X722, E810).
_INTEL_ETHERNET = frozenset({
    "1533", "1521", "1522", "1523", "10fb", "1528", "1563", "1572", "1581", "1583", "1584", "1589", "158b",
    "15ff", "37d0", "37d1", "37d2", "37d3", "1592", "1593", "159b",
})


def pci_ids(text: Any) -> tuple[str, str, str, str] | None:
    """(vendor, device, subsystem vendor, subsystem device) from 16 hex digits, the way
    iLO puts a PCI device's ids in `Description` ("100010e215900293")."""
    m = _PCI_IDS.fullmatch(str(text or "").strip().lower())
    return (m["vendor"], m["device"], m["subvendor"], m["subdevice"]) if m else None


def kind_from_pci(text: Any) -> Decision | None:
    ids = pci_ids(text)
    if ids is None:
        return None
    vendor, device = ids[0], ids[1]
    if vendor == "8086":
        if device in _INTEL_ETHERNET:
            return Decision("nic", f"PCI ids {vendor}:{device} are an Intel Ethernet controller")
        return None
    hit = _PCI_VENDORS.get(vendor)
    if hit is None:
        return None
    return Decision(hit[0], f"PCI vendor {vendor} ({hit[1]}) in {text!r}")


# --------------------------------------------------------------------- names

# Ordered: the first matching rule wins, so specific words come before generic ones
# ("Backplane CPLD" is a backplane, "BIOS_ME" is the ME, "iLO" is the BMC, an "SPS
# Descriptor" is not the ME firmware, an "NVMe Boot Controller" is a controller).
_KIND_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((k, re.compile(p, re.IGNORECASE)) for k, p in (
    ("other", r"descriptor"),
    ("me", r"(^|[^a-z])(me|sps)([^a-z]|$)|management engine|sps ?firmware|bios_me|capsule_me"),
    ("backplane", r"backplane|\bbp\b|\bubm\d?\b"),
    ("psu", r"power ?supply|\bpsu|^powersupply"),
    ("bmc", r"\bbmc|idrac|\bilo\b|ilo ?\d|integrated lights|baseboard management|manager|systembmc|^bmc|\bcimc\b"
            r"|\bxcc\b"),
    ("bios", r"bios|system rom|systemrom|uefi|^capsule_bios"),
    ("cpld", r"cpld|programmable logic|\bpld\b|fpga"),
    ("raid", r"raid|perc|smart ?array|storage controller|\bhba\b|sas controller|megaraid|nvmecontroller|boss"
             r"|boot controller|\bmr\d{3}|tri-?mode"),
    ("nic", r"\bnic|network|ethernet|\beth\b|connectx|broadcom|marvell|mellanox|\blom\b|\bocp\b|qlogic"
            r"|intel\(r\) (eth|e8)|\b(x|xl|xxv)\d{3}|\be8[01]0\b|\b82599\b|sfp28|qsfp"),
    ("drive", r"disk|drive|\bssd|\bhdd|nvme|\bpmem"),
    ("gpu", r"\bgpu|hgx|tesla|nvidia|accelerator"),
))


def _rule_for(text: str) -> tuple[str, str] | None:
    for kind, pattern in _KIND_RULES:
        m = pattern.search(text)
        if m:
            return kind, m.group(0)
    return None


def classify(*texts: str | None) -> str | None:
    """The component kind the first matching text names, or None."""
    for text in texts:
        if text:
            hit = _rule_for(text)
            if hit:
                return hit[0]
    return None


def kind_from_text(**texts: Any) -> Decision | None:
    """`kind_from_text(Id=..., Name=...)`: the first property (in argument order) whose
    text names a kind, and the words that did."""
    for prop, value in texts.items():
        if value:
            hit = _rule_for(str(value))
            if hit:
                return Decision(hit[0], f"{prop} {str(value)!r} says {hit[1]!r}")
    return None


# --------------------------------------------------------------------- flags

def flag(value: Any) -> bool | None:
    """A boolean property as sent: true/false, or the strings "True"/"False" some
    iDRAC versions send; None when absent or unreadable."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None
