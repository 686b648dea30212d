"""The apply DAG, built by an ordered list of small transformers `(g, ctx) -> None`.

Nodes are steps: `flash/KEY` (an intermediate stepping-stone hop is
`flash/KEY@VERSION`), `configure/bios-settings` (staging the host's BIOS settings, which
the graph treats like a staged image activated by a host reboot), `activate/KIND#N` and
`verify/KEY`, relative to a host: the graph
is built once per host *shape* (shape.py) and the plan prefixes the host name
(`lab-dell-01/flash/bios`). Every node carries the same attributes: host, kind
(flash|activate|verify), component, from_version, to_version, image, sha256,
apply_time, activation, estimate_seconds, rollback, activates and cause. Hosts never share an
edge, so the fleet graph is the union of per-host copies, acyclic when every shape is.
Nodes and edges are added in bulk (`add_nodes_from`, `add_edges_from`) per transformer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import networkx as nx

from hwfw.errors import PlanError
from hwfw.plan import estimate
from hwfw.plan.activation import Reset, schedule
from hwfw.plan.diff import HOP_WAIT, Item

ATTRS = ("host", "kind", "component", "from_version", "to_version", "image", "sha256", "apply_time",
         "activation", "estimate_seconds", "rollback", "activates")

if TYPE_CHECKING:
    from hwfw.plan.model import StepGraph


@dataclass(slots=True, eq=False)
class HostWork:
    """One host's planned work: items in flash order in, chain and per-host graph out."""

    name: str
    vendor: str | None
    items: list[Item]
    chain: list[Item | Reset] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class GraphContext:
    """What the transformers read and write: the hosts (shapes) being built."""

    hosts: list[HostWork]


Transformer = Callable[["StepGraph", GraphContext], None]


def _node(hw: HostWork, nodes: list[tuple[str, dict[str, Any]]], node: str, attrs: dict[str, Any]) -> None:
    nodes.append((node, attrs))
    hw.nodes.append(node)
    hw.seconds[node] = attrs["estimate_seconds"]


def _edges(g: StepGraph, per_host: Iterable[tuple[HostWork, list[tuple[str, str]]]]) -> None:
    bulk: list[tuple[str, str]] = []
    for hw, edges in per_host:
        hw.edges.extend(edges)
        bulk.extend(edges)
    g.add_edges_from(bulk)


def add_flash_steps(g: StepGraph, ctx: GraphContext) -> None:
    """One node per image flash and per configure step (activate-only images have none:
    they are flashed)."""
    nodes: list[tuple[str, dict[str, Any]]] = []
    for hw in ctx.hosts:
        for it in hw.items:
            if it.preflashed:
                continue
            e = it.entry
            _node(hw, nodes, it.node, {
                "host": hw.name, "kind": it.step_kind, "component": it.key, "from_version": it.from_version,
                "to_version": it.to_version, "image": e.id if e else None, "sha256": e.sha256 if e else None,
                "apply_time": it.apply_time, "activation": it.activation,
                "estimate_seconds": it.flash_seconds, "rollback": it.rollback, "activates": (), "cause": None})
    g.add_nodes_from(nodes)


def add_sequence_edges(g: StepGraph, ctx: GraphContext) -> None:
    """Chain the flashes in flash order (the vendor sequence, as rules reordered it)."""
    def pairs(hw: HostWork) -> list[tuple[str, str]]:
        flashes = [it.node for it in hw.items if not it.preflashed]
        return list(pairwise(flashes))
    _edges(g, ((hw, pairs(hw)) for hw in ctx.hosts))


def add_compat_edges(g: StepGraph, ctx: GraphContext) -> None:
    """A rule's required flash precedes the dependent flash (explicit, even if chained)."""
    _edges(g, ((hw, [(w.required.node, it.node) for it in hw.items for w in it.waits
                     if w.why != HOP_WAIT and not w.required.preflashed]) for hw in ctx.hosts))


def add_activation_steps(g: StepGraph, ctx: GraphContext) -> None:
    """Insert resets into each host's chain (see activation.py for the exact rules)."""
    nodes: list[tuple[str, dict[str, Any]]] = []
    per_host = []
    for hw in ctx.hosts:
        hw.chain = schedule(hw.items)
        edges: list[tuple[str, str]] = []
        prev: str | None = None
        prev_reset = False
        for ev in hw.chain:
            if isinstance(ev, Reset):
                ev.node = f"activate/{ev.kind}#{ev.number}"
                bios = any(it.kind == "bios" for it in ev.activates)
                _node(hw, nodes, ev.node, {
                    "host": hw.name, "kind": "activate", "component": None, "from_version": None,
                    "to_version": None, "image": None, "sha256": None, "apply_time": None,
                    "activation": ev.kind, "estimate_seconds": estimate.reset_seconds(hw.vendor, ev.kind, bios),
                    "rollback": None, "activates": tuple(it.node for it in ev.activates), "cause": ev.cause})
                edges.extend((it.node, ev.node) for it in ev.activates if not it.preflashed and it.node != prev)
                if prev is not None:
                    edges.append((prev, ev.node))
                prev, prev_reset = ev.node, True
            else:
                if prev_reset:
                    edges.append((prev, ev.node))  # type: ignore[arg-type]
                prev, prev_reset = ev.node, False
        per_host.append((hw, edges))
    g.add_nodes_from(nodes)
    _edges(g, per_host)


def add_verify_steps(g: StepGraph, ctx: GraphContext) -> None:
    """Verify each version after the reset that made it run, before the next reset;
    flashes that wait on it (rules needing it running, later hops) wait for the check."""
    nodes: list[tuple[str, dict[str, Any]]] = []
    per_host = []
    for hw in ctx.hosts:
        edges: list[tuple[str, str]] = []
        next_reset: dict[str, str] = {}
        upcoming: str | None = None
        for ev in reversed(hw.chain):
            next_reset[ev.node] = upcoming  # type: ignore[assignment]
            if isinstance(ev, Reset):
                upcoming = ev.node
        for it in hw.items:
            e = it.entry
            by = it.activated_by.node if it.activated_by is not None else it.node
            _node(hw, nodes, it.verify, {
                "host": hw.name, "kind": "verify", "component": it.key, "from_version": it.from_version,
                "to_version": it.to_version, "image": e.id if e else None, "sha256": e.sha256 if e else None,
                "apply_time": None, "activation": it.activation, "estimate_seconds": estimate.VERIFY_SECONDS,
                "rollback": None, "activates": (), "cause": None})
            edges.append((by, it.verify))
            nxt = next_reset.get(by)
            if nxt is not None:
                edges.append((it.verify, nxt))
            edges.extend((w.required.verify, it.node) for w in it.waits if w.active)
        per_host.append((hw, edges))
    g.add_nodes_from(nodes)
    _edges(g, per_host)


def reduce_edges(g: StepGraph, ctx: GraphContext) -> None:
    """Drop edges implied by longer paths, so a step's `after` lists only direct waits
    (Terraform's TransitiveReductionTransformer); reachability, so order, is unchanged.

    Host graphs are small, so reachability is a bit set per node, filled in reverse
    topological order (`nx.topological_sort`, which also rejects a cycle): an edge u->v
    is redundant when v is reachable from another successor of u.
    """
    try:
        order = list(nx.topological_sort(g))
    except nx.NetworkXUnfeasible:
        raise _cycle_error(g) from None
    bit = {n: 1 << i for i, n in enumerate(order)}
    reach: dict[str, int] = {}
    drop = []
    succ = g.succ
    for n in reversed(order):
        below = 0
        for s in succ[n]:
            below |= reach[s]
        reach[n] = below | sum(bit[s] for s in succ[n])
        drop += [(n, s) for s in succ[n] if below & bit[s]]
    if drop:
        g.remove_edges_from(drop)
        gone = set(drop)
        for hw in ctx.hosts:
            hw.edges = [e for e in dict.fromkeys(hw.edges) if e not in gone]
    else:
        for hw in ctx.hosts:
            hw.edges = list(dict.fromkeys(hw.edges))


# The order matters; each line says why a transformer runs where it does.
TRANSFORMERS: tuple[Transformer, ...] = (
    add_flash_steps,       # every other transformer hangs its edges on the flash nodes
    add_sequence_edges,    # the (rule-adjusted) vendor sequence is the backbone of each chain
    add_compat_edges,      # rules add required -> dependent edges on top of the sequence
    add_activation_steps,  # resets need the final flash order to know what is staged when
    add_verify_steps,      # verification follows the resets, so it needs them in place
    reduce_edges,          # last: it needs every edge to know which ones are redundant
)


def build(ctx: GraphContext, transformers: Iterable[Transformer] = TRANSFORMERS) -> StepGraph:
    """Run the transformers over an empty DiGraph."""
    g: StepGraph = nx.DiGraph()
    for transform in transformers:
        transform(g, ctx)
    return g


def ordered(g: StepGraph, ctx: GraphContext) -> list[str]:
    """A deterministic topological order: host by host, each host's chain in order with
    each verification right after the reset that made its version run.

    `nx.lexicographical_topological_sort` with that stable key; raises PlanError naming
    the steps of a cycle (`nx.find_cycle`).
    """
    key: dict[str, tuple[int, int, int, str]] = {}
    for h, hw in enumerate(ctx.hosts):
        pos = {}
        for i, ev in enumerate(hw.chain):
            pos[ev.node] = i
            key[ev.node] = (h, i, 0, ev.node)
        for it in hw.items if hw.chain else ():
            by = it.activated_by.node if it.activated_by is not None else it.node
            key[it.verify] = (h, pos[by], 1, it.verify)
    for n in g:  # a graph built by only some transformers (benchmarks) has no chain yet
        key.setdefault(n, (len(ctx.hosts), 0, 0, n))
    try:
        return list(nx.lexicographical_topological_sort(g, key=key.__getitem__))
    except nx.NetworkXUnfeasible:
        raise _cycle_error(g) from None


def _cycle_error(g: StepGraph) -> PlanError:
    """A PlanError naming the steps of a cycle (compat.flash_order prevents them; this
    guards the transformers themselves)."""
    cycle = nx.find_cycle(g)
    path = " -> ".join([cycle[0][0]] + [v for _, v in cycle])
    return PlanError(f"the step graph has a cycle: {path}",
                     hint="the compatibility rules or sequences contradict each other")


def stamp(hosts: Iterable[tuple[str, Sequence[str], Sequence[dict[str, Any]], Sequence[tuple[int, int]]]]
          ) -> StepGraph:
    """The fleet DAG: every host's shape graph with the host name prefixed to its ids.

    `hosts` yields (host name, relative ids, their attribute dicts, edges as index
    pairs). Bulk-loaded: every edge in one `add_edges_from` (which adds the nodes),
    the rare isolated node with `add_nodes_from`, then fresh attribute dicts handed
    over as they are (`add_nodes_from` with data copies each dict twice, a third of the
    build time for 100,000 steps). Node order carries no meaning (`Plan.steps` has the
    order). Hosts share no edge, so the result is acyclic when every shape graph is.
    """
    all_ids: list[str] = []
    all_attrs: list[dict[str, Any]] = []
    edges: list[tuple[str, str]] = []
    resets: dict[int, list[int]] = {}  # per attrs tuple: positions of activate steps
    for name, ids, attrs, pairs in hosts:
        prefix = name + "/"
        full = [prefix + n for n in ids]
        all_ids += full
        start = len(all_attrs)
        all_attrs += [{**a, "host": name} for a in attrs]
        where = resets.get(id(attrs))
        if where is None:
            where = resets[id(attrs)] = [i for i, a in enumerate(attrs) if a["activates"]]
        for i in where:
            all_attrs[start + i]["activates"] = tuple([prefix + x for x in attrs[i]["activates"]])
        edges += [(full[u], full[v]) for u, v in pairs]
    g: StepGraph = nx.DiGraph()
    g.add_edges_from(edges)
    if len(g) < len(all_ids):
        g.add_nodes_from(all_ids)
    g._node.update(zip(all_ids, all_attrs, strict=True))  # type: ignore[attr-defined]  # networkx's node table
    return g
