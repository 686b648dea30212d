"""BIOS settings in the plan: one change per declared attribute, one configure step, reboot sharing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.config.model import SettingValue
from hwfw.inventory.bios import AttributeDef, AttributeRegistry, BiosSettings
from hwfw.inventory.model import HostInventory, Inventory
from hwfw.plan import Plan
from hwfw.plan import plan as make_plan
from tests.plan.builders import MODEL, baseline, comp, host, hp, image, inv_host, state, target, workspace

ENUM = ("Enabled", "Disabled")


def attr(name: str, **kw: Any) -> AttributeDef:
    return AttributeDef(name=name, type=kw.pop("type", "Enumeration"), values=kw.pop("values", ENUM), **kw)


def registry(version: str, *attrs: AttributeDef) -> AttributeRegistry:
    return AttributeRegistry(vendor="dell", model=MODEL, bios_version=version, registry_id="BiosAttributeRegistry.v1",
                             attributes={a.name: a for a in attrs})


COMMON = (attr("ProcTurboMode"), attr("LogicalProc"), attr("SysProfile", values=("Custom", "PerfOptimized")),
          attr("AcPwrRcvryUserDelay", type="Integer", values=(), lower=60, upper=600),
          attr("SystemModelName", type="String", values=(), read_only=True), attr("SetupPassword", type="Password",
                                                                                   values=()))
OLD = registry("1.10.2", *COMMON)
NEW = registry("1.12.1", *COMMON, attr("PcieAspmL1"))
CURRENT = {"ProcTurboMode": "Enabled", "LogicalProc": "Enabled", "SysProfile": "PerfOptimized",
           "AcPwrRcvryUserDelay": 60, "SystemModelName": MODEL, "SetupPassword": None}


def values(**kw: Any) -> tuple[SettingValue, ...]:
    return tuple(SettingValue(k, v, "baseline", ("baselines", "b", "bios_settings", k)) for k, v in kw.items())


def bios_host(name: str, bios_version: str, reg: AttributeRegistry, current: dict[str, Any] | None = None,
              **kw: Any) -> HostInventory:
    inv = inv_host(name, comp("bios", bios_version), comp("nic", "22.31.6", "NIC.1"), **kw)
    return replace(inv, bios=BiosSettings(attributes=dict(current or CURRENT), registry=reg.key))


def plan_of(settings: tuple[SettingValue, ...], *, bios_target: str | None = "1.12.1", running: str = "1.10.2",
            registries: tuple[AttributeRegistry, ...] = (OLD, NEW), bios_apply: tuple[str, ...] = (),
            nic: bool = False, current: dict[str, Any] | None = None) -> Plan:
    targets = []
    repo = []
    if bios_target:
        targets.append(target("bios", bios_target))
        repo.append(image("bios", bios_target, apply_times=bios_apply))
    if nic:
        targets.append(target("nic", "22.41.1000"))
        repo.append(image("nic", "22.41.1000"))
    b = replace(baseline("b", *targets), bios_settings=settings)
    reg = next(r for r in registries if r.bios_version == running)
    ws = workspace([host("h1")], [b], repo)
    inv = Inventory(hosts={"h1": bios_host("h1", running, reg, current)},
                    registries={r.key: r for r in registries})
    return make_plan(ws, inv, state())


def settings_of(p: Plan) -> dict[str, Any]:
    return {s.attribute: s for s in hp(p).settings}


def test_equal_is_noop_and_different_is_set_in_one_configure_step() -> None:
    p = plan_of(values(LogicalProc="Enabled", ProcTurboMode="Disabled", SysProfile="Custom"), bios_target=None,
                running="1.10.2")
    s = settings_of(p)
    assert (s["LogicalProc"].action, s["LogicalProc"].reason.value) == ("noop", "as-declared")
    assert (s["ProcTurboMode"].action, s["ProcTurboMode"].current, s["ProcTurboMode"].target) == \
        ("set", "Enabled", "Disabled")
    configure = [x for x in p.steps if x.kind == "configure"]
    assert [x.id for x in configure] == ["h1/configure/bios-settings"]
    assert configure[0].to_version == "ProcTurboMode=Disabled, SysProfile=Custom"
    assert hp(p).resets.host_reboots == 1 and p.summary.settings == 2 and p.has_changes
    verify = p.graph.nodes["h1/verify/bios-settings"]
    assert verify["kind"] == "verify"


def test_nothing_to_set_means_no_step() -> None:
    p = plan_of(values(LogicalProc="Enabled"), bios_target=None)
    assert p.steps == () and not p.errored


def test_refusals_name_the_problem_with_a_suggestion() -> None:
    p = plan_of(values(ProcTurboMod="Enabled", AcPwrRcvryUserDelay="120", SystemModelName="X",
                       SysProfile="Fast", SetupPassword="x", LogicalProc=1), bios_target=None)
    s = settings_of(p)
    assert s["ProcTurboMod"].refused and s["ProcTurboMod"].reason.value == "unknown-attribute"
    assert "did you mean 'ProcTurboMode'" in s["ProcTurboMod"].message
    assert s["AcPwrRcvryUserDelay"].reason.value == "wrong-type"
    assert s["SystemModelName"].reason.value == "read-only"
    assert s["SysProfile"].reason.value == "not-allowed" and "Custom, PerfOptimized" in s["SysProfile"].message
    assert s["SetupPassword"].reason.value == "password"
    assert s["LogicalProc"].reason.value == "wrong-type"
    assert p.errored and not p.steps and p.summary.refused == 6
    assert any("bios-settings ProcTurboMod" in e for e in p.errors())


def test_attribute_only_the_target_bios_has_waits_for_it_and_says_why() -> None:
    p = plan_of(values(ProcTurboMode="Disabled", PcieAspmL1="Enabled"))
    s = settings_of(p)["PcieAspmL1"]
    assert (s.action, s.reason.value, s.needs_bios, s.current) == ("set", "needs-target-bios", "1.12.1", None)
    assert "only BIOS 1.12.1 has it" in s.message
    assert "PcieAspmL1 exists only from BIOS 1.12.1 on" in settings_of(p)["ProcTurboMode"].message
    g = p.graph
    assert nx.has_path(g, "h1/verify/bios", "h1/configure/bios-settings")   # the new BIOS runs first
    assert hp(p).resets.host_reboots == 2
    reboots = [x for x in p.steps if x.kind == "activate"]
    assert [x.activates for x in reboots] == [("h1/flash/bios",), ("h1/configure/bios-settings",)]


def test_safe_settings_share_the_bios_reboot() -> None:
    p = plan_of(values(ProcTurboMode="Disabled"), nic=True)
    assert hp(p).resets.host_reboots == 1
    reboot = next(x for x in p.steps if x.kind == "activate")
    assert set(reboot.activates) == {"h1/flash/bios", "h1/flash/nic:NIC.1", "h1/configure/bios-settings"}


def test_unknown_target_registry_is_not_proven_safe() -> None:
    p = plan_of(values(ProcTurboMode="Disabled"), registries=(OLD,))
    assert hp(p).resets.host_reboots == 2
    assert "attribute registry of BIOS 1.12.1 is unknown" in settings_of(p)["ProcTurboMode"].message
    # an attribute neither registry is known to have may come with the new BIOS: planned after it
    q = plan_of(values(PcieAspmL1="Enabled"), registries=(OLD,))
    assert settings_of(q)["PcieAspmL1"].reason.value == "needs-target-bios" and not q.errored


def test_known_by_neither_or_removed_by_the_target_is_refused() -> None:
    p = plan_of(values(Nonexistent="Enabled"))
    assert settings_of(p)["Nonexistent"].reason.value == "unknown-attribute" and p.errored
    gone = registry("1.12.1", *[a for a in COMMON if a.name != "LogicalProc"])
    q = plan_of(values(LogicalProc="Disabled"), registries=(OLD, gone))
    assert settings_of(q)["LogicalProc"].reason.value == "removed-by-target" and q.errored
    # not changing the BIOS: an attribute the running BIOS lacks is refused
    r = plan_of(values(PcieAspmL1="Enabled"), bios_target=None)
    assert settings_of(r)["PcieAspmL1"].reason.value == "unknown-attribute"


def test_immediate_bios_flash_carries_safe_settings_through_its_own_reboot() -> None:
    p = plan_of(values(ProcTurboMode="Disabled"), bios_apply=("Immediate",))
    ids = [x.id for x in p.steps if x.kind in ("flash", "configure")]
    assert ids.index("h1/configure/bios-settings") < ids.index("h1/flash/bios")
    assert hp(p).resets.host_reboots == 1
    # ... but settings the new BIOS must check come after it, with a reboot of their own
    q = plan_of(values(PcieAspmL1="Enabled"), bios_apply=("Immediate",))
    assert hp(q).resets.host_reboots == 2


def test_settings_without_a_read_are_refused() -> None:
    b = replace(baseline("b", target("bios", "1.10.2")), bios_settings=values(LogicalProc="Enabled"))
    ws = workspace([host("h1")], [b], [image("bios", "1.10.2")])
    p = make_plan(ws, Inventory(hosts={"h1": inv_host("h1", comp("bios", "1.10.2"))}), state())
    s = settings_of(p)["LogicalProc"]
    assert s.refused and s.reason.value == "unreadable" and p.errored


def test_plan_json_round_trip_keeps_the_settings() -> None:
    p = plan_of(values(ProcTurboMode="Disabled", AcPwrRcvryUserDelay=120, PcieAspmL1="Enabled"))
    doc = p.to_json("2025-01-01T00:00:00Z", {}, "test")
    back = Plan.from_json(doc)
    assert back.hosts[0].settings == hp(p).settings
    assert back.hosts[0].settings_to_apply == {"ProcTurboMode": "Disabled", "AcPwrRcvryUserDelay": 120,
                                               "PcieAspmL1": "Enabled"}
    import json

    import jsonschema

    from hwfw.resources import schema_path
    jsonschema.validate(doc, json.loads(schema_path("plan").read_text()))


def test_staged_by_hwfw_is_no_pending_warning() -> None:
    from hwfw.inventory.model import PreflightFacts

    b = replace(baseline("b", target("bios", "1.10.2")), bios_settings=values(ProcTurboMode="Disabled"))
    ws = workspace([host("h1")], [b], [image("bios", "1.10.2")])
    inv = replace(bios_host("h1", "1.10.2", OLD), preflight=PreflightFacts(power_state="On",
                                                                               pending_bios_settings=True))
    inv = replace(inv, bios=replace(inv.bios, pending={"ProcTurboMode": "Disabled"}))
    inventory = Inventory(hosts={"h1": inv}, registries={OLD.key: OLD})
    foreign = make_plan(ws, inventory, state())
    assert any(f.code == "pending-bios-settings" for f in hp(foreign).findings)
    ours = replace(state(), extra={"bios_settings": {"h1": {"status": "staged",
                                                            "attributes": {"ProcTurboMode": "Disabled"}}}})
    assert not any(f.code == "pending-bios-settings" for f in hp(make_plan(ws, inventory, ours)).findings)


# ---------------------------------------------------------------- properties

names = st.sampled_from(["A", "B", "C", "D", "E"])


@settings(max_examples=150, deadline=None)
@given(running_attrs=st.sets(names), target_attrs=st.sets(names),
       declared=st.dictionaries(names, st.sampled_from(ENUM)), current=st.dictionaries(names, st.sampled_from(ENUM)),
       flash=st.sampled_from([None, "OnReset", "Immediate"]), target_known=st.booleans(), nic=st.booleans())
def test_planning_invariants(running_attrs: set[str], target_attrs: set[str], declared: dict[str, str],
                             current: dict[str, str], flash: str | None, target_known: bool, nic: bool) -> None:
    old = registry("1.10.2", *(attr(n) for n in sorted(running_attrs)))
    new = registry("1.12.1", *(attr(n) for n in sorted(target_attrs)))
    current = {k: v for k, v in current.items() if k in running_attrs}
    p = plan_of(values(**declared), bios_target="1.12.1" if flash else None, current=current,
                registries=(old, new) if target_known else (old,),
                bios_apply=(flash,) if flash else (), nic=nic)
    s = settings_of(p)
    assert set(s) == set(declared)
    for name, change in s.items():
        if flash is None:
            known = name in running_attrs                      # the running BIOS decides alone
        elif target_known:
            known = name in target_attrs                       # the BIOS that will run decides
        else:
            known = True                                       # unknown target: assumed, checked later
        assert change.refused == (not known), (name, change)
        if not change.refused and change.action == "noop":
            assert current.get(name) == declared[name]
    host = hp(p)
    configure = [x for x in p.steps if x.kind == "configure"]
    assert len(configure) == (1 if host.settings_to_apply and not p.errored else 0)
    if not configure:
        return
    g = p.graph
    # every configure step is activated by exactly one host reboot (or AC cycle) after it, then verified
    resets = [n for n in g if configure[0].id in g.nodes[n]["activates"]]
    assert len(resets) == 1 and g.nodes[resets[0]]["activation"] in ("host-reboot", "ac-cycle")
    assert nx.has_path(g, configure[0].id, resets[0]) and g.has_edge(resets[0], "h1/verify/bios-settings")
    needs = any(c.needs_bios for c in host.settings)
    if flash and (needs or not target_known):
        assert nx.has_path(g, "h1/verify/bios", configure[0].id)   # after the new BIOS is active
    # settings add at most one host reboot to what the firmware needs
    firmware_only = plan_of((), bios_target="1.12.1" if flash else None, registries=(old,),
                            bios_apply=(flash,) if flash else (), nic=nic)
    assert host.resets.host_reboots <= hp(firmware_only).resets.host_reboots + 1
    if flash and not needs and target_known:
        assert host.resets.host_reboots == max(1, hp(firmware_only).resets.host_reboots)


def test_a_bmc_that_cannot_reboot_the_host_gets_no_settings_step() -> None:
    from hwfw.inventory.model import Capabilities

    b = replace(baseline("b"), bios_settings=values(ProcTurboMode="Disabled"), components=())
    ws = workspace([host("h1")], [b])
    inv = replace(bios_host("h1", "1.10.2", OLD), capabilities=Capabilities(activations=("bmc-reset",)))
    p = make_plan(ws, Inventory(hosts={"h1": inv}, registries={OLD.key: OLD}), state())
    s = settings_of(p)["ProcTurboMode"]
    assert s.refused and s.reason.value == "no-reboot" and not p.steps
