"""The CI examples and the pre-commit hook stay in step with the CLI."""

from __future__ import annotations

import re

import click
import yaml_rs

from hwfw.cli import cli
from tests.helpers import REPO_ROOT

CI = REPO_ROOT / "examples" / "ci"


def options_of(command: str) -> set[str]:
    cmd = cli.get_command(click.Context(cli), command)  # commands load lazily
    assert cmd is not None, command
    return {opt for p in cmd.params for opt in getattr(p, "opts", [])}


def used_options(text: str, command: str) -> set[str]:
    """Every --option written after `hwfw COMMAND` in a file (continuation lines included)."""
    joined = text.replace("\\\n", " ")
    found = set()
    for m in re.finditer(rf"hwfw {command}\b([^\n|>;&]*)", joined):
        found |= {o.split("=")[0] for o in re.findall(r"--[a-z][a-z-]*(?:=\S+)?", m.group(1))}
    return found


def test_examples_only_use_options_the_cli_has() -> None:
    for path in CI.glob("*.yml"):
        text = path.read_text()
        for command in ("check", "plan"):
            unknown = used_options(text, command) - options_of(command)
            assert not unknown, f"{path.name}: hwfw {command} has no {sorted(unknown)}"


def test_github_workflow_uploads_sarif_and_comments_the_plan() -> None:
    doc = yaml_rs.loads((CI / "github-actions.yml").read_text())
    check_steps = doc["jobs"]["check"]["steps"]
    runs = " ".join(s.get("run", "") for s in check_steps)
    assert "hwfw check" in runs and "--format sarif" in runs and "--format github" in runs
    upload = next(s for s in check_steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif@"))
    assert upload["with"]["sarif_file"] == "hwfw.sarif"
    assert doc["jobs"]["check"]["permissions"]["security-events"] == "write"
    plan = doc["jobs"]["plan"]
    assert "hwfw plan" in " ".join(s.get("run", "") for s in plan["steps"])
    assert any(s.get("uses", "").startswith("actions/github-script@") for s in plan["steps"])
    assert plan["permissions"]["pull-requests"] == "write"


def test_gitlab_job_publishes_codequality_and_junit_and_notes_the_plan() -> None:
    doc = yaml_rs.loads((CI / "gitlab-ci.yml").read_text())
    reports = doc["hwfw-check"]["artifacts"]["reports"]
    assert reports == {"codequality": "gl-code-quality-report.json", "junit": "hwfw-check.xml"}
    script = "\n".join(doc["hwfw-check"]["script"])
    assert "--format codequality --out gl-code-quality-report.json" in script
    assert "--format junit --out hwfw-check.xml" in script
    plan = "\n".join(doc["hwfw-plan"]["script"])
    assert "hwfw plan" in plan and "/merge_requests/" in plan and "/notes" in plan


def test_pre_commit_hook() -> None:
    [hook] = yaml_rs.loads((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "hwfw-check" and hook["entry"] == "hwfw check"
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    assert re.search(hook["files"], "firmware/baselines.yaml") and re.search(hook["files"], "ci.yml")
    assert not re.search(hook["files"], "images/bmc.bin")
    config = yaml_rs.loads((CI / "pre-commit-config.yaml").read_text())
    assert config["repos"][0]["hooks"][0]["id"] == "hwfw-check"
