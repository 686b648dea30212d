"""The workspace is -C DIR before or after any command, or the command's DIRECTORY argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from hwfw.cli import cli
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import StateStore


@pytest.fixture
def recorded(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The lab with a state recording two hosts; the current directory is elsewhere."""
    StateStore(lab_copy / ".hwfw" / "state.json").write(State(lineage="", hosts={
        "lab-dell-01": {"bios": ComponentRecord(version="1.12.1", status="ok")},
        "lab-gen-01": {"bmc": ComponentRecord(version="2.15.0", status="pending-activation")}}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return lab_copy


def hwfw(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("form", ["after", "before", "positional"])
def test_state_list_takes_the_workspace_every_way(recorded: Path, form: str) -> None:
    ws = str(recorded)
    args = {"after": ["state", "list", "-C", ws], "before": ["-C", ws, "state", "list"],
            "positional": ["state", "list", ws]}[form]
    code, out, err = hwfw(*args)
    assert code == 0, err
    assert out.split() == ["lab-dell-01/bios", "1.12.1", "ok", "lab-gen-01/bmc", "2.15.0", "pending-activation"]


def test_state_show_host_with_a_positional_workspace(recorded: Path) -> None:
    code, out, err = hwfw("state", "show", "lab-gen-01", str(recorded), "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["host"] == "lab-gen-01" and doc["components"] == {"bmc": {"version": "2.15.0",
                                                                         "status": "pending-activation"}}
    code, out, _ = hwfw("state", "show", "lab-*", "-C", str(recorded), "--format", "json")
    assert code == 0 and set(json.loads(out)["hosts"]) == {"lab-dell-01", "lab-gen-01"}
    code, out, _ = hwfw("state", "show", "*", str(recorded))
    assert code == 0 and "lab-dell-01" in out and "lab-gen-01" in out


def test_a_single_argument_is_a_host_and_the_error_says_how_to_name_a_workspace(recorded: Path) -> None:
    result = CliRunner().invoke(cli, ["state", "show", str(recorded)])
    assert result.exit_code == 1
    assert f"To show every host of it: hwfw state show -C {recorded}" in str(result.exception.hint)  # type: ignore[union-attr]


def test_two_different_workspaces_are_a_usage_error(recorded: Path, tmp_path: Path) -> None:
    code, _, err = hwfw("-C", str(recorded), "state", "list", str(tmp_path))
    assert code == 2 and "two workspaces given" in err
    code, _, err = hwfw("-C", str(recorded), "validate", "-C", str(recorded))  # the same one twice is fine
    assert code == 0, err


@pytest.mark.parametrize("args", [["validate"], ["check"], ["repo", "list"], ["state", "list"]])
def test_dash_c_after_the_command(recorded: Path, args: list[str]) -> None:
    code, _, err = hwfw(*args, "-C", str(recorded))
    assert code == 0, err
