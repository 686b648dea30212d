"""The workspace as a Git checkout the server reads: its files, its commit, its validity.

A deploy job updates the checkout (`git pull`); the server notices on its next look
(`settings.server.watch_interval`): the fingerprint is the size and modification time
of hwfw.yaml, of every file the workspace names, and of the Git ref HEAD points at. When
it changes, the workspace is validated again and the commit read (`git rev-parse
HEAD`, plus whether files under the workspace differ from it). Listeners then refresh
what depends on the files (the compliance view). Plans record the commit and the
digests of the files they were made from; a plan whose files changed is stale.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwfw.logs import get_logger

__all__ = ["GitSource", "WorkspaceView", "WorkspaceWatcher", "git_source"]

log = get_logger("api.watch")


@dataclass(frozen=True, slots=True)
class GitSource:
    """The checkout's commit (None: not a Git checkout) and whether the workspace's files differ from it."""

    commit: str | None
    dirty: bool = False
    branch: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"commit": self.commit, "dirty": self.dirty, "branch": self.branch}


def _git(cwd: Path, *args: str) -> str | None:
    if shutil.which("git") is None:
        return None
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def git_source(root: Path) -> GitSource:
    """The Git commit of the checkout holding `root`, if it is one (blocking: run it in a thread)."""
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD")
    if not commit:
        return GitSource(None)
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return GitSource(commit, bool(status), branch if branch and branch != "HEAD" else None)


def _git_dir(root: Path) -> Path | None:
    for d in (root, *root.parents):
        dot = d / ".git"
        if dot.is_dir():
            return dot
        if dot.is_file():   # a worktree or submodule: "gitdir: PATH"
            text = dot.read_text(encoding="utf-8", errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text[7:].strip())
                return target if target.is_absolute() else (d / target).resolve()
    return None


@dataclass
class WorkspaceView:
    """What the watcher knows of the workspace now."""

    valid: bool = False
    errors: int = 0
    warnings: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    source: GitSource = field(default_factory=lambda: GitSource(None))
    checked_at: str | None = None
    files: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "errors": self.errors, "warnings": self.warnings,
                "problems": self.problems[:50], **self.source.to_json(), "checked_at": self.checked_at}


class WorkspaceWatcher:
    """See the module docstring. `validate()` returns (ok, problems as JSON, files named);
    `now()` the time as RFC 3339."""

    def __init__(self, root: Path, validate: Callable[[], Awaitable[tuple[bool, list[dict[str, Any]], list[Path]]]],
                 now: Callable[[], str]) -> None:
        self.root = root
        self._validate = validate
        self._now = now
        self.view = WorkspaceView()
        self._files: list[Path] = [root / "hwfw.yaml"]
        self._fingerprint: tuple[Any, ...] | None = None
        self._listeners: list[Callable[[WorkspaceView], Awaitable[None]]] = []
        self._git_dir = _git_dir(root)

    def on_change(self, listener: Callable[[WorkspaceView], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    def _stat(self, path: Path) -> tuple[str, int, int]:
        try:
            st = path.stat()
        except OSError:
            return (str(path), -1, -1)
        return (str(path), st.st_mtime_ns, st.st_size)

    def fingerprint(self) -> tuple[Any, ...]:
        paths = list(self._files)
        if self._git_dir is not None:
            head = self._git_dir / "HEAD"
            paths += [head, self._git_dir / "packed-refs"]
            try:
                ref = head.read_text(encoding="utf-8").strip()
            except OSError:
                ref = ""
            if ref.startswith("ref:"):
                paths.append(self._git_dir / ref[4:].strip())
        return tuple(self._stat(p) for p in paths)

    async def check(self) -> bool:
        """Look for a change; validate and notify when there is one. True when it changed."""
        fingerprint = await asyncio.to_thread(self.fingerprint)
        if fingerprint == self._fingerprint:
            return False
        ok, problems, files = await self._validate()
        source = await asyncio.to_thread(git_source, self.root)
        named = sorted({self.root / "hwfw.yaml", *files}) if files else self._files
        if named != self._files:   # other files now: fingerprint those (else keep the one taken before
            self._files = named    # validating, so an edit made meanwhile is seen next time)
            fingerprint = await asyncio.to_thread(self.fingerprint)
        self._fingerprint = fingerprint
        errors = sum(1 for p in problems if p.get("severity") == "error")
        self.view = WorkspaceView(valid=ok, errors=errors, warnings=len(problems) - errors, problems=problems,
                                  source=source, checked_at=self._now(), files=[str(f) for f in self._files])
        log.info("workspace %s: %s, commit %s", self.root, "valid" if ok else f"{errors} error(s)",
                 source.commit or "(not a Git checkout)")
        for listener in list(self._listeners):
            try:
                await listener(self.view)
            except Exception:
                log.warning("a workspace change listener failed", exc_info=True)
        return True
