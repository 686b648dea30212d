"""Shared fixtures: the bundled lab workspace, copied so tests never touch the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB = REPO_ROOT / "examples" / "lab"


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """A fresh copy of examples/lab in a temporary directory (run-time files excluded)."""
    dest = tmp_path / "lab"
    shutil.copytree(LAB, dest, ignore=shutil.ignore_patterns(".hwfw"))
    return dest
