"""BIOS settings declared in baselines: types, precedence of overrides, conflicts at both lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.config import check_workspace, load_workspace
from tests.helpers import edit, line_col_of


def _baseline(ws, name):  # type: ignore[no-untyped-def]
    return next(b for b in ws.baselines if b.name == name)


def test_lab_declares_typed_settings_per_baseline(lab_copy: Path) -> None:
    ws = load_workspace(lab_copy)
    r750 = _baseline(ws, "dell-r750")
    values = {v.name: v.value for v in r750.bios_settings}
    assert values["SysProfile"] == "Custom" and values["PcieAspmL1"] == "Enabled"
    assert _baseline(ws, "dell-r650").bios_settings[1].value == 120  # an integer stays an integer
    smc = {v.name: v.value for v in _baseline(ws, "smc-x12").bios_settings}
    assert smc["QuietBoot_0027"] is False
    assert r750.bios_settings[0].path == ("baselines", "dell-r750", "bios_settings", "SysProfile")


def test_precedence_baseline_then_labels_then_hosts(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", "      - hosts: [lab-dell-02]\n        bios_settings: {AssetTag: rack-r01-u12}",
         "      - hosts: [lab-dell-02]\n        bios_settings: {AssetTag: rack-r01-u12, LogicalProc: Disabled}\n"
         "      - labels: {role: compute}\n        bios_settings: {LogicalProc: Enabled, ProcCStates: Enabled}")
    ws = load_workspace(lab_copy)
    r750 = _baseline(ws, "dell-r750")
    one, two = ws.host("lab-dell-01"), ws.host("lab-dell-02")
    assert one is not None and two is not None
    s1 = {k: (v.value, v.origin) for k, v in r750.settings_for(one).items()}
    s2 = {k: (v.value, v.origin) for k, v in r750.settings_for(two).items()}
    assert s1["ProcCStates"] == ("Enabled", "labels role=compute")      # labels beat the baseline
    assert s1["SysProfile"] == ("Custom", "baseline")
    assert "AssetTag" not in s1
    assert s2["LogicalProc"] == ("Disabled", "hosts lab-dell-02")       # hosts beat labels
    assert s2["AssetTag"] == ("rack-r01-u12", "hosts lab-dell-02")
    # the order of the entries in the file does not matter, only how specific they are
    assert s2["ProcCStates"] == ("Enabled", "labels role=compute")


def test_a_conflict_is_an_error_at_both_lines(lab_copy: Path) -> None:
    path = lab_copy / "baselines.yaml"
    edit(path, "      - labels: {role: edge}\n        bios_settings: {AdminName: edge-ops}",
         "      - labels: {role: edge}\n        bios_settings: {AdminName: edge-ops}\n"
         "      - labels: {rack: r04}\n        bios_settings: {AdminName: rack4-ops}")
    ws, problems = check_workspace(lab_copy)
    assert ws is None
    conflicts = [p for p in problems if p.code == "conflicting-setting"]
    assert len(conflicts) == 2
    first = line_col_of(path, "edge-ops}")
    second = line_col_of(path, "rack4-ops}")
    assert {(p.location.line, p.location.column) for p in conflicts} == {first, second}
    for p in conflicts:
        assert "lab-gen-01" in p.message and "'edge-ops'" in p.message and "'rack4-ops'" in p.message
        other = [loc.line for loc, _ in p.related]
        assert other == [second[0] if p.location.line == first[0] else first[0]]


def test_same_value_at_one_level_is_no_conflict(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", "      - labels: {role: edge}\n        bios_settings: {AdminName: edge-ops}",
         "      - labels: {role: edge}\n        bios_settings: {AdminName: edge-ops}\n"
         "      - labels: {rack: r04}\n        bios_settings: {AdminName: edge-ops}")
    load_workspace(lab_copy)


@pytest.mark.parametrize("value, needle", [
    ("1.5", "NumaNodes"), ("[1, 2]", "NumaNodes"), ("{a: 1}", "NumaNodes"), ("null", "NumaNodes")])
def test_values_are_scalars_of_the_registry_types(lab_copy: Path, value: str, needle: str) -> None:
    path = lab_copy / "baselines.yaml"
    edit(path, "      NumaNodes: 4", f"      NumaNodes: {value}")
    ws, problems = check_workspace(lab_copy)
    assert ws is None
    line, _ = line_col_of(path, "NumaNodes:")
    assert any(p.location and p.location.line == line for p in problems), [p.render() for p in problems]


def test_attribute_names_follow_the_dmtf_pattern(lab_copy: Path) -> None:
    path = lab_copy / "baselines.yaml"
    edit(path, "      NumaNodes: 4", "      Numa-Nodes: 4")
    ws, problems = check_workspace(lab_copy)
    assert ws is None
    line, _ = line_col_of(path, "Numa-Nodes")
    assert any(p.location and p.location.line == line for p in problems)


def test_a_baseline_may_declare_only_settings_but_not_nothing(lab_copy: Path) -> None:
    path = lab_copy / "baselines.yaml"
    edit(path, "  smc-x13:\n    select: {vendor: supermicro, models: [\"SYS-221H-TNR\"]}\n    components:\n"
               "      bmc: {version: \"01.03.12\", image: smc-sys-221h-tnr-bmc-01.03.12}\n"
               "      bios: {version: \"2.1\", image: smc-sys-221h-tnr-bios-2.1}\n",
         "  smc-x13:\n    select: {vendor: supermicro, models: [\"SYS-221H-TNR\"]}\n")
    ws = load_workspace(lab_copy)
    assert _baseline(ws, "smc-x13").components == ()
    edit(path, "    bios_settings:\n      SRIOVSupport_0082: Disabled\n", "")
    ws, problems = check_workspace(lab_copy)
    assert ws is None and problems


def test_an_override_must_select_something(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", "      - labels: {role: edge}\n", "      - {}\n")
    ws, problems = check_workspace(lab_copy)
    assert ws is None


def test_a_literal_password_attribute_is_a_secret(lab_copy: Path) -> None:
    path = lab_copy / "baselines.yaml"
    edit(path, "      NumaNodes: 4", "      NumaNodes: 4\n      AdminPassword: hunter22")
    ws, problems = check_workspace(lab_copy)
    assert ws is None
    assert [p.code for p in problems] == ["literal-secret"]
    assert "hunter22" not in problems[0].render()


def test_watchdog_setting(lab_copy: Path) -> None:
    ws = load_workspace(lab_copy)
    assert ws.settings.watchdog.enabled is False  # off by default
    t = ws.settings.timing
    assert ws.settings.watchdog.countdown(t) == pytest.approx((1.5 + 6) * 200)
    edit(lab_copy / "hwfw.yaml", "  simulator:\n", "  watchdog: true\n  simulator:\n")
    assert load_workspace(lab_copy).settings.watchdog.enabled
    edit(lab_copy / "hwfw.yaml", "  watchdog: true\n", "  watchdog: {action: hard-reset, timeout: 3s}\n")
    wd = load_workspace(lab_copy).settings.watchdog
    assert (wd.enabled, wd.action, wd.countdown(t)) == (True, "hard-reset", pytest.approx(600.0))
    edit(lab_copy / "hwfw.yaml", "  watchdog: {action: hard-reset, timeout: 3s}\n", "  watchdog: {action: explode}\n")
    ws2, problems = check_workspace(lab_copy)
    assert ws2 is None and problems
