"""Validation says what the file says and keeps going: the quoting hint quotes the text
as written, and a literal secret does not hide the file's other problems."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.connect import check_workspace
from tests.helpers import LAB, edit, line_col_of


def test_an_unquoted_version_is_quoted_as_written(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", 'bios: {version: "1.6"', "bios: {version: 7.10")
    _, problems = check_workspace(lab_copy)
    (p,) = [p for p in problems if p.code == "wrong-type"]
    assert "quote it ('7.10')" in p.message and "'7.1'" not in p.message
    assert p.location is not None and (p.location.line, p.location.column) == \
        line_col_of(lab_copy / "baselines.yaml", "version: 7.10", len("version: "))


@settings(max_examples=30, deadline=None)
@given(st.from_regex(r"[1-9][0-9]{0,2}\.[0-9]{1,3}0", fullmatch=True))
def test_any_unquoted_decimal_version_is_quoted_with_its_trailing_zeros(tmp_path_factory: pytest.TempPathFactory,
                                                                       text: str) -> None:
    import shutil

    ws = tmp_path_factory.mktemp("ws") / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw"))
    edit(ws / "baselines.yaml", 'bios: {version: "1.6"', f"bios: {{version: {text}")
    _, problems = check_workspace(ws)
    assert any(f"quote it ('{text}')" in p.message for p in problems), [p.message for p in problems]


def test_a_literal_password_does_not_hide_a_typo_in_the_same_file(lab_copy: Path) -> None:
    inventory = lab_copy / "inventory.yaml"
    edit(inventory, "  - name: lab-dell-01\n    bmc: sim://lab-dell-01\n",
         "  - name: lab-dell-01\n    bmc: sim://lab-dell-01\n    credentials: {username: root, password: hunter2}\n")
    edit(inventory, "bmc: sim://lab-dell-02", "bmc: sim://lab-del-02")
    ws, problems = check_workspace(lab_copy)
    assert ws is None
    assert sorted(p.code for p in problems) == ["literal-secret", "unknown-sim-host"]
    assert all("hunter2" not in p.render() for p in problems)
    typo = next(p for p in problems if p.code == "unknown-sim-host")
    assert typo.location is not None and typo.location.line == line_col_of(inventory, "sim://lab-del-02")[0]
