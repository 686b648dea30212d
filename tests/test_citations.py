"""Code and docs cite only what a reader of the repository can open.

Facts about BMCs live in docs/vendor-behaviour.md (with their public sources); no file
points at documents outside the repository (internal briefs by section number, "pain
points", a shared reference directory, a performance reference).
"""

from __future__ import annotations

import re

from tests.helpers import REPO_ROOT

OUTSIDE = re.compile(r"\bbrief\s*(?:§|\d|section)|protocol brief|\(see the brief\)|pain point|/work/shared"
                     r"|performance[- ](?:anchors|reference)|\banchors\s+(?:\d|section|§)|§\s*\d", re.IGNORECASE)
SCOPE = ("hwfw", "tests", "benchmarks", "scripts", "configs", "examples", "docs", "README.md", "pyproject.toml")


SKIP_DIRS = {"__pycache__", ".hwfw", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def _files() -> list[str]:
    out = []
    for top in SCOPE:
        root = REPO_ROOT / top
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        out += [p.relative_to(REPO_ROOT).as_posix() for p in paths
                if not SKIP_DIRS & set(p.relative_to(REPO_ROOT).parts)]
    return sorted(out)


def test_no_file_cites_a_document_outside_the_repository() -> None:
    found = []
    for name in _files():
        path = REPO_ROOT / name
        if path.suffix in (".png", ".bin", ".gz") or name == "tests/test_citations.py":
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{n}: {line.strip()[:100]}" for n, line in enumerate(text.splitlines(), 1)
                  if OUTSIDE.search(line)]
    assert not found, "\n".join(found)
