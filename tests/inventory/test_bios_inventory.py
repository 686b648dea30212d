"""BIOS settings in the inventory: the registry of each BIOS version, read once, kept in the snapshot."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import given
from hypothesis import strategies as st

from hwfw.inventory.bios import AttributeRegistry, SettingsMessage, failures_by_attribute
from hwfw.inventory.collect import CollectStats, collect
from hwfw.inventory.model import Inventory
from hwfw.resources import schema_path
from tests.inventory.test_collect_lab import LAB, resolved, settings
from tests.redfish.simfleet import NoLeakedSessions, SimClock

REGISTRY = {
    "@odata.type": "#AttributeRegistry.v1_3_0.AttributeRegistry", "Id": "BiosAttributeRegistry.v1_0_3",
    "SupportedSystems": [{"ProductName": "PowerEdge R750", "FirmwareVersion": "1.12.1"}],
    "RegistryEntries": {
        "Attributes": [
            {"AttributeName": "SysProfile", "Type": "Enumeration", "ReadOnly": False,
             "Value": [{"ValueName": "Custom"}, {"ValueName": "PerfOptimized", "ValueDisplayName": "Performance"}]},
            {"AttributeName": "AcPwrRcvryUserDelay", "Type": "Integer", "LowerBound": 60, "UpperBound": 600,
             "ScalarIncrement": 10},
            {"AttributeName": "AssetTag", "Type": "String", "MaxLength": 8, "ValueExpression": "^[a-z-]*$"},
            {"AttributeName": "QuietBoot", "Type": "Boolean"},
            {"AttributeName": "SystemServiceTag", "Type": "String", "ReadOnly": True, "IsSystemUniqueProperty": True},
            {"AttributeName": "SetupPassword", "Type": "Password"},
            {"AttributeName": "ProcTurboMode", "Type": "Enumeration",
             "Value": [{"ValueName": "Enabled"}, {"ValueName": "Disabled"}]}],
        "Dependencies": [{"DependencyFor": "ProcTurboMode", "Type": "Map", "Dependency": {
            "MapFrom": [{"MapFromAttribute": "SysProfile", "MapFromProperty": "CurrentValue",
                         "MapFromCondition": "NEQ", "MapFromValue": "Custom"}],
            "MapToAttribute": "ProcTurboMode", "MapToProperty": "ReadOnly", "MapToValue": True}}]}}


def test_registry_from_redfish_checks_declared_values() -> None:
    r = AttributeRegistry.from_redfish(REGISTRY, vendor="dell", model="PowerEdge R750", bios_version=None)
    assert r.key == "dell/PowerEdge R750/1.12.1" and r.registry_id == "BiosAttributeRegistry.v1_0_3"
    ok = {"SysProfile": "Custom", "AcPwrRcvryUserDelay": 120, "AssetTag": "rack-a", "QuietBoot": False}
    assert all(r.problem(k, v) is None for k, v in ok.items())
    bad = {("SysProfil", "Custom"): "bios-unknown-attribute", ("SysProfile", "Fast"): "bios-value-not-allowed",
           ("AcPwrRcvryUserDelay", "120"): "bios-wrong-type", ("AcPwrRcvryUserDelay", 125): "bios-value-not-allowed",
           ("AcPwrRcvryUserDelay", True): "bios-wrong-type", ("AssetTag", "toolongvalue"): "bios-value-not-allowed",
           ("AssetTag", "UPPER"): "bios-value-not-allowed", ("QuietBoot", "false"): "bios-wrong-type",
           ("SystemServiceTag", "X"): "bios-read-only", ("SetupPassword", "x"): "bios-password"}
    for (name, value), rule in bad.items():
        problem = r.problem(name, value)
        assert problem is not None and problem.rule == rule, (name, value, problem)
    assert "did you mean 'SysProfile'" in r.problem("SysProfil", "Custom").expected  # type: ignore[union-attr]
    shown = r.problem("SysProfile", "Performance")
    assert shown is not None and "did you mean 'PerfOptimized' (displayed as 'Performance')" in shown.expected
    assert [d.source for d in r.locks("ProcTurboMode", {"SysProfile": "PerfOptimized"})] == ["SysProfile"]
    assert r.locks("ProcTurboMode", {"SysProfile": "Custom"}) == []
    assert AttributeRegistry.from_json(json.loads(json.dumps(r.to_json()))) == r


@given(st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6), st.booleans()))
def test_a_value_is_either_accepted_or_refused_with_a_rule(value: Any) -> None:
    """Never an exception, whatever YAML hands over; an accepted value has the registry's type."""
    r = AttributeRegistry.from_redfish(REGISTRY, vendor="dell", model="m", bios_version="1")
    for name in ("SysProfile", "AcPwrRcvryUserDelay", "AssetTag", "QuietBoot"):
        problem = r.problem(name, value)
        if problem is None:
            kind = r.attributes[name].type
            assert {"Enumeration": str, "String": str, "Integer": int, "Boolean": bool}[kind] is type(value)


def test_settings_messages_skip_success_and_name_attributes() -> None:
    msgs = (SettingsMessage.from_redfish({"MessageId": "Base.1.4.Success"}),
            SettingsMessage.from_redfish({"MessageId": "Base.1.4.PropertyNotWritable", "Severity": "Warning",
                                          "RelatedProperties": ["#/ProcTurbo"]}),
            SettingsMessage.from_redfish({"MessageId": "Base.1.12.PropertyUnknown",
                                          "RelatedProperties": ["#/Attributes/Foo"]}))
    assert {k: m.message_id for k, m in failures_by_attribute(msgs).items()} == \
        {"ProcTurbo": "Base.1.4.PropertyNotWritable", "Foo": "Base.1.12.PropertyUnknown"}


@pytest.mark.slow
def test_lab_registries_are_read_once_per_bios_version_and_kept_in_the_snapshot(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    stats = CollectStats()
    names = ["lab-dell-01", "lab-dell-02", "lab-hpe-01", "lab-smc-01", "lab-gen-01", "lab-gen-02", "twin-dell-01"]
    fleet = yaml.safe_load(LAB.read_text())
    fleet["hosts"]["twin-dell-01"] = fleet["hosts"]["lab-dell-01"]       # same model and BIOS version

    async def body() -> Inventory:
        async with sim_sessions.fleet(tmp_path, yaml.safe_dump(fleet)) as sim:
            return await collect(resolved(sim, names), settings=settings(tmp_path), clock=SimClock(sim.fleet),
                                 concurrency=7, stats=stats, bios_hosts=set(names) - {"lab-gen-02"})

    inv = asyncio.run(body())
    assert stats.registry_reads == 5   # the twins share one read
    # one registry per vendor/model/BIOS version, shared by the hosts that run it
    assert sorted(inv.registries) == ["dell/PowerEdge R750/1.10.2", "dell/PowerEdge R750/1.12.1",
                                      "generic/Contoso OpenServer 2/1.0.5",
                                      "hpe/ProLiant DL380 Gen10/U30 v2.68 (07/14/2022)", "supermicro/SYS-120U-TNR/1.4"]
    dell = inv.hosts["lab-dell-02"].bios
    assert dell is not None and dell.registry == "dell/PowerEdge R750/1.12.1" and dell.pending == {}
    old = inv.hosts["lab-dell-01"].bios
    assert dell.attributes["PcieAspmL1"] == "Disabled" and old is not None and "PcieAspmL1" not in old.attributes
    assert inv.hosts["twin-dell-01"].bios.registry == old.registry  # type: ignore[union-attr]
    assert "PcieAspmL1" in inv.registries[dell.registry].attributes
    hpe = inv.registries["hpe/ProLiant DL380 Gen10/U30 v2.68 (07/14/2022)"]  # served gzip-encoded
    assert hpe.registry_id == "BiosAttributeRegistryU30.v1_2_68" and "WorkloadProfile" in hpe.attributes
    smc = inv.registries["supermicro/SYS-120U-TNR/1.4"]          # member id differs from the registry id
    assert smc.attributes["QuietBoot_0027"].type == "Boolean"
    assert inv.hosts["lab-gen-02"].bios is None                  # its baseline declares nothing: not read
    doc = json.loads(json.dumps(inv.to_json("2026-01-01T00:00:00Z")))
    jsonschema.Draft202012Validator(json.loads(schema_path("inventory-snapshot").read_text())).validate(doc)
    again = Inventory.from_json(doc)
    assert again.registries == inv.registries and again.hosts["lab-dell-02"] == inv.hosts["lab-dell-02"]
    assert again.hosts["lab-dell-02"].fingerprint() == inv.hosts["lab-dell-02"].fingerprint()
