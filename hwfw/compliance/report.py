"""The fleet compliance report: per baseline and component, how many hosts run the target.

`build_report(workspace, inventory)` plans the fleet (pure, empty state) and reads every
change's status (`status.status_of`); nothing is recomputed. A host with several
instances of a component (two NICs) counts once, with its worst instance. Hosts behind
on a component whose target image is `critical: true` sort first.

Percentages are of the hosts a row counts (compliant / total * 100, one decimal);
a host's status is its worst component's, `unreachable` when its BMC did not answer
and `unmanaged` when no baseline selects it. Components whose version was read from a
fallback (not FirmwareInventory) are marked: their status rests on a weaker source.

BIOS settings are reported beside the firmware, per baseline and declared attribute:
hosts whose attribute reads as declared (compliant), differs (drift), or cannot be
checked (unknown: not read, or refused by the plan) or were unreachable. A host with
a setting that drifted is not compliant (its status is at least `behind`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hwfw.compliance.fleet import offline_plan
from hwfw.compliance.settings import setting_status
from hwfw.compliance.status import STATUSES, status_of, worst
from hwfw.config.model import Baseline, Workspace
from hwfw.inventory.model import ComponentState, Inventory, shown
from hwfw.plan.model import HostPlan

REPORT_FORMAT = 1
HOST_STATUSES = (*STATUSES, "unmanaged")
# Report order of hosts: what needs attention first.
_HOST_ORDER = ("behind", "missing", "unknown", "unreachable", "ahead", "compliant", "unmanaged")


def percent(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def pct_text(value: float) -> str:
    """`50%`, `11.1%`: what people read (JSON keeps the number)."""
    return f"{value:.0f}%" if value == int(value) else f"{value}%"


class _Counted:
    """A row of host counts per status (`counts`): its total and compliant share."""

    __slots__ = ()
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def compliant_text(self) -> str:
        """`50%`, or `—` when no host has this baseline (0% would read as a failure)."""
        return pct_text(percent(self.counts["compliant"], self.total)) if self.total else "—"


@dataclass(frozen=True, slots=True)
class ComponentRow(_Counted):
    """One component of one baseline: how its hosts stand."""

    baseline: str
    component: str
    kind: str
    target: str
    image: str | None
    critical: bool
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "kind": self.kind, "target": self.target, "image": self.image,
                "critical": self.critical, "total": self.total, "counts": dict(self.counts),
                "percent": {s: percent(n, self.total) for s, n in self.counts.items()}}


SETTING_STATUSES = ("compliant", "drift", "unknown", "unreachable")


@dataclass(frozen=True, slots=True)
class SettingRow(_Counted):
    """One declared BIOS attribute of one baseline: how its hosts stand. `target` is the
    baseline's value, or `varies` when overrides give hosts different values."""

    baseline: str
    attribute: str
    target: str
    counts: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "target": self.target, "total": self.total, "counts": dict(self.counts),
                "percent": {s: percent(n, self.total) for s, n in self.counts.items()}}


@dataclass(frozen=True, slots=True)
class HostSetting:
    attribute: str
    current: str | int | bool | None
    target: str | int | bool
    status: str

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "current": self.current, "target": self.target, "status": self.status}


@dataclass(frozen=True, slots=True)
class HostComponent:
    """One component of one host. `source` names where its version was read
    (`ComputerSystem.BiosVersion`); `fallback` is True when that is not FirmwareInventory,
    so the status rests on a weaker source."""

    component: str
    key: str
    current: str | None
    target: str
    status: str
    critical: bool
    source: str | None = None
    fallback: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "key": self.key, "current": self.current, "target": self.target,
                "status": self.status, "critical": self.critical, "source": self.source,
                "fallback": self.fallback}


@dataclass(frozen=True, slots=True)
class HostRow:
    name: str
    baseline: str | None
    vendor: str | None
    model: str | None
    status: str
    critical_behind: bool
    components: tuple[HostComponent, ...]
    error: str | None = None
    settings: tuple[HostSetting, ...] = ()

    @property
    def behind(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.components if c.status == "behind")

    @property
    def fallbacks(self) -> tuple[HostComponent, ...]:
        return tuple(c for c in self.components if c.fallback)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "baseline": self.baseline, "vendor": self.vendor, "model": self.model,
                "status": self.status, "critical_behind": self.critical_behind, "error": self.error,
                "components": [c.to_json() for c in self.components],
                "settings": [s.to_json() for s in self.settings]}


@dataclass(frozen=True, slots=True)
class BaselineSummary:
    name: str
    description: str
    hosts: int
    compliant_hosts: int
    rows: tuple[ComponentRow, ...]
    settings: tuple[SettingRow, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "hosts": self.hosts,
                "compliant_hosts": self.compliant_hosts, "compliant_percent": percent(self.compliant_hosts, self.hosts),
                "components": [r.to_json() for r in self.rows], "settings": [r.to_json() for r in self.settings]}


@dataclass(frozen=True)
class ComplianceReport:
    generated_at: str
    workspace: str
    source: str                 # "live" or "snapshot"
    snapshot: str | None
    baselines: tuple[BaselineSummary, ...]
    hosts: tuple[HostRow, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def host_count(self, status: str) -> int:
        return sum(1 for h in self.hosts if h.status == status)

    @property
    def managed(self) -> int:
        return sum(1 for h in self.hosts if h.baseline is not None)

    @property
    def component_counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for b in self.baselines:
            for r in b.rows:
                for s, n in r.counts.items():
                    out[s] += n
        return out

    @property
    def setting_counts(self) -> dict[str, int]:
        out = dict.fromkeys(SETTING_STATUSES, 0)
        for b in self.baselines:
            for r in b.settings:
                for s, n in r.counts.items():
                    out[s] += n
        return out

    def summary(self) -> dict[str, Any]:
        comps = self.component_counts
        total = sum(comps.values())
        compliant = sum(1 for h in self.hosts if h.baseline is not None and h.status == "compliant")
        return {
            "hosts": len(self.hosts), "managed": self.managed, "unmanaged": self.host_count("unmanaged"),
            "unreachable": self.host_count("unreachable"), "compliant_hosts": compliant,
            "noncompliant_hosts": self.managed - compliant, "compliant_percent": percent(compliant, self.managed),
            "critical_behind_hosts": sum(1 for h in self.hosts if h.critical_behind),
            "fallback_components": sum(len(h.fallbacks) for h in self.hosts),
            "components": comps, "component_total": total,
            "component_percent": {s: percent(n, total) for s, n in comps.items()},
            "settings": self.setting_counts,
        }

    def to_json(self, hwfw_version: str) -> dict[str, Any]:
        """The document of schemas/compliance.schema.json."""
        return {"format_version": REPORT_FORMAT, "hwfw_version": hwfw_version, "generated_at": self.generated_at,
                "workspace": self.workspace, "source": {"kind": self.source, "snapshot": self.snapshot},
                "statuses": list(STATUSES), "summary": self.summary(),
                "baselines": [b.to_json() for b in self.baselines], "hosts": [h.to_json() for h in self.hosts]}


def build_report(ws: Workspace, inventory: Inventory, *, generated_at: str, workspace_name: str,
                 source: str = "live", snapshot: str | None = None, targets: Sequence[str] = ()) -> ComplianceReport:
    """The report for `inventory`; `targets` (host globs) limits it to those hosts."""
    result = offline_plan(ws, inventory, [t.split("/", 1)[0] for t in targets])
    critical = {e.id for e in ws.repository.entries if e.critical}
    wanted = {(b.name, t.id): t for b in ws.baselines for t in b.components}
    counts: dict[tuple[str, str], dict[str, int]] = {k: dict.fromkeys(STATUSES, 0) for k in wanted}
    hosts = []
    settings: dict[tuple[str, str], dict[str, int]] = {}
    for hp in result.hosts:
        inv = inventory.get(hp.name)
        comps = tuple(_host_components(hp, wanted, critical, inv.components if inv is not None else ()))
        per_component: dict[str, list[str]] = {}
        for c in comps:
            per_component.setdefault(c.component, []).append(c.status)
        for cid, statuses in per_component.items():
            counts[(hp.baseline or "", cid)][worst(statuses)] += 1
        host_settings = tuple(_host_settings(hp))
        for st in host_settings:
            row = settings.setdefault((hp.baseline or "", st.attribute), dict.fromkeys(SETTING_STATUSES, 0))
            row[st.status] += 1
        hosts.append(_host_row(hp, comps, host_settings))
    rows: dict[str, list[ComponentRow]] = {}
    for (bname, cid), t in wanted.items():
        image = t.image or _planned_image(result.hosts, bname, cid)
        rows.setdefault(bname, []).append(ComponentRow(bname, cid, t.kind, t.version, image, image in critical,
                                                       counts[(bname, cid)]))
    summaries = []
    for b in ws.baselines:
        members = [h for h in hosts if h.baseline == b.name]
        summaries.append(BaselineSummary(b.name, b.description, len(members),
                                         sum(1 for h in members if h.status == "compliant"),
                                         tuple(rows.get(b.name, ())), tuple(_setting_rows(b, settings))))
    hosts.sort(key=lambda h: (not h.critical_behind, _HOST_ORDER.index(h.status), h.name))
    return ComplianceReport(generated_at=generated_at, workspace=workspace_name, source=source, snapshot=snapshot,
                            baselines=tuple(summaries), hosts=tuple(hosts))


def _host_components(hp: HostPlan, targets: dict[tuple[str, str], Any], critical: set[str],
                     inventory: tuple[ComponentState, ...]) -> list[HostComponent]:
    if hp.baseline is None:
        return []
    sources = {c.key: c.source for c in inventory}
    out = []
    for c in hp.changes:
        t = targets.get((hp.baseline, c.component))
        image = (t.image if t is not None else None) or (c.image.id if c.image else None)
        source = sources.get(c.key)
        out.append(HostComponent(c.component, c.key, c.current, c.target, status_of(c), image in critical,
                                 source.label if source else None, bool(source and source.fallback)))
    return out


def _host_settings(hp: HostPlan) -> list[HostSetting]:
    status = "unreachable" if hp.status == "unreachable" else None
    return [HostSetting(s.attribute, s.current, s.target, status or setting_status(s)) for s in hp.settings]


def _setting_rows(b: Baseline, counts: dict[tuple[str, str], dict[str, int]]) -> list[SettingRow]:
    """One row per attribute the baseline (or one of its overrides) declares."""
    values: dict[str, set[str]] = {}
    for v in (*b.bios_settings, *(x for o in b.overrides for x in o.bios_settings)):
        values.setdefault(v.name, set()).add(shown(v.value))
    return [SettingRow(b.name, name, next(iter(vals)) if len(vals) == 1 else "varies",
                       counts.get((b.name, name), dict.fromkeys(SETTING_STATUSES, 0)))
            for name, vals in values.items()]


def _host_row(hp: HostPlan, comps: tuple[HostComponent, ...], settings: tuple[HostSetting, ...] = ()) -> HostRow:
    error = next((f.message for f in hp.findings if f.severity == "error"), None)
    if hp.status == "unreachable":
        status = "unreachable"
    elif hp.baseline is None:
        status = "unmanaged"
    else:
        # A drifted setting makes the host as non-compliant as a component behind.
        extra = {"drift": "behind", "unknown": "unknown"}
        status = worst([c.status for c in comps] + [extra[s.status] for s in settings if s.status in extra])
    critical_behind = any(c.critical and c.status == "behind" for c in comps)
    return HostRow(hp.name, hp.baseline, hp.vendor, hp.model, status, critical_behind, comps, error, settings)


def _planned_image(hosts: tuple[HostPlan, ...], baseline: str, component: str) -> str | None:
    """A target without `image:` uses the image the planner picked for it."""
    for hp in hosts:
        if hp.baseline == baseline:
            for c in hp.changes:
                if c.component == component and c.image:
                    return c.image.id
    return None
