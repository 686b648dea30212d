"""Plan documents: a plan together with the JSON that makes it appliable later.

`Workspace.plan()` returns a `PlanDocument`: the `Plan` value and its document
(schemas/plan.schema.json) with the digests of the workspace files it was made from.
`save()` writes it for `hwfw apply --plan FILE` and records where the workspace is,
relative to the file, so that apply finds the workspace without `-C`; `load_plan()`
reads one back. Staleness (files, state or hardware changed since) is checked by apply.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfw.config.schema import is_valid, validate
from hwfw.errors import ConfigError, HwfwError, Problem, SourceLocation
from hwfw.invocation import command
from hwfw.state.files import atomic_write_json

if TYPE_CHECKING:
    from hwfw.plan.model import Plan

# The planner's format (hwfw.plan.model.PLAN_FORMAT, which tests/api keeps equal): the
# plan package, with networkx, is imported only when a plan is read.
PLAN_FORMAT = 1

__all__ = ["PlanDocument", "load_plan"]


@dataclass(frozen=True)
class PlanDocument:
    """A plan and its document. `path` is where it was saved or read (None: not saved)."""

    plan: Plan
    document: Mapping[str, Any]
    path: Path | None = None
    _id: str = field(default="", compare=False, repr=False)

    @property
    def id(self) -> str:
        """A content id (16 hex digits of the sha256 of the document without `workspace`):
        the same plan made from the same inputs at the same time has the same id."""
        if not self._id:
            body = {k: v for k, v in self.document.items() if k != "workspace"}
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
            object.__setattr__(self, "_id", digest)
        return self._id

    @property
    def workspace(self) -> Path | None:
        """The workspace directory the saved plan records (resolved), or None."""
        rec = self.document.get("workspace")
        if not isinstance(rec, Mapping) or not isinstance(rec.get("path"), str):
            return None
        where = Path(rec["path"])
        if not where.is_absolute():
            if self.path is None:
                return None
            where = self.path.parent / where
        return where.resolve()

    def to_json(self) -> dict[str, Any]:
        return dict(self.document)

    @staticmethod
    def from_json(doc: Mapping[str, Any], path: Path | None = None) -> PlanDocument:
        """A plan document already read and checked (a plan saved in a server's store)."""
        from hwfw.plan.model import Plan

        try:
            plan = Plan.from_json(doc)
        except (ValueError, KeyError, TypeError) as exc:
            raise HwfwError(f"not a plan this hwfw can apply: {exc}", hint="make a new plan") from exc
        return PlanDocument(plan, dict(doc), path)

    def for_workspace(self, workspace: Path, plan_file: Path) -> PlanDocument:
        """The document as saved at `plan_file`, recording `workspace` relative to it."""
        doc = dict(self.document)
        doc["workspace"] = {"path": _relative(workspace.resolve(), plan_file.resolve().parent)}
        return replace(self, document=doc, path=plan_file, _id="")

    def save(self, path: Path, workspace: Path) -> PlanDocument:
        """Write the plan to `path` (atomically) for `hwfw apply --plan`, recording
        `workspace`; returns the document as saved."""
        saved = self.for_workspace(workspace, path)
        atomic_write_json(path, saved.to_json(), mode=0o644)
        return saved


def _relative(target: Path, base: Path) -> str:
    """`target` relative to `base` (POSIX separators), or absolute when that is shorter
    to read than a climb out of `base`."""
    try:
        rel = os.path.relpath(target, base)
    except ValueError:  # another drive
        return target.as_posix()
    rel_posix = Path(rel).as_posix()
    return rel_posix if rel_posix.count("..") <= 3 else target.as_posix()


def load_plan(path: Path) -> PlanDocument:
    """Read a saved plan; raises HwfwError (unreadable, not a plan, another format)."""
    hint = f"write one with: {command('plan', '--out', str(path))}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HwfwError(f"cannot read saved plan {path}: {exc}", hint=hint) from exc
    if not isinstance(doc, dict):
        raise HwfwError(f"{path} is not a saved hwfw plan", hint=hint)
    if doc.get("format_version") != PLAN_FORMAT:
        raise HwfwError(f"{path}: plan format_version {doc.get('format_version')!r} is not the format this hwfw "
                        f"reads ({PLAN_FORMAT})", hint=hint)
    if not is_valid("plan", doc):
        problems = validate("plan", doc, None)
        raise ConfigError([Problem(p.message, SourceLocation(str(path), 1, 1), code=p.code, expected=p.expected)
                           for p in problems[:20]],
                          hint=f"{path} does not match schemas/plan.schema.json; {hint}")
    from hwfw.plan.model import Plan

    try:
        plan = Plan.from_json(doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise HwfwError(f"{path} is not a plan this hwfw can apply: {exc}", hint=hint) from exc
    return PlanDocument(plan, doc, path)
