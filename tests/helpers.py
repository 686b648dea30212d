"""Small helpers shared by tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LAB = REPO_ROOT / "examples" / "lab"


def run_hwfw(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 120, input: str | None = None,
             allow_leaked_sessions: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the hwfw CLI in a subprocess, as a user would, and capture its output.

    A command that ran the embedded simulator must not have left sessions open on it
    (the simulator reports them on stderr when it stops)."""
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("COLUMNS", "160")
    result = subprocess.run([sys.executable, "-m", "hwfw", *args], cwd=cwd, env=full_env, text=True,
                            capture_output=True, timeout=timeout, input=input)
    if not allow_leaked_sessions:
        assert "session(s) left open" not in result.stderr, result.stderr[-3000:]
    return result


def edit(path: Path, old: str, new: str) -> None:
    """Replace `old` (which must occur exactly once) by `new` in a file."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def line_col_of(path: Path, needle: str, offset: int = 0) -> tuple[int, int]:
    """1-based line and column of the first occurrence of `needle` (+ offset) in a file."""
    text = path.read_text()
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def use_postgres(workspace: Path, schema: str, dsn_env: str = "HWFW_PG_DSN", name: str | None = None) -> None:
    """Point a workspace's hwfw.yaml at the PostgreSQL backend (settings.backend)."""
    extra = f", workspace: {name}" if name else ""
    edit(workspace / "hwfw.yaml", "settings:\n",
         f"settings:\n  backend: {{type: postgres, dsn_env: {dsn_env}, schema: {schema}{extra}}}\n")


def free_port() -> int:
    """A TCP port free on loopback right now (a server told to use it may still lose a race)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
