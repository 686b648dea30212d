"""Commands named in hints, built so that they work where the user is.

A hint that says "run hwfw state force-unlock ID" fails with `no hwfw.yaml in .` when
the user ran hwfw from another directory with `-C lab`. Library code therefore names
the next command through `command(...)`, which adds the workspace the way the user
gave it (relative to the current directory, or absolute) as `-C DIR`; the public API
(hwfw.api) sets that workspace for the duration of each operation with `using()`.
Outside an operation (or when the workspace is the current directory) no `-C` is
added. Words are shell-quoted where needed, so a hint can be copied as it is.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

__all__ = ["command", "current_workspace", "using", "workspace_argument"]

_workspace: ContextVar[Path | None] = ContextVar("hwfw_invocation_workspace", default=None)


@contextmanager
def using(workspace: Path) -> Iterator[None]:
    """Hints built inside this block name `workspace` (asyncio tasks started inside inherit it)."""
    token = _workspace.set(workspace.resolve())
    try:
        yield
    finally:
        _workspace.reset(token)


def current_workspace() -> Path | None:
    return _workspace.get()


def workspace_argument(workspace: Path, cwd: Path | None = None) -> str | None:
    """How to name `workspace` from `cwd` (default: the current directory): None when
    it is that directory, a relative path below it, else the absolute path."""
    here = (cwd or Path.cwd()).resolve()
    full = workspace.resolve()
    if full == here:
        return None
    try:
        return full.relative_to(here).as_posix()
    except ValueError:
        rel = os.path.relpath(full, here)
        return rel if rel.count("..") <= 2 and len(rel) < len(str(full)) else str(full)


def command(*words: str, workspace: Path | None = None) -> str:
    """`hwfw WORDS [-C DIR]`, shell-quoted: the command as the user must type it here."""
    parts = ["hwfw", *words]
    ws = workspace or _workspace.get()
    if ws is not None:
        arg = workspace_argument(ws)
        if arg is not None:
            parts += ["-C", arg]
    return " ".join(_quote(p) for p in parts)


def _quote(word: str) -> str:
    # Placeholders (PLAN, HOST:COMPONENT) and options read better unquoted; quote
    # only what a shell would split or expand.
    return word if word and all(c.isalnum() or c in "-_./:=@%+," for c in word) else shlex.quote(word)
