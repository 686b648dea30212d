"""`hwfw plan` and `hwfw inventory` on the bundled lab, end to end through the CLI.

The lab's hosts are sim:// so every run starts the embedded simulator on loopback,
exactly as the README's main command does.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import REPO_ROOT, run_hwfw

pytestmark = pytest.mark.slow

# What the lab must show: (host, component key, from, to) for every change.
EXPECTED_CHANGES = {
    ("lab-dell-01", "bmc", "6.10.30.00", "7.10.30.00"),
    ("lab-dell-01", "bios", "1.10.2", "1.12.1"),
    ("lab-dell-01", "nic:NIC.Integrated.1-1", "22.31.6", "22.41.1000"),
    ("lab-dell-02", "bmc", "7.00.00.00", "7.10.30.00"),
    ("lab-dell-02", "nic:NIC.Integrated.1-1", "22.31.6", "22.41.1000"),
    ("lab-dell-03", "bios", "1.9.4", "1.10.2"),
    ("lab-hpe-01", "bmc", "2.72 Sep 04 2022", "2.81 Mar 27 2023"),
    ("lab-hpe-01", "bios", "U30 v2.68 (07/14/2022)", "U30 v2.80 (10/03/2023)"),
    ("lab-hpe-01", "cpld", "0x11", "0x14"),
    ("lab-hpe-02", "bios", "U46 v1.42 (06/20/2022)", "U46 v1.50 (03/01/2023)"),
    ("lab-smc-01", "bmc", "01.01.10", "01.03.12"),
    ("lab-smc-01", "bios", "1.4", "1.6"),
    ("lab-smc-02", "bmc", "01.02.04", "01.03.12"),
    ("lab-smc-02", "bios", "2.0", "2.1"),
    ("lab-gen-01", "bmc", "2.14.0", "2.15.0"),
    ("lab-gen-01", "bios", "1.0.5", "1.1.0"),
}


def plan_json(lab: Path, *extra: str) -> dict:
    result = run_hwfw("plan", str(lab), "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_lab_plan_shows_every_change_with_reset_counts(lab_copy: Path) -> None:
    doc = plan_json(lab_copy)
    jsonschema.validate(doc, json.loads((REPO_ROOT / "schemas" / "plan.schema.json").read_text()))
    changes = {(h["name"], c["key"], c["from"], c["to"])
               for h in doc["hosts"] for c in h["changes"] if c["action"] == "upgrade"}
    assert changes == EXPECTED_CHANGES
    resets = {h["name"]: h["resets"] for h in doc["hosts"]}
    # The R750's new BIOS needs iDRAC 7 active (lab rule): BMC reset first, then one
    # host reboot activates BIOS and NIC together; its BIOS settings include PcieAspmL1,
    # which only that new BIOS has: a second host reboot applies them once it runs.
    assert resets["lab-dell-01"] == {"host_reboots": 2, "bmc_resets": 1, "ac_cycles": 0}
    assert resets["lab-hpe-01"] == {"host_reboots": 1, "bmc_resets": 1, "ac_cycles": 1}
    assert resets["lab-gen-02"] == {"host_reboots": 0, "bmc_resets": 0, "ac_cycles": 0}
    assert doc["summary"]["updates"] == len(EXPECTED_CHANGES)
    assert doc["applyable"] and not doc["errored"]
    # BIOS settings: one entry per declared attribute; the one only the target BIOS has says why
    dell1 = {s["attribute"]: s for s in next(h for h in doc["hosts"] if h["name"] == "lab-dell-01")["settings"]}
    assert (dell1["ProcCStates"]["action"], dell1["ProcCStates"]["from"], dell1["ProcCStates"]["to"]) == \
        ("set", "Enabled", "Disabled")
    assert dell1["LogicalProc"]["action"] == "noop"
    assert dell1["PcieAspmL1"]["reason"] == "needs-target-bios" and dell1["PcieAspmL1"]["needs_bios"] == "1.12.1"
    dell = [s["id"] for s in doc["steps"] if s["host"] == "lab-dell-01"]
    assert dell.index("lab-dell-01/activate/bmc-reset#1") < dell.index("lab-dell-01/flash/bios")


def test_same_input_gives_identical_json_but_created_at(lab_copy: Path) -> None:
    first, second = plan_json(lab_copy), plan_json(lab_copy)
    first.pop("created_at"), second.pop("created_at")
    assert first == second


def test_detailed_exitcode_and_human_output(lab_copy: Path) -> None:
    result = run_hwfw("plan", str(lab_copy), "--detailed-exitcode")
    assert result.returncode == 2, result.stderr
    assert ("Plan: 9 hosts, 16 component updates, 19 BIOS settings, 0 refused, 14 host reboots, 1 AC power cycle"
            in result.stdout)
    assert "lab-hpe-01" in result.stdout and "resets: 1 host reboot, 1 BMC reset, 1 AC power cycle" in result.stdout
    assert "~ bios-settings ProcCStates  Enabled -> Disabled" in result.stdout
    assert "~ bios-settings PcieAspmL1   (absent) -> Enabled  only BIOS 1.12.1 has it: set once that BIOS is active" \
        in result.stdout
    assert "= 1 BIOS setting as declared: LogicalProc" in result.stdout


def test_markdown_for_pull_requests(lab_copy: Path) -> None:
    result = run_hwfw("plan", str(lab_copy), "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "16 component updates" in result.stdout and "|" in result.stdout
    assert "| `~` | bios-settings ProcCStates | Enabled | Disabled |" in result.stdout
    assert "| `=` | bios-settings LogicalProc | | | as declared |" in result.stdout


def test_saved_plan_and_offline_snapshot(lab_copy: Path, tmp_path: Path) -> None:
    snapshot = tmp_path / "snapshot.json"
    inv = run_hwfw("inventory", str(lab_copy), "--out", str(snapshot), "--json")
    assert inv.returncode == 0, inv.stderr
    doc = json.loads(snapshot.read_text())
    jsonschema.validate(doc, json.loads((REPO_ROOT / "schemas" / "inventory-snapshot.schema.json").read_text()))
    assert json.loads(inv.stdout)["hosts"] == doc["hosts"]
    saved = tmp_path / "plan.json"
    offline = run_hwfw("plan", str(lab_copy), "--inventory", str(snapshot), "--out", str(saved), "--json")
    assert offline.returncode == 0, offline.stderr
    live = plan_json(lab_copy)
    offline_doc = json.loads(saved.read_text())
    # a saved plan also records its workspace, relative to the plan file
    assert offline_doc.pop("workspace") == {"path": "lab"}
    for d in (live, offline_doc):
        d.pop("created_at")
    assert offline_doc == live
    assert set(offline_doc["inputs"]) >= {"hwfw.yaml", "baselines.yaml", "repository.yaml", "fleet.yaml"}
    assert all(h["fingerprint"] for h in offline_doc["hosts"])


def test_target_limits_the_plan(lab_copy: Path) -> None:
    doc = plan_json(lab_copy, "--target", "lab-gen-01")
    assert [h["name"] for h in doc["hosts"]] == ["lab-gen-01"]
    assert doc["complete"] is False
    globbed = plan_json(lab_copy, "--target", "lab-smc-*")
    assert [h["name"] for h in globbed["hosts"]] == ["lab-smc-01", "lab-smc-02"]
    bad = run_hwfw("plan", str(lab_copy), "--target", "nope")
    assert bad.returncode == 1 and "unknown host" in bad.stderr
