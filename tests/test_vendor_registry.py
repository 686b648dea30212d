"""The vendor registry (hwfw/vendor_registry.py) is the one source of vendor facts.

Every vendor it names has an inventory adapter, an apply driver and a simulator
profile; the simulator's own list, the JSON Schemas and the CLI choices name the same
vendors; the planner's vendor facts come from the records.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import click
import pytest

from hwfw.apply.drivers import RedfishDriver, driver_class_for
from hwfw.config.model import ACTIVATIONS, COMPONENT_KINDS
from hwfw.plan import activation, estimate
from hwfw.sim.profiles import SimProfile, profiles, service_class
from hwfw.sim.service.base import BmcService
from hwfw.vendor_registry import DEFAULT_VENDOR, VENDOR_NAMES, VENDORS, Detection, record_for, vendor_for_iana
from hwfw.vendors import adapter_class, adapter_named
from hwfw.vendors.base import StandardAdapter
from tests.helpers import REPO_ROOT

RECORDS = {r.name: r for r in VENDORS}


# --------------------------------------------------------------------------- the records


def test_records_are_well_formed() -> None:
    assert len(RECORDS) == len(VENDORS), "duplicate vendor names"
    assert all(name.isidentifier() and name == name.lower() for name in RECORDS)
    assert DEFAULT_VENDOR in RECORDS and RECORDS[DEFAULT_VENDOR].detection == Detection()
    numbers = [n for r in VENDORS for n in r.iana_ids]
    assert len(numbers) == len(set(numbers)), "an IANA number names two vendors"
    for r in VENDORS:
        assert set(r.flash_seconds) <= set(COMPONENT_KINDS), r.name
        assert set(r.activation) <= set(COMPONENT_KINDS) and set(r.activation.values()) <= set(ACTIVATIONS), r.name
        assert set(r.reset_seconds) <= set(activation.RESET_KINDS), r.name
        assert r.no_previous_image <= set(COMPONENT_KINDS), r.name
        assert all(s > 0 for s in (*r.flash_seconds.values(), *r.reset_seconds.values())), r.name


def test_every_vendor_has_an_adapter_a_driver_and_a_simulator_profile() -> None:
    for r in VENDORS:
        adapter = adapter_class(r)
        assert issubclass(adapter, StandardAdapter) and adapter.name == r.name, r.name
        assert adapter_named(r.name).name == r.name
        driver = driver_class_for(r.name)
        assert issubclass(driver, RedfishDriver) and driver.vendor == r.name, r.name
        assert (REPO_ROOT / "hwfw" / "apply" / "drivers" / f"{r.name}.py").is_file(), r.name
        service = service_class(r.name)
        assert issubclass(service, BmcService) and service.VENDOR == r.name, r.name


def test_an_unknown_vendor_gets_the_generic_driver() -> None:
    assert driver_class_for("no-such-vendor") is driver_class_for(DEFAULT_VENDOR)


# --------------------------------------------------------------------------- the copies


def test_the_simulator_lists_the_same_vendors() -> None:
    assert list(profiles()) == list(VENDOR_NAMES)


def test_the_simulator_lists_its_profile_modules() -> None:
    """A simulator profile is its module: every module of hwfw/sim/profiles that defines a
    PROFILE is listed, under its module's name, alphabetically with the fallback last."""
    package = REPO_ROOT / "hwfw" / "sim" / "profiles"
    modules = sorted(p.stem for p in package.glob("*.py") if "\nPROFILE = SimProfile(" in p.read_text())
    listed = profiles()
    assert sorted(listed) == modules and len(modules) >= 4
    assert all(isinstance(p, SimProfile) and p.name == name for name, p in listed.items())
    assert [p.name for p in listed.values() if p.fallback] == [list(listed)[-1]] == [DEFAULT_VENDOR]
    assert list(listed)[:-1] == sorted(list(listed)[:-1])


def test_one_iana_table_the_simulator_agrees_with() -> None:
    for name, profile in profiles().items():
        manufacturer = profile.ipmi_ids[0]
        if manufacturer:
            assert manufacturer in RECORDS[name].iana_ids, name
            assert vendor_for_iana(manufacturer) == name
        else:
            assert not RECORDS[name].iana_ids, name
    assert vendor_for_iana(0) is None


def _vendor_lists(node: Any, path: str = "") -> list[tuple[str, list[str]]]:
    """(JSON path, names) of every `vendor` enum and per-vendor key list in a schema."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "vendor" and isinstance(value, dict) and "enum" in value:
                found.append((here, value["enum"]))
            elif key == "vendors" and isinstance(value, dict) and "properties" in value:
                found.append((here + "/properties", list(value["properties"])))
            else:
                found += _vendor_lists(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _vendor_lists(value, f"{path}/{i}")
    return found


def test_schemas_list_the_registry_vendors() -> None:
    """JSON Schema files cannot import Python: their vendor lists are copies, kept equal here."""
    seen, wrong = [], []
    for path in sorted((REPO_ROOT / "schemas").glob("*.schema.json")):
        doc = json.loads(path.read_text())
        for where, names in _vendor_lists(doc):
            seen.append(f"{path.name}{where}")
            if names != list(VENDOR_NAMES):
                wrong.append(f"schemas/{path.name} {where}: {names}, registry: {list(VENDOR_NAMES)}")
        if path.name == "fleet.schema.json":
            profile_enum = doc["$defs"]["host"]["properties"]["profile"]["enum"]
            seen.append(f"{path.name} profile")
            if profile_enum != list(profiles()):
                wrong.append(f"schemas/{path.name} /$defs/host/properties/profile: {profile_enum}, "
                             f"simulator: {list(profiles())}")
    assert len(seen) >= 8, seen  # baselines, inventory, repository, 3x compatibility, sequences, fleet
    assert not wrong, "\n".join(wrong)


def _choices(command: click.Command, option: str) -> list[str]:
    (param,) = [p for p in command.params if p.name == option]
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_cli_choices_come_from_the_lists() -> None:
    from hwfw.cli.repo import repo
    from hwfw.cli.sim import sim

    assert isinstance(repo, click.Group) and isinstance(sim, click.Group)
    assert _choices(repo.commands["add"], "vendor") == list(VENDOR_NAMES)
    assert _choices(sim.commands["make-image"], "vendor") == list(profiles())


# --------------------------------------------------------------------------- the planner asks the records


def test_the_planner_names_no_vendor() -> None:
    """Vendor facts reach the planner through records: no vendor name in hwfw/plan."""
    found = []
    for path in sorted((REPO_ROOT / "hwfw" / "plan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in RECORDS:
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_planner_facts_follow_the_record(name: str) -> None:
    r = RECORDS[name]
    for kind in COMPONENT_KINDS:
        assert activation.activation_kind(kind, name, None) == r.activation.get(
            kind, activation.DEFAULT_ACTIVATION.get(kind, activation.FALLBACK_ACTIVATION))
        assert estimate.flash_seconds(name, kind, None) == r.flash_seconds.get(
            kind, estimate.FLASH_SECONDS.get(kind, estimate.DEFAULT_FLASH_SECONDS))
    for kind in activation.RESET_KINDS:
        assert estimate.reset_seconds(name, kind, False) == r.reset_seconds.get(kind, estimate.RESET_SECONDS[kind])


def test_an_unknown_vendor_gets_the_defaults() -> None:
    assert record_for("no-such-vendor") is None and record_for(None) is None
    assert activation.activation_kind("psu", "no-such-vendor", None) == activation.DEFAULT_ACTIVATION["psu"]
    assert estimate.flash_seconds(None, "bmc", None) == estimate.FLASH_SECONDS["bmc"]
