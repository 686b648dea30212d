"""`hwfw check --inventory SNAPSHOT` checks declared BIOS settings against the snapshot's
attribute registries, offline, each finding at the YAML line of the declaration; and
`hwfw compliance` reports settings drift per baseline beside the firmware."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hwfw.resources import schema_path
from tests.compliance.support import (
    Expect,
    assert_everywhere,
    assert_exit_everywhere,
    check_all_formats,
    hwfw,
    lab_snapshot,
)
from tests.helpers import edit


def _snapshot(lab: Path, path: Path) -> Path:
    path.write_text(json.dumps(lab_snapshot(lab)))
    return path


def test_unknown_attribute_wrong_type_and_read_only_at_their_lines(lab_copy: Path, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    snap = _snapshot(lab_copy, tmp_path / "snap.json")   # taken before the edits: the fleet as it is
    path = lab_copy / "baselines.yaml"
    edit(path, "      ProcCStates: Disabled\n", "      ProcCState: Disabled\n      SystemModelName: rack-x\n")
    edit(path, "      NumaNodes: 4\n", '      NumaNodes: "four"\n')
    edit(path, "      ProcHyperthreading: Enabled\n", "      ProcHyperthreading: Maybe\n")
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy, "--inventory", str(snap))
    assert_exit_everywhere(runs, 1)
    for e in (
        Expect.at("bios-unknown-attribute", lab_copy, "baselines.yaml", "ProcCState:",
                  "BIOS setting ProcCState: neither the running BIOS 1.10.2 nor BIOS 1.12.1 has this attribute",
                  host="lab-dell-01"),
        Expect.at("bios-unknown-attribute", lab_copy, "baselines.yaml", "ProcCState:",
                  "BIOS setting ProcCState: the attribute registry of BIOS 1.12.1 has no such attribute",
                  host="lab-dell-02"),
        Expect.at("bios-read-only", lab_copy, "baselines.yaml", "SystemModelName:",
                  "BIOS setting SystemModelName is read-only in BIOS 1.12.1", host="lab-dell-02"),
        Expect.at("bios-wrong-type", lab_copy, "baselines.yaml", '"four"',
                  "BIOS setting NumaNodes is Integer, the value 'four' is a string", host="lab-gen-02"),
        Expect.at("bios-value-not-allowed", lab_copy, "baselines.yaml", "Maybe",
                  "BIOS setting ProcHyperthreading: 'Maybe' is not one of its values", host="lab-hpe-02"),
    ):
        assert_everywhere(runs, lab_copy, tmp_path, e)
    doc = json.loads(runs["json"].stdout)
    unknown = next(f for f in doc["findings"] if f["rule"] == "bios-unknown-attribute")
    assert unknown["expected"].startswith("did you mean 'ProcCStates'?")
    sarif = json.loads(runs["sarif"].stdout)["runs"][0]
    rules = {r["id"] for r in sarif["tool"]["driver"]["rules"]}
    assert {"bios-unknown-attribute", "bios-wrong-type", "bios-read-only", "bios-value-not-allowed"} <= rules


def test_an_override_is_reported_at_the_override(lab_copy: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    snap = _snapshot(lab_copy, tmp_path / "snap.json")
    edit(lab_copy / "baselines.yaml", "bios_settings: {AdminName: edge-ops}", "bios_settings: {AdminName: 42}")
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy, "--inventory", str(snap))
    assert_exit_everywhere(runs, 1)
    assert_everywhere(runs, lab_copy, tmp_path, Expect.at(
        "bios-wrong-type", lab_copy, "baselines.yaml", "42}", "BIOS setting AdminName is String, the value '42' is "
        "an integer (labels role=edge)", host="lab-gen-01"))


def test_without_registries_in_the_snapshot_settings_are_unchecked_warnings(lab_copy: Path, tmp_path: Path) -> None:
    doc = lab_snapshot(lab_copy)
    doc.pop("registries")
    (tmp_path / "snap.json").write_text(json.dumps(doc))
    run = hwfw("check", str(lab_copy), "--inventory", str(tmp_path / "snap.json"), "--format", "json")
    assert run.code == 0
    unchecked = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "bios-unchecked"]
    assert unchecked and all(f["severity"] == "warning" for f in unchecked)


def test_compliance_reports_settings_drift_per_baseline_beside_firmware(lab_copy: Path, tmp_path: Path) -> None:
    doc = lab_snapshot(lab_copy)
    gen2 = next(h for h in doc["hosts"] if h["host"] == "lab-gen-02")
    gen2["bios"]["attributes"]["NumaNodes"] = 2          # changed on the host since it was configured
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(doc))
    run = hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "json")
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    jsonschema.Draft202012Validator(json.loads(schema_path("compliance").read_text())).validate(report)
    edge = next(b for b in report["baselines"] if b["name"] == "contoso-edge")
    rows = {r["attribute"]: r for r in edge["settings"]}
    assert rows["NumaNodes"]["counts"] == {"compliant": 1, "drift": 1, "unknown": 0, "unreachable": 0}
    assert rows["NumaNodes"]["target"] == "4" and rows["AdminName"]["counts"]["compliant"] == 2
    assert {c["component"] for c in edge["components"]} == {"bmc", "bios"}       # firmware rows stay
    host = next(h for h in report["hosts"] if h["name"] == "lab-gen-02")
    assert host["status"] == "behind"                     # a drifted setting makes the host non-compliant
    assert [s for s in host["settings"] if s["status"] == "drift"] == \
        [{"attribute": "NumaNodes", "current": 2, "target": 4, "status": "drift"}]
    assert report["summary"]["settings"]["drift"] >= 1
    md = hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "markdown").stdout
    assert "| contoso-edge | NumaNodes | 4 | 1 | 1 | 0 | 0 | 50% |" in md
    assert "BIOS NumaNodes 2 → 4" in md
    text = hwfw("compliance", str(lab_copy), "--inventory", str(snap)).stdout
    assert "NumaNodes" in text and "lab-gen-02 (contoso-edge): BIOS NumaNodes 2 -> 4" in text
    html = hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "html").stdout
    assert 'data-setting="NumaNodes"' in html and '<td class="num" data-status="drift">1</td>' in html
    check = hwfw("check", str(lab_copy), "--inventory", str(snap), "--format", "json")
    drift = [f for f in json.loads(check.stdout)["findings"] if f["rule"] == "drift-setting"]
    assert [(f["host"], f["severity"]) for f in drift if f["host"] == "lab-gen-02"] == [("lab-gen-02", "warning")]
