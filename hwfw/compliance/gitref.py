"""Downgrades: baseline targets compared with the same targets at a Git revision.

The workspace's files at REF are read with `git show REF:./PATH` run in the
workspace directory, so a workspace in a subdirectory of its repository works, and
nothing is checked out or written. hwfw.yaml at REF says which file held the baselines
then (a rename is followed). Baselines or components that did not exist at REF are new,
not downgrades.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml_rs

from hwfw import versions
from hwfw.compliance.findings import Finding
from hwfw.compliance.locate import Locator
from hwfw.config.model import Workspace
from hwfw.config.yamlio import loads
from hwfw.errors import HwfwError
from hwfw.versions import IncomparableVersions, InvalidVersion


class GitError(HwfwError):
    """`--base-ref` could not be read from Git."""


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("git") is None:
        raise GitError("--base-ref needs git, which is not on PATH", hint="install git, or drop --base-ref")
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def show(root: Path, ref: str, rel: str) -> str | None:
    """A file's text at `ref` (`rel` is relative to `root`), or None when it did not exist."""
    result = _git(root, "show", f"{ref}:./{rel}")
    if result.returncode != 0:
        return None
    return result.stdout


def verify_ref(root: Path, ref: str) -> str:
    """The commit `ref` names; raises GitError with git's own words when it names none."""
    result = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if result.returncode == 0:
        return result.stdout.strip()
    inside = _git(root, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0:
        raise GitError(f"--base-ref {ref}: {root} is not in a Git repository ({inside.stderr.strip()})",
                       hint="run hwfw check in a clone of the repository, or drop --base-ref")
    raise GitError(f"--base-ref {ref}: no such revision in the repository at {root}",
                   hint="fetch it first (in CI: actions/checkout with fetch-depth: 0, or "
                        "git fetch origin main), then pass e.g. --base-ref origin/main")


def baselines_at(ws: Workspace, ref: str) -> dict[str, dict[str, str]]:
    """{baseline: {component id: version}} as the workspace declared it at `ref`."""
    verify_ref(ws.root, ref)
    root_text = show(ws.root, ref, "hwfw.yaml")
    if root_text is None:
        return {}  # the workspace is new in this change
    root_doc = _load(root_text)
    files = root_doc.get("files") if isinstance(root_doc, dict) else None
    rel = files.get("baselines") if isinstance(files, dict) else None
    if not isinstance(rel, str):
        return {}
    doc = _load(show(ws.root, ref, rel) or "")
    out: dict[str, dict[str, str]] = {}
    baselines = doc.get("baselines") if isinstance(doc, dict) else None
    for name, b in (baselines or {}).items() if isinstance(baselines, dict) else ():
        comps = b.get("components") if isinstance(b, dict) else None
        for cid, c in (comps or {}).items() if isinstance(comps, dict) else ():
            if isinstance(c, dict) and isinstance(c.get("version"), (str, int, float)):
                out.setdefault(str(name), {})[str(cid)] = str(c["version"])
    return out


def _load(text: str) -> Any:
    try:
        return loads(text)
    except yaml_rs.YAMLDecodeError:  # a file broken at REF compares as absent: nothing to downgrade from
        return None


def downgrades(ws: Workspace, loc: Locator, ref: str) -> list[Finding]:
    before = baselines_at(ws, ref)
    out: list[Finding] = []
    for b in ws.baselines:
        old_targets = before.get(b.name, {})
        for t in b.components:
            old = old_targets.get(t.id)
            if old is None or old.strip() == t.version.strip():
                continue
            entry = ws.repository.get(t.image) if t.image else None
            scheme = t.scheme or (entry.scheme if entry else None)
            where = loc.component(b.name, t.id)
            try:
                lower = versions.parse(t.version, scheme) < versions.parse(old, scheme)
            except (InvalidVersion, IncomparableVersions) as exc:
                out.append(Finding("downgrade-undecidable", "warning",
                                   f"baseline {b.name!r} changes {t.id} from {old} (at {ref}) to {t.version}, "
                                   f"which cannot be ordered: {exc}", where))
                continue
            if lower and not t.allow_downgrade:
                out.append(Finding("downgrade", "error",
                                   f"baseline {b.name!r} lowers {t.id} from {old} (at {ref}) to {t.version}",
                                   where, component=t.id,
                                   expected=f"a version >= {old}, or allow_downgrade: true on {t.id!r} "
                                            "if the downgrade is intended"))
    return out
