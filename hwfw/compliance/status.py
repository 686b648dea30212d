"""Compliance status of one component: read from the plan's Action, never recomputed.

`check --inventory` (drift findings) and `compliance` (the fleet report) both plan the
fleet offline with an empty state and read each change's action:

    noop -> compliant      upgrade -> behind        downgrade -> ahead
    unknown -> unknown     missing -> missing       unreachable -> unreachable
    activate-only -> behind (flashed but not running yet: the host still runs the old version)
"""

from __future__ import annotations

from hwfw.plan.model import Action, Change

STATUSES = ("compliant", "behind", "ahead", "unknown", "missing", "unreachable")

_BY_ACTION = {
    Action.NOOP: "compliant", Action.UPGRADE: "behind", Action.ACTIVATE_ONLY: "behind",
    Action.DOWNGRADE: "ahead", Action.UNKNOWN: "unknown", Action.MISSING: "missing",
    Action.UNREACHABLE: "unreachable",
}

# When a host has several instances of a component (two NICs), the worst one speaks for it.
_PRECEDENCE = ("unreachable", "missing", "unknown", "behind", "ahead", "compliant")


def status_of(change: Change) -> str:
    return _BY_ACTION[change.action]


def worst(statuses: list[str]) -> str:
    return min(statuses, key=_PRECEDENCE.index) if statuses else "compliant"
