"""Execute a plan on paper: track flashed (staged) and running versions per host.

Physical semantics, independent of the planner's own bookkeeping: a flash stages its
image (or runs it at once when its activation is `none`); a reset activates what is
staged and covered (an AC power cycle covers every kind); a verify reads the running
version. At every flash the compatibility rules and stepping stones must already hold.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import networkx as nx

from hwfw.config.model import Workspace
from hwfw.inventory.model import Inventory
from hwfw.plan import Plan, Step
from hwfw.versions import parse, parse_constraint

COVERS = {"bmc-reset": {"bmc-reset"}, "host-reboot": {"host-reboot"},
          "ac-cycle": {"ac-cycle", "host-reboot", "bmc-reset"}}


@dataclass
class HostSim:
    vendor: str | None
    model: str | None
    running: dict[str, str | None]
    staged: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> (version, activation, flash id)
    kinds: dict[str, str] = field(default_factory=dict)


def linear_extension(g: nx.DiGraph, rng: random.Random | None) -> list[str]:
    """A topological order; a random one when `rng` is given (any order the DAG allows)."""
    if rng is None:
        return list(nx.topological_sort(g))
    indeg = {n: d for n, d in g.in_degree()}
    ready = sorted(n for n, d in indeg.items() if d == 0)
    out = []
    while ready:
        n = ready.pop(rng.randrange(len(ready)))
        out.append(n)
        for s in g.successors(n):
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    assert len(out) == g.number_of_nodes(), "cycle"
    return out


def execute(plan: Plan, ws: Workspace, inventory: Inventory, rng: random.Random | None = None,
            pending: dict[str, dict[str, tuple[str, str]]] | None = None) -> dict[str, HostSim]:
    """Run `plan` in a topological order (random with `rng`); `pending` holds images an
    earlier run left staged: host -> key -> (version, activation). Returns the hosts."""
    sims: dict[str, HostSim] = {}
    for name, inv in inventory.hosts.items():
        if inv.reachable:
            sims[name] = HostSim(inv.vendor, inv.model, {c.key: c.version for c in inv.components},
                                 kinds={c.key: c.kind for c in inv.components})
    for host, recs in (pending or {}).items():
        for key, (version, activation) in recs.items():
            sims[host].staged[key] = (version, activation, f"{host}/pending/{key}")
    steps = {s.id: s for s in plan.steps}
    for sid in linear_extension(plan.graph, rng):
        step = steps[sid]
        sim = sims[step.host]
        if step.kind == "flash":
            _flash(ws, sim, step)
        elif step.kind == "activate":
            assert step.activation is not None
            covered = COVERS[step.activation]
            done = sorted(k for k, (_, act, _) in sim.staged.items() if act in covered)
            activated = sorted(sim.staged[k][2] for k in done)
            for k in done:
                sim.running[k] = sim.staged.pop(k)[0]
            assert activated == sorted(step.activates), (sid, activated, step.activates)
        else:
            assert step.component is not None
            assert sim.running[step.component] == step.to_version, (sid, sim.running[step.component])
    return sims


def _flash(ws: Workspace, sim: HostSim, step: Step) -> None:
    key, v = step.component, step.to_version
    assert key is not None and v is not None
    kind = sim.kinds[key]
    assert step.from_version == sim.running[key], \
        f"{step.id} flashes over {sim.running[key]}, plan said {step.from_version}"
    for r in ws.matrix.rules:
        if not r.applies_to(sim.vendor, sim.model) or r.when.component != kind:
            continue
        if not parse_constraint(r.when.constraint).contains(parse(v)):
            continue
        for k, kk in sim.kinds.items():
            if kk != r.requires.component or k == key:
                continue
            have = sim.running[k] if r.active else sim.staged.get(k, (sim.running[k],))[0]
            assert have is not None and parse_constraint(r.requires.constraint).contains(parse(have)), \
                f"{step.id}: rule {r.id} needs {k} {r.requires.constraint} " \
                f"{'running' if r.active else 'flashed'}, has {have}"
    for s in ws.matrix.stepping_stones:
        if s.applies_to(sim.vendor, sim.model) and s.component == kind \
                and parse_constraint(s.target).contains(parse(v)):
            assert parse_constraint(s.from_).contains(parse(sim.running[key] or "?")), \
                f"{step.id}: stepping stone {s.id} needs {s.from_} running, has {sim.running[key]}"
    if step.activation == "none":
        sim.running[key] = v
    else:
        sim.staged[key] = (v, step.activation or "", step.id)
