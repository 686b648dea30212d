"""Compatibility rules, minimums, stepping stones and cycles."""

from __future__ import annotations

import pytest

from hwfw.config.model import MinimumRule, RepositoryEntry, SteppingStone, Workspace
from hwfw.plan import Action, Plan, Reason, plan
from tests.plan.builders import (
    DELL_SEQUENCE,
    baseline,
    comp,
    host,
    hp,
    image,
    inv_host,
    inventory,
    minimum,
    rule,
    state,
    stone,
    target,
    workspace,
)
from tests.plan.simulate import execute


def flashes(p: Plan) -> list[str]:
    return [s.id.split("/", 1)[1] for s in p.steps if s.kind == "flash"]


def test_a_rule_puts_the_bmc_before_the_bios_although_dell_flashes_the_bmc_last() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10.30.00"), target("bios", "1.12.1"),
                                           target("nic", "22.31.6"))],
                   [image("bmc", "7.10.30.00"), image("bios", "1.12.1"), image("nic", "22.31.6")],
                   rules=[rule("bios-1.12-needs-idrac-7", ("bios", ">=1.12"), ("bmc", ">=7.00"))],
                   vendors={"dell": DELL_SEQUENCE})
    inv = inventory(inv_host("h1", comp("bmc", "6.10.30.00"), comp("bios", "1.10.2"), comp("nic", "22.0.1")))
    p = plan(ws, inv, state())
    assert flashes(p) == ["flash/bmc", "flash/bios", "flash/nic"]
    bios = next(s for s in p.steps if s.id == "h1/flash/bios")
    assert bios.after == ("h1/verify/bmc",)  # the new iDRAC runs (and was seen running) first
    execute(p, ws, inv)
    # Without the rule the Dell sequence decides: BMC last.
    ws2 = workspace(ws.hosts, ws.baselines, ws.repository.entries, vendors={"dell": DELL_SEQUENCE})
    assert flashes(plan(ws2, inv, state())) == ["flash/bios", "flash/nic", "flash/bmc"]


def test_a_rule_already_satisfied_adds_no_wait() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.20"), target("bios", "1.12.1"))],
                   [image("bmc", "7.20"), image("bios", "1.12.1")],
                   rules=[rule("bios-needs-idrac-7", ("bios", ">=1.12"), ("bmc", ">=7.00"))],
                   vendors={"dell": DELL_SEQUENCE})
    inv = inventory(inv_host("h1", comp("bmc", "7.10"), comp("bios", "1.10.2")))
    assert flashes(plan(ws, inv, state())) == ["flash/bios", "flash/bmc"]


STONE_REPO = [image("bmc", "5.5"), image("bmc", "6.0"), image("bmc", "6.10"), image("bmc", "6.50"),
              image("bmc", "7.10"), image("bmc", "8.0")]


def stone_ws(*stones: SteppingStone, repo: list[RepositoryEntry] = STONE_REPO) -> Workspace:
    return workspace([host("h1")], [baseline("b", target("bmc", "7.10"))], repo, stones=list(stones))


def test_a_stepping_stone_becomes_a_hop_flashed_activated_and_verified_first() -> None:
    ws = stone_ws(stone("idrac7-via-6.10", "bmc", ">=7", ">=6.10"),
                  repo=[image("bmc", "6.10"), image("bmc", "7.10")])
    inv = inventory(inv_host("h1", comp("bmc", "5.0")))
    p = plan(ws, inv, state())
    (change,) = hp(p, "h1").changes
    assert change.hops == ("6.10", "7.10") and change.action is Action.UPGRADE
    assert [s.id.split("/", 1)[1] for s in p.steps] == [
        "flash/bmc@6.10", "activate/bmc-reset#1", "verify/bmc@6.10", "flash/bmc", "activate/bmc-reset#2",
        "verify/bmc"]
    assert p.steps[3].after == ("h1/verify/bmc@6.10",) and p.steps[3].from_version == "6.10"
    execute(p, ws, inv)


def test_chained_stepping_stones_take_the_shortest_route() -> None:
    ws = stone_ws(stone("7-needs-6.10", "bmc", ">=7", ">=6.10"), stone("6.10-needs-6.0", "bmc", ">=6.10", ">=6.0"))
    inv = inventory(inv_host("h1", comp("bmc", "5.0")))
    p = plan(ws, inv, state())
    # 5.0 -> 6.50 is forbidden (needs >=6.0 running), so 6.0 first; then the highest
    # version that opens 7.10; exactly two hops before the target.
    assert hp(p, "h1").changes[0].hops == ("6.0", "6.50", "7.10")
    execute(p, ws, inv)
    assert hp(plan(ws, inventory(inv_host("h1", comp("bmc", "6.0"))), state())).changes[0].hops == \
        ("6.50", "7.10")


def test_hops_respect_minimums_unless_the_host_starts_below_them() -> None:
    repo = [image("bmc", "6.50"), image("bmc", "6.60"), image("bmc", "7.10")]
    stones = [stone("7-needs-6.5", "bmc", ">=7", ">=6.5")]

    def hops(current: str, *minimums: MinimumRule) -> tuple[str, ...]:
        ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"))], repo, stones=stones,
                       minimums=list(minimums))
        return hp(plan(ws, inventory(inv_host("h1", comp("bmc", current))), state())).changes[0].hops

    assert hops("6.0") == ("6.60", "7.10")  # the hop nearest the target
    bad = minimum("not-6.60", "bmc", ">=6.0,!=6.60")  # a minimum that also excludes a bad release
    assert hops("6.0", bad) == ("6.50", "7.10")
    assert hops("5.0", bad) == ("6.60", "7.10")  # already below the minimum: it may climb through


def test_no_route_is_refused_naming_the_rule() -> None:
    ws = stone_ws(stone("idrac7-via-6.10", "bmc", ">=7", ">=6.10"), repo=[image("bmc", "7.10"), image("bmc", "6.0")])
    p = plan(ws, inventory(inv_host("h1", comp("bmc", "5.0"))), state())
    (change,) = hp(p, "h1").changes
    assert change.refused and change.reason is Reason.NO_UPGRADE_PATH
    assert "'idrac7-via-6.10'" in change.message
    assert p.errored and not p.applyable and not p.steps


def test_a_target_below_a_minimum_is_refused_naming_the_rule() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "2.50"))], [image("bmc", "2.50")],
                   minimums=[minimum("dell-idrac-redfish-update-minimum", "bmc", ">=2.60.60.60")])
    p = plan(ws, inventory(inv_host("h1", comp("bmc", "2.40"))), state())
    (change,) = hp(p, "h1").changes
    assert change.refused and change.reason is Reason.BELOW_MINIMUM
    assert "'dell-idrac-redfish-update-minimum'" in change.message and p.errored


def test_two_rules_needing_each_other_running_are_a_cycle_named_by_its_steps() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"), target("bios", "2.0"))],
                   [image("bmc", "7.10"), image("bios", "2.0")],
                   rules=[rule("bios-needs-bmc", ("bios", ">=2.0"), ("bmc", ">=7.0")),
                          rule("bmc-needs-bios", ("bmc", ">=7.0"), ("bios", ">=2.0"))])
    p = plan(ws, inventory(inv_host("h1", comp("bmc", "6.0"), comp("bios", "1.0"))), state())
    assert p.errored and not p.steps
    (err,) = p.errors()
    assert "dependency cycle: h1/flash/" in err
    assert "h1/flash/bmc" in err and "h1/flash/bios" in err
    assert "'bios-needs-bmc'" in err and "'bmc-needs-bios'" in err


def test_a_rule_that_cannot_hold_at_the_end_is_an_error_naming_it() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], [image("bios", "2.0")],
                   rules=[rule("bios-2-needs-bmc-7", ("bios", ">=2.0"), ("bmc", ">=7.0"), source="KB 123")])
    p = plan(ws, inventory(inv_host("h1", comp("bmc", "6.0"), comp("bios", "1.0"))), state())
    (err,) = p.errors()
    assert "compatibility rule 'bios-2-needs-bmc-7' cannot hold" in err and "bmc 6.0" in err and "KB 123" in err


def test_a_rule_that_cannot_be_evaluated_is_reported_not_guessed() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], [image("bios", "2.0")],
                   rules=[rule("bios-2-needs-raid", ("bios", ">=2.0"), ("raid", ">=50.0"))])
    p = plan(ws, inventory(inv_host("h1", comp("raid", "A04"), comp("bios", "1.0"))), state())
    (err,) = p.errors()
    assert "cannot evaluate compatibility rule 'bios-2-needs-raid'" in err and "raid A04" in err


def test_a_violation_the_plan_does_not_touch_is_only_a_warning() -> None:
    ws = workspace([host("h1")], [baseline("b", target("nic", "22.0"))], [image("nic", "22.0")],
                   rules=[rule("bios-2-needs-bmc-7", ("bios", ">=2.0"), ("bmc", ">=7.0"))])
    p = plan(ws, inventory(inv_host("h1", comp("bmc", "6.0"), comp("bios", "2.0"), comp("nic", "21.0"))), state())
    assert not p.errored and p.applyable
    (w,) = hp(p, "h1").findings
    assert w.severity == "warning" and "does not change those components" in w.message


def test_rules_for_another_model_do_not_apply() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], [image("bios", "2.0")],
                   rules=[rule("r", ("bios", ">=2.0"), ("bmc", ">=7.0"), models=("PowerEdge R640",))])
    assert plan(ws, inventory(inv_host("h1", comp("bmc", "6.0"), comp("bios", "1.0"))), state()).applyable


@pytest.mark.parametrize("scheme", ["hpe-dated"])
def test_rule_constraints_use_the_components_forced_scheme(scheme: str) -> None:
    # "2.96 Aug 17 2023" is hpe-dated; a bare ">=2.90" would auto-detect as dotted and
    # be incomparable, so the constraint is parsed with the target's scheme.
    ws = workspace([host("h1", "hpe", "DL380")],
                   [baseline("b", target("bmc", "2.96 Aug 17 2023", scheme=scheme), target("bios", "2.0"),
                             vendor="hpe")],
                   [image("bmc", "2.96 Aug 17 2023", vendor="hpe"), image("bios", "2.0", vendor="hpe")],
                   rules=[rule("bios-needs-ilo", ("bios", ">=2.0"), ("bmc", ">=2.90"))])
    inv = inventory(inv_host("h1", comp("bmc", "2.72 Jan 03 2023"), comp("bios", "1.0"), vendor="hpe", model="DL380"))
    p = plan(ws, inv, state())
    assert p.applyable, p.errors()
    assert [s.id for s in p.steps if s.kind == "flash"] == ["h1/flash/bmc", "h1/flash/bios"]
