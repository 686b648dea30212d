"""Dell iDRAC9 (PowerEdge 14G-16G; iDRAC10 believed similar).

What iDRAC's FirmwareInventory looks like (Dell iDRAC Redfish API guide; public iDRAC
5.10 and 7.x captures, docs/inventory-classification.md):
- Ids embed state and version: `Installed-159-1.2.4__BIOS.Setup.1-1`,
  `Previous-25227-5.00.20.10__iDRAC.Embedded.1-1`, `Available-25806-4301X07`,
  `Installed-0-16.25.40.62` (no FQDD, component 0). Installed- is the running image;
  Current- (served for some devices only, the BIOS among them) is its twin; Previous-/
  Available- carry `Oem.Dell.DellSoftwareInventory.Status: AvailableForInstallation`.
- The FQDD after `__` names the device: the kind (iDRAC., BIOS., NIC., RAID.Backplane.,
  BOSS.) and the instance of multi-device kinds (NIC.Integrated.1-1-1).
- `SoftwareId` is the Dell ComponentID (159 BIOS, 25227 iDRAC).
- Some versions send `Updateable` as the string "True"/"False".
- Pending work lives in the Dell job queue (`Managers/iDRAC.Embedded.1/Oem/Dell/Jobs`,
  newer: `/redfish/v1/JobService/Jobs`), not in TaskService.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from hwfw.vendors.base import (
    SINGLETONS,
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    Decision,
    Doc,
    Reader,
    StandardAdapter,
    action_targets,
    below,
    first_link,
    link,
    member_order,
)
from hwfw.vendors.evidence import kind_from_related, kind_from_text
from hwfw.vendors.model import ComponentState

__all__ = ["DellAdapter"]

_ID = re.compile(r"^(?P<state>[A-Za-z]+)-(?P<component>[0-9]+)-(?P<version>[^_]*?)(?:__(?P<fqdd>.+))?$")
# Ordered: RAID.Backplane. (backplane firmware) before RAID. (controllers).
_FQDD_KIND = (
    ("iDRAC.", "bmc"), ("BIOS.", "bios"), ("CPLD.", "cpld"), ("NIC.", "nic"), ("FC.", "nic"),
    ("InfiniBand.", "nic"), ("RAID.Backplane.", "backplane"), ("RAID.", "raid"), ("AHCI.", "raid"),
    ("NonRAID.", "raid"), ("BOSS.", "raid"), ("Disk.", "drive"), ("PSU.", "psu"), ("Enclosure.", "backplane"),
    ("Backplane.", "backplane"), ("Video.", "gpu"),
)
_SOFTWARE_NOT_FIRMWARE = re.compile(r"lifecycle|diagnostic|driver pack|os collector|service module", re.IGNORECASE)
_JOB_PENDING = frozenset({"New", "Scheduling", "Scheduled", "Downloading", "Downloaded", "ReadyForExecution",
                          "Waiting", "Running", "Paused", "PendingActivation", "RebootPending", "Starting"})
_STATE_PREFERENCE = {"Installed": 0, "Current": 1}
JOBS = "dell-jobs"


def parse_id(member_id: str) -> dict[str, str] | None:
    """Split a Dell inventory Id into state, component id, version and FQDD."""
    m = _ID.match(member_id)
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else None


def _fqdd(member: Doc) -> str:
    parsed = parse_id(str(member.get("Id", ""))) or {}
    return str(parsed.get("fqdd") or _dell_oem(member).get("FQDD") or "")


def _by_fqdd(member: Doc) -> Decision | None:
    fqdd = _fqdd(member)
    for prefix, kind in _FQDD_KIND:
        if fqdd.startswith(prefix):
            return Decision(kind, f"FQDD {fqdd!r} starts with {prefix!r}")
    return None


def _software(member: Doc) -> Decision | None:
    name = str(member.get("Name", ""))
    m = _SOFTWARE_NOT_FIRMWARE.search(name)
    return Decision("other", f"Name {name!r} is {m.group(0)!r} software, not device firmware") if m else None


class DellAdapter(StandardAdapter):
    name = "dell"

    def ignore_reason(self, member: Doc) -> str | None:
        parsed = parse_id(str(member.get("Id", "")))
        if parsed and parsed["state"] in ("Previous", "Available"):
            return f"a {parsed['state']}- image, not the running one"
        if _dell_oem(member).get("Status") == "AvailableForInstallation":
            return "Oem.Dell Status AvailableForInstallation"
        return super().ignore_reason(member)

    def readers(self) -> tuple[Reader, ...]:
        # The FQDD is the device's own name on iDRAC, stronger than any link.
        return (_by_fqdd, kind_from_related, _software,
                lambda m: kind_from_text(Name=m.get("Name"), FQDD=_fqdd(m) or None))

    def instance_of(self, member: Doc, kind: str) -> str:
        if kind in SINGLETONS:
            return kind
        return str(_fqdd(member) or member.get("Name") or member.get("Id") or kind)

    def identity(self, member: Doc, state: ComponentState) -> tuple[Any, ...] | None:
        """Installed- and Current- members of one FQDD (or component) are one device;
        the Installed- one is kept (Bios.Links.SoftwareImages lists both)."""
        parsed = parse_id(str(member.get("Id", "")))
        if parsed is not None and parsed["state"] in _STATE_PREFERENCE:
            device = parsed.get("fqdd") or (parsed["component"] if parsed["component"] != "0" else None)
            if device:
                return ("dell", state.kind, device)
        return super().identity(member, state)

    def preference(self, member: Doc) -> tuple[Any, ...]:
        parsed = parse_id(str(member.get("Id", ""))) or {}
        return (_STATE_PREFERENCE.get(parsed.get("state", ""), 2), member_order(member))

    def _state(self, member: Doc, kind: str) -> ComponentState:
        state = super()._state(member, kind)
        if state.software_id is None:
            parsed = parse_id(str(member.get("Id", ""))) or {}
            cid = parsed.get("component") or _dell_oem(member).get("ComponentID")
            if cid and cid != "0":
                state = dataclasses.replace(state, software_id=str(cid))
        return state

    def update_methods(self, update_service: Doc) -> list[str]:
        methods = super().update_methods(update_service)
        if "DellUpdateService.Install" in action_targets(update_service):
            methods.append("dell-job")
        return methods

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        sources = {}
        jobs = link(facts.manager, "Links", "Oem", "Dell", "Jobs")
        if not jobs and not facts.managers:
            # The Manager was not read: the job queue where iDRAC's Manager links it
            # (Links.Oem.Dell.Jobs), below the manager the System names.
            jobs = below(first_link(facts.system, "Links", "ManagedBy"), "Oem/Dell/Jobs")
        if not jobs and link(facts.root, "JobService"):
            jobs = link(facts.root, "JobService").rstrip("/") + "/Jobs"  # type: ignore[union-attr]
        if not jobs and facts.manager.get("@odata.id"):
            jobs = str(facts.manager["@odata.id"]).rstrip("/") + "/Oem/Dell/Jobs"
        if jobs:
            sources[JOBS] = jobs
        bios = link(facts.system, "Bios")
        if bios:
            sources[SOURCE_BIOS_SETTINGS] = bios
        return sources

    def pending_jobs(self, facts: BmcFacts) -> list[str]:
        out = []
        for job in facts.extra.get(JOBS) or ():
            state = str(job.get("JobState") or job.get("TaskState") or "")
            if state in _JOB_PENDING:
                out.append(f"{job.get('Id')} {job.get('Name') or ''} ({state})".replace("  ", " "))
        return out

    def running_updates(self, facts: BmcFacts) -> list[str]:
        out = super().running_updates(facts)
        for job in facts.extra.get(JOBS) or ():
            if job.get("JobState") == "Running" and "firmware" in str(job.get("JobType", "")).lower():
                out.append(f"{job.get('Id')} {job.get('Name') or ''}".strip())
        return out


def _dell_oem(member: Doc) -> Mapping[str, Any]:
    oem = member.get("Oem")
    dell = oem.get("Dell") if isinstance(oem, dict) else None
    inv = dell.get("DellSoftwareInventory") if isinstance(dell, dict) else None
    return inv if isinstance(inv, dict) else (dell if isinstance(dell, dict) else {})
