"""Property tests over generated fleets: acyclic, safe at every step, idempotent, deterministic."""

from __future__ import annotations

import json
import random

import networkx as nx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hwfw.config.model import CompatRule, RepositoryEntry, SteppingStone, Workspace
from hwfw.inventory.model import HostInventory, Inventory
from hwfw.plan import Action, Plan, plan
from hwfw.plan.activation import activation_kind
from hwfw.state.model import ComponentRecord, State
from hwfw.versions import parse, parse_constraint
from tests.plan.builders import baseline, comp, host, hp, image, inv_host, rule, state, stone, target, workspace
from tests.plan.simulate import HostSim, execute

KINDS = ("bmc", "bios", "nic", "cpld", "raid", "psu")
VERSIONS = [f"{a}.{b}" for a in range(1, 6) for b in range(3)]
version = st.sampled_from(VERSIONS)


def ge(v: str) -> str:
    return f">={v}"


Scenario = tuple[Workspace, Inventory, State, int]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    targets = {k: draw(version) for k in kinds}
    downgrade = {k: draw(st.booleans()) for k in kinds}
    repo: list[RepositoryEntry] = []
    for k in kinds:
        apply_times = draw(st.sampled_from([(), ("Immediate",), ("Immediate", "OnReset")]))
        for v in sorted(set(draw(st.lists(version, max_size=5))) | {targets[k]}):
            repo.append(image(k, v, apply_times=apply_times))
    rules: list[CompatRule] = []
    for i in range(draw(st.integers(0, 3))):
        a, b = draw(st.sampled_from(kinds)), draw(st.sampled_from(kinds))
        if a != b:
            rules.append(rule(f"rule-{i}", (a, ge(draw(version))), (b, ge(draw(version))), active=draw(st.booleans())))
    stones: list[SteppingStone] = []
    for i in range(draw(st.integers(0, 2))):
        lo, hi = sorted(draw(st.lists(version, min_size=2, max_size=2, unique=True)), key=parse)
        stones.append(stone(f"stone-{i}", draw(st.sampled_from(kinds)), ge(hi), ge(lo)))
    sequence = tuple(draw(st.permutations(list(KINDS))))
    n_hosts = draw(st.integers(1, 3))
    hosts, invs = [], []
    records: dict[str, dict[str, ComponentRecord]] = {}
    for h in range(n_hosts):
        name = f"h{h}"
        comps = []
        for k in kinds:
            for inst in ([k] if k != "nic" else [f"NIC.Slot.{i}" for i in range(draw(st.integers(1, 2)))]):
                current = draw(version)
                comps.append(comp(k, current, inst))
                if current != targets[k] and draw(st.integers(0, 9)) == 0:
                    records.setdefault(name, {})[comps[-1].key] = ComponentRecord(targets[k], "pending-activation")
        apply_times = draw(st.sampled_from([("Immediate", "OnReset"), ("Immediate",)]))
        hosts.append(host(name))
        invs.append(inv_host(name, *comps, apply_times=apply_times))
    ws = workspace(hosts, [baseline("b", *(target(k, v, allow_downgrade=downgrade[k]) for k, v in targets.items()))],
                   repo, rules=rules, stones=stones, vendors={"dell": sequence})
    inv = Inventory(hosts={i.host: i for i in invs})
    return ws, inv, state(records), draw(st.integers(0, 2**32))


def after_apply(p: Plan, inv: Inventory, sims: dict[str, HostSim]
                ) -> tuple[Inventory, dict[str, dict[str, ComponentRecord]]]:
    """The inventory and state an apply of `p` leaves behind."""
    hosts: dict[str, HostInventory] = {}
    records: dict[str, dict[str, ComponentRecord]] = {}
    for name, h in inv.hosts.items():
        comps = tuple(type(c)(c.kind, c.instance, sims[name].running[c.key], c.name) for c in h.components)
        hosts[name] = HostInventory(host=name, reachable=True, vendor=h.vendor, model=h.model, serial=h.serial,
                                    components=comps, capabilities=h.capabilities)
        records[name] = {c.key: ComponentRecord(c.version or "?", "ok") for c in comps}
    return Inventory(hosts=hosts), records


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plans_are_acyclic_safe_at_every_step_idempotent_and_deterministic(scenario: Scenario) -> None:
    ws, inv, st0, seed = scenario
    p = plan(ws, inv, st0)
    event(f"steps: {'some' if p.steps else 'none'}; errored: {p.errored}")
    # Acyclic, and `steps` is a topological order.
    assert nx.is_directed_acyclic_graph(p.graph)
    pos = {s.id: i for i, s in enumerate(p.steps)}
    assert all(pos[a] < pos[s.id] for s in p.steps for a in s.after)
    # Deterministic.
    assert json.dumps(plan(ws, inv, st0).to_json("t", {}, "v")) == json.dumps(p.to_json("t", {}, "v"))
    # Executed in any order the DAG allows, every rule and stepping stone holds at each
    # flash, every reset activates what it says, every verify sees its version.
    pending = {h: {k: (r.version, _activation(inv, h, k)) for k, r in recs.items()}
               for h, recs in st0.hosts.items()}
    execute(p, ws, inv, None, pending)
    sims = execute(p, ws, inv, random.Random(seed), pending)
    # Every host without errors ends at its baseline and satisfies every rule it touched.
    ok_hosts = [h for h in p.hosts if not h.errored and h.status == "managed"]
    for h in ok_hosts:
        for c in h.changes:
            if c.does_work:
                assert parse(sims[h.name].running[c.key] or "?") == parse(c.target)
        _rules_hold(ws, h.name, sims[h.name].running, {c.key for c in h.changes if c.does_work}, inv)
    # Planning again against the result gives only no-ops for those hosts.
    inv2, records = after_apply(p, inv, sims)
    p2 = plan(ws, inv2, state(records))
    for h in ok_hosts:
        again = hp(p2, h.name)
        assert again is not None and all(c.action is Action.NOOP for c in again.changes), again.changes
    assert not any(s.host in {h.name for h in ok_hosts} for s in p2.steps)


def _activation(inv: Inventory, host_name: str, key: str) -> str:
    """The reset a staged image of this component physically waits for."""
    kind = next(c.kind for c in inv.hosts[host_name].components if c.key == key)
    return activation_kind(kind, "dell", None)


def _rules_hold(ws: Workspace, name: str, running: dict[str, str | None], changed: set[str],
                inv: Inventory) -> None:
    h = inv.hosts[name]
    kinds = {c.key: c.kind for c in h.components}
    for r in ws.matrix.rules:
        whens = [k for k, kk in kinds.items() if kk == r.when.component]
        reqs = [k for k, kk in kinds.items() if kk == r.requires.component]
        if not (set(whens) | set(reqs)) & changed:
            continue
        if any(parse_constraint(r.when.constraint).contains(parse(running[k] or "?")) for k in whens):
            assert all(parse_constraint(r.requires.constraint).contains(parse(running[k] or "?")) for k in reqs), r.id
