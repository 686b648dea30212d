"""`plan()`: workspace + inventory + state -> `Plan`. Pure and deterministic.

No network, file, clock or randomness: the same inputs give the same plan. Hosts are
planned in name order; each distinct host shape (shape.py) is planned once, by the
first host that has it, and stamped for the others.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from hwfw import versions
from hwfw.config.model import Workspace
from hwfw.gcpause import no_gc
from hwfw.inventory.model import HostInventory, Inventory
from hwfw.plan import estimate, graph, shape
from hwfw.plan.diff import UNREADABLE_CODES, DiffContext, HostDiff, Selection, classify, preflight
from hwfw.plan.model import (
    Action,
    Change,
    Drift,
    Finding,
    HostPlan,
    Options,
    Plan,
    Resets,
    Step,
    Summary,
)
from hwfw.state.model import State
from hwfw.vendor_registry import record_or_default


def plan(workspace: Workspace, inventory: Inventory, state: State, *, targets: Sequence[str] = (),
         accept_unknown: Iterable[tuple[str, str]] = (), allow_unreachable: bool = False,
         parallelism: int | None = None, exclude: Sequence[str] = (), on_failure: str | None = None) -> Plan:
    """Diff every host against its baseline and order the work into a DAG of steps.

    `targets` limits the plan to `HOST` or `HOST/COMPONENT` globs and `exclude` leaves
    out hosts matching its globs (the plan is then not `complete`); `accept_unknown`
    holds (host glob, component id, kind or key) pairs whose unknown current version
    may be flashed over; `allow_unreachable` turns
    unreachable hosts from errors into warnings; `parallelism` (default: the
    workspace setting) sizes the fleet estimate; `on_failure` (default: the workspace
    policy) is the failure policy apply will use: under `rollback-host`, a change that
    could not be rolled back is a `rollback-impossible` warning on its host. Per-host
    problems (refused changes, rules that cannot hold, cycles) are reported in the
    plan, which is then `errored`.
    """
    accepted = tuple(sorted((str(h), str(c)) for h, c in accept_unknown))
    options = Options(targets=tuple(targets), accept_unknown=accepted, allow_unreachable=allow_unreachable,
                      parallelism=max(1, parallelism or workspace.settings.parallelism), exclude=tuple(exclude),
                      on_failure=on_failure or workspace.settings.policies.on_failure)
    with no_gc():
        return _plan(workspace, inventory, state, options)


def _plan(ws: Workspace, inventory: Inventory, state: State, options: Options) -> Plan:
    ctx = DiffContext(ws, inventory, state, Selection(options.targets, options.accept_unknown, options.exclude))
    shapes: dict[Hashable, shape.Shape] = {}
    hosts: list[HostPlan] = []
    steps: list[Step] = []
    totals: list[float] = []
    stamped: list[tuple[str, shape.Shape]] = []
    for host in sorted(ws.hosts, key=lambda h: h.name):
        if not ctx.selection.host(host.name):
            continue
        got = classify(ctx, host)
        if isinstance(got, HostDiff):
            hosts.append(_plain_host(got, options))
            continue
        inv, vendor, model, baseline = got
        key = shape.shape_key(ctx, host, inv, vendor, model, baseline)
        sh = shapes.get(key)
        if sh is None:
            sh = shapes[key] = shape.build(ctx, host, inv, vendor, model, baseline)
        changes, findings, host_steps, path = shape.instantiate(sh, host.name)
        if inv.preflight is not None:
            findings += tuple(_relevant(preflight(inv, _own_settings(state, host.name)), vendor, inv, host_steps))
        if options.on_failure == ROLLBACK_POLICY:
            findings += rollback_findings(ws, changes, vendor)
        steps += host_steps
        if host_steps:
            totals.append(sh.estimate_seconds)
            stamped.append((host.name, sh))
        hosts.append(HostPlan(
            name=host.name, status="managed", reachable=True, baseline=baseline.name, vendor=vendor, model=model,
            fingerprint=inv.fingerprint(), inventory=dict(sh.inventory),
            changes=changes, resets=sh.resets if host_steps else Resets(),
            estimate_seconds=sh.estimate_seconds if host_steps else 0.0, critical_path=path,
            findings=findings, settings=sh.settings))
    errored = any(h.errored for h in hosts)
    unplanned = any(h.status == "unreachable" for h in hosts)
    return Plan(hosts=tuple(hosts), steps=tuple(steps), summary=_summary(hosts, steps, totals, options.parallelism),
                errored=errored, applyable=not errored and bool(steps),
                complete=not options.targets and not options.exclude and not unplanned and not errored,
                state_lineage=state.lineage, state_serial=state.serial, options=options,
                drift=tuple(_drift(inventory, state, [h.name for h in hosts])),
                _graph=lambda: graph.stamp((name, sh.ids, sh.attrs, sh.pairs) for name, sh in stamped))


def _own_settings(state: State, host: str) -> dict[str, object]:
    """BIOS values hwfw staged on `host` and has not yet seen applied (the state's record)."""
    rec = (state.extra.get("bios_settings") or {}).get(host)
    return dict(rec.get("attributes") or {}) if isinstance(rec, dict) and rec.get("status") == "staged" else {}
ROLLBACK_POLICY = "rollback-host"


def rollback_findings(ws: Workspace, changes: Sequence[Change], vendor: str | None) -> tuple[Finding, ...]:
    """Under `on_failure: rollback-host`: each change that could not be undone, and why."""
    out = []
    for c in changes:
        if not c.does_work or c.rollback != "irreversible":
            continue
        entry = ws.repository.get(c.image.id) if c.image else None
        if entry is not None and entry.rollback == "irreversible":
            why, fix = f"the repository marks {entry.id} irreversible", "flash it under another failure policy"
        else:
            why = f"the repository has no image of {c.current}, and " + (
                f"the BMC's previous image would undo only the last of its {len(c.hops)} hops" if len(c.hops) > 1
                else f"{f'a {vendor}' if vendor else 'this'} BMC keeps no previous {c.kind} image")
            fix = f"add the {c.current} image to the repository"
        out.append(Finding("warning", "rollback-impossible",
                           f"{c.key} {c.current} -> {c.target} could not be rolled back ({why}): with on_failure: "
                           f"rollback-host, a failure would leave this host part-updated; {fix}"))
    return tuple(out)


def _relevant(findings: list[Finding], vendor: str | None, inv: HostInventory,
              steps: list[Step] | tuple[Step, ...]) -> list[Finding]:
    """Pre-flight findings that matter to this plan: a missing update licence only when a
    planned flash needs it (a converged host, or one flashed through a licence-free
    method, is not warned about it on every run)."""
    if not any(f.code == "licence" for f in findings):
        return findings
    kinds = {(s.component or "").split(":", 1)[0] for s in steps if s.kind == "flash"}
    methods = inv.capabilities.update_methods if inv.capabilities is not None else ()
    if record_or_default(vendor).needs_licence(frozenset(kinds), methods):
        return findings
    return [f for f in findings if f.code != "licence"]


def _plain_host(hd: HostDiff, options: Options) -> HostPlan:
    """An unreachable, unmanaged or ambiguous host: reported, no steps."""
    findings = tuple(hd.findings)
    if hd.status == "unreachable" and options.allow_unreachable:
        findings = tuple(Finding("warning", f.code, f.message) if f.code in UNREADABLE_CODES else f
                         for f in findings)
    inv = hd.inv
    reachable = hd.status != "unreachable"
    return HostPlan(name=hd.host.name, status=hd.status, reachable=reachable,
                    baseline=hd.baseline.name if hd.baseline else None, vendor=hd.vendor, model=hd.model,
                    fingerprint=inv.fingerprint() if inv is not None and reachable else None,
                    inventory={c.key: c.version for c in inv.components} if inv is not None else {},
                    changes=tuple(hd.changes), findings=findings)


def _summary(hosts: list[HostPlan], steps: list[Step], totals: list[float], parallelism: int) -> Summary:
    counts: dict[int, list[int]] = {}  # the changes tuple of a shape is shared: count it once
    updates = refused = noops = unknown = missing = settings = 0
    for h in hosts:
        c = counts.get(id(h.changes))
        if c is None:
            c = counts[id(h.changes)] = _counts(h.changes)
        updates, refused, noops = updates + c[0], refused + c[1], noops + c[2]
        unknown, missing = unknown + c[3], missing + c[4]
        settings += sum(1 for s in h.settings if s.does_work)
        refused += sum(1 for s in h.settings if s.refused)
    return Summary(
        hosts=len(hosts), updates=updates, refused=refused, noops=noops, unknown=unknown, missing=missing,
        unreachable=sum(1 for h in hosts if h.status == "unreachable"),
        unmanaged=sum(1 for h in hosts if h.status == "unmanaged"),
        errors=sum(1 for h in hosts for f in h.findings if f.severity == "error"),
        warnings=sum(1 for h in hosts for f in h.findings if f.severity == "warning"),
        steps=len(steps), host_reboots=sum(h.resets.host_reboots for h in hosts),
        bmc_resets=sum(h.resets.bmc_resets for h in hosts), ac_cycles=sum(h.resets.ac_cycles for h in hosts),
        estimate_seconds=estimate.makespan(totals, parallelism), parallelism=parallelism, settings=settings)


def _counts(changes: tuple[Change, ...]) -> list[int]:
    """updates, refused, no-ops, unknown, missing."""
    return [sum(1 for c in changes if c.does_work), sum(1 for c in changes if c.refused),
            sum(1 for c in changes if c.action is Action.NOOP and not c.refused),
            sum(1 for c in changes if c.action is Action.UNKNOWN),
            sum(1 for c in changes if c.action is Action.MISSING)]


def _drift(inventory: Inventory, state: State, names: list[str]) -> list[Drift]:
    """Components whose running version differs from the version hwfw recorded as `ok`."""
    out = []
    for name in names:
        records = state.hosts.get(name)
        inv = inventory.get(name)
        if not records or inv is None or not inv.reachable:
            continue
        running = {c.key: c.version for c in inv.components}
        for key in sorted(records):
            rec = records[key]
            if rec.status != "ok":
                continue
            actual = running.get(key)
            if actual is None or not _same_version(rec.version, actual):
                out.append(Drift(name, key, rec.version, actual))
    return out


def _same_version(a: str, b: str) -> bool:
    if a.strip() == b.strip():
        return True
    try:
        return versions.parse(a) == versions.parse(b)
    except versions.InvalidVersion:
        return False
