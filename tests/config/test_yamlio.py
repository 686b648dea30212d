from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.config.yamlio import YamlSyntaxError, load_yaml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return path


def test_values_are_yaml_1_2_and_versions_stay_text_when_quoted(tmp_path: Path) -> None:
    data, _ = load_yaml(write(tmp_path, 'a: yes\nb: on\nc: "7.10"\nd: 7.10\n'), "f.yaml")
    # YAML 1.2: yes/on are strings, not booleans (no Norway problem).
    assert data == {"a": "yes", "b": "on", "c": "7.10", "d": 7.1}


def test_unclosed_bracket_reports_where_it_opened_and_where_parsing_failed(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  - name: a\n    labels: [x, y\n  - name: b\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path, "f.yaml")
    problem = info.value.problem
    assert problem.code == "yaml-syntax"
    assert (problem.location.line, problem.location.column) == (4, 9)
    (opened, note), = problem.related
    assert (opened.line, opened.column) == (3, 13)
    assert "started" in note


def test_unclosed_quote_points_at_the_quote(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 'oops\nc: 2\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path, "f.yaml")
    related = info.value.problem.related
    assert related and (related[0][0].line, related[0][0].column) == (2, 4)


def test_duplicate_keys_are_errors_with_both_positions(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\na: 3\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path, "f.yaml")
    problem = info.value.problem
    assert "duplicate key 'a'" in problem.message
    assert (problem.location.line, problem.location.column) == (3, 1)
    assert (problem.related[0][0].line, problem.related[0][0].column) == (1, 1)


def test_python_tags_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(YamlSyntaxError):
        load_yaml(path, "f.yaml")


def test_locations_of_values_and_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "hosts:\n  - name: a\n    bmc: https://x\n")
    _, source = load_yaml(path, "f.yaml")
    value = source.location(["hosts", 0, "bmc"])
    key = source.location(["hosts", 0, "bmc"], key=True)
    assert (value.line, value.column) == (3, 10)
    assert (key.line, key.column) == (3, 5)
    # A missing key resolves to the nearest existing ancestor.
    missing = source.location(["hosts", 0, "nope"])
    assert (missing.line, missing.column) == (2, 5)
