"""hwfw/invocation.py: commands in hints name the workspace as the user must type it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwfw.invocation import command, current_workspace, using, workspace_argument


def test_no_workspace_no_dash_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert command("state", "force-unlock", "abc123") == "hwfw state force-unlock abc123"
    with using(tmp_path):  # the workspace is the current directory: nothing to add
        assert command("apply") == "hwfw apply"


def test_the_workspace_as_given_relative_or_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = tmp_path / "fleets" / "lab one"
    ws.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    with using(ws):
        assert command("state", "force-unlock", "abc123", "--force") == \
            "hwfw state force-unlock abc123 --force -C 'fleets/lab one'"
    elsewhere = tmp_path / "a" / "b" / "c" / "d"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    assert workspace_argument(ws) == str(ws)  # four levels up: the absolute path reads better
    assert workspace_argument(ws, cwd=tmp_path / "fleets") == "lab one"


def test_tasks_started_inside_using_inherit_the_workspace(tmp_path: Path) -> None:
    async def inner() -> Path | None:
        return current_workspace()

    async def main() -> Path | None:
        with using(tmp_path):
            return await asyncio.create_task(inner())

    assert asyncio.run(main()) == tmp_path.resolve()
    assert current_workspace() is None


@given(st.text(min_size=1, max_size=20))
def test_every_word_survives_the_shell(word: str) -> None:
    import shlex

    assert "\0" in word or shlex.split(command("plan", "--out", word))[-1] == word
