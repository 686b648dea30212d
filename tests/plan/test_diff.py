"""Per-component diff: actions, reasons, refusals, acceptance, targeting, pre-flight."""

from __future__ import annotations

from hwfw.inventory.model import ComponentState, PreflightFacts
from hwfw.plan import Action, Change, Plan, Reason, plan
from hwfw.state.model import ComponentRecord
from tests.plan.builders import (
    baseline,
    comp,
    host,
    hp,
    image,
    inv_host,
    inventory,
    state,
    target,
    workspace,
)

REPO = [image("bios", "2.0"), image("bios", "1.0"), image("nic", "22.31.6"), image("bmc", "7.10"),
        image("raid", "52.26.0-5179"), image("cpld", "0x11", vendor="hpe")]


def one(p: Plan, host_name: str = "h1") -> Change:
    (c,) = hp(p, host_name).changes
    return c


def test_noop_is_success_not_an_error() -> None:
    ws = workspace([host("h1"), host("h2")], [baseline("b", target("bios", "2.0"), target("bmc", "7.10"))], REPO)
    inv = inventory(inv_host("h1", comp("bios", "2.0"), comp("bmc", "7.10.00")),  # 7.10 == 7.10.00
                    inv_host("h2", comp("bios", "2.0"), comp("bmc", "7.10")))
    p = plan(ws, inv, state())
    assert all(c.action is Action.NOOP and c.reason is Reason.AT_TARGET for h in p.hosts for c in h.changes)
    assert not p.steps and not p.errored and not p.applyable and p.complete
    assert p.summary.noops == 4 and p.summary.updates == 0
    assert p.summary.line() == ("Plan: 2 hosts, 0 component updates, 0 refused, 0 host reboots, "
                                "0 AC power cycles, est. 0 min at parallelism 10")


def test_downgrade_is_refused_unless_the_target_allows_it() -> None:
    inv = inventory(inv_host("h1", comp("bios", "2.0")))
    ws = workspace([host("h1")], [baseline("b", target("bios", "1.0"))], REPO)
    c = one(plan(ws, inv, state()))
    assert (c.action, c.reason, c.refused) == (Action.DOWNGRADE, Reason.DOWNGRADE_NOT_ALLOWED, True)
    assert "allow_downgrade: true" in c.message
    ws = workspace([host("h1")], [baseline("b", target("bios", "1.0", allow_downgrade=True))], REPO)
    p = plan(ws, inv, state())
    c = one(p)
    assert (c.action, c.reason, c.refused, c.hops) == (Action.DOWNGRADE, Reason.ABOVE_TARGET, False, ("1.0",))
    assert p.applyable and p.steps[0].rollback == "bmc-previous"


def test_an_incomparable_version_is_unknown_and_refused_until_accepted() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    inv = inventory(inv_host("h1", comp("bios", "A04")))  # a Dell letter revision vs a dotted target
    p = plan(ws, inv, state())
    c = one(p)
    assert (c.action, c.reason, c.refused) == (Action.UNKNOWN, Reason.VERSION_INCOMPARABLE, True)
    assert "--accept-unknown h1:bios" in c.message and p.errored
    for accept in [("h1", "bios"), ("h*", "bios"), ("h1", "bios")]:
        p = plan(ws, inv, state(), accept_unknown=[accept])
        c = one(p)
        assert (c.action, c.reason, c.refused, c.hops) == (Action.UNKNOWN, Reason.ACCEPTED_UNKNOWN, False, ("2.0",))
        assert p.applyable and p.steps[0].from_version == "A04"
    assert plan(ws, inv, state(), accept_unknown=[("h2", "bios")]).errored


def test_an_unreadable_or_unparseable_version_is_unknown() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"), target("cpld", "0x11", scheme="hex"))],
                   REPO + [image("cpld", "0x11")])
    inv = inventory(inv_host("h1", comp("bios", None), comp("cpld", "1.0")))
    p = plan(ws, inv, state())
    bios, cpld = hp(p, "h1").changes
    assert (bios.action, bios.reason, bios.current) == (Action.UNKNOWN, Reason.VERSION_UNREADABLE, None)
    assert (cpld.action, cpld.reason) == (Action.UNKNOWN, Reason.VERSION_UNPARSEABLE)
    p = plan(ws, inv, state(), accept_unknown=[("h1", "bios"), ("h1", "cpld")])
    assert p.applyable and p.summary.unknown == 2


def test_a_missing_component_is_refused() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"), target("raid", "52.26.0-5179"))], REPO)
    p = plan(ws, inventory(inv_host("h1", comp("bios", "2.0"))), state())
    raid = hp(p, "h1").changes[1]
    assert (raid.action, raid.reason, raid.refused) == (Action.MISSING, Reason.NOT_PRESENT, True)
    assert p.errored and p.summary.missing == 1


def test_a_component_the_bmc_cannot_update_is_refused() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    inv = inventory(inv_host("h1", ComponentState("bios", "bios", "1.0", updateable=False)))
    c = one(plan(ws, inv, state()))
    assert (c.action, c.reason, c.refused) == (Action.UPGRADE, Reason.NOT_UPDATEABLE, True)


def test_no_image_for_the_target_is_refused() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.5"))], REPO)
    c = one(plan(ws, inventory(inv_host("h1", comp("bios", "2.0"))), state()))
    assert c.refused and c.reason is Reason.NO_IMAGE


def test_multi_instance_nics_get_one_change_each_and_match_selects_them() -> None:
    ws = workspace([host("h1")], [baseline("b", target("nic", "22.31.6", match="NIC.Slot.*"),
                                           target("nic", "14.0", id="lom", match="NIC.Embedded.*"))],
                   REPO + [image("nic", "14.0")])
    inv = inventory(inv_host("h1", comp("nic", "22.0", "NIC.Slot.1-1"), comp("nic", "22.31.6", "NIC.Slot.2-1"),
                             comp("nic", "12.0", "NIC.Embedded.1-1"), comp("nic", "12.0", "NIC.Embedded.2-1")))
    p = plan(ws, inv, state())
    got = [(c.component, c.key, c.action.value) for c in hp(p, "h1").changes]
    assert got == [("nic", "nic:NIC.Slot.1-1", "upgrade"), ("nic", "nic:NIC.Slot.2-1", "noop"),
                   ("lom", "nic:NIC.Embedded.1-1", "upgrade"), ("lom", "nic:NIC.Embedded.2-1", "upgrade")]
    assert [s.id for s in p.steps if s.kind == "flash"] == [
        "h1/flash/nic:NIC.Embedded.1-1", "h1/flash/nic:NIC.Embedded.2-1", "h1/flash/nic:NIC.Slot.1-1"]
    assert hp(p, "h1").resets.host_reboots == 1  # three staged NICs, one reboot


def test_an_instance_matched_by_two_targets_is_an_error() -> None:
    ws = workspace([host("h1")], [baseline("b", target("nic", "22.31.6"),
                                           target("nic", "14.0", id="lom", match="NIC.*"))], REPO)
    p = plan(ws, inventory(inv_host("h1", comp("nic", "22.0", "NIC.Slot.1-1"))), state())
    assert p.errored and "matched by both 'nic' and 'lom'" in p.errors()[0]


def test_unmanaged_hosts_are_reported_without_changes() -> None:
    ws = workspace([host("h1"), host("x1", "hpe", "DL380")], [baseline("b", target("bios", "2.0"))], REPO)
    inv = inventory(inv_host("h1", comp("bios", "2.0")), inv_host("x1", comp("bios", "1"), vendor="hpe",
                                                                  model="DL380"))
    p = plan(ws, inv, state())
    assert hp(p, "x1").status == "unmanaged" and not hp(p, "x1").changes and not p.errored
    assert p.summary.unmanaged == 1


def test_the_baseline_follows_what_the_bmc_reports_not_the_hint() -> None:
    ws = workspace([host("h1", "hpe", "DL380")], [baseline("b", target("bios", "2.0"))], REPO)
    p = plan(ws, inventory(inv_host("h1", comp("bios", "1.0"))), state())  # the BMC says dell
    assert (hp(p, "h1").baseline, hp(p, "h1").vendor) == ("b", "dell")


def test_an_unreachable_host_errors_the_plan_unless_allowed() -> None:
    ws = workspace([host("h1"), host("h2")], [baseline("b", target("bios", "2.0"))], REPO)
    inv = inventory(inv_host("h1", comp("bios", "1.0")), inv_host("h2", reachable=False, error="connection refused"))
    p = plan(ws, inv, state())
    h2 = hp(p, "h2")
    assert not h2.reachable and h2.status == "unreachable" and h2.changes[0].action is Action.UNREACHABLE
    assert p.errored and not p.applyable and "connection refused" in p.errors()[0]
    p = plan(ws, inv, state(), allow_unreachable=True)
    assert not p.errored and p.applyable and not p.complete
    assert hp(p, "h2").findings[0].severity == "warning" and p.summary.unreachable == 1
    assert [s.host for s in p.steps] == ["h1"] * 3


def test_a_host_without_inventory_counts_as_unreachable() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    p = plan(ws, inventory(), state())
    assert hp(p, "h1").status == "unreachable" and "no inventory" in p.errors()[0]


def test_targets_limit_hosts_and_components_and_make_the_plan_incomplete() -> None:
    ws = workspace([host("h1"), host("h2")], [baseline("b", target("bios", "2.0"), target("nic", "22.31.6"))],
                   REPO)
    inv = inventory(inv_host("h1", comp("bios", "1.0"), comp("nic", "22.0")),
                    inv_host("h2", comp("bios", "1.0"), comp("nic", "22.0")))
    p = plan(ws, inv, state(), targets=["h2"])
    assert [h.name for h in p.hosts] == ["h2"] and not p.complete and p.applyable
    p = plan(ws, inv, state(), targets=["h*/nic"])
    assert {(h.name, c.key) for h in p.hosts for c in h.changes} == {("h1", "nic"), ("h2", "nic")}


def test_preflight_facts_are_warnings_under_the_host() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    pf = PreflightFacts(power_state="Off", health="Warning", pending_jobs=("JID_1", "JID_2"),
                        licence_errors=("iDRAC Enterprise licence required",), pending_bios_settings=True)
    p = plan(ws, inventory(inv_host("h1", comp("bios", "1.0"), preflight=pf)), state())
    codes = [f.code for f in hp(p, "h1").findings]
    assert codes == ["pending-jobs", "power-off", "health", "pending-bios-settings", "licence"]
    assert all(f.severity == "warning" for f in hp(p, "h1").findings) and p.applyable
    assert "2 pending BMC job(s): JID_1, JID_2" in hp(p, "h1").findings[0].message


def test_drift_lists_versions_changed_outside_hwfw() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    st = state({"h1": {"bios": ComponentRecord("1.12", "ok"), "nic": ComponentRecord("22.0", "ok")}})
    p = plan(ws, inventory(inv_host("h1", comp("bios", "2.0"), comp("nic", "22.0.0"))), st)
    assert [(d.host, d.key, d.recorded, d.actual) for d in p.drift] == [("h1", "bios", "1.12", "2.0")]


def test_a_state_pending_another_version_is_reflashed_with_a_warning() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    st = state({"h1": {"bios": ComponentRecord("1.5", "pending-activation")}})
    p = plan(ws, inventory(inv_host("h1", comp("bios", "1.0"))), st)
    assert one(p).action is Action.UPGRADE and hp(p, "h1").findings[0].code == "state-pending"


def test_rollback_modes() -> None:
    # Dell keeps a Previous image (not for the CPLD); others need the old image in the repository.
    ws = workspace([host("h1"), host("x1", "hpe", "DL380"), host("x2", "hpe", "DL380")],
                   [baseline("d", target("bios", "2.0"), target("cpld", "0x11")),
                    baseline("h", target("bios", "2.0"), vendor="hpe")],
                   REPO + [image("cpld", "0x11"), image("bios", "2.0", vendor="hpe"),
                           image("bios", "1.0", vendor="hpe")])
    inv = inventory(inv_host("h1", comp("bios", "1.0"), comp("cpld", "0x0E")),
                    inv_host("x1", comp("bios", "1.0"), vendor="hpe", model="DL380"),
                    inv_host("x2", comp("bios", "1.5"), vendor="hpe", model="DL380"))
    p = plan(ws, inv, state())
    assert {(s.id, s.rollback) for s in p.steps if s.kind == "flash"} == {
        ("h1/flash/bios", "bmc-previous"), ("h1/flash/cpld", "irreversible"),
        ("x1/flash/bios", "repository"), ("x2/flash/bios", "irreversible")}
