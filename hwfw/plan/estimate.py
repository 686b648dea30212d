"""Duration estimates: per step, per host (critical path) and for the fleet (makespan).

Typical durations of current server hardware: a BMC flash with its image push about
4.5 min; staging a BIOS, NIC, RAID (or similar) image about 2 min; a BMC reboot until
Redfish answers about 2 min; a host reboot about 5 min, 10 min when a new BIOS retrains
memory on the first POST; a CPLD's AC power cycle with BMC boot and POST about 8 min;
re-reading the inventory 0.5 min; session, pre-checks and inventory per host 0.5 min.
Where a vendor differs, its record in `hwfw.vendor_registry` says so. A repository
entry's `duration` replaces the typical flash time of its step; resets keep their own
estimates because one reset serves several images. These are planning figures, not
deadlines (the deadlines live in `Settings.timing`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from hwfw.vendor_registry import record_for

MIN = 60.0

# Flash (upload + flash, or stage) per component kind.
FLASH_SECONDS: dict[str, float] = {
    "bmc": 4.5 * MIN, "bios": 2 * MIN, "nic": 2 * MIN, "raid": 2 * MIN, "drive": 2 * MIN,
    "backplane": 2 * MIN, "me": 2 * MIN, "gpu": 2 * MIN, "psu": 2 * MIN, "cpld": 2 * MIN,
}
DEFAULT_FLASH_SECONDS = 2 * MIN

# Resets until the BMC (and the host, after POST) is back.
RESET_SECONDS: dict[str, float] = {"bmc-reset": 2 * MIN, "host-reboot": 5 * MIN, "ac-cycle": 8 * MIN}
BIOS_RETRAIN_SECONDS = 5 * MIN  # memory retraining on the first POST with a new BIOS

VERIFY_SECONDS = 0.5 * MIN       # re-read the inventory after a reset
HOST_OVERHEAD_SECONDS = 0.5 * MIN  # session, pre-checks and inventory per host


def flash_seconds(vendor: str | None, kind: str, duration: float | None) -> float:
    """Typical time to push and flash (or stage) one image."""
    if duration is not None:
        return duration
    record = record_for(vendor)
    override = record.flash_seconds.get(kind) if record is not None else None
    return override if override is not None else FLASH_SECONDS.get(kind, DEFAULT_FLASH_SECONDS)


def reset_seconds(vendor: str | None, kind: str, activates_bios: bool) -> float:
    """Typical time for a reset until the BMC (and the host, after POST) is back."""
    record = record_for(vendor)
    override = record.reset_seconds.get(kind) if record is not None else None
    base = override if override is not None else RESET_SECONDS[kind]
    if activates_bios and kind in ("host-reboot", "ac-cycle"):
        base += BIOS_RETRAIN_SECONDS
    return base


def critical_path(nodes: Sequence[str], edges: Iterable[tuple[str, str]],
                  seconds: Mapping[str, float]) -> tuple[float, list[str]]:
    """Longest weighted path through one host's DAG (`nodes` in topological order)."""
    preds: dict[str, list[str]] = {}
    for u, v in edges:
        preds.setdefault(v, []).append(u)
    finish: dict[str, float] = {}
    best_pred: dict[str, str | None] = {}
    for n in nodes:
        start, via = 0.0, None
        for p in preds.get(n, ()):
            if finish[p] > start or (finish[p] == start and via is not None and p < via):
                start, via = finish[p], p
        finish[n] = start + seconds[n]
        best_pred[n] = via
    if not finish:
        return 0.0, []
    end = max(nodes, key=lambda n: (finish[n], n))
    path: list[str] = []
    cur: str | None = end
    while cur is not None:
        path.append(cur)
        cur = best_pred[cur]
    return finish[end], path[::-1]


def makespan(host_seconds: Iterable[float], parallelism: int) -> float:
    """Fleet duration with `parallelism` hosts at a time: list scheduling, longest first."""
    workers = [0.0] * max(1, parallelism)
    for t in sorted((t for t in host_seconds if t > 0), reverse=True):
        heapq.heapreplace(workers, workers[0] + t)
    return max(workers)
