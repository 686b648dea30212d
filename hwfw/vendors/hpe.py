"""HPE iLO 5 (Gen10/Gen10 Plus) and iLO 6 (Gen11).

What iLO's FirmwareInventory looks like (HPE "iLO Software/Firmware update service"
documentation; public iLO 5 2.55 and 2.96 captures, docs/inventory-classification.md):
- Ids are numbers (`/FirmwareInventory/15`, with a trailing slash on some versions).
- `Oem.Hpe.DeviceClass` is a GUID naming the device family (iLO, System ROM, SPS,
  drives...), null for most add-in cards; `Oem.Hpe.DeviceContext` is where the device
  sits ("System Board", "PCI-E Slot 1", "OCP 3.0 Slot 10", "Port 1I Box 1 Bay 1",
  written "Port=1I:Box=1:Bay=1" by newer code paths that list the same drive again).
- `Description` is a machine key for platform firmware (`SystemBMC`, `SystemRomActive`,
  `SPSFirmwareVersionData`, `SPSFirmwareDescriptor`...), the PCI ids of add-in cards
  ("100010e215900293": vendor 1000, device 10e2, subsystem 1590:0293), or a drive model.
- `Name` is for humans and marketing ("HPE Eth 10/25Gb 2p 640FLR-SFP28 Adptr").
- `Version` is free text ("2.55 Oct 01 2021", "U46 v1.56 (11/29/2021)", "0x15",
  "9.2.0 Build 35"); hwfw.versions reads it.
- `Updateable` is often false (not flashable by iLO itself) or absent.
- Without FirmwareInventory, `Manager.FirmwareVersion` says "iLO 5 v2.55" and
  `Manager.Oem.Hpe.Firmware.Current.Date` the build date: together they are the
  inventory's "2.55 Oct 01 2021".
- Update progress is `UpdateService.Oem.Hpe.State` (iLO 5 uses no Task); queued work is
  the `UpdateTaskQueue` (Pending / InProgress / Exception block later updates).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from hwfw.vendors.base import (
    SINGLETONS,
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    Decision,
    Doc,
    Reader,
    StandardAdapter,
    below,
    link,
)
from hwfw.vendors.evidence import kind_from_pci, kind_from_related, kind_from_text
from hwfw.vendors.model import ComponentState
from hwfw.versions import InvalidVersion, normalise

__all__ = ["HpeAdapter"]

# Oem.Hpe.DeviceClass GUIDs, as iLO 5 reports them on every ProLiant generation seen
# (Gen10, Gen10 Plus); the same GUID is the first half of a drive's SoftwareId.
_DEVICE_CLASSES: dict[str, tuple[str, str]] = {
    "2f317b9d-c9e3-4d76-bff6-b9d0d085a952": ("bmc", "iLO"),
    "aa148d2e-6e09-453e-bc6f-63baa5f5ccc4": ("bios", "System ROM"),
    "b1ad439a-9dd1-41c1-a496-2da9313f1f07": ("cpld", "System Programmable Logic Device"),
    "b34e5677-21dc-45d3-872b-42f76fee9053": ("me", "Server Platform Services firmware"),
    "3f30a329-d03c-46b8-8f0e-9567fad4ea9f": ("other", "Server Platform Services descriptor"),
    "c734e171-8721-48c9-9ed6-d5bc7da5ef8d": ("other", "Innovation Engine"),
    "b8f46d06-85db-465c-94fb-d106e61378ed": ("other", "Intelligent Platform Abstraction Data"),
    "9e48a28a-586c-4519-8405-a04f84e27f0f": ("other", "Power Management Controller"),
    "ac963eeb-ed78-4f36-c18c-29d85f34a0ac": ("other", "Intelligent Provisioning"),
    "6bb86077-0275-4614-aae1-86618e8b1c27": ("psu", "power supplies"),
    "f6de0320-2e0f-489a-b238-6dd8ae7c3811": ("drive", "drives"),
}
# Description machine keys of platform firmware (lower case, letters and digits only).
_DESCRIPTION_KIND = {
    "systembmc": "bmc", "systemromactive": "bios", "systemrom": "bios", "systemprogrammablelogicdevice": "cpld",
    "cpld": "cpld", "spsfirmwareversiondata": "me", "spsfirmwaredescriptor": "other",
    "innovationenginefirmware": "other", "platformdefinitiontable": "other", "powermanagementcontroller": "other",
    "powermanagementcontrollerbootloader": "other", "powersupplies": "psu", "smartstorageenergypack": "other",
    "intelligentprovisioning": "other",
}
_BACKUP_DESCRIPTIONS = frozenset({"systemrombackup", "redundantsystemrom"})
_BUSY_STATES = frozenset({"Uploading", "Verifying", "Writing", "Updating", "Progressing", "BackingUp"})
_QUEUE_PENDING = frozenset({"Pending", "InProgress", "Exception"})
_CONTEXT_PART = re.compile(r"^\s*(?P<key>[A-Za-z]+)\s*=\s*(?P<value>\S+)\s*$")
_SHARED_CONTEXTS = frozenset({"system board", "embedded device"})
QUEUE = "hpe-update-task-queue"


def _key(text: Any) -> str:
    return "".join(ch for ch in str(text or "").lower() if ch.isalnum())


def _hpe_oem(doc: Doc) -> Mapping[str, Any]:
    oem = doc.get("Oem")
    if not isinstance(oem, dict):
        return {}
    hpe = oem.get("Hpe") or oem.get("Hp")
    return hpe if isinstance(hpe, dict) else {}


def device_context(member: Doc) -> str | None:
    """Where the device sits, one spelling for both of iLO's: "Port=1I:Box=1:Bay=1" and
    "Port 1I Box 1 Bay 1" are the same bay."""
    raw = _hpe_oem(member).get("DeviceContext")
    if not isinstance(raw, str) or not raw.strip():
        return None
    parts = [_CONTEXT_PART.match(p) for p in raw.split(":")]
    if "=" in raw and all(parts):
        return " ".join(f"{m['key']} {m['value']}" for m in parts if m)
    return " ".join(raw.split())


def _by_device_class(member: Doc) -> Decision | None:
    oem_class = _hpe_oem(member).get("DeviceClass") or member.get("DeviceClass")
    if isinstance(oem_class, str) and oem_class.lower() in _DEVICE_CLASSES:
        kind, what = _DEVICE_CLASSES[oem_class.lower()]
        return Decision(kind, f"Oem.Hpe.DeviceClass {oem_class} is {what}")
    software_id = str(member.get("SoftwareId") or "").lower()
    prefix = software_id.split(":", 1)[0]
    if ":" in software_id and prefix in _DEVICE_CLASSES:
        kind, what = _DEVICE_CLASSES[prefix]
        return Decision(kind, f"SoftwareId starts with the device class of {what}")
    return None


def _by_description(member: Doc) -> Decision | None:
    kind = _DESCRIPTION_KIND.get(_key(member.get("Description")))
    if kind is not None:
        return Decision(kind, f"Description {member.get('Description')!r} is iLO's key for it")
    return kind_from_pci(member.get("Description"))


def _by_context(member: Doc) -> Decision | None:
    context = device_context(member)
    if context is None:
        return None
    words = context.lower().split()
    if "bay" in words and ("port" in words or "slot" in words or "box" in words):
        return Decision("drive", f"Oem.Hpe.DeviceContext {context!r} is a drive bay")
    if "box" in words:
        return Decision("backplane", f"Oem.Hpe.DeviceContext {context!r} is a drive box")
    if "lom" in words or "flexiblelom" in words:
        return Decision("nic", f"Oem.Hpe.DeviceContext {context!r} is a LOM")
    return None


class HpeAdapter(StandardAdapter):
    name = "hpe"

    def ignore_reason(self, member: Doc) -> str | None:
        if _key(member.get("Description")) in _BACKUP_DESCRIPTIONS or _key(member.get("Name")) in _BACKUP_DESCRIPTIONS:
            return "the redundant (backup) System ROM, not the running one"
        return super().ignore_reason(member)

    def readers(self) -> tuple[Reader, ...]:
        # Device class and links first, iLO's own keys and PCI ids next, the marketing
        # name only then, the slot shape last (an OCP slot may hold a RAID card).
        return (_by_device_class, kind_from_related, _by_description,
                lambda m: kind_from_text(Name=m.get("Name")), _by_context)

    def instance_of(self, member: Doc, kind: str) -> str:
        if kind in SINGLETONS:
            return kind
        context = device_context(member)
        name = str(member.get("Name") or member.get("Id") or kind)
        return f"{context}/{name}" if context else name

    def identity(self, member: Doc, state: ComponentState) -> tuple[Any, ...] | None:
        """Same kind, version, place, model (Description) and update targets: iLO lists
        some drives twice, once per location notation, one of them with RelatedItem."""
        context = (device_context(member) or "").lower()
        if not context:
            return None
        targets = _hpe_oem(member).get("Targets")
        # Many devices share "System Board" or "Embedded Device": there the name must agree too.
        name = _key(member.get("Name")) if context in _SHARED_CONTEXTS else ""
        return ("hpe", state.kind, state.version, context, _key(member.get("Description")), name,
                tuple(sorted(map(str, targets))) if isinstance(targets, list) else ())

    def fallback_components(self, facts: BmcFacts) -> Iterable[ComponentState]:
        for state in super().fallback_components(facts):
            if state.kind == "bmc" and state.version:
                state = _dated_ilo_version(state, facts.manager)
            yield state

    def update_methods(self, update_service: Doc) -> list[str]:
        methods = super().update_methods(update_service)
        if update_service.get("HttpPushUri") or _hpe_oem(update_service).get("PushUpdateUri"):
            methods.append("hpe-form")
        return methods

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        sources = {}
        queue = link(_hpe_oem(facts.update_service or {}), "UpdateTaskQueue")
        if facts.update_service is None:  # not read yet: where iLO 5 and 6 keep the queue
            queue = below(link(facts.root, "UpdateService"), "UpdateTaskQueue")
        if queue:
            sources[QUEUE] = queue
        bios = link(facts.system, "Bios")
        if bios:
            sources[SOURCE_BIOS_SETTINGS] = bios
        return sources

    def bios_settings_uri(self, bios_uri: str) -> str:
        # iLO 5 and 6: /redfish/v1/systems/1/bios/settings/ (lower case).
        return f"{bios_uri.rstrip('/')}/settings"

    def pending_jobs(self, facts: BmcFacts) -> list[str]:
        out = []
        for item in facts.extra.get(QUEUE) or ():
            state = str(item.get("State") or "")
            if state in _QUEUE_PENDING:
                label = item.get("Name") or item.get("Filename") or item.get("Id")
                out.append(f"{label} {item.get('Command') or ''} ({state})".replace("  ", " "))
        return out

    def running_updates(self, facts: BmcFacts) -> list[str]:
        out = super().running_updates(facts)
        state = _hpe_oem(facts.update_service or {}).get("State")
        if state in _BUSY_STATES:
            pct = _hpe_oem(facts.update_service or {}).get("FlashProgressPercent")
            out.append(f"UpdateService {state}" + (f" {pct}%" if pct is not None else ""))
        return out


def _dated_ilo_version(state: ComponentState, manager: Doc) -> ComponentState:
    """"iLO 5 v2.55" + Oem.Hpe.Firmware.Current.Date "Oct 01 2021" -> "2.55 Oct 01 2021",
    the notation of iLO's FirmwareInventory (and of baselines written from it)."""
    firmware = _hpe_oem(manager).get("Firmware")
    current = firmware.get("Current") if isinstance(firmware, dict) else None
    date = current.get("Date") if isinstance(current, dict) else None
    if not isinstance(date, str) or state.version is None:
        return state
    try:
        version = normalise(state.version, "hpe-dated", date=date)
    except InvalidVersion:
        return state  # not an iLO string (or an unreadable date): keep what the BMC said
    return dataclasses.replace(state, version=version)

