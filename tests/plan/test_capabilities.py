"""Planning from what the BMC can do: a change with no update method or no activation is
refused at plan time with the reason; a version two sources disagree on is unknown."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.inventory.model import Capabilities, ComponentState, HostInventory, Inventory, VersionSource
from hwfw.plan import Action, Change, Plan, Reason, plan
from hwfw.state.model import ComponentRecord
from tests.plan.builders import baseline, comp, host, hp, image, inv_host, inventory, state, target, workspace

REPO = [image("bios", "2.0"), image("bmc", "7.10"), image("cpld", "1.1"), image("nic", "22.31.6")]
REDFISH = Capabilities(update_methods=("multipart",), apply_times=("Immediate", "OnReset"))


def with_caps(h: HostInventory, caps: Capabilities | None, **kw: object) -> HostInventory:
    return dataclasses.replace(h, capabilities=caps, **kw)


def changes(p: Plan) -> dict[str, Change]:
    return {c.key: c for c in hp(p, "h1").changes}


def test_an_ipmi_only_host_has_every_change_refused_with_the_reason() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"), target("bios", "2.0"))], REPO)
    h = with_caps(inv_host("h1", ComponentState("bmc", "bmc", "6.10", updateable=False),
                           ComponentState("bios", "bios", None, updateable=False)),
                  Capabilities(session_service=False, activations=()), protocol="ipmi")
    for accept in ((), (("h1", "bios"),)):
        p = plan(ws, inventory(h), state(), accept_unknown=accept)
        c = changes(p)
        bmc, bios = c["bmc"], c["bios"]
        assert (bmc.action, bmc.reason, bmc.refused) == (Action.UPGRADE, Reason.NO_UPDATE_METHOD, True)
        assert (bios.action, bios.reason, bios.refused) == (Action.UNKNOWN, Reason.NO_UPDATE_METHOD, True)
        assert "over IPMI" in bmc.message and not p.steps and p.errored


def test_a_redfish_bmc_without_an_update_method_is_refused() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    h = with_caps(inv_host("h1", comp("bios", "1.0")), Capabilities(apply_times=("OnReset",)))
    (c,) = hp(plan(ws, inventory(h), state()), "h1").changes
    assert (c.reason, c.refused) == (Reason.NO_UPDATE_METHOD, True)
    assert "UpdateService" in c.message


def test_a_change_whose_reset_the_bmc_lacks_is_refused_and_no_reset_is_scheduled() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"), target("bios", "2.0"))], REPO)
    caps = dataclasses.replace(REDFISH, activations=("host-reboot", "ac-cycle"))  # no Manager.Reset
    p = plan(ws, inventory(with_caps(inv_host("h1", comp("bmc", "6.10"), comp("bios", "1.0")), caps)), state())
    c = changes(p)
    assert (c["bmc"].reason, c["bmc"].refused) == (Reason.NO_ACTIVATION, True)
    assert "bmc-reset" in c["bmc"].message and "Manager has no Reset action" in c["bmc"].message
    assert (c["bios"].action, c["bios"].refused) == (Action.UPGRADE, False)
    assert hp(p, "h1").resets.bmc_resets == 0 and p.summary.bmc_resets == 0


def test_no_system_reset_refuses_what_needs_a_host_reboot() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], REPO)
    caps = dataclasses.replace(REDFISH, activations=("bmc-reset", "ac-cycle"))
    (c,) = hp(plan(ws, inventory(with_caps(inv_host("h1", comp("bios", "1.0")), caps)), state()), "h1").changes
    assert (c.reason, c.refused) == (Reason.NO_ACTIVATION, True) and "System has no Reset action" in c.message


def test_activations_not_recorded_refuse_nothing() -> None:
    """A snapshot written before activations were recorded: plan as before."""
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"))], REPO)
    p = plan(ws, inventory(with_caps(inv_host("h1", comp("bmc", "6.10")), REDFISH)), state())
    assert p.applyable and hp(p, "h1").resets.bmc_resets == 1


def test_a_pending_image_the_bmc_cannot_activate_is_refused() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"))], REPO)
    caps = dataclasses.replace(REDFISH, activations=("host-reboot", "ac-cycle"))
    st_ = state({"h1": {"bmc": ComponentRecord(version="7.10", status="pending-activation", activation="bmc-reset")}})
    (c,) = hp(plan(ws, inventory(with_caps(inv_host("h1", comp("bmc", "6.10")), caps)), st_), "h1").changes
    assert (c.reason, c.refused) == (Reason.NO_ACTIVATION, True)


def test_sources_that_disagree_make_the_version_unknown() -> None:
    """FirmwareInventory says P79 v1.45, the ComputerSystem says P79 v1.95: the planner
    does not pick one. Accepting the unknown version flashes the target."""
    ws = workspace([host("h1", vendor="hpe")], [baseline("b", target("bios", "2.0"), vendor="hpe")],
                   [image("bios", "2.0", vendor="hpe")])
    conflict = "the BMC reports two versions: 'P79 v1.45' (...) and 'P79 v1.95 (12/06/2019)' (...)"
    bios = ComponentState("bios", "bios", "P79 v1.45", source=VersionSource("SoftwareInventory", "Version", "/x"),
                          conflict=conflict)
    inv = inventory(inv_host("h1", bios, vendor="hpe"))
    (c,) = hp(plan(ws, inv, state()), "h1").changes
    assert (c.action, c.reason, c.refused) == (Action.UNKNOWN, Reason.VERSION_CONFLICT, True)
    assert conflict in c.message and "--accept-unknown h1:bios" in c.message
    (c,) = hp(plan(ws, inv, state(), accept_unknown=[("h1", "bios")]), "h1").changes
    assert (c.action, c.reason, c.refused, c.hops) == (Action.UNKNOWN, Reason.ACCEPTED_UNKNOWN, False, ("2.0",))


KINDS = ("bmc", "bios", "cpld", "nic")
ACTIVATIONS = ("bmc-reset", "host-reboot", "ac-cycle")


@settings(max_examples=60, deadline=None)
@given(available=st.sets(st.sampled_from(ACTIVATIONS)), methods=st.booleans(),
       behind=st.sets(st.sampled_from(KINDS), min_size=1))
def test_no_planned_step_needs_what_the_bmc_cannot_do(available: set[str], methods: bool, behind: set[str]) -> None:
    """Planning invariant: every activate step is a reset the BMC offers, nothing is
    flashed on a BMC without an update method, and every component behind its target is
    either planned or refused with a reason."""
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"), target("bios", "2.0"),
                                           target("cpld", "1.1"), target("nic", "22.31.6"))], REPO)
    current = {"bmc": "7.10", "bios": "2.0", "cpld": "1.1", "nic": "22.31.6"}
    old = {"bmc": "6.10", "bios": "1.0", "cpld": "1.0", "nic": "21.0"}
    comps = [comp(k, old[k] if k in behind else current[k]) for k in KINDS]
    caps = Capabilities(update_methods=("multipart",) if methods else (), apply_times=("Immediate", "OnReset"),
                        activations=tuple(a for a in ACTIVATIONS if a in available))
    p = plan(ws, Inventory(hosts={"h1": with_caps(inv_host("h1", *comps), caps)}), state())
    for s in p.steps:
        assert s.kind != "activate" or s.activation in available or s.activation == "ac-cycle", s
        assert methods or s.kind != "flash", s
    for c in hp(p, "h1").changes:
        if c.key in behind:
            assert c.does_work or (c.refused and c.message), c
