"""Warnings of `hwfw check` (--strict makes them errors) and the small pieces behind the checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwfw.compliance.baselines import _instance, lower_bound
from hwfw.compliance.checks import policy_applies
from hwfw.compliance.findings import RULES, Finding, rule
from hwfw.compliance.sarif import _artifact
from hwfw.compliance.scan import _scan_lines
from hwfw.config import load_workspace
from hwfw.config.model import ComponentTarget
from hwfw.versions import parse, parse_constraint
from tests.compliance.support import Expect, assert_everywhere, assert_exit_everywhere, check_all_formats, hwfw
from tests.helpers import edit

CRITICAL_IMAGE = """  - id: dell-r650-bios-1.11.0
    description: PowerEdge R650 BIOS, fixes CVE-2025-0001
    vendor: dell
    component: bios
    version: "1.11.0"
    models: ["PowerEdge R650"]
    source: images/dell-bios-1.11.0.bin
    sha256: 0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7
    critical: true
    activation: host-reboot

"""


def test_a_baseline_left_behind_a_critical_image_warns_and_fails_under_strict(
        lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(lab_copy / "repository.yaml", "  - id: dell-r750-nic-22.41.1000",
         CRITICAL_IMAGE + "  - id: dell-r750-nic-22.41.1000")
    monkeypatch.chdir(tmp_path)
    expected = Expect.at("critical-left-behind", lab_copy, "baselines.yaml", '"1.10.2", image: dell-r650-bios',
                         "baseline 'dell-r650' pins bios 1.10.2, below critical image 'dell-r650-bios-1.11.0' "
                         "(1.11.0): PowerEdge R650 BIOS, fixes CVE-2025-0001", severity="warning")
    runs = check_all_formats(lab_copy)
    assert_exit_everywhere(runs, 0)
    assert_everywhere(runs, lab_copy, tmp_path, expected)
    strict = check_all_formats(lab_copy, "--strict")
    assert_exit_everywhere(strict, 1)
    assert_everywhere(strict, lab_copy, tmp_path, Expect(**{**expected.__dict__, "severity": "error"}))
    # The R750 baseline is for another model: not reported.
    assert "dell-r750" not in runs["text"].stdout


def test_a_component_missing_from_its_sequence_warns(lab_copy: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    edit(lab_copy / "sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]",
         "dell: [bios, raid, drive, psu, cpld, bmc]")
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy)
    assert_exit_everywhere(runs, 0)
    for baseline, needle in (("dell-r750", "nic: {version: \"22.41.1000\", image: dell-r750"),
                             ("dell-r650", "nic: {version: \"22.41.1000\", image: dell-r650")):
        assert_everywhere(runs, lab_copy, tmp_path, Expect.at(
            "sequence-coverage", lab_copy, "baselines.yaml", needle,
            f"baseline {baseline!r} declares nic but update sequence 'dell' (bios, raid, drive, psu, cpld, bmc) "
            "does not list it", severity="warning"))


def test_the_fleet_file_and_references_are_not_secrets(lab_copy: Path) -> None:
    # fleet.yaml holds the simulated BMCs' passwords (like the loader, check skips it).
    assert "password: password" in (lab_copy / "fleet.yaml").read_text()
    (lab_copy / "ci.yml").write_text("env:\n  password: ${BMC_PASSWORD}\n  token: $TOKEN\n"
                                     "  api_key: '{{ vault_key }}'\n")
    run = hwfw("check", str(lab_copy), "--format", "json")
    assert run.code == 0, run.stdout
    assert json.loads(run.stdout)["findings"] == []


def test_unparseable_yaml_is_still_scanned_line_by_line(lab_copy: Path) -> None:
    (lab_copy / "chart.yaml").write_text("{{- if .Values.bmc }}\nbmc:\n  password: hunter2\n{{- end }}\n")
    doc = json.loads(hwfw("check", str(lab_copy), "--format", "json").stdout)
    assert [(f["rule"], f["file"], f["line"], f["column"]) for f in doc["findings"]] == \
        [("literal-secret", "chart.yaml", 3, 3)]
    assert _scan_lines("x.yaml", "a:\n  secret: |\n    multi\n  - passwd: x\n")[0].location.line == 4


def test_policy_fast_path_agrees_with_the_policy(lab_copy: Path) -> None:
    from hwfw.repository.policy import policy_problems

    ws = load_workspace(lab_copy)
    assert not policy_applies(ws)
    assert [p for e in ws.repository.entries for p in policy_problems(e, ws)] == []


@pytest.mark.parametrize(("text", "low"), [(">=6.10", "6.10"), (">=2.3,<3", "2.3"), ("==7.*", "7"),
                                           ("7.00 - 7.99", "7.00"), ("<5", None), (">5", None)])
def test_lower_bound(text: str, low: str | None) -> None:
    bound = lower_bound(parse_constraint(text))
    assert (bound == parse(low)) if low else bound is None


@pytest.mark.parametrize(("match", "instance"), [(None, "nic"), ("NIC.Integrated.*", "NIC.Integrated.1"),
                                                 ("NIC.Slot.[12]-?", "NIC.Slot.1-1"), ("[!0]x", "~x")])
def test_synthetic_instances_match_their_target(match: str | None, instance: str) -> None:
    assert _instance(ComponentTarget(id="nic", kind="nic", version="1", match=match)) == instance


def test_every_rule_has_a_check_and_words(tmp_path: Path) -> None:
    for r in RULES.values():
        assert r.summary.endswith(".") and r.help and r.level in ("error", "warning")
    assert rule("some-future-loader-code").check == "validate"
    with pytest.raises(ValueError):
        Finding("unknown-key", "fatal", "x")


def test_sarif_artifacts_outside_the_source_root_are_absolute(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    assert _artifact("baselines.yaml", root, root) == {"uri": "baselines.yaml", "uriBaseId": "%SRCROOT%"}
    shipped = tmp_path / "site-packages" / "configs" / "compatibility_matrix.yaml"
    assert _artifact(str(shipped), root, root) == {"uri": shipped.as_uri()}
