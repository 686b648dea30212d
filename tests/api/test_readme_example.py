"""The README's "Python API" example runs as written, against a copy of the lab."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import LAB, REPO_ROOT

pytestmark = pytest.mark.slow


def readme_example() -> str:
    text = (REPO_ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_python_example_plans_applies_and_reports(tmp_path: Path) -> None:
    shutil.copytree(LAB, tmp_path / "examples" / "lab", ignore=shutil.ignore_patterns(".hwfw"))
    (tmp_path / "example.py").write_text(readme_example())
    run = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HWFW_CACHE": str(tmp_path / "cache")})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Plan: 7 hosts")
    # lab-gen-02 already runs its baseline: planned, nothing to do, not in the run
    assert sorted(ln for ln in lines if ln.startswith("lab-")) == [
        f"{h} converged" for h in ("lab-dell-01", "lab-dell-02", "lab-dell-03", "lab-gen-01", "lab-smc-01",
                                   "lab-smc-02")]
    assert "Apply finished: 6 converged" in lines
    assert lines[-1] == "78% of managed hosts compliant"  # 7 of the 9 lab hosts; the two HPE hosts left out
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["workspace"] == {"path": "examples/lab"}
