"""Property: whatever one edit does to a file of examples/lab, `validate` and `check`
answer with exit 0 or 1, never a traceback, with every error at a file:line:col, in
well under 5 s (hypothesis' deadline).

The edits are what hostile pull requests and bad merges produce: keys deleted, scalars
of another type, lists and mappings swapped, garbage lines, truncation, duplicated
keys, unicode oddities (byte-order marks, NUL, bidi and line-separator characters,
invalid UTF-8), deep nesting and huge numbers.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import yaml_rs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compliance.support import hwfw
from tests.helpers import REPO_ROOT

LAB = REPO_ROOT / "examples" / "lab"
FILES = ("hwfw.yaml", "inventory.yaml", "baselines.yaml", "repository.yaml", "compatibility.yaml",
         "sequences.yaml", "fleet.yaml")
ORIGINAL = {name: (LAB / name).read_text(encoding="utf-8") for name in FILES}
DATA = {name: yaml_rs.loads(text) for name, text in ORIGINAL.items()}

ODD_TEXT = ["\ufeff", "\u200b", "\u202e", "\u2028", "\x85", "\x00", "\x07", "\t", "\r", "😀", "ÿ", "\\",
            "'", '"', "&a", "*a", "!!binary", "? ", "- ", ": ", "{", "[", "%YAML 1.1", "---", "...", "#"]
HUGE = ["9" * 4400, "-" + "9" * 5000, "1e999", "-.inf", ".nan", "0x" + "f" * 200, "1_" * 3000 + "1",
        "18446744073709551616", "0o" + "7" * 100]
SCALARS = st.one_of(st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(), st.text(max_size=30),
                    st.sampled_from(HUGE), st.just([]), st.just({}), st.just("2023-01-01"), st.just(["x", 1]))


def _nodes(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _nodes(value, (*path, i))


def _set(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = data
    for item in path[:-1]:
        parent = parent[item]
    parent[path[-1]] = value
    return data


def _dump(data: Any) -> str:
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=10_000)
    for huge in HUGE:  # written as bare YAML scalars, not quoted strings
        text = text.replace(f"'{huge}'", huge)
    return text


@st.composite
def structural(draw: st.DrawFn, name: str) -> str:
    data = copy.deepcopy(DATA[name])
    nodes = list(_nodes(data))
    # Depth first, then a node at that depth: the document and its top-level keys are
    # as likely to be hit as any of the hundreds of leaves.
    depth = draw(st.integers(0, max(len(p) for p, _ in nodes)))
    path, node = draw(st.sampled_from([(p, n) for p, n in nodes if len(p) == depth]))
    op = draw(st.sampled_from(["delete", "retype", "swap", "nest", "dupe-item"]))
    if op == "delete" and path:
        parent = data
        for item in path[:-1]:
            parent = parent[item]
        del parent[path[-1]]
    elif op == "retype":
        data = _set(data, path, draw(SCALARS))
    elif op == "swap":
        swapped = (dict(enumerate(node)) if isinstance(node, list) else list(node.values())
                   if isinstance(node, dict) else [node])
        data = _set(data, path, swapped)
    elif op == "nest":
        depth = draw(st.integers(1, 120))
        for _ in range(depth):
            node = [node]
        data = _set(data, path, node)
    elif op == "dupe-item" and isinstance(node, list) and node:
        node.append(copy.deepcopy(node[0]))
    return _dump(data)


@st.composite
def textual(draw: st.DrawFn, name: str) -> str:
    text = ORIGINAL[name]
    lines = text.splitlines(keepends=True)
    op = draw(st.sampled_from(["garbage", "truncate", "dupe-key", "odd", "huge", "deep"]))
    at = draw(st.integers(0, len(lines)))
    if op == "garbage":
        garbage = draw(st.lists(st.one_of(st.sampled_from(ODD_TEXT), st.text(max_size=8)), max_size=6))
        lines.insert(at, "".join(garbage) + "\n")
    elif op == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    elif op == "dupe-key":
        keyed = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
        i = draw(st.sampled_from(keyed))
        lines.insert(i + 1, lines[i])
    elif op == "odd":
        pos = draw(st.integers(0, len(text)))
        return text[:pos] + draw(st.sampled_from(ODD_TEXT)) + text[pos:]
    elif op in ("huge", "deep"):
        valued = [i for i, line in enumerate(lines) if ": " in line and not line.lstrip().startswith("#")]
        i = draw(st.sampled_from(valued))
        head = lines[i].split(": ", 1)[0]
        n = draw(st.integers(60, 3000))
        value = draw(st.sampled_from(HUGE)) if op == "huge" else draw(st.sampled_from(
            ["[" * n + "x" + "]" * n, "{a: " * n + "x" + "}" * n, "&a [" + "*a, " * 3 + "]"]))
        lines[i] = f"{head}: {value}\n"
    return "".join(lines)


@st.composite
def edits(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(FILES))
    text = draw(st.one_of(structural(name), textual(name)))
    if draw(st.booleans()) and draw(st.booleans()):  # now and then, bytes that are not UTF-8
        return name, text.encode("utf-8")[:-1] + b"\xff\xfe" if text else b"\xff"
    return name, text.encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz") / "lab"
    shutil.copytree(LAB, root, ignore=shutil.ignore_patterns(".hwfw"))
    assert hwfw("validate", str(root)).code == 0  # warm the caches: the deadline measures the work
    return root


def _located_errors(items: list[dict[str, Any]]) -> None:
    for item in items:
        if item["severity"] == "error":
            assert item["file"] and item["line"] >= 1 and item["column"] >= 1, item


@settings(max_examples=600, deadline=5000, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(edit=edits())
def test_validate_and_check_survive_any_edit_of_a_lab_file(workspace: Path, edit: tuple[str, bytes]) -> None:
    name, content = edit
    path = workspace / name
    path.write_bytes(content)
    try:
        for fmt in ("text", "json"):
            run = hwfw("validate", str(workspace), "--format", fmt)
            assert run.code in (0, 1), (run.code, run.stderr[-2000:])
            assert "Traceback" not in run.stdout + run.stderr
        problems = json.loads(run.stdout)
        assert (run.code == 1) == any(p["severity"] == "error" for p in problems), problems
        _located_errors(problems)
        check = hwfw("check", str(workspace), "--format", "json")
        assert check.code in (0, 1), (check.code, check.stderr[-2000:])
        _located_errors(json.loads(check.stdout)["findings"])
    finally:
        path.write_text(ORIGINAL[name], encoding="utf-8")
