"""Saved plans (`hwfw plan --out PLAN`): the document, and whether it went stale.

A saved plan is the plan JSON (schemas/plan.schema.json) plus what it was made from:
the digests of the workspace files (given by the caller; this module reads nothing),
the state's lineage and serial, and per host the inventory fingerprint and versions.
`staleness` compares those with the present and explains every difference in a
sentence; an empty list means the plan may be applied (Terraform's "Saved plan is
stale", extended to the hardware, which drifts outside hwfw).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from hwfw.errors import StalePlanError
from hwfw.inventory.model import Inventory
from hwfw.plan.model import PLAN_FORMAT, Plan
from hwfw.state.model import State


def build(plan: Plan, *, created_at: str, inputs: Mapping[str, str], hwfw_version: str) -> dict[str, Any]:
    """The saved-plan document; `inputs` maps workspace file names to sha256 digests."""
    return plan.to_json(created_at=created_at, inputs=inputs, hwfw_version=hwfw_version)


def digest(data: bytes) -> str:
    """The sha256 hex digest used for `inputs` (the caller reads the bytes)."""
    return hashlib.sha256(data).hexdigest()


def staleness(saved: Mapping[str, Any], current_inputs: Mapping[str, str], state: State,
              inventory: Inventory) -> list[str]:
    """Reasons why `saved` no longer matches the present; empty when it is fresh."""
    reasons = offline_staleness(saved, current_inputs, state)
    if reasons[:1] and reasons[0].startswith("plan format"):
        return reasons
    for h in saved.get("hosts", ()):
        reasons += _host(h, inventory)
    return reasons


def offline_staleness(saved: Mapping[str, Any], current_inputs: Mapping[str, str], state: State) -> list[str]:
    """The reasons of `staleness` that need no inventory: the plan's format, the
    workspace files it was made from and the state serial. Empty: only the hardware
    can still make it stale (apply checks that when it reads the BMCs)."""
    if saved.get("format_version") != PLAN_FORMAT:
        return [f"plan format {saved.get('format_version')!r} is not the format this hwfw writes ({PLAN_FORMAT})"]
    return _inputs(saved.get("inputs", {}), current_inputs) + _state(saved.get("state", {}), state)


def check_fresh(saved: Mapping[str, Any], current_inputs: Mapping[str, str], state: State,
                inventory: Inventory) -> None:
    """Raise StalePlanError listing every reason when `saved` is stale."""
    reasons = staleness(saved, current_inputs, state, inventory)
    if reasons:
        raise StalePlanError("saved plan is stale:\n  - " + "\n  - ".join(reasons),
                             hint="run hwfw plan again (with --out) and apply the new plan")


def _inputs(saved: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    out = []
    for name in sorted(set(saved) | set(current)):
        if name not in current:
            out.append(f"workspace file {name} was removed since the plan was made")
        elif name not in saved:
            out.append(f"workspace file {name} was added since the plan was made")
        elif saved[name] != current[name]:
            out.append(f"workspace file {name} changed since the plan was made")
    return out


def _state(saved: Mapping[str, Any], state: State) -> list[str]:
    lineage, serial = saved.get("lineage", ""), saved.get("serial", 0)
    if lineage and state.lineage and lineage != state.lineage:
        return [f"state lineage is {state.lineage}, the plan was made against lineage {lineage} "
                + "(a different state file)"]
    if serial != state.serial:
        return [f"state serial is {state.serial}, plan was made at serial {serial}"]
    return []


def _host(h: Mapping[str, Any], inventory: Inventory) -> list[str]:
    if not h.get("reachable") or h.get("fingerprint") is None:
        return []  # not planned then; nothing of it will be applied
    name = h["name"]
    now = inventory.get(name)
    if now is None:
        return [f"host {name} has no inventory now, so its hardware cannot be checked"]
    if not now.reachable:
        return [f"host {name} is unreachable now, so its hardware cannot be checked"]
    if now.fingerprint() == h["fingerprint"]:
        return []
    before: Mapping[str, str | None] = h.get("inventory", {})
    after = {c.key: c.version for c in now.components}
    diffs = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            diffs.append(f"{key} {before[key] or '?'} removed")
        elif key not in before:
            diffs.append(f"{key} {after[key] or '?'} added")
        elif before[key] != after[key]:
            diffs.append(f"{key} {before[key] or '?'} -> {after[key] or '?'}")
    detail = ", ".join(diffs) if diffs else "serial number or BMC firmware differs"
    return [f"host {name} hardware changed: {detail}"]
