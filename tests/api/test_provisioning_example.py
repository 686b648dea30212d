"""examples/provisioning/provision.py runs as written: two hosts of the lab brought to
their baselines through FirmwareManager, and only those two."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow

SCRIPT = REPO_ROOT / "examples" / "provisioning" / "provision.py"


def test_the_provisioning_example_converges_the_hosts_it_is_given(lab_copy: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HWFW_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, str(SCRIPT), str(lab_copy), "lab-dell-02", "lab-smc-02"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("repository: {") and "behind their baseline: lab-dell-02, lab-smc-02" in lines
    assert "lab-dell-02: compliant" in lines and "lab-smc-02: compliant" in lines
    assert any(line.strip().startswith("lab-dell-02: converged") for line in lines)
    report = subprocess.run([sys.executable, "-m", "hwfw", "compliance", str(lab_copy), "--format", "json"],
                            capture_output=True, text=True, timeout=300, env=env)
    status = {h["name"]: h["status"] for h in json.loads(report.stdout)["hosts"]}
    assert status["lab-dell-02"] == status["lab-smc-02"] == "compliant"
    assert status["lab-dell-01"] == "behind"          # a host not given was not touched
