"""`check --inventory`: the fleet recorded in a snapshot against the baselines, offline.

The planner is run on the snapshot with an empty state (a CI gate has no state file)
and every change is read back: drift (behind, ahead, unknown, missing, unreachable) is
a warning; a target below what a host runs without `allow_downgrade` is a `downgrade`
error, and whatever else the plan refuses (no upgrade path, no image, a rule that
cannot hold) is an error naming the host, as `hwfw plan` would report it. Under
`on_failure: rollback-host`, a change that could not be rolled back is a
`rollback-impossible` error: the gate fails before a failed flash finds out.
Every finding is placed at the baseline target it is about; BIOS settings (checked
against the snapshot's attribute registries, compliance/settings.py) at the line that
declares them.
"""

from __future__ import annotations

from collections.abc import Sequence

from hwfw.compliance.findings import Finding
from hwfw.compliance.locate import Locator
from hwfw.compliance.settings import setting_findings
from hwfw.compliance.status import status_of
from hwfw.config.model import Workspace
from hwfw.inventory.model import Inventory
from hwfw.plan import Plan, Reason
from hwfw.plan import plan as make_plan
from hwfw.plan.diff import UNREADABLE_CODES
from hwfw.plan.model import Change, HostPlan
from hwfw.state.model import State

_REFUSED_RULES = {Reason.NO_UPGRADE_PATH: "no-upgrade-path", Reason.NO_IMAGE: "missing-image",
                  Reason.BELOW_MINIMUM: "below-minimum", Reason.DOWNGRADE_NOT_ALLOWED: "downgrade"}
_FINDING_RULES = {"incompatible": "incompatible-baseline", "cycle": "rule-cycle",
                  "ambiguous-baseline": "ambiguous-baseline", "rule-warning": "rule-undecidable"}
_DRIFT = {"behind": "drift-behind", "ahead": "drift-ahead", "unknown": "drift-unknown", "missing": "drift-missing"}


def offline_plan(ws: Workspace, inventory: Inventory, targets: Sequence[str] = ()) -> Plan:
    """The plan `hwfw plan --inventory` would make, with no state (pure; no BMC is contacted)."""
    return make_plan(ws, inventory, State(lineage=""), targets=targets)


def fleet_findings(ws: Workspace, loc: Locator, inventory: Inventory) -> tuple[list[Finding], list[str]]:
    """Findings per host, and the names of the hosts checked (one JUnit test case each)."""
    result = offline_plan(ws, inventory)
    host_index = {h.name: i for i, h in enumerate(ws.hosts)}
    out: list[Finding] = []
    for hp in result.hosts:
        here = loc.host(host_index[hp.name])
        if hp.status == "unreachable":
            why = next((f.message for f in hp.findings if f.code in UNREADABLE_CODES), "host is unreachable")
            out.append(_f("drift-unreachable", "warning", hp, f"{why} (in the snapshot)", here))
            continue
        for f in hp.findings:
            if f.code == "rollback-impossible":
                out.append(_f("rollback-impossible", "error", hp, f.message, here))
            elif f.code in _FINDING_RULES and (f.severity == "error" or f.code == "rule-warning"):
                where = loc.at("baselines", ["baselines", hp.baseline]) if hp.baseline else here
                out.append(_f(_FINDING_RULES[f.code], f.severity, hp, f.message, where))
            elif f.severity == "error" and f.code not in UNREADABLE_CODES:
                out.append(_f("host-problem", "error", hp, f.message, here))
        for c in hp.changes:
            out += _change(loc, hp, c)
        out += setting_findings(ws, loc, hp)
    return out, [hp.name for hp in result.hosts]


def _change(loc: Locator, hp: HostPlan, c: Change) -> list[Finding]:
    assert hp.baseline is not None
    where = loc.component(hp.baseline, c.component)
    status = status_of(c)
    current = c.current if c.current is not None else "?"
    if c.refused and c.reason in _REFUSED_RULES:
        rule = _REFUSED_RULES[c.reason]
        if rule == "downgrade":
            message = (f"baseline {hp.baseline!r} targets {c.key} {c.target}, below the {current} the host runs "
                       f"(snapshot)")
            return [_f(rule, "error", hp, message, where, c,
                       expected=f"a version >= {current}, or allow_downgrade: true on {c.component!r}")]
        return [_f(rule, "error", hp, f"{c.key}: {c.message}", where, c)]
    if status in _DRIFT:
        verb = {"behind": "is behind", "ahead": "is ahead of", "unknown": "cannot be compared with",
                "missing": "is missing for"}[status]
        shown = f"{c.key} {current}" if status != "missing" else c.key
        return [_f(_DRIFT[status], "warning", hp, f"{shown} {verb} baseline {hp.baseline!r} ({c.target})", where, c)]
    return []


def _f(rule: str, severity: str, hp: HostPlan, message: str, where: object, c: Change | None = None,
       expected: str | None = None) -> Finding:
    return Finding(rule, severity, message, where, check="fleet", host=hp.name,  # type: ignore[arg-type]
                   component=c.key if c else None, expected=expected)
