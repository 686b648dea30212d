"""`hwfw inventory`, `plan`, `apply` and `compliance`, unmodified, against peers hwfw did
not write: OpenStack's sushy-tools Redfish emulator (libvirt test driver: a BIOS version
but no FirmwareInventory and no Manager.Reset; fake driver: no BIOS version at all) and
OpenIPMI's ipmi_sim over IPMI. The tests start them themselves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import run_hwfw
from tests.inventory.test_sushy_tools import sushy, sushy_fake  # noqa: F401 - fixtures starting sushy-emulator
from tests.ipmi.test_ipmi_openipmi import SIM_PASSWORD, SIM_USER, configured_mc, launched_ipmi_sim

pytestmark = pytest.mark.slow

ENV = {"PEER_USER": SIM_USER, "PEER_PASSWORD": SIM_PASSWORD}


def workspace(root: Path, host: str, bmc: str, protocol: str, components: str, version: str = "1.0.1") -> Path:
    root.mkdir()
    image = root / f"bios-{version}.bin"
    image.write_bytes(b"peer test image\n")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    (root / "hwfw.yaml").write_text(
        "format: 1\nfiles: {inventory: inventory.yaml, baselines: baselines.yaml, repository: repository.yaml}\n"
        "settings:\n  timing: {request_timeout: 10s}\n")
    (root / "inventory.yaml").write_text(
        f"hosts:\n  - name: {host}\n    bmc: {bmc}\n    protocol: {protocol}\n"
        "    credentials: {username_env: PEER_USER, password_env: PEER_PASSWORD}\n")
    (root / "baselines.yaml").write_text(
        f"baselines:\n  peers:\n    select: {{hosts: [\"{host}\"]}}\n    components:\n{components}")
    (root / "repository.yaml").write_text(
        f"images:\n  - {{id: peer-bios-{version}, vendor: generic, component: bios, version: \"{version}\",\n"
        f"     models: [\"*\"], source: bios-{version}.bin, sha256: {digest}}}\n"
        + "".join(f"  - {{id: peer-bmc-{v}, vendor: generic, component: bmc, version: \"{v}\",\n"
                  f"     models: [\"*\"], source: bios-{version}.bin, sha256: {digest}}}\n" for v in ("1.01", "7.00")))
    return root


def test_inventory_and_plan_against_sushy_tools(sushy: str, tmp_path: Path) -> None:  # noqa: F811
    ws = workspace(tmp_path / "ws", "sushy-1", sushy, "redfish",
                   '      bios: {version: "1.0.1", image: peer-bios-1.0.1}\n')
    inv = run_hwfw("inventory", str(ws), "--json", env=ENV)
    assert inv.returncode == 0, inv.stderr
    (host,) = json.loads(inv.stdout)["hosts"]
    assert host["reachable"] and {c["kind"]: c["version"] for c in host["components"]}["bios"] == "1.0.0"
    plan = run_hwfw("plan", str(ws), "--json", "--detailed-exitcode", env=ENV)
    assert plan.returncode == 2, plan.stderr
    (change,) = json.loads(plan.stdout)["hosts"][0]["changes"]
    assert (change["action"], change["from"], change["to"]) == ("upgrade", "1.0.0", "1.0.1")


def test_inventory_and_plan_against_ipmi_sim_over_ipmi(tmp_path: Path) -> None:
    mc = configured_mc()
    with launched_ipmi_sim(tmp_path) as sim:
        ws = workspace(tmp_path / "ws", "ipmi-1", f"ipmi://127.0.0.1:{sim.port}", "ipmi",
                       f'      bmc: {{version: "{mc.bmc_version}"}}\n'
                       '      bios: {version: "1.0.1", image: peer-bios-1.0.1}\n')
        inv = run_hwfw("inventory", str(ws), "--json", env=ENV)
        assert inv.returncode == 0, inv.stderr
        (host,) = json.loads(inv.stdout)["hosts"]
        versions = {c["kind"]: c["version"] for c in host["components"]}
        assert host["protocol"] == "ipmi" and versions["bmc"] == mc.bmc_version
        assert versions["bios"] is None  # IPMI cannot see it: unknown, not absent
        # The unknown BIOS version is refused until accepted explicitly.
        refused = run_hwfw("plan", str(ws), "--json", env=ENV)
        assert refused.returncode == 1
        changes = {c["kind"]: c for c in json.loads(refused.stdout)["hosts"][0]["changes"]}
        assert changes["bmc"]["action"] == "noop" and changes["bios"]["action"] == "unknown"
        # hwfw updates nothing over IPMI: accepting the unknown version does not make the
        # BIOS change plannable (apply would refuse it), and the plan says why.
        accepted = run_hwfw("plan", str(ws), "--json", "--accept-unknown", "ipmi-1:bios", env=ENV)
        assert accepted.returncode == 1, accepted.stderr
        bios = {c["kind"]: c for c in json.loads(accepted.stdout)["hosts"][0]["changes"]}["bios"]
        assert (bios["action"], bios["reason"], bios["refused"]) == ("unknown", "no-update-method", True)
        assert "read over IPMI" in bios["message"]


def test_plan_refuses_changes_an_ipmi_only_host_cannot_take(tmp_path: Path) -> None:
    """A BMC change over IPMI is refused at plan time (not by apply), and the inventory
    shows the BIOS as unknown and not updateable, and where the BMC version came from."""
    mc = configured_mc()
    with launched_ipmi_sim(tmp_path) as sim:
        ws = workspace(tmp_path / "ws", "ipmi-1", f"ipmi://127.0.0.1:{sim.port}", "ipmi",
                       '      bmc: {version: "7.00", image: peer-bmc-7.00}\n')
        inv = run_hwfw("inventory", str(ws), "--json", env=ENV)
        assert inv.returncode == 0, inv.stderr
        comps = {c["kind"]: c for c in json.loads(inv.stdout)["hosts"][0]["components"]}
        assert comps["bios"]["version"] is None and comps["bios"]["updateable"] is False
        assert comps["bmc"]["version"] == mc.bmc_version and comps["bmc"]["updateable"] is False
        assert comps["bmc"]["source"] == {"resource": "IPMI", "property": "Get Device ID", "uri": None,
                                          "fallback": True}
        text = run_hwfw("inventory", str(ws), env=ENV)
        bios_row = next(line for line in text.stdout.splitlines() if line.startswith("bios"))
        assert "unknown" in bios_row and "yes" not in bios_row
        plan = run_hwfw("plan", str(ws), "--json", env=ENV)
        assert plan.returncode == 1, plan.stderr
        (bmc,) = json.loads(plan.stdout)["hosts"][0]["changes"]
        assert (bmc["action"], bmc["reason"], bmc["refused"]) == ("upgrade", "no-update-method", True)
        assert json.loads(plan.stdout)["summary"]["steps"] == 0


def test_apply_converges_against_sushy_tools_libvirt(sushy: str, tmp_path: Path) -> None:  # noqa: F811
    """sushy-tools' libvirt driver: the BIOS version comes from ComputerSystem.BiosVersion
    and SimpleUpdate bumps it (1.0.0 -> 1.1.0) when `Targets` names that System. The run
    converges, sends no host reboot (the version changed at once) and says so, and the
    next plan has nothing to do."""
    ws = workspace(tmp_path / "ws", "sushy-1", sushy, "redfish",
                   '      bios: {version: "1.1.0", image: peer-bios-1.1.0}\n', version="1.1.0")
    run = run_hwfw("apply", str(ws), "--auto-approve", "--format", "json", env=ENV)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    (finished,) = [e for e in events if e["type"] == "host-finished"]
    assert finished["outcome"]["status"] == "converged"
    assert finished["outcome"]["resets"] == {}  # the plan counted a host reboot; none was sent
    (activate,) = [e for e in events if e["type"] == "step-finished" and "/activate/" in e["step_id"]]
    assert activate["outcome"]["status"] == "not-needed"
    again = run_hwfw("plan", str(ws), "--detailed-exitcode", env=ENV)
    assert again.returncode == 0, again.stdout + again.stderr
    inv = run_hwfw("inventory", str(ws), "--json", env=ENV)
    assert {c["kind"]: c["version"] for c in json.loads(inv.stdout)["hosts"][0]["components"]}["bios"] == "1.1.0"


def test_plan_schedules_no_bmc_reset_sushy_tools_cannot_do(sushy: str, tmp_path: Path) -> None:  # noqa: F811
    """sushy-tools has no Manager.Reset: a BMC change is refused at plan time with the
    reason, and no BMC reset is scheduled."""
    ws = workspace(tmp_path / "ws", "sushy-1", sushy, "redfish",
                   '      bmc: {version: "1.01", image: peer-bmc-1.01}\n')
    plan = run_hwfw("plan", str(ws), "--json", env=ENV)
    assert plan.returncode == 1, plan.stderr
    doc = json.loads(plan.stdout)
    (bmc,) = doc["hosts"][0]["changes"]
    assert (bmc["refused"], bmc["reason"]) == (True, "no-activation")
    assert "Manager has no Reset action" in bmc["message"]
    assert doc["summary"]["bmc_resets"] == 0 and doc["summary"]["steps"] == 0


def test_inventory_and_compliance_against_sushy_tools_fake_driver(sushy_fake: str,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    """sushy-tools' fake driver reports no BIOS version at all and the BMC version only on
    its Manager: the BIOS is missing, the BMC is compliant, and compliance says that its
    status rests on Manager.FirmwareVersion."""
    ws = workspace(tmp_path / "ws", "fake-1", sushy_fake, "redfish",
                   '      bmc: {version: "1.00"}\n      bios: {version: "1.0.1", image: peer-bios-1.0.1}\n')
    inv = run_hwfw("inventory", str(ws), "--json", env=ENV)
    assert inv.returncode == 0, inv.stderr
    comps = {c["kind"]: c for c in json.loads(inv.stdout)["hosts"][0]["components"]}
    assert set(comps) == {"bmc"} and comps["bmc"]["source"]["property"] == "FirmwareVersion"
    report = run_hwfw("compliance", str(ws), "--format", "json", env=ENV)
    doc = json.loads(report.stdout)
    components = {c["key"]: c for c in doc["hosts"][0]["components"]}
    assert components["bmc"]["status"] == "compliant" and components["bmc"]["fallback"] is True
    assert components["bmc"]["source"] == "Manager.FirmwareVersion"
    assert components["bios"]["status"] == "missing"
    assert doc["summary"]["fallback_components"] == 1
