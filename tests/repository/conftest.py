"""Fixtures for repository tests: a local HTTP server, a private cache (helpers: support.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.repository.fileserver import FileServer


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as srv:
        yield srv


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache for the test; also exported as HWFW_CACHE for CLI subprocesses."""
    path = tmp_path / "cache"
    monkeypatch.setenv("HWFW_CACHE", str(path))
    return path
