"""needs_preflight: the planner's answer, host by host, to "will this host get steps?"."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.plan import needs_preflight, plan
from tests.plan.builders import baseline, comp, host, image, inv_host, inventory, state, target, workspace

REPO = [image("bios", "2.0"), image("bmc", "7.10")]


def ws_of(*names: str):  # type: ignore[no-untyped-def]
    return workspace([host(n) for n in names], [baseline("b", target("bios", "2.0"), target("bmc", "7.10"))], REPO)


def test_hosts_behind_their_baseline_need_preflight_facts_others_do_not() -> None:
    ws = ws_of("behind", "current", "unreachable")
    decide = needs_preflight(ws, state())
    assert decide(inv_host("behind", comp("bios", "1.0"), comp("bmc", "7.10")))
    assert not decide(inv_host("current", comp("bios", "2.0"), comp("bmc", "7.10")))
    assert not decide(inv_host("unreachable", reachable=False, error="connection refused"))
    assert not decide(inv_host("stranger", comp("bios", "1.0")))  # not a host of the workspace


def test_unmanaged_and_untargeted_hosts_need_none() -> None:
    ws = workspace([host("h1"), host("hpe1", vendor="hpe", model="ProLiant DL380 Gen10")],
                   [baseline("b", target("bios", "2.0"))], REPO)
    assert not needs_preflight(ws, state())(inv_host("hpe1", comp("bios", "1.0"), vendor="hpe",
                                                     model="ProLiant DL380 Gen10"))
    assert not needs_preflight(ws, state(), targets=["other"])(inv_host("h1", comp("bios", "1.0")))
    assert needs_preflight(ws, state(), targets=["h1"])(inv_host("h1", comp("bios", "1.0")))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["1.0", "2.0", "3.0"]), st.sampled_from(["7.00", "7.10"])),
                min_size=1, max_size=6))
def test_the_answer_is_whether_the_plan_gives_the_host_steps(versions: list[tuple[str, str]]) -> None:
    names = [f"h{i}" for i in range(len(versions))]
    ws = ws_of(*names)
    invs = [inv_host(n, comp("bios", b), comp("bmc", m)) for n, (b, m) in zip(names, versions, strict=True)]
    decide = needs_preflight(ws, state())
    full = plan(ws, inventory(*invs), state())
    with_steps = {s.host for s in full.steps}
    assert {n for n, inv in zip(names, invs, strict=True) if decide(inv)} == with_steps
