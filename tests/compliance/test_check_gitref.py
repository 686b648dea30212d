"""`hwfw check --base-ref REF`: targets lower than at REF are errors, in a real (temporary) Git repo.

The workspace sits in a subdirectory of its repository, as it usually does, so the
test also proves files are read relative to the workspace (`git show REF:./PATH`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.compliance.support import Expect, assert_everywhere, assert_exit_everywhere, check_all_formats, hwfw
from tests.helpers import LAB, edit

pytestmark = pytest.mark.slow

NEW_IMAGE = """  - id: dell-r650-bios-1.9.4
    description: PowerEdge R650 BIOS (rollback build)
    vendor: dell
    component: bios
    version: "1.9.4"
    models: ["PowerEdge R650"]
    source: https://downloads.example/dell-bios-1.9.4.bin
    sha256: 5f1e0c4b3e7a1d2c9b8a7f6e5d4c3b2a19f8e7d6c5b4a39281706f5e4d3c2b1a
    activation: host-reboot
    apply_times: [Immediate, OnReset]

"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=hwfw tests", "-c", "user.email=tests@hwfw.invalid",
                    "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
                   cwd=repo, check=True, capture_output=True, text=True)


@pytest.fixture
def repo_lab(tmp_path: Path) -> Path:
    """A Git repository whose commit HEAD holds the lab under infra/firmware/."""
    repo = tmp_path / "repo"
    ws = repo / "infra" / "firmware"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw"))  # images too: check verifies them
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "lab")
    return ws


def test_lowering_a_target_is_an_error_at_the_target_in_every_format(repo_lab: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ws = repo_lab
    edit(ws / "repository.yaml", "  - id: dell-r750-nic-22.41.1000", NEW_IMAGE + "  - id: dell-r750-nic-22.41.1000")
    edit(ws / "baselines.yaml", 'bios: {version: "1.10.2", image: dell-r650-bios-1.10.2}',
         'bios: {version: "1.9.4", image: dell-r650-bios-1.9.4}')
    monkeypatch.chdir(tmp_path)
    # Without --base-ref the change is a valid workspace.
    assert hwfw("check", str(ws)).code == 0
    runs = check_all_formats(ws, "--base-ref", "HEAD")
    assert_exit_everywhere(runs, 1)
    assert_everywhere(runs, ws, tmp_path, Expect.at(
        "downgrade", ws, "baselines.yaml", '"1.9.4", image: dell-r650-bios-1.9.4',
        "baseline 'dell-r650' lowers bios from 1.10.2 (at HEAD) to 1.9.4"))


def test_an_allowed_downgrade_and_a_raise_pass(repo_lab: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ws = repo_lab
    edit(ws / "repository.yaml", "  - id: dell-r750-nic-22.41.1000", NEW_IMAGE + "  - id: dell-r750-nic-22.41.1000")
    edit(ws / "baselines.yaml", 'bios: {version: "1.10.2", image: dell-r650-bios-1.10.2}',
         'bios: {version: "1.9.4", image: dell-r650-bios-1.9.4, allow_downgrade: true}')
    monkeypatch.chdir(tmp_path)
    run = hwfw("check", str(ws), "--base-ref", "HEAD")
    assert run.code == 0, run.stdout
    assert "downgrade" not in run.stdout


def test_unchanged_workspace_passes_and_bad_ref_is_a_clear_error(repo_lab: Path) -> None:
    assert hwfw("check", str(repo_lab), "--base-ref", "HEAD").code == 0
    bad = hwfw("check", str(repo_lab), "--base-ref", "no-such-branch")
    assert bad.code == 1
    assert "--base-ref no-such-branch: no such revision" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_base_ref_outside_git_says_so(lab_copy: Path) -> None:
    run = hwfw("check", str(lab_copy), "--base-ref", "HEAD")
    assert run.code == 1
    assert "is not in a Git repository" in run.stderr
