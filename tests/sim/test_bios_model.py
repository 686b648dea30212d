"""The simulated BIOS model in-process: catalogs are self-consistent, and applying any
change set keeps the BIOS's invariants (property tests)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.sim.bios.catalogs import CATALOGS, GENERIC, catalog_for
from hwfw.sim.bios.registry import BOOLEAN, ENUM, INTEGER, PASSWORD, STRING, Registry, at_least
from hwfw.sim.bios.state import BiosState
from hwfw.sim.profiles import profiles

PLATFORMS = {"dell": [("PowerEdge R750", "1.10.2"), ("PowerEdge R750", "1.12.1"), ("PowerEdge R650", "1.9.4")],
             "hpe": [("ProLiant DL380 Gen10", "U30 v2.68 (07/14/2022)"),
                     ("ProLiant DL380 Gen10", "U30 v2.80 (10/03/2023)"),
                     ("ProLiant DL360 Gen10 Plus", "U46 v1.50 (03/01/2023)")],
             "supermicro": [("SYS-120U-TNR", "1.4"), ("SYS-221H-TNR", "2.1")],
             "generic": [("Contoso OpenServer 2", "1.0.5"), ("Contoso OpenServer 2", "1.1.0")]}
FACTS = {"model": "M", "bios_version": "1.0", "serial": "S1"}
REGISTRIES = [Registry(CATALOGS[vendor], model, version) for vendor, platforms in PLATFORMS.items()
              for model, version in platforms]


def test_every_profile_has_its_catalog_and_a_new_one_serves_the_generic_catalog() -> None:
    assert {name: catalog_for(name) for name in profiles()} == CATALOGS
    assert catalog_for("lenovo") is GENERIC


@pytest.mark.parametrize("registry", REGISTRIES, ids=lambda r: f"{r.catalog.vendor}-{r.bios_version}")
def test_every_default_is_valid_and_every_dependency_names_known_attributes(registry: Registry) -> None:
    for attr in registry.attrs.values():
        if attr.read_only or attr.reports or attr.type == PASSWORD:
            continue
        assert registry.problem(attr.name, attr.default) is None, attr.name
    for dep in registry.dependencies:
        assert dep.target in registry.attrs and dep.source in registry.attrs
    if registry.profile is not None:
        for values in registry.profile.values.values():
            for name, value in values.items():
                assert registry.problem(name, value) is None
    body = registry.body("/r", registry.current({}, FACTS))
    assert len(body["RegistryEntries"]["Attributes"]) == len(registry.attrs)
    assert body["RegistryVersion"].count(".") == 2


def test_attributes_appear_with_the_bios_version_they_need() -> None:
    old, new = (Registry(CATALOGS["hpe"], "ProLiant DL380 Gen10", v)
                for v in ("U30 v2.68 (07/14/2022)", "U30 v2.80 (10/03/2023)"))
    assert set(new.attrs) - set(old.attrs) == {"MicrosoftSecuredCoreSupport"}
    other_family = Registry(CATALOGS["hpe"], "ProLiant DL380 Gen10", "U46 v9.99 (01/01/2030)")
    assert "MicrosoftSecuredCoreSupport" not in other_family.attrs  # versions of another ROM family never compare
    assert at_least("1.10.2", "1.10.0") and not at_least("1.9.4", "1.10.0") and not at_least("U30 v2.80", "1.0")


def candidate_values(registry: Registry) -> st.SearchStrategy[dict[str, Any]]:
    names = sorted(registry.attrs) + ["NoSuchKnob", "UefiOptimizedBoot"]
    values: st.SearchStrategy[Any] = st.one_of(
        st.sampled_from(sorted({v for a in registry.attrs.values() for v in a.values})),
        st.booleans(), st.integers(-5, 700), st.text(max_size=40))
    return st.dictionaries(st.sampled_from(names), values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), index=st.integers(0, len(REGISTRIES) - 1))
def test_applying_any_change_set_keeps_the_bios_consistent(data: st.DataObject, index: int) -> None:
    registry = REGISTRIES[index]
    state = BiosState()
    for round_ in range(2):
        pending = data.draw(candidate_values(registry), label=f"pending {round_}")
        before = registry.current(state.stored, FACTS)
        state.stage(pending)
        outcome = state.apply(registry, before)
        after = registry.current(state.stored, FACTS)
        assert state.pending == {}
        assert set(outcome.applied) | {r.name for r in outcome.rejected} == set(pending)
        assert not set(outcome.applied) & {r.name for r in outcome.rejected}
        for name, value in outcome.applied.items():  # an applied value reads back as sent
            if registry.attrs[name].type != PASSWORD:
                assert after[name] == value
        for name, value in after.items():  # the BIOS never holds a value its registry refuses
            attr = registry.attrs[name]
            if attr.reports is None and attr.type in (ENUM, STRING, INTEGER, BOOLEAN) and not attr.read_only:
                assert registry.problem(name, value) is None, (name, value)
            if attr.read_only:
                assert after[name] == before[name]
        if registry.profile is not None:  # a non-custom profile's values are in force
            for name, value in registry.profile.forced(after).items():
                assert after.get(name, value) == value
