"""Graph transformers: edge reduction, ordering, cycle reporting."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.errors import PlanError
from hwfw.plan import graph, plan
from tests.plan.builders import baseline, comp, host, image, inv_host, inventory, state, target, workspace


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(st.just(n), st.sets(
    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1])))))
def test_reduce_edges_is_the_transitive_reduction(dag: tuple[int, set[tuple[int, int]]]) -> None:
    n, edges = dag
    g = nx.DiGraph()
    g.add_nodes_from(str(i) for i in range(n))
    g.add_edges_from((str(u), str(v)) for u, v in edges)
    want = set(nx.transitive_reduction(g).edges)
    hw = graph.HostWork("", None, [])
    hw.edges = list(g.edges)
    graph.reduce_edges(g, graph.GraphContext([hw]))
    assert set(g.edges) == want and set(hw.edges) == want


def test_a_cycle_in_the_step_graph_is_a_plan_error_naming_it() -> None:
    g = nx.DiGraph([("flash/a", "flash/b"), ("flash/b", "flash/a")])
    with pytest.raises(PlanError, match=r"cycle: flash/(a -> flash/b -> flash/a|b -> flash/a -> flash/b)"):
        graph.reduce_edges(g, graph.GraphContext([]))
    with pytest.raises(PlanError, match="cycle"):
        graph.ordered(g, graph.GraphContext([]))


def test_the_transformers_run_in_a_documented_order() -> None:
    assert [t.__name__ for t in graph.TRANSFORMERS] == [
        "add_flash_steps", "add_sequence_edges", "add_compat_edges", "add_activation_steps", "add_verify_steps",
        "reduce_edges"]


def test_after_lists_only_direct_waits() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"), target("nic", "22.0"))],
                   [image("bios", "2.0"), image("nic", "22.0")])
    p = plan(ws, inventory(inv_host("h1", comp("bios", "1.0"), comp("nic", "21.0"))), state())
    assert {s.id: s.after for s in p.steps} == {
        "h1/flash/bios": (), "h1/flash/nic": ("h1/flash/bios",),
        "h1/activate/host-reboot#1": ("h1/flash/nic",),
        "h1/verify/bios": ("h1/activate/host-reboot#1",), "h1/verify/nic": ("h1/activate/host-reboot#1",)}
