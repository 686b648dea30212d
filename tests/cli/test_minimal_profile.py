"""The CLI against the generic profile's "minimal" variant of the simulator: no
FirmwareInventory (versions only on the System and Manager), no Manager.Reset,
SimpleUpdate answered 204 with no task and no change, HTTP/1.0 without keep-alive and a
`Members@odata.count` that does not match `Members` (hwfw/sim/profiles/generic_minimal.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hwfw.resources import schema_path
from hwfw.sim.images import make_image
from hwfw.state.store import StateStore
from tests.helpers import run_hwfw

pytestmark = pytest.mark.slow

MODEL = "Contoso Minimal 1"
SYSTEM = "/redfish/v1/Systems/system"


def minimal_workspace(root: Path, components: str) -> Path:
    root.mkdir()
    (root / "images").mkdir()
    entries = []
    for kind, version in (("bios", "1.0.6"), ("bmc", "2.14")):
        name = f"{kind}-{version}.bin"
        digest = make_image("generic", MODEL, kind, version, 4096, root / "images" / name)
        entries.append(f"  - {{id: {kind}-{version}, vendor: generic, component: {kind}, version: \"{version}\", "
                       f"models: [\"*\"], source: images/{name}, sha256: {digest}}}\n")
    (root / "repository.yaml").write_text("images:\n" + "".join(entries))
    (root / "hwfw.yaml").write_text(
        "format: 1\nfiles: {inventory: inventory.yaml, baselines: baselines.yaml, repository: repository.yaml, "
        "fleet: fleet.yaml}\n"
        "settings:\n  simulator: {speed: 200}\n"
        "  timing: {time_scale: 200, request_timeout: 10s, poll_interval: 50ms, stability_checks: 3,\n"
        "           stability_interval: 150ms, bmc_ready_timeout: 3s, post_timeout: 6s,\n"
        "           graceful_shutdown_timeout: 1500ms, component_deadlines: {bmc: 9s, bios: 14s}}\n")
    (root / "fleet.yaml").write_text(
        "hosts:\n  mini-01:\n    profile: generic\n    model: " + MODEL + "\n    power: \"On\"\n"
        "    firmware: {bmc: \"2.13\", bios: \"1.0.5\"}\n    options: {variant: minimal}\n")
    (root / "inventory.yaml").write_text("hosts:\n  - name: mini-01\n    bmc: sim://mini-01\n")
    (root / "baselines.yaml").write_text(
        "baselines:\n  minimal:\n    select: {hosts: [\"mini-01\"]}\n    components:\n" + components)
    return root


BIOS = '      bios: {version: "1.0.6", image: bios-1.0.6}\n'
BMC = '      bmc: {version: "2.14", image: bmc-2.14}\n'


def test_inventory_says_where_each_version_came_from(tmp_path: Path) -> None:
    ws = minimal_workspace(tmp_path / "ws", BIOS)
    text = run_hwfw("inventory", str(ws))
    assert text.returncode == 0, text.stderr
    assert "1.0.5 *" in text.stdout and "2.13 *" in text.stdout
    assert ("* read from a fallback, not FirmwareInventory: ComputerSystem.BiosVersion, Manager.FirmwareVersion"
            in text.stdout)
    snapshot = tmp_path / "snapshot.json"
    out = run_hwfw("inventory", str(ws), "--json", "--out", str(snapshot))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    jsonschema.validate(doc, json.loads(schema_path("inventory-snapshot").read_text()))
    sources = {c["kind"]: c["source"] for c in doc["hosts"][0]["components"]}
    assert sources["bios"] == {"resource": "ComputerSystem", "property": "BiosVersion", "uri": SYSTEM,
                               "fallback": True}
    assert sources["bmc"] == {"resource": "Manager", "property": "FirmwareVersion", "uri": "/redfish/v1/Managers/bmc",
                              "fallback": True}
    # The snapshot reads back with its sources (plan --inventory works offline from it).
    offline = run_hwfw("plan", str(ws), "--inventory", str(snapshot), "--json")
    assert offline.returncode == 0, offline.stderr


def test_compliance_marks_components_read_from_a_fallback(tmp_path: Path) -> None:
    ws = minimal_workspace(tmp_path / "ws", BIOS)
    report = run_hwfw("compliance", str(ws), "--format", "json")
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    jsonschema.validate(doc, json.loads(schema_path("compliance").read_text()))
    (host,) = doc["hosts"]
    (bios,) = host["components"]
    assert (bios["status"], bios["fallback"], bios["source"]) == ("behind", True, "ComputerSystem.BiosVersion")
    assert doc["summary"]["fallback_components"] == 1
    text = run_hwfw("compliance", str(ws))
    assert "read from a fallback, not FirmwareInventory" in text.stdout
    assert "mini-01: bios 1.0.5 (ComputerSystem.BiosVersion)" in text.stdout


def test_plan_refuses_a_bmc_change_the_bmc_cannot_activate(tmp_path: Path) -> None:
    ws = minimal_workspace(tmp_path / "ws", BIOS + BMC)
    plan = run_hwfw("plan", str(ws), "--json")
    assert plan.returncode == 1, plan.stderr
    (host,) = json.loads(plan.stdout)["hosts"]
    changes = {c["kind"]: c for c in host["changes"]}
    assert (changes["bmc"]["refused"], changes["bmc"]["reason"]) == (True, "no-activation")
    assert "Manager has no Reset action" in changes["bmc"]["message"]
    assert (changes["bios"]["action"], changes["bios"]["refused"]) == ("upgrade", False)
    assert host["resets"]["bmc_resets"] == 0


def test_a_flash_answered_204_without_task_or_change_did_not_take(tmp_path: Path) -> None:
    """The service acknowledges SimpleUpdate with 204 and changes nothing. The flash is
    never recorded as pending activation; after the host reboot the verification finds
    the old version, the state says the flash did not take, and the next plan flashes
    again (not just reboots)."""
    ws = minimal_workspace(tmp_path / "ws", BIOS)
    run = run_hwfw("apply", str(ws), "--auto-approve", "--format", "json", timeout=240)
    assert run.returncode == 1, run.stderr[-3000:]
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    (flash,) = [e for e in events if e["type"] == "step-finished" and e["step_id"].endswith("/flash/bios")]
    assert flash["outcome"]["status"] != "pending-activation"
    assert "no task" in flash["outcome"]["message"]
    record = StateStore(ws / ".hwfw" / "state.json").load().record("mini-01", "bios")
    assert record is not None and record.status == "failed"
    assert record.error is not None and "the flash did not take" in record.error
    again = run_hwfw("plan", str(ws), "--json")
    (change,) = json.loads(again.stdout)["hosts"][0]["changes"]
    assert (change["action"], change["reason"], change["hops"]) == ("upgrade", "below-target", ["1.0.6"])
