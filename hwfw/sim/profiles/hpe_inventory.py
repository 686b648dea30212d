"""The shapes of an iLO 5/6 FirmwareInventory, as real servers serve them.

Besides the fleet's flashable components, iLO lists platform firmware the simulator
never flashes (SPS firmware and descriptor, Innovation Engine, Intelligent Platform
Abstraction Data, power management controller and its bootloader, Intelligent
Provisioning, energy pack, embedded video), numbers members in a fixed order, puts
PCI ids or drive models in `Description`, marketing names in `Name`, slot/bay/port
`DeviceContext`s, `DeviceClass: null` on add-in cards, `Updateable` false where iLO
cannot flash the device itself, an `@odata.etag` per member, and lists every drive
twice (once per location notation). Newer iLO 5 firmware (2.90 on, as seen on 2.96)
ends member URIs with a slash. Facts and sources: docs/inventory-classification.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from hwfw.sim.machine import Component

INV = "/redfish/v1/UpdateService/FirmwareInventory"
MEMBER_TYPE = "#SoftwareInventory.v1_2_0.SoftwareInventory"
OEM_TYPE = "#HpeiLOSoftwareInventory.v2_0_0.HpeiLOSoftwareInventory"
SYSTEM_BOARD = "System Board"
EMBEDDED = "Embedded Device"

# DeviceClass GUIDs iLO 5 reports for platform firmware (the same on Gen10 and Gen10 Plus).
CLASSES = {
    "bmc": "2f317b9d-c9e3-4d76-bff6-b9d0d085a952", "bios": "aa148d2e-6e09-453e-bc6f-63baa5f5ccc4",
    "cpld": "b1ad439a-9dd1-41c1-a496-2da9313f1f07", "me": "b34e5677-21dc-45d3-872b-42f76fee9053",
    "sps-descriptor": "3f30a329-d03c-46b8-8f0e-9567fad4ea9f", "ie": "c734e171-8721-48c9-9ed6-d5bc7da5ef8d",
    "ipad": "b8f46d06-85db-465c-94fb-d106e61378ed", "pmc": "9e48a28a-586c-4519-8405-a04f84e27f0f",
    "ip": "ac963eeb-ed78-4f36-c18c-29d85f34a0ac", "psu": "6bb86077-0275-4614-aae1-86618e8b1c27",
    "drive": "f6de0320-2e0f-489a-b238-6dd8ae7c3811",
}
BOARD_TARGET = "00000000-0000-0000-0000-000000000225"
STORAGE_ID = "DE00A000"
DRIVE_MODEL = "VO000960KXAVL"

# Platform firmware per generation: (role, Description, Name, class key, context, updateable).
# Versions are the ones public captures show for each generation.
_PLATFORM = {
    "ipad": ("PlatformDefinitionTable", "Intelligent Platform Abstraction Data", "ipad", SYSTEM_BOARD, True),
    "pmc": ("PowerManagementController", "Power Management Controller Firmware", "pmc", SYSTEM_BOARD, True),
    "ie": ("InnovationEngineFirmware", "Innovation Engine (IE) Firmware", "ie", SYSTEM_BOARD, True),
    "me": ("SPSFirmwareVersionData", "Server Platform Services (SPS) Firmware", "me", SYSTEM_BOARD, True),
    "sps-descriptor": ("SPSFirmwareDescriptor", "Server Platform Services (SPS) Descriptor", "sps-descriptor",
                       SYSTEM_BOARD, True),
    "ip": ("Intelligent Provisioning", "Intelligent Provisioning", "ip", SYSTEM_BOARD, False),
    "pmc-boot": ("PowerManagementControllerBootloader", "Power Management Controller FW Bootloader", None,
                 SYSTEM_BOARD, False),
    "energy-pack": ("SmartStorageEnergyPack", "HPE Smart Storage Energy Pack 1 Firmware", None, EMBEDDED, False),
    "video": ("102b0538159000e4", "Embedded Video Controller", None, EMBEDDED, False),
}
_VERSIONS = {
    "gen10": {"ipad": "14.1.0 Build 18", "pmc": "1.0.7", "me": "4.1.4.804", "sps-descriptor": "1.2 0",
              "ip": "3.50.4", "pmc-boot": "1.1", "energy-pack": "0.70", "video": "2.5"},
    "gen10plus": {"ipad": "9.2.0 Build 35", "pmc": "1.0.7", "ie": "1.0.0.20", "me": "4.4.4.53",
                  "sps-descriptor": "1.2 0", "ip": "3.64.2", "pmc-boot": "1.1", "energy-pack": "0.70", "video": "2.5"},
    "gen11": {"ipad": "1.8.0 Build 17", "pmc": "1.0.9", "ie": "1.1.4.3", "me": "6.1.4.47",
              "sps-descriptor": "1.2 0", "ip": "3.80.1", "pmc-boot": "1.1", "energy-pack": "0.70", "video": "2.5"},
}
# Add-in devices by fleet instance prefix: (context template, Name, PCI ids Description, updateable).
_DEVICES: dict[str, list[tuple[str, str, str, str, bool]]] = {
    "nic": [("NIC.LOM.", "Embedded LOM", "HPE Ethernet 1Gb 4-port 331i Adapter - NIC", "14e4165f103c22be", True),
            ("NIC.FlexLOM.", "FlexibleLOM {n}", "HPE Eth 10/25Gb 2p 640FLR-SFP28 Adptr", "15b31015159000d4", True),
            ("NIC.OCP.", "OCP 3.0 Slot {n}", "Intel Eth Adptr I350T4 OCPv3", "80861521808600a3", False),
            ("NIC.Slot.", "PCI-E Slot {n}", "HPE Ethernet 10/25Gb 2-port 640SFP28 Adapter", "15b310151590d201", True)],
    "raid": [("RAID.Boot.", "PCI-E Slot {n}", "HPE NS204i-r Gen10+ Boot Controller", "1b4b22411590030f", True),
             ("RAID.Slot.", "PCI-E Slot {n}", "HPE MR416i-p Gen10+", "100010e215900293", True),
             ("RAID.", "Storage Slot 12", "HPE Smart Array P408i-a SR Gen10", "9005028f103c0601", True)],
    "gpu": [("GPU.", "PCI-E Slot {n}", "NVIDIA Tesla T4", "10de1eb810de12a2", False)],
}
_NUMBER = re.compile(r"(\d+)")


def generation(model: str) -> str:
    if "Gen11" in model:
        return "gen11"
    return "gen10plus" if "Gen10 Plus" in model else "gen10"


@dataclass
class Member:
    """One FirmwareInventory member: its body (without @odata.id/Id) and its component."""

    description: str
    name: str
    version: str
    context: str
    device_class: str | None
    updateable: bool | None
    component: Component | None = None
    targets: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _number(instance: str, default: int = 1) -> int:
    m = _NUMBER.search(instance)
    return int(m.group(1)) if m else default


def _device(kind: str, comp: Component) -> Member:
    devices = _DEVICES[kind]
    _, context, name, pci, updateable = next((d for d in devices if comp.instance.startswith(d[0])), devices[-1])
    context = context.format(n=_number(comp.instance))
    # Description carries the PCI ids; an adapter iLO names by its marketing name only
    # (seen on FlexibleLOM cards) repeats the name instead.
    description = name if "FlexibleLOM" in context else pci
    return Member(description, name, comp.active, context, None, updateable, comp,
                  targets=[f"a6b1a447-382a-5a4f-{pci[:4]}-{pci[4:]}"])


def _distinct_places(devices: list[Member]) -> list[Member]:
    """Two fleet instances in one place (two ports of the LOM) are two places to iLO."""
    seen: set[str] = set()
    for member in devices:
        if member.context in seen and member.component is not None:
            member.context = f"{member.context} {member.component.instance}"
        seen.add(member.context)
    return devices


def drives_of(components: dict[str, Component]) -> list[Component]:
    """The drives in bay order; a drive's index is its Drive resource id."""
    return sorted((c for c in components.values() if c.kind == "drive"),
                  key=lambda c: (_number(c.instance, 0), c.instance))


def _drives(comp: Component, index: int) -> list[Member]:
    """Both notations iLO uses for one bay; the newer one links the Drive."""
    bay = _number(comp.instance, 0) + 1
    target = "562340a5-304f-3030-3936-304b5841564c"
    old = Member(DRIVE_MODEL, "Drive", comp.active, f"Port 1I Box 1 Bay {bay}", CLASSES["drive"], False, comp,
                 targets=[target])
    new = Member(DRIVE_MODEL, "960GB 32G NVMe SSD", comp.active, f"Port=1I:Box=1:Bay={bay}", CLASSES["drive"],
                 False, comp, targets=[target],
                 extra={"RelatedItem": [{"@odata.id": f"/redfish/v1/Systems/1/Storage/{STORAGE_ID}/Drives/{index}"}],
                        "SoftwareId": f"{CLASSES['drive']}:{target}", "Status": {"Health": "OK", "State": "Enabled"}})
    return [old, new]


def _platform(role: str, version: str, comp: Component | None = None) -> Member:
    description, name, cls, context, updateable = _PLATFORM[role]
    return Member(description, name, version, context, CLASSES[cls] if cls else None, updateable, comp,
                  targets=[BOARD_TARGET] if cls else [])


def members(components: dict[str, Component], model: str, ilo_name: str) -> list[Member]:
    """Every member in iLO's order: platform firmware first, then devices, drives last."""
    by_kind: dict[str, list[Component]] = {}
    for comp in sorted(components.values(), key=lambda c: (c.kind, _number(c.instance, 0), c.instance)):
        by_kind.setdefault(comp.kind, []).append(comp)
    versions = _VERSIONS[generation(model)]
    out: list[Member] = []
    for comp in by_kind.get("bmc", []):
        out.append(Member("SystemBMC", ilo_name, comp.active, SYSTEM_BOARD, CLASSES["bmc"], True, comp,
                          targets=["4764a662-b342-4fc7-9ce9-258c5d99e815", "c0bcf2b9-1141-49af-aab8-c73791f0349c"]))
    for comp in by_kind.get("bios", []):
        out.append(Member("SystemRomActive", "System ROM", comp.active, SYSTEM_BOARD, CLASSES["bios"], True, comp,
                          targets=[BOARD_TARGET]))
    out.append(_platform("ipad", versions["ipad"]))
    for comp in by_kind.get("cpld", []):
        out.append(Member("SystemProgrammableLogicDevice", "System Programmable Logic Device", comp.active,
                          SYSTEM_BOARD, CLASSES["cpld"], True, comp, targets=[BOARD_TARGET]))
    out.append(_platform("pmc", versions["pmc"]))
    for comp in by_kind.get("psu", []):
        out.append(Member("PowerSupplies", "Power Supply Firmware", comp.active, f"Bay {_number(comp.instance)}",
                          CLASSES["psu"], True, comp, targets=["0102bd05-0001-0000-0000-000000000000"]))
    if "ie" in versions:
        out.append(_platform("ie", versions["ie"]))
    me = by_kind.get("me", [])
    out.append(_platform("me", me[0].active if me else versions["me"], me[0] if me else None))
    out.append(_platform("sps-descriptor", versions["sps-descriptor"]))
    for comp in by_kind.get("bios", []):
        out.append(Member("SystemRomBackup", "Redundant System ROM", comp.previous or comp.active, SYSTEM_BOARD,
                          None, False, None))
    out.append(_platform("ip", versions["ip"]))
    out.append(_platform("pmc-boot", versions["pmc-boot"]))
    if by_kind.get("raid"):
        out.append(_platform("energy-pack", versions["energy-pack"]))
    for kind in ("raid", "nic", "gpu"):
        out += _distinct_places([_device(kind, comp) for comp in by_kind.get(kind, [])])
    out.append(_platform("video", versions["video"]))
    for comp in by_kind.get("backplane", []):
        out.append(Member("8 SFF 12G x1SAS UBM2 BC BP", "8 SFF 12G x1SAS UBM2 BC BP", comp.active,
                          f"Slot=12:Port=2I:Box={_number(comp.instance)}", None, False, comp))
    for comp in by_kind.get("other", []):
        context, _, name = comp.instance.rpartition("/")
        out.append(Member(name, name, comp.active, context or SYSTEM_BOARD, None, False, comp))
    drives = [m for i, comp in enumerate(drives_of(components)) for m in _drives(comp, i)]
    out += [m for m in drives if m.name == "Drive"] + [m for m in drives if m.name != "Drive"]  # older notation first
    return out


def body(member: Member, fid: str, slash: bool) -> dict[str, Any]:
    """The member as iLO serves it (keys in iLO's alphabetical order)."""
    hpe: dict[str, Any] = {"@odata.type": OEM_TYPE, "DeviceClass": member.device_class,
                           "DeviceContext": member.context}
    if member.targets:
        hpe["Targets"] = list(member.targets)
    doc: dict[str, Any] = {"@odata.id": f"{INV}/{fid}" + ("/" if slash else ""), "@odata.type": MEMBER_TYPE,
                           "Description": member.description, "Id": fid, "Name": member.name, "Oem": {"Hpe": hpe}}
    if member.device_class is not None and member.updateable:
        doc["Status"] = {"Health": "OK", "State": "Enabled"}
    doc.update(member.extra)
    if member.updateable is not None:
        doc["Updateable"] = member.updateable
    doc["Version"] = member.version
    if slash and "RelatedItem" in doc:
        doc["RelatedItem"] = [{"@odata.id": r["@odata.id"] + "/"} for r in doc["RelatedItem"]]
    digest = hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:8].upper()
    return {"@odata.etag": f'W/"{digest}"', **doc}


def drive_body(uri: str, did: str, comp: Component) -> dict[str, Any]:
    return {"@odata.id": uri, "@odata.type": "#Drive.v1_7_0.Drive", "Id": did, "Name": "960GB 32G NVMe SSD",
            "Model": DRIVE_MODEL, "Revision": comp.active, "MediaType": "SSD", "Protocol": "NVMe",
            "CapacityBytes": 960197124096, "Status": {"State": "Enabled", "Health": "OK"}}

