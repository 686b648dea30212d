"""Literal secrets in every YAML file under the workspace, not only the files it names.

The loader already scans the files hwfw.yaml names; this walks the rest of the
directory (notes, CI files, vendor exports someone committed) with the same rules
(`hwfw.config.secrets`). Values that are references, not secrets (`${{ secrets.X }}`,
`$VAR`, `{{ vault_password }}`), are not reported. Skipped: version-control and tool
directories, hwfw's runtime directory, and the simulator's fleet file (its passwords
belong to simulated BMCs, exactly as the loader treats it). A symbolic link leading out
of the workspace is reported and never read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml_rs

from hwfw.compliance.findings import Finding, workspace_relative
from hwfw.config.paths import EXPECTED as EXPECTED_INSIDE
from hwfw.config.paths import PathPolicy
from hwfw.config.secrets import find_literal_secrets, may_hold_secret
from hwfw.config.yamlio import YamlSource, loads, read_text
from hwfw.errors import SourceLocation

YAML_SUFFIXES = (".yaml", ".yml")
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "node_modules", "__pycache__", ".tox",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"})
_REFERENCE = re.compile(r"^\s*(\$\{\{.*\}\}|\$\{[^}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|<[^<>]+>)\s*$")
_LINE = re.compile(r"^(?P<indent>\s*(?:-\s+)?)[\"']?(?P<key>[\w-]+)[\"']?\s*:\s*(?P<value>\S.*?)\s*$")
EXPECTED = "a reference: password_env: VAR_NAME or password_file: PATH"


def yaml_files(root: Path, skip: set[Path]) -> Iterator[Path]:
    """YAML files under `root` in a stable order, minus `skip` and tool directories, as
    found (a symbolic link is yielded as the link, not its target)."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and (here / d).resolve() not in skip)
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES) and (here / name).resolve() not in skip:
                yield here / name


def scan_secrets(root: Path, skip: set[Path], policy: PathPolicy | None = None) -> list[Finding]:
    """Literal secrets in the YAML files under `root`. A file that is a symbolic link
    leading out of the workspace (and `policy`'s allowed roots) is never read: it is
    reported, by the link's name."""
    policy = policy or PathPolicy(root)
    out: list[Finding] = []
    for found in yaml_files(root, skip):
        written = found.relative_to(root).as_posix()
        leaves = policy.outside(written)
        if leaves is not None:
            out.append(Finding("path-outside-workspace", "error", leaves, SourceLocation(written, 1, 1),
                               expected=EXPECTED_INSIDE))
            continue
        path = found.resolve()
        try:
            text = read_text(path)
        except (OSError, UnicodeDecodeError):
            continue
        if not may_hold_secret(text):
            continue
        out += _scan_file(root, path, text)
    return out


def _finding(key: str, where: SourceLocation) -> Finding:
    return Finding("literal-secret", "error", f"literal secret in YAML: {key!r} holds a value", where,
                   expected=EXPECTED)


def _scan_file(root: Path, path: Path, text: str) -> list[Finding]:
    display = workspace_relative(str(path), root)
    try:
        data = loads(text)
    except yaml_rs.YAMLDecodeError:  # not YAML hwfw can read (templates, multi-document files): scan lines
        return _scan_lines(display, text)
    source = YamlSource(path, display, text)
    out = []
    for key_path, key in find_literal_secrets(data):
        if _is_reference(_value_at(data, key_path)):
            continue
        out.append(_finding(key, source.location(list(key_path), key=True)))
    return out


def _scan_lines(display: str, text: str) -> list[Finding]:
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = _LINE.match(line)
        if m is None or m["value"].startswith(("#", "|", ">", "{", "[", "&", "*")):
            continue  # block scalars, flow collections and aliases are not one literal
        value = m["value"].strip("\"'")
        if any(True for _ in find_literal_secrets({m["key"]: value})) and not _is_reference(value):
            out.append(_finding(m["key"], SourceLocation(display, n, len(m["indent"]) + 1)))
    return out


def _value_at(data: Any, path: tuple[str | int, ...]) -> Any:
    for item in path:
        data = data[item]
    return data


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and _REFERENCE.match(value) is not None
