"""Duration estimates: per step, per host (critical path) and for the fleet (makespan).

Typical durations come from the performance reference
(/work/shared/reference/performance-anchors.md §2 "Firmware update durations per
component" and §7(b) "per-host critical path"). A repository entry's `duration`
replaces the typical flash time of its step; resets keep their own estimates because
one reset serves several images. These are planning figures, not deadlines (the
deadlines live in `Settings.timing`).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

MIN = 60.0

# Flash (upload + flash, or stage) per component kind; §7(b) "BMC flash 4 min" plus the
# image push (0.5 min), "Stage BIOS / NIC / RAID jobs 2 min"; §2 iLO 5 self-update 3 min
# 54 s, HPE Smart Array ~2 min to stage.
FLASH_SECONDS: dict[str, float] = {
    "bmc": 4.5 * MIN, "bios": 2 * MIN, "nic": 2 * MIN, "raid": 2 * MIN, "drive": 2 * MIN,
    "backplane": 2 * MIN, "me": 2 * MIN, "gpu": 2 * MIN, "psu": 2 * MIN, "cpld": 2 * MIN,
}
DEFAULT_FLASH_SECONDS = 2 * MIN
VENDOR_FLASH_SECONDS: dict[tuple[str, str], float] = {
    ("hpe", "bmc"): 4 * MIN,  # §2: iLO 5 upload + flash 3 min 54 s
}

# Resets, §7(b): "BMC reboot to Redfish-ready 2 min" (iLO ~1 min, §2); "Host shutdown +
# BIOS flash during boot 5 min" + "POST incl. memory retraining after BIOS 5 min" = a
# host reboot with a BIOS is 10 min, without one ~5 min; "CPLD: flash + aux power cycle
# + BMC boot + POST 8 min" for the AC power cycle.
RESET_SECONDS: dict[str, float] = {"bmc-reset": 2 * MIN, "host-reboot": 5 * MIN, "ac-cycle": 8 * MIN}
VENDOR_RESET_SECONDS: dict[tuple[str, str], float] = {("hpe", "bmc-reset"): 1 * MIN}
BIOS_RETRAIN_SECONDS = 5 * MIN  # memory retraining on the first POST with a new BIOS (§2)

VERIFY_SECONDS = 0.5 * MIN       # §7(b) "Verify (re-read inventory) 0.5 min"
HOST_OVERHEAD_SECONDS = 0.5 * MIN  # §7(b) "Session + pre-checks + inventory 0.5 min"


def flash_seconds(vendor: str | None, kind: str, duration: float | None) -> float:
    """Typical time to push and flash (or stage) one image."""
    if duration is not None:
        return duration
    return VENDOR_FLASH_SECONDS.get((vendor or "", kind)) or FLASH_SECONDS.get(kind, DEFAULT_FLASH_SECONDS)


def reset_seconds(vendor: str | None, kind: str, activates_bios: bool) -> float:
    """Typical time for a reset until the BMC (and the host, after POST) is back."""
    base = VENDOR_RESET_SECONDS.get((vendor or "", kind)) or RESET_SECONDS[kind]
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
