"""`hwfw check` on a pull request that links workspace files to files of the CI runner:
every format fails the gate, names the link, and prints nothing of the target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.compliance.support import hwfw
from tests.helpers import line_col_of

CANARY = "CANARY-4b1e-runner-token"
ALL_FORMATS = ("text", "json", "junit", "sarif", "github", "codequality")
# Whatever the target holds, YAML or not, a key or a value, nothing of it may be printed.
TARGETS = {
    "plain text": f"{CANARY}\n",
    "a mapping": f"hosts: {CANARY}\n{CANARY}: x\npassword: {CANARY}\n",
    "passwd-like": f"root:x:0:0:{CANARY}:/root:/bin/bash\n",
    "broken YAML": f"a: [{CANARY}\n",
}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_symlinked_inventory_fails_every_format_without_printing_the_target(
        lab_copy: Path, tmp_path: Path, target: str) -> None:
    outside = tmp_path / "runner" / "token"
    outside.parent.mkdir()
    outside.write_text(TARGETS[target])
    (lab_copy / "inventory.yaml").unlink()
    (lab_copy / "inventory.yaml").symlink_to(outside)
    for fmt in ALL_FORMATS:
        run = hwfw("check", str(lab_copy), "--format", fmt)
        assert run.code == 1, (fmt, run.stdout, run.stderr)
        assert CANARY not in run.stdout + run.stderr, (fmt, run.stdout, run.stderr)
        assert "runner" not in run.stdout + run.stderr, fmt
    findings = json.loads(hwfw("check", str(lab_copy), "--format", "json").stdout)["findings"]
    line, col = line_col_of(lab_copy / "hwfw.yaml", "inventory: inventory.yaml", len("inventory: "))
    assert [(f["rule"], f["file"], f["line"], f["column"]) for f in findings] == [
        ("path-outside-workspace", "hwfw.yaml", line, col)]


def test_any_yaml_file_linked_out_of_the_workspace_is_reported_not_scanned(lab_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "deploy-key.yaml"
    outside.write_text(f"password: {CANARY}\n")
    (lab_copy / "ci").mkdir()
    (lab_copy / "ci" / "notes.yaml").symlink_to(outside)
    for fmt in ALL_FORMATS:
        run = hwfw("check", str(lab_copy), "--format", fmt)
        assert run.code == 1 and CANARY not in run.stdout + run.stderr, fmt
    findings = json.loads(hwfw("check", str(lab_copy), "--format", "json").stdout)["findings"]
    assert [(f["rule"], f["file"], f["line"]) for f in findings] == [("path-outside-workspace", "ci/notes.yaml", 1)]
    # Allowing the directory makes it part of what the workspace reads (and scans).
    hwfw_yaml = lab_copy / "hwfw.yaml"
    hwfw_yaml.write_text(hwfw_yaml.read_text().replace("settings:\n", f"settings:\n  allowed_roots: [{tmp_path}]\n", 1))
    findings = json.loads(hwfw("check", str(lab_copy), "--format", "json").stdout)["findings"]
    assert [(f["rule"], f["file"]) for f in findings] == [("literal-secret", str(outside))]
