"""Can every baseline be reached? Satisfiability and stepping-stone paths, offline.

Both checks ask the planner, never a re-implementation of it:

* satisfiability plans one synthetic host per baseline and model whose every component
  version is unknown (and accepted), so every target is flashed and every compatibility
  rule, wait and minimum is evaluated exactly as `hwfw plan` would on a real host;
  stepping stones are left out of that plan (they depend on the current version, which
  the next check covers);
* stepping stones ask the planner's `Profile.path` for a route from the lowest version
  each applicable rule accepts (`from`'s lower bound) to the target, through the
  repository's images: if even a host the rule accepts cannot get there (chained
  stones without the intermediate image), no host can. Hosts older than `from` depend
  on versions only a fleet shows: `check --inventory` and `plan` report them per host.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import replace

from hwfw.compliance.findings import Finding
from hwfw.compliance.locate import Locator
from hwfw.compliance.scenarios import Scenario
from hwfw.config.model import Baseline, ComponentTarget, Host, RepositoryEntry, Selector, SteppingStone, Workspace
from hwfw.errors import SourceLocation
from hwfw.inventory.model import ComponentState, HostInventory, Inventory
from hwfw.plan import Reason
from hwfw.plan import plan as make_plan
from hwfw.plan.model import HostPlan
from hwfw.plan.profile import NoPath, Profile
from hwfw.state.model import State
from hwfw.versions import Constraint, IncomparableVersions, InvalidConstraint, Version

_SYNTHETIC = "hwfw-check-{}"
_PLAN_CODES = {"incompatible": "incompatible-baseline", "cycle": "rule-cycle", "rule-warning": "rule-undecidable",
               "bad-target": "rule-undecidable"}


def satisfiability(ws: Workspace, loc: Locator, scens: list[Scenario]) -> list[Finding]:
    """Plan every baseline from an unknown state; report what the planner refuses.

    Scenarios that would plan identically (same vendor, model and targets: a fleet often
    has one baseline per pool or rack with the same firmware) are planned once.
    """
    groups: dict[tuple[object, ...], list[Scenario]] = {}
    images = {e.id: e for e in ws.repository.entries}
    for sc in scens:
        groups.setdefault(_signature(sc, images), []).append(sc)
    hosts, inv, accept, baselines = [], {}, [], []
    members: dict[str, list[Scenario]] = {}
    for i, group in enumerate(groups.values()):
        name, sc = _SYNTHETIC.format(i), group[0]
        members[name] = group
        hosts.append(Host(name=name, bmc=f"check://{name}", vendor=sc.vendor, model=sc.model))
        comps = tuple(ComponentState(kind=t.kind, instance=_instance(t), version=None) for t in sc.baseline.components)
        inv[name] = HostInventory(host=name, reachable=True, vendor=sc.vendor, model=sc.model, components=comps)
        accept += [(name, t.id) for t in sc.baseline.components]
        # BIOS settings need a host's attribute registry: `check --inventory` checks them.
        baselines.append(replace(sc.baseline, name=name, select=Selector(hosts=(name,)), bios_settings=(),
                                 overrides=()))
    if not hosts:
        return []
    synthetic = replace(ws, hosts=tuple(hosts), fleet_path=None, baselines=tuple(baselines),
                        matrix=replace(ws.matrix, stepping_stones=()))
    result = make_plan(synthetic, Inventory(hosts=inv), State(lineage=""), accept_unknown=accept)
    out: list[Finding] = []
    for hp in result.hosts:
        for sc in members[hp.name]:
            out += _planned(ws, loc, sc, hp)
    return out


def _signature(sc: Scenario, images: dict[str, RepositoryEntry]) -> tuple[object, ...]:
    """What the planner reads of a scenario for satisfiability (never the baseline's name)."""
    parts = []
    for t in sc.baseline.components:
        e = images.get(t.image) if t.image else None
        parts.append((t.id, t.kind, t.version, t.scheme, t.match, t.image is not None,
                      (e.vendor, e.component, e.version, e.scheme) if e else None))
    return (sc.vendor, sc.model, tuple(parts))


def _planned(ws: Workspace, loc: Locator, sc: Scenario, hp: HostPlan) -> list[Finding]:
    out: list[Finding] = []
    for f in hp.findings:
        rule_id = _PLAN_CODES.get(f.code)
        if rule_id is None:
            continue  # e.g. ambiguous-target: about instances, which a synthetic host invents
        message = _anonymous(f.message, hp.name)
        where, related = _rule_site(ws, loc, sc.baseline, message)
        out.append(Finding(rule_id, f.severity, f"{sc.label}: {message}", where, related=related))
    for c in hp.changes:
        if not c.refused:
            continue
        if c.reason is Reason.BELOW_MINIMUM:
            out.append(Finding("below-minimum", "error", f"{sc.label}: {c.message}",
                               loc.component(sc.baseline.name, c.component),
                               related=mentioned(ws, loc, c.message)))
        elif c.reason is Reason.NO_IMAGE:
            out.append(Finding("missing-image", "error", f"{sc.label}: {c.message}",
                               loc.component(sc.baseline.name, c.component),
                               expected="an image in the repository file with this component, vendor, "
                                        "model and version (hwfw repo add)"))
    return out


def _instance(t: ComponentTarget) -> str:
    """An instance name the target's `match` glob accepts (the kind for singletons)."""
    if t.match is None:
        return t.kind
    text = re.sub(r"\[!([^\]]*)\]", lambda m: "0" if "0" not in m[1] else "~", t.match)
    text = re.sub(r"\[([^\]]*)\]", lambda m: m[1][:1] or "0", text).replace("*", "1").replace("?", "1")
    return text if fnmatch.fnmatchcase(text, t.match) else t.match


def _rule_site(ws: Workspace, loc: Locator, b: Baseline,
               message: str) -> tuple[SourceLocation | None, tuple[tuple[SourceLocation, str], ...]]:
    """Where a planner finding about a baseline belongs (the component the first rule it
    names requires), and a note at every matrix entry it names."""
    related = mentioned(ws, loc, message)
    for r in ws.matrix.rules:
        if f"'{r.id}'" in message:
            target = next((t for t in b.components if t.kind == r.requires.component), None)
            if target is not None:
                return loc.component(b.name, target.id), related
    for t in b.components:
        if f"'{t.id}'" in message or f" {t.id} " in message:
            return loc.component(b.name, t.id), related
    return loc.at("baselines", ["baselines", b.name, "components"], key=True), related


def mentioned(ws: Workspace, loc: Locator, message: str) -> tuple[tuple[SourceLocation, str], ...]:
    """A note at each compatibility-matrix entry whose id the message quotes."""
    m = ws.matrix
    sections: list[tuple[str, str, list[str]]] = [
        ("rules", "rule", [r.id for r in m.rules]), ("minimums", "minimum rule", [r.id for r in m.minimums]),
        ("stepping_stones", "stepping stone rule", [r.id for r in m.stepping_stones])]
    out = []
    for section, what, ids in sections:
        for i, rid in enumerate(ids):
            where = loc.rule(section, i) if f"'{rid}'" in message else None
            if where is not None:
                out.append((where, f"{what} {rid!r} is defined here"))
    return tuple(out)


def _anonymous(message: str, name: str) -> str:
    """Planner messages name the synthetic host's steps (`hwfw-check-0/flash/bios`); say `bios`."""
    return message.replace(f"{name}/flash/", "").replace(f"{name}/", "")


# ---------------------------------------------------------------- stepping stones

def lower_bound(c: Constraint) -> Version | None:
    """The lowest version a constraint accepts, when it has one (`>=6.10` -> 6.10)."""
    lows = [cl.version for cl in c.clauses if cl.op in (">=", "==")]
    if not lows:
        return None
    try:
        low = max(lows)
        return low if c.contains(low) else None
    except IncomparableVersions:
        return None


def stepping_stones(ws: Workspace, loc: Locator, scens: list[Scenario]) -> list[Finding]:
    out: list[Finding] = []
    for sc in scens:
        stones = [(i, s) for i, s in enumerate(ws.matrix.stepping_stones) if s.applies_to(sc.vendor, sc.model)]
        if not stones:
            continue
        prof = Profile(ws, sc.baseline, sc.vendor, sc.model)
        for info in prof.targets:
            if info.version is None or info.problem or info.entry is None:
                continue  # unparseable or imageless targets are reported by other checks
            for i, s in stones:
                if s.component == info.target.kind:
                    out += _stone(loc, sc, prof, info.target, info.version, info.entry, i, s)
    return out


def _stone(loc: Locator, sc: Scenario, prof: Profile, t: ComponentTarget, target: Version, entry: RepositoryEntry,
           index: int, s: SteppingStone) -> list[Finding]:
    where = loc.component(sc.baseline.name, t.id)
    rule_loc = loc.rule("stepping_stones", index)
    related = ((rule_loc, f"stepping stone rule {s.id!r} is defined here"),) if rule_loc else ()
    kind = t.kind
    try:
        if not prof.constraint(s.target, kind).contains(target):
            return []
        from_c = prof.constraint(s.from_, kind)
    except (IncomparableVersions, InvalidConstraint) as exc:
        # The planner treats an undecidable stone as forbidding the flash (it never guesses).
        return [Finding("rule-undecidable", "error",
                        f"{sc.label}: stepping stone rule {s.id!r} cannot be evaluated for {kind} {t.version} "
                        f"({exc}); hwfw plan refuses every flash of {t.id!r} until it can",
                        where, related=related)]
    start = lower_bound(from_c)
    if start is None or not _below(start, target):
        return []
    try:
        prof.path(kind, start, target, entry)
    except NoPath as exc:
        message = (f"{sc.label}: a host at {kind} {start} (the lowest version rule {s.id!r} accepts) "
                   f"cannot reach {t.version}: {exc.message}")
        return [Finding("no-upgrade-path", "error", message, where, related=mentioned(prof.ws, loc, message),
                        expected=f"repository images that chain {start} to {t.version}")]
    return []


def _below(a: Version, b: Version) -> bool:
    try:
        return a < b
    except IncomparableVersions:
        return False


__all__ = ["lower_bound", "satisfiability", "stepping_stones"]
