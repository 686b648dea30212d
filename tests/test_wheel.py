"""The wheel carries everything a `pip install hwfw` user needs (schemas, configs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT


@pytest.mark.slow
def test_wheel_installs_non_editable_and_validates_the_lab(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO_ROOT)],
                   check=True, capture_output=True, text=True, timeout=300)
    (wheel,) = dist.glob("hwfw-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "hwfw/_data/schemas/inventory.schema.json" in names
    assert "hwfw/_data/configs/firmware/update_sequences.yaml" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    install = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-2000:]

    # Run from a directory outside the checkout, on a copy of the lab.
    lab = tmp_path / "lab"
    shutil.copytree(REPO_ROOT / "examples" / "lab", lab, ignore=shutil.ignore_patterns(".hwfw"))
    hwfw = env_dir / "bin" / "hwfw"
    result = subprocess.run([str(hwfw), "validate", str(lab)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    located = subprocess.run([str(py), "-c", "import hwfw.resources as r; print(r.data_dir('schemas'))"],
                             cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "_data" in located.stdout and str(REPO_ROOT) not in located.stdout
