"""BIOS settings in `hwfw check --inventory` and `hwfw compliance`: read from the offline plan.

The planner checks every declared attribute against the attribute registries the
snapshot carries (the running BIOS's and, when the plan replaces the BIOS, the target
BIOS's): an unknown attribute (with "did you mean"), a value of the wrong type, a value
not allowed, a read-only or password attribute, one the target BIOS removed. `check`
reports each refusal at the line of the YAML value it is about (the baseline's or the
override's), and a setting that differs from what the host reads as drift.
"""

from __future__ import annotations

from hwfw.compliance.findings import Finding
from hwfw.compliance.locate import Locator
from hwfw.config.model import Workspace
from hwfw.inventory.bios import shown
from hwfw.plan.model import HostPlan, SettingChange, SettingReason

__all__ = ["SETTING_RULES", "setting_findings", "setting_status"]

# Refusal reason -> rule id; where the finding points: the attribute's key or its value.
SETTING_RULES: dict[SettingReason, tuple[str, bool]] = {
    SettingReason.UNKNOWN_ATTRIBUTE: ("bios-unknown-attribute", True),
    SettingReason.REMOVED_BY_TARGET: ("bios-removed-by-target", True),
    SettingReason.READ_ONLY: ("bios-read-only", True),
    SettingReason.PASSWORD: ("bios-password", True),
    SettingReason.WRONG_TYPE: ("bios-wrong-type", False),
    SettingReason.NOT_ALLOWED: ("bios-value-not-allowed", False),
    SettingReason.UNREADABLE: ("bios-unchecked", True),
    SettingReason.NO_REBOOT: ("bios-unchecked", True),
}


def setting_status(s: SettingChange) -> str:
    """compliant (reads as declared), drift (differs), or unknown (cannot be checked)."""
    if s.refused:
        return "unknown"
    return "compliant" if s.action == "noop" else "drift"


def setting_findings(ws: Workspace, loc: Locator, hp: HostPlan) -> list[Finding]:
    """The findings of one host's settings, each at its declaration in the baselines file."""
    host = ws.host(hp.name)
    baseline = next((b for b in ws.baselines if b.name == hp.baseline), None)
    if host is None or baseline is None or not hp.settings:
        return []
    declared = baseline.settings_for(host)
    out = []
    for s in hp.settings:
        value = declared.get(s.attribute)
        path = list(value.path) if value is not None else ["baselines", baseline.name, "bios_settings"]
        if s.refused:
            rule, at_key = SETTING_RULES[s.reason]
            severity = "warning" if rule == "bios-unchecked" else "error"
            expected = s.message.partition(" (expected ")[2].removesuffix(")") or None
            message = s.message.partition(" (expected ")[0]
            out.append(Finding(rule, severity, f"BIOS setting {message} ({s.origin})",
                               loc.at("baselines", path, key=at_key), check="fleet", host=hp.name,
                               component=f"bios-settings:{s.attribute}", expected=expected))
        elif s.action == "set":
            current = "absent" if s.current is None else _quoted(s.current)
            out.append(Finding("drift-setting", "warning",
                               f"BIOS setting {s.attribute} reads {current}, baseline {hp.baseline!r} declares "
                               f"{_quoted(s.target)} ({s.origin})", loc.at("baselines", path), check="fleet",
                               host=hp.name,
                               component=f"bios-settings:{s.attribute}"))
    return out


def _quoted(value: object) -> str:
    """Strings quoted, booleans and numbers as YAML writes them (true, not True)."""
    return repr(value) if isinstance(value, str) else shown(value)
