"""Dell iDRAC9 (PowerEdge 14G-16G; iDRAC10 believed similar).

Quirks:
- FirmwareInventory Ids embed state and version: `Installed-159-1.2.4__BIOS.Setup.1-1`,
  `Previous-25227-5.00.20.10__iDRAC.Embedded.1-1`, `Available-25806-4301X07`; only
  Installed- (or Current-, when no Installed- twin exists) is the running image;
  Previous-/Available- carry `Oem.Dell.DellSoftwareInventory.Status: AvailableForInstallation`.
- The FQDD after `__` names the device: the instance of multi-device kinds (NIC.Integrated.1-1).
- `SoftwareId` is the Dell ComponentID (159 BIOS, 25227 iDRAC).
- Pending work lives in the Dell job queue (`Managers/iDRAC.Embedded.1/Oem/Dell/Jobs`,
  newer: `/redfish/v1/JobService/Jobs`), not in TaskService.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from hwfw.vendors.model import ComponentState
from hwfw.vendors.base import (
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    Doc,
    StandardAdapter,
    action_targets,
    classify,
    link,
)

__all__ = ["DellAdapter"]

_ID = re.compile(r"^(?P<state>[A-Za-z]+)-(?P<component>[0-9]+)-(?P<version>[^_]*?)(?:__(?P<fqdd>.+))?$")
_FQDD_KIND = (
    ("iDRAC.", "bmc"), ("BIOS.", "bios"), ("CPLD.", "cpld"), ("NIC.", "nic"), ("FC.", "nic"),
    ("InfiniBand.", "nic"), ("RAID.", "raid"), ("AHCI.", "raid"), ("NonRAID.", "raid"), ("Disk.", "drive"),
    ("PSU.", "psu"), ("Enclosure.", "backplane"), ("Backplane.", "backplane"), ("Video.", "gpu"),
)
_JOB_PENDING = frozenset({"New", "Scheduling", "Scheduled", "Downloading", "Downloaded", "ReadyForExecution",
                          "Waiting", "Running", "Paused", "PendingActivation", "RebootPending", "Starting"})
JOBS = "dell-jobs"


def parse_id(member_id: str) -> dict[str, str] | None:
    """Split a Dell inventory Id into state, component id, version and FQDD."""
    m = _ID.match(member_id)
    return {k: v for k, v in m.groupdict().items() if v is not None} if m else None


class DellAdapter(StandardAdapter):
    name = "dell"

    def ignore_member(self, member: Doc) -> bool:
        parsed = parse_id(str(member.get("Id", "")))
        if parsed and parsed["state"] in ("Previous", "Available"):
            return True
        dell = _dell_oem(member)
        if dell.get("Status") == "AvailableForInstallation":
            return True
        return super().ignore_member(member)

    def kind_of(self, member: Doc) -> str | None:
        parsed = parse_id(str(member.get("Id", ""))) or {}
        fqdd = parsed.get("fqdd") or str(_dell_oem(member).get("FQDD") or "")
        for prefix, kind in _FQDD_KIND:
            if fqdd.startswith(prefix):
                return kind
        name = str(member.get("Name", ""))
        if re.search(r"lifecycle|diagnostic|driver pack|os collector|service module", name, re.IGNORECASE):
            return "other"
        return classify(name, fqdd)

    def instance_of(self, member: Doc, kind: str) -> str:
        if kind in ("bmc", "bios", "cpld", "me"):
            return kind
        parsed = parse_id(str(member.get("Id", ""))) or {}
        fqdd = parsed.get("fqdd") or _dell_oem(member).get("FQDD")
        return str(fqdd or member.get("Name") or member.get("Id") or kind)

    def map_member(self, member: Doc) -> ComponentState | None:
        state = super().map_member(member)
        if state is None:
            return None
        if state.software_id is None:
            parsed = parse_id(str(member.get("Id", ""))) or {}
            cid = parsed.get("component") or _dell_oem(member).get("ComponentID")
            if cid and cid != "0":
                state = dataclasses.replace(state, software_id=str(cid))
        return state

    def components(self, facts: BmcFacts) -> tuple[ComponentState, ...]:
        members = list(facts.firmware_inventory or ())
        installed = {(p or {}).get("fqdd") or (p or {}).get("component")
                     for p in (parse_id(str(m.get("Id", ""))) for m in members) if p and p["state"] == "Installed"}
        # Current- mirrors Installed- (Bios.Links.SoftwareImages lists both); keep one.
        kept = tuple(m for m in members
                     if not ((p := parse_id(str(m.get("Id", "")))) and p["state"] == "Current"
                             and (p.get("fqdd") or p.get("component")) in installed))
        return super().components(BmcFacts(facts.root, facts.systems, facts.managers, facts.update_service,
                                           kept if facts.firmware_inventory is not None else None,
                                           facts.extra, facts.errors))

    def update_methods(self, update_service: Doc) -> list[str]:
        methods = super().update_methods(update_service)
        if "DellUpdateService.Install" in action_targets(update_service):
            methods.append("dell-job")
        return methods

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        sources = {}
        jobs = link(facts.manager, "Links", "Oem", "Dell", "Jobs")
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
