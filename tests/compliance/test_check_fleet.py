"""`hwfw check --inventory SNAPSHOT`: fleet drift (warnings) and downgrades (errors), offline."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.compliance.support import (
    Expect,
    assert_everywhere,
    assert_exit_everywhere,
    check_all_formats,
    hwfw,
    lab_snapshot,
)


def write_snapshot(path: Path, lab: Path, **overrides: dict[str, str]) -> Path:
    path.write_text(json.dumps(lab_snapshot(lab, **overrides)))
    return path


def test_drift_is_a_warning_at_the_target_naming_the_host(lab_copy: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    snap = write_snapshot(tmp_path / "snap.json", lab_copy)
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy, "--inventory", str(snap))
    assert_exit_everywhere(runs, 0)
    assert_everywhere(runs, lab_copy, tmp_path, Expect.at(
        "drift-behind", lab_copy, "baselines.yaml", '"7.10.30.00", image: dell-r750-idrac',
        "bmc 6.10.30.00 is behind baseline 'dell-r750' (7.10.30.00)", severity="warning", host="lab-dell-01"))
    doc = json.loads(runs["json"].stdout)
    behind = {(f["host"], f["component"]) for f in doc["findings"] if f["rule"] == "drift-behind"}
    assert ("lab-hpe-01", "cpld") in behind and ("lab-dell-02", "nic:NIC.Integrated.1-1") in behind
    assert not any(f["host"] == "lab-gen-02" for f in doc["findings"])  # at its baseline
    assert len(behind) == 16 and doc["summary"]["hosts"] == 9
    # JUnit: one test case per host under the fleet check, drift in system-out, no failures.
    suite = next(s for s in ET.fromstring(runs["junit"].stdout) if s.get("name") == "hwfw.fleet")
    assert sorted(c.get("name") for c in suite) == sorted(h["host"] for h in lab_snapshot(lab_copy)["hosts"])
    assert suite.get("failures") == "0"


def test_strict_makes_drift_fail(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = write_snapshot(tmp_path / "snap.json", lab_copy)
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy, "--inventory", str(snap), "--strict")
    assert_exit_everywhere(runs, 1)
    assert_everywhere(runs, lab_copy, tmp_path, Expect.at(
        "drift-behind", lab_copy, "baselines.yaml", '"1.10.2", image: dell-r650-bios',
        "bios 1.9.4 is behind baseline 'dell-r650' (1.10.2)", host="lab-dell-03"))
    failures = ET.fromstring(runs["junit"].stdout).get("failures")
    assert failures == "8"  # every host but lab-gen-02 is behind somewhere


def test_target_below_what_a_host_runs_is_a_downgrade_error(lab_copy: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    snap = write_snapshot(tmp_path / "snap.json", lab_copy, **{"lab-dell-03": {"bios": "1.11.0"}})
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy, "--inventory", str(snap))
    assert_exit_everywhere(runs, 1)
    assert_everywhere(runs, lab_copy, tmp_path, Expect.at(
        "downgrade", lab_copy, "baselines.yaml", '"1.10.2", image: dell-r650-bios',
        "baseline 'dell-r650' targets bios 1.10.2, below the 1.11.0 the host runs", host="lab-dell-03"))
    suite = next(s for s in ET.fromstring(runs["junit"].stdout) if s.get("name") == "hwfw.fleet")
    failed = [c.get("name") for c in suite if c.find("failure") is not None]
    assert failed == ["lab-dell-03"]


def test_unreachable_host_in_the_snapshot_is_reported_at_the_host(lab_copy: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    doc = lab_snapshot(lab_copy)
    host = next(h for h in doc["hosts"] if h["host"] == "lab-smc-02")
    host.update(reachable=False, error="lab-smc-02: connection refused (https://10.0.0.7)", components=[])
    (tmp_path / "snap.json").write_text(json.dumps(doc))
    monkeypatch.chdir(tmp_path)
    run = hwfw("check", str(lab_copy), "--inventory", "snap.json", "--format", "json")
    assert run.code == 0
    hits = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "drift-unreachable"]
    assert [(f["host"], f["file"], f["severity"]) for f in hits] == [("lab-smc-02", "inventory.yaml", "warning")]
    assert "connection refused" in hits[0]["message"]
