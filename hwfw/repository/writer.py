"""Append entries to a repository file without disturbing what a person wrote there.

ruamel.yaml round-trips the file: comments, key order, quoting and indentation of
existing entries survive. New entries are written in one canonical key order, with
versions and digests double-quoted (an unquoted 7.10 would load as a float) and
models as a flow list. The file is replaced atomically; if the workspace no longer
validates afterwards, the original text is put back and the problems are raised.
"""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from hwfw.config.loader import check_workspace, display_path
from hwfw.config.schema import is_valid
from hwfw.errors import ConfigError, RepositoryError

KEY_ORDER = ("id", "vendor", "component", "version", "scheme", "models", "source", "allow_http", "sha256",
             "size", "signature", "public_key", "activation", "apply_times", "method", "duration",
             "critical", "rollback", "description")
_QUOTED = {"version", "sha256"}


def _node(key: str, value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(DoubleQuotedScalarString(v) if isinstance(v, str) else v for v in value)
        seq.fa.set_flow_style()
        return seq
    if key in _QUOTED and isinstance(value, str):
        return DoubleQuotedScalarString(value)
    return value


def canonical_entry(entry: Mapping[str, Any]) -> CommentedMap:
    """An entry mapping in canonical key order, ready for the round-trip dumper."""
    out = CommentedMap()
    for key in KEY_ORDER:
        if key in entry and entry[key] is not None:
            out[key] = _node(key, entry[key])
    for key, value in entry.items():  # keys this module does not know yet keep their place at the end
        if key not in out and value is not None:
            out[key] = _node(key, value)
    return out


class RepositoryFile:
    """A repository YAML file opened for appending entries."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.original = path.read_text(encoding="utf-8") if path.exists() else ""
        self.yaml = YAML(typ="rt")
        self.yaml.preserve_quotes = True
        self.yaml.width = 4096
        indent, block_seq_indent = 4, 2
        if self.original.strip():
            _, guessed_indent, guessed_bsi = load_yaml_guess_indent(self.original)
            indent = guessed_indent or indent
            block_seq_indent = guessed_bsi if guessed_bsi is not None else block_seq_indent
        self.yaml.indent(mapping=max(2, block_seq_indent), sequence=indent, offset=block_seq_indent)
        data = self.yaml.load(self.original) if self.original.strip() else None
        if data is None:
            data = CommentedMap()
        if not isinstance(data, CommentedMap):
            raise RepositoryError(f"{display_path(path)}: expected a mapping with an `images` list")
        if data.get("images") is None:
            data["images"] = CommentedSeq()
        images = data["images"]
        if not isinstance(images, CommentedSeq):
            raise RepositoryError(f"{display_path(path)}: `images` is not a list")
        images.fa.set_block_style()  # `images: []` becomes a block list once it has entries
        self.data = data
        self.images: CommentedSeq = images

    def ids(self) -> set[str]:
        return {str(e.get("id")) for e in self.images if isinstance(e, Mapping)}

    def get(self, entry_id: str) -> Mapping[str, Any] | None:
        for e in self.images:
            if isinstance(e, Mapping) and str(e.get("id")) == entry_id:
                return e
        return None

    def append(self, entry: Mapping[str, Any]) -> None:
        entry = {k: v for k, v in entry.items() if v is not None}
        if not is_valid("repository", {"images": [entry]}):
            raise RepositoryError(f"entry {entry.get('id')!r} does not match the repository schema: {dict(entry)}")
        self.images.append(canonical_entry(entry))

    def render(self) -> str:
        buf = io.StringIO()
        self.yaml.dump(self.data, buf)
        return buf.getvalue()

    def _write(self, text: str) -> None:
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o644
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, self.path)

    def save(self, workspace_root: Path | None = None) -> None:
        """Write the file; with `workspace_root`, keep it only if no new problem appears."""
        before = _error_keys(workspace_root) if workspace_root is not None else set()
        self._write(self.render())
        if workspace_root is None:
            return
        workspace, problems = check_workspace(workspace_root)
        new = [p for p in problems if p.severity == "error" and (p.code, p.message) not in before]
        if new:
            self._write(self.original)
            raise ConfigError(new, hint=f"{display_path(self.path)} was left unchanged")


def _error_keys(root: Path) -> set[tuple[str, str]]:
    _, problems = check_workspace(root)
    return {(p.code, p.message) for p in problems if p.severity == "error"}
