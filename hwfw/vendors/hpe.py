"""HPE iLO 5 (Gen10/Gen10 Plus) and iLO 6 (Gen11).

Quirks:
- FirmwareInventory Ids are numbers; `Description` is the machine key (`SystemBMC`,
  `SystemRomActive`, `SystemRomBackup`, `SPSFirmwareDescriptor`), `Name` is for humans
  ("iLO 5", "System ROM", "Redundant System ROM", "System Programmable Logic Device").
- `Version` is free text ("2.72 Sep 04 2022", "U30 v2.68 (07/14/2022)", "0x11"): kept raw;
  the vendor version scheme in hwfw.versions parses it.
- `Updateable` is often absent; the redundant (backup) System ROM is not the running one.
- Devices are told apart by `Oem.Hpe.DeviceContext` ("Embedded LOM", "PCI-E Slot 1").
- Update progress is `UpdateService.Oem.Hpe.State` (iLO 5 uses no Task); queued work is
  the `UpdateTaskQueue` (Pending / InProgress / Exception block later updates).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwfw.vendors.base import (
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    Doc,
    StandardAdapter,
    classify,
    link,
)

__all__ = ["HpeAdapter"]

_DESCRIPTION_KIND = {
    "systembmc": "bmc", "systemromactive": "bios", "systemrom": "bios", "spsfirmwaredescriptor": "me",
    "systemprogrammablelogicdevice": "cpld", "cpld": "cpld", "powermanagementcontroller": "other",
}
_BACKUP_DESCRIPTIONS = frozenset({"systemrombackup", "redundantsystemrom"})
_BUSY_STATES = frozenset({"Uploading", "Verifying", "Writing", "Updating", "Progressing", "BackingUp"})
_QUEUE_PENDING = frozenset({"Pending", "InProgress", "Exception"})
QUEUE = "hpe-update-task-queue"


def _key(text: Any) -> str:
    return "".join(ch for ch in str(text or "").lower() if ch.isalnum())


def _hpe_oem(doc: Doc) -> Mapping[str, Any]:
    oem = doc.get("Oem")
    if not isinstance(oem, dict):
        return {}
    hpe = oem.get("Hpe") or oem.get("Hp")
    return hpe if isinstance(hpe, dict) else {}


class HpeAdapter(StandardAdapter):
    name = "hpe"

    def ignore_member(self, member: Doc) -> bool:
        if _key(member.get("Description")) in _BACKUP_DESCRIPTIONS or _key(member.get("Name")) in _BACKUP_DESCRIPTIONS:
            return True
        return super().ignore_member(member)

    def kind_of(self, member: Doc) -> str | None:
        by_description = _DESCRIPTION_KIND.get(_key(member.get("Description")))
        if by_description:
            return by_description
        name = str(member.get("Name", ""))
        if _key(name) in _DESCRIPTION_KIND:
            return _DESCRIPTION_KIND[_key(name)]
        return classify(name, str(member.get("Description", "")), str(_hpe_oem(member).get("DeviceContext", "")))

    def instance_of(self, member: Doc, kind: str) -> str:
        if kind in ("bmc", "bios", "cpld", "me"):
            return kind
        context = _hpe_oem(member).get("DeviceContext")
        name = str(member.get("Name") or member.get("Id") or kind)
        return f"{context}/{name}" if context else name

    def update_methods(self, update_service: Doc) -> list[str]:
        methods = super().update_methods(update_service)
        if update_service.get("HttpPushUri") or _hpe_oem(update_service).get("PushUpdateUri"):
            methods.append("hpe-form")
        return methods

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        sources = {}
        queue = link(_hpe_oem(facts.update_service or {}), "UpdateTaskQueue")
        if queue:
            sources[QUEUE] = queue
        bios = link(facts.system, "Bios")
        if bios:
            sources[SOURCE_BIOS_SETTINGS] = bios
        return sources

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
