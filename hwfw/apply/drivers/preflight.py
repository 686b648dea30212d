"""Pre-flight: may this host be touched now, and what does its BMC offer?

Blocking: an update already running on the BMC; pending jobs/tasks or BIOS settings
this workspace did not create (unless allowed: a reboot by hwfw would apply them).
BIOS values hwfw staged itself (the state's `bios_settings` record, `known_settings`)
are not foreign: the next reboot applies them as planned.
Warnings: health, odd power states, missing licences (they gate some updates, not the
host). Facts: the update methods, apply times, reset types and image size limit.
"""

from __future__ import annotations

from typing import Any, Mapping

from hwfw.apply.driver import PreflightReport
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.quirks import Quirks
from hwfw.vendors.base import SOURCE_BIOS_SETTINGS

__all__ = ["preflight"]

_HEALTHY = ("OK",)
_RUNNING = ("Running", "Starting", "InProgress", "Downloading", "Updating", "Verifying", "Writing", "Uploading")


async def preflight(bmc: Bmc, quirks: Quirks, *, known_tasks: tuple[str, ...], allow_pending: bool,
                    known_settings: Mapping[str, Any] | None = None) -> PreflightReport:
    facts = await bmc.facts(full=True)
    pf = bmc.adapter.preflight(facts)
    caps = bmc.adapter.capabilities(facts)
    work = await quirks.in_flight()
    known = {k.rstrip("/") for k in known_tasks} | {k.rstrip("/").rsplit("/", 1)[-1] for k in known_tasks}
    foreign = [f for f in work
               if f.uri.rstrip("/") not in known and f.uri.rstrip("/").rsplit("/", 1)[-1] not in known]
    blocking: list[str] = []
    warnings: list[str] = list(pf.warnings)
    # A missing licence gates some updates, not the host (Supermicro: BMC/BIOS/CPLD pushes
    # are standard): reported here, and a flash that needs it fails naming the licence.
    warnings += [f"licence: {e}" for e in pf.licence_errors]
    running = [f for f in foreign if f.state in _RUNNING]
    queued = [f for f in foreign if f not in running]
    blocking += [f"an update is already running on the BMC: {f.description or f.uri} ({f.state})" for f in running]
    pending = [f"pending job/task not created by this workspace: {f.description or f.uri} ({f.state})"
               for f in queued]
    if pf.pending_bios_settings:
        staged = facts.extra.get(SOURCE_BIOS_SETTINGS) or {}
        own = known_settings or {}
        others = sorted(k for k, v in staged.items() if k not in own or own[k] != v) if isinstance(staged, dict) \
            else ["?"]
        if others or not staged:
            pending.append(f"pending BIOS settings ({', '.join(others) or 'unknown'}) wait for the next reboot "
                           "(a reboot by hwfw would apply them)")
        else:
            warnings.append("BIOS settings staged by this workspace wait for the next reboot")
    if allow_pending:
        warnings += pending
    else:
        blocking += pending
    if pf.health and pf.health not in _HEALTHY:
        warnings.append(f"system health is {pf.health}")
    if pf.power_state not in ("On", "Off", None):
        warnings.append(f"power state is {pf.power_state}")
    us = facts.update_service or {}
    report_facts: dict[str, Any] = {
        "vendor": quirks.vendor, "adapter": bmc.adapter.name, "power_state": pf.power_state,
        "health": pf.health, "max_image_size": caps.max_image_size,
        "update_methods": list(caps.update_methods), "apply_times": list(caps.apply_times),
        "system_reset_types": list(caps.system_reset_types), "manager_reset_types": list(caps.manager_reset_types),
        "transfer_protocols": list(caps.transfer_protocols),
        "bmc_firmware": bmc.manager.get("FirmwareVersion"),
        "multipart_uri": us.get("MultipartHttpPushUri"), "http_push_uri": us.get("HttpPushUri"),
        "pending_bios_settings": pf.pending_bios_settings,
        "licence_errors": list(pf.licence_errors),
    }
    report = PreflightReport(power_state=pf.power_state, blocking=tuple(blocking), warnings=tuple(warnings),
                             in_flight=tuple(work), facts=report_facts)
    return await quirks.amend_preflight(facts, report)


def image_size_problem(report: PreflightReport, size: int) -> str | None:
    """Why an image of `size` bytes cannot be sent to this BMC (None: it can)."""
    limit = report.facts.get("max_image_size")
    if isinstance(limit, int) and limit > 0 and size > limit:
        return f"image is {size} bytes, the BMC accepts at most {limit} (MaxImageSizeBytes)"
    return None
