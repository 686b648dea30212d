"""Drawing for people stays in the top layer: only cli/ and render/ import rich.

(Who may import hwfw.render at all is checked with the other layers, tests/test_layers.py.)
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "hwfw"
TOP = ("cli", "render", "server")  # the layers allowed to draw for people


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _below_the_top() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] not in TOP]
    assert len(files) > 100  # the walk found the package
    return files


def test_nothing_below_the_top_layer_imports_rich() -> None:
    offenders = {str(p.relative_to(PACKAGE)): sorted(n for n in _imports(p) if n == "rich" or n.startswith("rich."))
                 for p in _below_the_top()}
    assert {k: v for k, v in offenders.items() if v} == {}
