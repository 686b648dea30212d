"""The CI examples and the pre-commit hook stay in step with the CLI, and run as written:
actionlint passes on the GitHub workflow, and pre-commit runs the hook from this
repository on a scratch firmware repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
import yaml_rs

from hwfw.cli import cli
from hwfw.cli.check import PRE_COMMIT_HINT
from tests.helpers import REPO_ROOT, run_hwfw

CI = REPO_ROOT / "examples" / "ci"
LAB = REPO_ROOT / "examples" / "lab"
PIN = "PIN-A-FULL-COMMIT-SHA"  # the placeholder every example asks users to replace


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
    assert "--format codequality --output gl-code-quality-report.json" in script
    assert "--format junit --output hwfw-check.xml" in script
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


def test_examples_install_hwfw_from_a_pinned_git_ref_not_from_pypi() -> None:
    """hwfw is not on PyPI; a `pip install hwfw` would fetch whoever claims the name."""
    github = yaml_rs.loads((CI / "github-actions.yml").read_text())
    gitlab = yaml_rs.loads((CI / "gitlab-ci.yml").read_text())
    for spec in (github["env"]["HWFW_SPEC"], gitlab["variables"]["HWFW_SPEC"]):
        assert re.fullmatch(rf"hwfw @ git\+https://\S+/hwfw@{PIN}", spec), spec
    for doc in (github, gitlab):
        assert "hwfw==" not in str(doc)
    config = yaml_rs.loads((CI / "pre-commit-config.yaml").read_text())
    assert config["repos"][0]["rev"] == PIN


def test_github_workflow_uses_current_action_majors_and_sarif_permissions() -> None:
    doc = yaml_rs.loads((CI / "github-actions.yml").read_text())
    uses = {s["uses"] for job in doc["jobs"].values() for s in job["steps"] if "uses" in s}
    assert uses == {"actions/checkout@v7", "actions/setup-python@v7", "actions/github-script@v9",
                    "github/codeql-action/upload-sarif@v4"}
    assert doc["jobs"]["check"]["permissions"] == {"contents": "read", "security-events": "write", "actions": "read"}


def test_plan_comments_are_cut_by_hwfw_between_hosts() -> None:
    github = yaml_rs.loads((CI / "github-actions.yml").read_text())
    run = " ".join(s.get("run", "") for s in github["jobs"]["plan"]["steps"])
    limit = int(re.search(r"hwfw plan .*--format markdown --max-chars (\d+)", run).group(1))  # type: ignore[union-attr]
    assert limit <= 65_536 - 1_000  # GitHub's comment limit, less the marker, banner and footer
    script = next(s["with"]["script"] for s in github["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", ""))
    assert ".slice(0, 6" not in script and "truncated" not in script
    gitlab = "\n".join(yaml_rs.loads((CI / "gitlab-ci.yml").read_text())["hwfw-plan"]["script"])
    assert "--format markdown --max-chars 900000" in gitlab and "plan[:" not in gitlab


# ------------------------------------------------------------------ actionlint

def actionlint(path: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: scripts/install-system-packages installs it"
    config = tmp_path / "actionlint.yaml"
    config.write_text("self-hosted-runner:\n  labels: [bmc-network]\n")  # the plan job's runner label
    return subprocess.run([exe, "-config-file", str(config), "-shellcheck", shellcheck, "-no-color", str(path)],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_actionlint_passes_on_the_github_workflow(tmp_path: Path) -> None:
    result = actionlint(CI / "github-actions.yml", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_actionlint_catches_an_old_action_and_a_shell_bug(tmp_path: Path) -> None:
    """The check above is not vacuous: the deprecated Node 20 majors and an unquoted
    variable in a run: script (shellcheck) both fail it."""
    text = (CI / "github-actions.yml").read_text()
    old = tmp_path / "old.yml"
    old.write_text(text.replace("actions/checkout@v7", "actions/checkout@v4"))
    result = actionlint(old, tmp_path)
    assert result.returncode == 1 and "actions/checkout@v4" in result.stdout and "node20" in result.stdout
    unquoted = tmp_path / "unquoted.yml"
    unquoted.write_text(text.replace('hwfw check "$HWFW_WORKSPACE" --base-ref "$base"',
                                     "hwfw check $HWFW_WORKSPACE --base-ref $base"))
    result = actionlint(unquoted, tmp_path)
    assert result.returncode == 1 and "SC2086" in result.stdout


# ------------------------------------------------------------------ pre-commit

@pytest.mark.slow
def test_hook_without_a_workspace_says_how_to_set_args(tmp_path: Path) -> None:
    hooked = run_hwfw("check", cwd=tmp_path, env={"PRE_COMMIT": "1"})
    assert hooked.returncode == 1
    assert "no hwfw.yaml in ." in hooked.stderr and "args: [path/to/workspace]" in hooked.stderr
    assert PRE_COMMIT_HINT.split(";")[0] in " ".join(hooked.stderr.split())
    plain = run_hwfw("check", cwd=tmp_path, env={"PRE_COMMIT": ""})
    assert plain.returncode == 1 and "args:" not in plain.stderr and "-C DIR" in plain.stderr


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", "-c", "user.name=hwfw-test", "-c", "user.email=test@hwfw.invalid",
                             "-c", "init.defaultBranch=main", *args], cwd=cwd, capture_output=True, text=True,
                            check=True, timeout=60)
    return result.stdout.strip()


@pytest.fixture(scope="module")
def hook_source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """This working tree (uncommitted changes included) as a one-commit repository,
    and a pre-commit home shared by the tests so hwfw is installed into the hook's
    environment once."""
    root = tmp_path_factory.mktemp("hook-source")
    src = root / "hwfw"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, check=True, timeout=60).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, src / name)
    git(src, "init", "-q")
    git(src, "add", "-A")
    git(src, "commit", "-q", "-m", "snapshot")
    env = {**os.environ, "PRE_COMMIT_HOME": str(root / "pre-commit-home")}
    env.pop("PRE_COMMIT", None)
    return src, git(src, "rev-parse", "HEAD"), env


@pytest.fixture
def firmware_repo(tmp_path: Path) -> Callable[[str], Path]:
    """A scratch firmware repository with a copy of the lab as its workspace at `where`."""

    def make(where: str) -> Path:
        repo = tmp_path / "firmware-repo"
        shutil.copytree(LAB, repo / where, ignore=shutil.ignore_patterns(".hwfw"))
        git(repo, "init", "-q")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "firmware")
        return repo

    return make


def pre_commit(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300)


def break_workspace(workspace: Path) -> None:
    with (workspace / "baselines.yaml").open("a") as f:
        f.write("  broken: [unclosed\n")


@pytest.mark.slow
def test_try_repo_passes_on_a_good_workspace_and_fails_on_a_broken_one(hook_source, firmware_repo) -> None:
    src, rev, env = hook_source
    repo = firmware_repo(".")
    ok = pre_commit(repo, env, "try-repo", str(src), "hwfw-check", "--ref", rev, "--all-files")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.search(r"hwfw check\.+Passed", ok.stdout), ok.stdout
    break_workspace(repo)
    bad = pre_commit(repo, env, "try-repo", str(src), "hwfw-check", "--ref", rev, "--all-files")
    assert bad.returncode == 1 and re.search(r"hwfw check\.+Failed", bad.stdout), bad.stdout
    assert "baselines.yaml:" in bad.stdout


def example_config(src: Path, rev: str, *, args: bool = True) -> str:
    """examples/ci/pre-commit-config.yaml pointing at the snapshot of this repository."""
    example = (CI / "pre-commit-config.yaml").read_text()
    assert "https://github.com/YOUR-ORG/hwfw" in example and f"rev: {PIN}" in example
    assert re.search(r"^        args: \[firmware\]", example, re.M)
    if not args:
        example = re.sub(r"^        args: .*\n", "", example, flags=re.M)
    return example.replace("https://github.com/YOUR-ORG/hwfw", str(src)).replace(PIN, rev)


@pytest.mark.slow
def test_the_example_config_checks_the_workspace_named_in_args(hook_source, firmware_repo) -> None:
    src, rev, env = hook_source
    repo = firmware_repo("firmware")
    (repo / ".pre-commit-config.yaml").write_text(example_config(src, rev))
    ok = pre_commit(repo, env, "run", "--all-files")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    break_workspace(repo / "firmware")
    bad = pre_commit(repo, env, "run", "--all-files")
    assert bad.returncode == 1 and "firmware/baselines.yaml:" in bad.stdout, bad.stdout


@pytest.mark.slow
def test_the_hook_without_args_and_no_workspace_at_the_root_says_to_set_args(hook_source, firmware_repo) -> None:
    src, rev, env = hook_source
    repo = firmware_repo("firmware")
    (repo / ".pre-commit-config.yaml").write_text(example_config(src, rev, args=False))
    result = pre_commit(repo, env, "run", "--all-files")
    assert result.returncode == 1
    assert "no hwfw.yaml in ." in result.stdout and "args: [path/to/workspace]" in result.stdout
