"""hwfw.connect: the one place that knows sim:// addresses, and the checks of how a
workspace's hosts are reached that it adds to loading."""

from __future__ import annotations

from pathlib import Path

from hwfw import config
from hwfw.connect import check_workspace
from tests.helpers import edit, line_col_of


def test_unknown_sim_host_is_reported_at_its_address(lab_copy: Path) -> None:
    edit(lab_copy / "inventory.yaml", "bmc: sim://lab-gen-02", "bmc: sim://lab-gen-99")
    workspace, problems = check_workspace(lab_copy)
    assert workspace is None
    found = [p for p in problems if p.code == "unknown-sim-host"]
    assert found, f"no unknown-sim-host among {[(p.code, p.message) for p in problems]}"
    line, col = line_col_of(lab_copy / "inventory.yaml", "sim://lab-gen-99")
    assert (found[0].location.line, found[0].location.column) == (line, col), found[0].render()
    assert found[0].message == "sim://lab-gen-99 is not a host of the fleet file"
    assert found[0].expected is not None and "one of: " in found[0].expected and "lab-gen-02" in found[0].expected


def test_sim_hosts_need_a_fleet_file(lab_copy: Path) -> None:
    edit(lab_copy / "hwfw.yaml", "  fleet: fleet.yaml\n", "")
    workspace, problems = check_workspace(lab_copy)
    assert workspace is None
    (problem,) = [p for p in problems if p.code == "missing-fleet"]
    assert "is simulated but hwfw.yaml names no fleet file" in problem.message
    assert problem.location is not None and problem.location.file.endswith("inventory.yaml")


def test_config_alone_leaves_sim_addresses_to_connect(lab_copy: Path) -> None:
    """hwfw.config knows no sim:// address: it neither resolves nor rejects one, and a
    simulated host needs no credentials reference (the simulator supplies them)."""
    edit(lab_copy / "inventory.yaml", "bmc: sim://lab-gen-02", "bmc: sim://lab-gen-99")
    workspace, problems = config.check_workspace(lab_copy)
    assert workspace is not None
    assert [p.code for p in problems if p.severity == "error"] == []
    assert any(h.bmc.startswith("sim://") and h.credentials is None for h in workspace.hosts)
