"""`hwfw inventory` and `hwfw plan`, unmodified, against peers hwfw did not write:
OpenStack's sushy-tools Redfish emulator (libvirt test driver: a BIOS version but no
FirmwareInventory) and OpenIPMI's ipmi_sim over IPMI. The tests start both themselves.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.helpers import run_hwfw
from tests.inventory.test_sushy_tools import sushy  # noqa: F401 - the fixture starting sushy-emulator
from tests.ipmi.test_ipmi_openipmi import SIM_PASSWORD, SIM_USER, configured_mc, launched_ipmi_sim

pytestmark = pytest.mark.slow

ENV = {"PEER_USER": SIM_USER, "PEER_PASSWORD": SIM_PASSWORD}


def workspace(root: Path, host: str, bmc: str, protocol: str, components: str) -> Path:
    root.mkdir()
    image = root / "bios-1.0.1.bin"
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
        "images:\n  - {id: peer-bios-1.0.1, vendor: generic, component: bios, version: \"1.0.1\",\n"
        f"     models: [\"*\"], source: bios-1.0.1.bin, sha256: {digest}}}\n")
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
        accepted = run_hwfw("plan", str(ws), "--json", "--accept-unknown", "ipmi-1:bios", env=ENV)
        assert accepted.returncode == 0, accepted.stderr
