"""Host shapes: plan once per distinct host configuration, then stamp it per host.

Hosts with the same baseline, vendor, model, component versions, BMC apply times,
state records and per-host options (`--target`, `--accept-unknown`) get the same
changes, steps and estimate; only the host name differs. So the planner diffs, checks
rules, orders, schedules resets and builds the step graph (graph.TRANSFORMERS) once per
shape, on node ids relative to the host, and `instantiate` prefixes the host name. A
fleet of 10,000 hosts usually has a handful of shapes. Texts that name the host carry
the `{host}` placeholder (diff.HOST) until instantiation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import networkx as nx

from hwfw.config.model import Baseline, Host
from hwfw.inventory.model import HostInventory
from hwfw.plan import compat, estimate, graph, settings
from hwfw.plan.activation import count_resets
from hwfw.plan.diff import HOST, DiffContext, HostDiff, diff_managed
from hwfw.plan.model import Change, Finding, Image, Resets, SettingChange, Step

_new_step = tuple.__new__  # Step(...) through NamedTuple's generated __new__ costs 2.5x more

if TYPE_CHECKING:
    from hwfw.plan.model import StepGraph


@dataclass(slots=True, eq=False)
class Shape:
    """Everything the plan says about a host of this shape, with host-relative step ids."""

    diff: HostDiff
    changes: tuple[Change, ...]
    findings: tuple[Finding, ...]
    host_text: bool                              # some text holds the {host} placeholder
    inventory: dict[str, str | None]             # component key -> version (same for the shape)
    resets: Resets
    estimate_seconds: float
    critical_path: tuple[str, ...]
    ids: tuple[str, ...]                         # relative step ids, in topological order
    values: tuple[tuple[Any, ...], ...]          # Step fields kind .. rollback, per step
    activates: tuple[tuple[str, ...], ...]       # relative ids, per step
    after: tuple[Callable[[Sequence[str]], tuple[str, ...]], ...]  # picks `after` ids from the host's ids
    causes: tuple[str | None, ...]               # Step.cause, per step
    attrs: tuple[dict[str, Any], ...]            # node attributes (host "", relative ids), per step
    pairs: tuple[tuple[int, int], ...]           # edges as indices into `ids`
    settings: tuple[SettingChange, ...] = ()     # the declared BIOS attributes (plan/settings.py)


def shape_key(ctx: DiffContext, host: Host, inv: HostInventory, vendor: str | None, model: str | None,
              baseline: Baseline) -> Hashable:
    """Everything `build` reads about a host, except its name (the capabilities that
    can refuse a change included: whether it has an update method, its resets)."""
    comps = tuple((c.kind, c.instance, c.version, c.name, c.updateable, c.conflict) for c in inv.components)
    cap = inv.capabilities
    caps = (cap.apply_times, bool(cap.update_methods), cap.activations) if cap is not None else None
    records = ctx.state.hosts.get(host.name)
    state_sig = tuple(sorted((k, r.status, r.version, r.activation) for k, r in records.items())) if records else ()
    return (baseline.name, vendor, model, inv.protocol, comps, caps, state_sig, ctx.selection.signature(host.name),
            settings.shape_signature(host, baseline, inv.bios))


def build(ctx: DiffContext, host: Host, inv: HostInventory, vendor: str | None, model: str | None,
          baseline: Baseline) -> Shape:
    """Diff, rules, order, resets, step graph and estimate of one host shape."""
    hd = diff_managed(ctx, host, inv, vendor, model, baseline)
    if hd.items:
        compat.analyse(hd)
    order = compat.flash_order(hd) if hd.items and not hd.errored else None
    if ctx.selection.component(host.name, (settings.CONFIGURE_KEY,)):
        settings.diff_settings(ctx, hd, host, baseline)
    if not hd.errored:
        order = settings.place(order or [], hd.configure)
    if not order or hd.errored:
        return _shape(hd, Resets(), 0.0, (), nx.DiGraph(), [])
    gctx = graph.GraphContext([graph.HostWork("", vendor, order)])
    return from_graph(hd, gctx, graph.build(gctx))


def from_graph(hd: HostDiff, gctx: graph.GraphContext, g: StepGraph) -> Shape:
    """A shape from its step graph (built by all transformers, or some, in benchmarks)."""
    ids = graph.ordered(g, gctx)
    hw = gctx.hosts[0]
    seconds, path = estimate.critical_path(ids, hw.edges, hw.seconds)
    counts = count_resets(hw.chain)
    return _shape(hd, Resets(counts["host-reboot"], counts["bmc-reset"], counts["ac-cycle"]),
                  seconds + estimate.HOST_OVERHEAD_SECONDS, tuple(path), g, ids)


def _shape(hd: HostDiff, resets: Resets, seconds: float, path: tuple[str, ...], g: StepGraph,
           ids: list[str]) -> Shape:
    index = {n: i for i, n in enumerate(ids)}
    nodes, pred = g.nodes, g.pred
    values, activates, after = [], [], []
    for n in ids:
        a = nodes[n]
        image = Image(a["image"], a["sha256"]) if a["image"] else None
        values.append((a["kind"], a["component"], a["from_version"], a["to_version"], image, a["apply_time"],
                       a["activation"], a["estimate_seconds"], a["rollback"]))
        activates.append(tuple(a["activates"]))
        after.append(_picker(tuple(index[p] for p in sorted(pred[n]))))
    texts = [c.message for c in hd.changes] + [f.message for f in hd.findings] + [c.message for c in hd.settings]
    inventory = {c.key: c.version for c in hd.inv.components} if hd.inv else {}
    return Shape(hd, tuple(hd.changes), tuple(hd.findings), any(HOST in t for t in texts), inventory,
                 resets, seconds, path, tuple(ids), tuple(values), tuple(activates), tuple(after),
                 tuple(nodes[n]["cause"] for n in ids), tuple(nodes[n] for n in ids),
                 tuple((index[u], index[v]) for u, v in g.edges), tuple(hd.settings))


def _picker(indices: tuple[int, ...]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A fast `lambda ids: tuple(ids[i] for i in indices)` (itemgetter runs in C)."""
    if not indices:
        return lambda ids: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda ids: (ids[only],)
    return itemgetter(*indices)


def instantiate(shape: Shape, name: str) -> tuple[tuple[Change, ...], tuple[Finding, ...], list[Step],
                                                   tuple[str, ...]]:
    """The shape's changes, findings, steps and critical path for host `name`."""
    changes, findings = shape.changes, shape.findings
    if shape.host_text:
        changes = tuple(replace(c, message=c.message.replace(HOST, name)) if HOST in c.message else c
                        for c in changes)
        findings = tuple(Finding(f.severity, f.code, f.message.replace(HOST, name)) for f in findings)
    prefix = name + "/"
    ids = [prefix + r for r in shape.ids]
    rows = zip(ids, shape.values, shape.activates, shape.after, shape.causes, strict=True)
    steps = [_new_step(Step, (sid, name, *vals, tuple([prefix + a for a in acts]) if acts else (), pick(ids),
                              cause))
             for sid, vals, acts, pick, cause in rows]
    return changes, findings, steps, tuple([prefix + r for r in shape.critical_path])
