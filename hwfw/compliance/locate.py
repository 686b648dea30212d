"""Positions of workspace nodes for findings, read lazily and once per file.

The loader keeps its `YamlSource`s to itself; `check` re-reads a file only when a
finding points into it, so a clean 10,000-host workspace composes no node tree at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hwfw.compliance.findings import workspace_relative
from hwfw.config.model import Workspace
from hwfw.config.yamlio import PathItem, YamlSource, read_text
from hwfw.errors import SourceLocation


class Locator:
    """`at(kind, path)` -> the workspace-relative file:line:col of a node of a named file."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self._sources: dict[Path, YamlSource | None] = {}

    def source(self, file: Path) -> YamlSource | None:
        if file not in self._sources:
            try:
                text = read_text(file)
            except (OSError, UnicodeDecodeError):
                self._sources[file] = None
            else:
                self._sources[file] = YamlSource(file, workspace_relative(str(file), self.ws.root), text)
        return self._sources[file]

    def at(self, kind: str, path: Sequence[PathItem], *, key: bool = False) -> SourceLocation | None:
        file = self.ws.files.get(kind)
        if file is None:
            return None
        src = self.source(file)
        if src is None:
            return SourceLocation(workspace_relative(str(file), self.ws.root), 1, 1)
        return src.location(path, key=key)

    def component(self, baseline: str, component: str, field: str | None = "version") -> SourceLocation | None:
        """A baseline component's `field` (its key itself when `field` is None)."""
        path: list[PathItem] = ["baselines", baseline, "components", component]
        if field is None:
            return self.at("baselines", path, key=True)
        return self.at("baselines", [*path, field])

    def image(self, index: int, field: str = "id") -> SourceLocation | None:
        return self.at("repository", ["images", index, field])

    def rule(self, section: str, index: int) -> SourceLocation | None:
        """A compatibility-matrix entry (`rules`, `minimums`, `stepping_stones`), at its id."""
        return self.at("compatibility", [section, index, "id"])

    def host(self, index: int) -> SourceLocation | None:
        return self.at("inventory", ["hosts", index, "name"])
