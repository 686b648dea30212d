"""Supermicro X11-X13 / H11-H13 BMCs.

What the BMC serves (Supermicro Redfish Reference Guide; fwupd's Redfish plugin):
- FirmwareInventory Ids are names: `BMC`, `BIOS`, `CPLD_Motherboard`, `CPLD_Backplane_<n>`,
  `BIOS_ME`, `PowerSupply<n>`, `NIC<n>`...; `Backup_`, `Golden_` and `Staging_` copies
  (also `Staging_Capsule_*`) are never the running image (fwupd marks Backup_BIOS is-backup).
- Licensed features (SFT-DCMS-SINGLE) answer HTTP 405 `SMC.1.0.OemLicenseNotPassed`
  when the licence is missing; that is a pre-flight fact, not a collection failure.
- Multipart upload with `OnStartUpdateRequest` followed by `UpdateService.StartUpdate`
  is the X12/X13 flow (`smc-startupdate`).
"""

from __future__ import annotations

import re

from hwfw.redfish.errors import message_id_matches
from hwfw.vendors.base import (
    PROBE,
    BmcFacts,
    Decision,
    Doc,
    Reader,
    StandardAdapter,
    action_targets,
    below,
    link,
)
from hwfw.vendors.evidence import kind_from_related, kind_from_text

__all__ = ["SupermicroAdapter"]

_COPY_PREFIX = re.compile(r"^(Backup|Golden|Staging)_", re.IGNORECASE)
_ID_KIND = (
    (re.compile(r"^BMC$", re.IGNORECASE), "bmc"), (re.compile(r"^BIOS$", re.IGNORECASE), "bios"),
    (re.compile(r"^(BIOS_ME|Capsule_ME|ME)$", re.IGNORECASE), "me"),
    (re.compile(r"^CPLD_Motherboard$", re.IGNORECASE), "cpld"),
    (re.compile(r"^CPLD_Backplane", re.IGNORECASE), "backplane"), (re.compile(r"^PowerSupply", re.IGNORECASE), "psu"),
    (re.compile(r"^(NIC|Broadcom|Marvell|Mellanox|Intel)", re.IGNORECASE), "nic"),
    (re.compile(r"^(NVMeController|StorageController|RAID|HBA)", re.IGNORECASE), "raid"),
    (re.compile(r"^(GPU|HGX)", re.IGNORECASE), "gpu"), (re.compile(r"^(Disk|Drive|NVMe|PMem)", re.IGNORECASE), "drive"),
    (re.compile(r"^Capsule_", re.IGNORECASE), "other"),
)
_LICENCE_IDS = ("SMC.OemLicenseNotPassed",)
LICENCE_PROBE = PROBE + "licence"


class SupermicroAdapter(StandardAdapter):
    name = "supermicro"

    def ignore_reason(self, member: Doc) -> str | None:
        copy = _COPY_PREFIX.match(str(member.get("Id", "")))
        if copy:
            return f"a {copy.group(1)} copy, not the running image"
        return super().ignore_reason(member)

    def readers(self) -> tuple[Reader, ...]:
        # The Id is the BMC's machine key for the device (BMC, BIOS_ME, CPLD_Backplane_1).
        return (_by_id, kind_from_related, lambda m: kind_from_text(Id=m.get("Id"), Name=m.get("Name")))

    def instance_of(self, member: Doc, kind: str) -> str:
        member_id = str(member.get("Id") or kind)
        if kind in ("bmc", "bios", "cpld", "me") and _ID_KIND_SINGLETON.match(member_id):
            return kind
        return member_id

    def update_methods(self, update_service: Doc) -> list[str]:
        methods = super().update_methods(update_service)
        if update_service.get("MultipartHttpPushUri") and "StartUpdate" in action_targets(update_service):
            methods.append("smc-startupdate")
        return methods

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        sources = super().preflight_sources(facts)
        push = (facts.update_service or {}).get("MultipartHttpPushUri")
        if facts.update_service is None:  # not read yet: X12/X13 take multipart pushes here
            push = below(link(facts.root, "UpdateService"), "upload")
        if isinstance(push, str):
            # fwupd's check: a GET on the push URI answers 405 OemLicenseNotPassed on
            # boards without the DCMS licence (and 405 OperationNotAllowed otherwise).
            sources[LICENCE_PROBE] = push
        return sources

    def bios_settings_uri(self, bios_uri: str) -> str:
        # Supermicro's SettingsObject of the Bios resource is its "SD" resource.
        return f"{bios_uri.rstrip('/')}/SD"

    def licence_errors(self, facts: BmcFacts) -> list[str]:
        out = [f"{what}: {msg}" for what, msg in facts.errors
               if any(message_id_matches(part.strip("[]"), lid) for part in msg.split() for lid in _LICENCE_IDS)
               or "OemLicenseNotPassed" in msg]
        for key, value in facts.extra.items():
            if key.startswith("licence:") and value:
                out.append(str(value))
        return out


def _by_id(member: Doc) -> Decision | None:
    member_id = str(member.get("Id", ""))
    for pattern, kind in _ID_KIND:
        if pattern.match(member_id):
            return Decision(kind, f"Id {member_id!r} is Supermicro's key for it")
    return None


_ID_KIND_SINGLETON = re.compile(r"^(BMC|BIOS|BIOS_ME|ME|CPLD_Motherboard)$", re.IGNORECASE)
