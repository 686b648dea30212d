"""Activation semantics and reboot minimisation (hwfw/plan/activation.py)."""

from __future__ import annotations

from hwfw.inventory.model import Capabilities
from hwfw.plan import Plan, plan
from hwfw.plan.activation import COVERS, activation_kind, apply_time
from hwfw.state.model import ComponentRecord
from tests.plan.builders import (
    DELL_SEQUENCE,
    baseline,
    comp,
    host,
    hp,
    image,
    inv_host,
    inventory,
    rule,
    state,
    target,
    workspace,
)
from tests.plan.simulate import execute

BIOS_NIC_CPLD = [target("bios", "2.0"), target("nic", "22.0"), target("cpld", "1.1")]
IMAGES = [image("bios", "2.0"), image("nic", "22.0"), image("cpld", "1.1"), image("bmc", "7.10")]
BEHIND = inv_host("h1", comp("bios", "1.0"), comp("nic", "21.0"), comp("cpld", "1.0"), comp("bmc", "7.10"))


def ids(p: Plan) -> list[str]:
    """The host-relative step ids, in plan order."""
    return [s.id.split("/", 1)[1] for s in p.steps]


def test_staged_updates_share_one_ac_cycle_and_need_no_host_reboot() -> None:
    ws = workspace([host("h1")], [baseline("b", *BIOS_NIC_CPLD)], IMAGES)
    p = plan(ws, inventory(BEHIND), state())
    h = hp(p, "h1")
    assert (h.resets.host_reboots, h.resets.ac_cycles, h.resets.bmc_resets) == (0, 1, 0)
    assert ids(p) == ["flash/bios", "flash/cpld", "flash/nic", "activate/ac-cycle#1",
                      "verify/bios", "verify/cpld", "verify/nic"]
    ac = next(s for s in p.steps if s.kind == "activate")
    assert set(ac.activates) == {"h1/flash/bios", "h1/flash/cpld", "h1/flash/nic"}
    execute(p, ws, inventory(BEHIND))


def test_a_rule_needing_the_new_bios_running_adds_exactly_one_host_reboot() -> None:
    ws = workspace([host("h1")], [baseline("b", *BIOS_NIC_CPLD)], IMAGES,
                   rules=[rule("nic-22-needs-bios-2", ("nic", ">=22.0"), ("bios", ">=2.0"))])
    p = plan(ws, inventory(BEHIND), state())
    h = hp(p, "h1")
    assert (h.resets.host_reboots, h.resets.ac_cycles) == (1, 1)
    assert ids(p) == ["flash/bios", "flash/cpld", "activate/host-reboot#1", "verify/bios", "flash/nic",
                      "activate/ac-cycle#1", "verify/cpld", "verify/nic"]
    nic = next(s for s in p.steps if s.id == "h1/flash/nic")
    assert nic.after == ("h1/verify/bios",)  # waits for the new BIOS to be seen running
    reboot = next(s for s in p.steps if s.id == "h1/activate/host-reboot#1")
    assert reboot.activates == ("h1/flash/bios",)  # a host reboot does not activate the CPLD
    assert [s.cause for s in p.steps if s.kind == "activate"] == ["wait", "final"]
    execute(p, ws, inventory(BEHIND))


def test_a_rule_that_only_needs_the_bios_flashed_adds_no_reboot() -> None:
    ws = workspace([host("h1")], [baseline("b", *BIOS_NIC_CPLD)], IMAGES,
                   rules=[rule("nic-needs-bios-flashed", ("nic", ">=22.0"), ("bios", ">=2.0"), active=False)])
    p = plan(ws, inventory(BEHIND), state())
    assert (hp(p, "h1").resets.host_reboots, hp(p, "h1").resets.ac_cycles) == (0, 1)
    execute(p, ws, inventory(BEHIND))


def test_every_bmc_flash_resets_the_bmc_at_once() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bmc", "7.10"), target("bios", "2.0"))],
                   IMAGES, vendors={"dell": DELL_SEQUENCE})
    inv = inventory(inv_host("h1", comp("bmc", "6.10"), comp("bios", "1.0")))
    p = plan(ws, inv, state())
    assert ids(p) == ["flash/bios", "flash/bmc", "activate/bmc-reset#1", "verify/bmc",
                      "activate/host-reboot#1", "verify/bios"]
    bmc = next(s for s in p.steps if s.id == "h1/flash/bmc")
    assert (bmc.apply_time, bmc.activation) == ("Immediate", "bmc-reset")
    assert [s.cause for s in p.steps if s.kind == "activate"] == ["immediate", "final"]
    assert hp(p, "h1").resets.bmc_resets == 1
    execute(p, ws, inv)


def test_an_image_that_cannot_be_staged_reboots_at_once_and_takes_staged_ones_along() -> None:
    imgs = [image("bios", "2.0"), image("nic", "22.0", apply_times=("Immediate",))]
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"), target("nic", "22.0"))], imgs)
    inv = inventory(inv_host("h1", comp("bios", "1.0"), comp("nic", "21.0")))
    p = plan(ws, inv, state())
    assert ids(p) == ["flash/bios", "flash/nic", "activate/host-reboot#1", "verify/bios", "verify/nic"]
    assert hp(p, "h1").resets.host_reboots == 1
    execute(p, ws, inv)


def test_a_bmc_without_onreset_gets_immediate_host_updates() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], IMAGES)
    inv = inventory(inv_host("h1", comp("bios", "1.0"), apply_times=("Immediate",)))
    step = plan(ws, inv, state()).steps[0]
    assert (step.id, step.apply_time) == ("h1/flash/bios", "Immediate")


def test_activate_only_never_reflashes_and_plans_the_reset() -> None:
    ws = workspace([host("h1")], [baseline("b", *BIOS_NIC_CPLD)], IMAGES)
    inv = inventory(inv_host("h1", comp("bios", "1.0"), comp("nic", "22.0"), comp("cpld", "1.1")))
    st = state({"h1": {"bios": ComponentRecord("2.0", "pending-activation", activation="host-reboot")}})
    p = plan(ws, inv, st)
    (bios,) = [c for c in hp(p, "h1").changes if c.key == "bios"]
    assert (bios.action.value, bios.reason.value, bios.hops) == ("activate-only", "pending-activation", ())
    assert ids(p) == ["activate/host-reboot#1", "verify/bios"]
    assert p.steps[0].activates == ("h1/pending/bios",)
    assert p.summary.updates == 1 and p.applyable


def test_activation_defaults_and_overrides() -> None:
    assert [activation_kind(k, "dell", None) for k in ("bmc", "bios", "nic", "cpld", "psu", "gpu", "widget")] == \
        ["bmc-reset", "host-reboot", "host-reboot", "ac-cycle", "host-reboot", "host-reboot", "host-reboot"]
    assert activation_kind("psu", "hpe", None) == "none"
    assert activation_kind("nic", "dell", image("nic", "1", activation="ac-cycle")) == "ac-cycle"
    assert apply_time("bios", "host-reboot", None, Capabilities(apply_times=("OnReset",))) == "OnReset"
    assert apply_time("bios", "host-reboot", image("bios", "1", apply_times=("Immediate",)), None) == "Immediate"
    assert apply_time("bmc", "bmc-reset", None, None) == "Immediate"
    assert COVERS["ac-cycle"] >= COVERS["host-reboot"] | COVERS["bmc-reset"]
