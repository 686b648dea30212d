"""Vendor names are checked against hwfw's vendor registry where the files are loaded.

The JSON Schemas declare every vendor field a plain string (adding a vendor changes no
schema); `hwfw validate` reports a name the registry does not know at its
file:line:col, with the known names and the closest one. One case per field of every
file kind that names a vendor (hwfw.config.vendorfields.VENDOR_FIELDS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.cli import cli
from hwfw.config.vendorfields import VENDOR_FIELDS, vendor_problems
from hwfw.config.yamlio import YamlSource
from hwfw.vendor_registry import VENDOR_NAMES
from tests.helpers import edit, line_col_of

KNOWN = "one of: " + ", ".join(sorted(VENDOR_NAMES))  # today: dell, generic, hpe, supermicro

# file, text of examples/lab, the same text naming an unknown vendor (the last occurrence
# of that name is where the error points), the message and the suggestion.
CASES = [
    ("inventory.yaml", "  - name: lab-hpe-01\n    bmc: sim://lab-hpe-01\n    vendor: hpe", "hp",
     "hosts[3].vendor: unknown vendor 'hp'", "did you mean 'hpe'? "),
    ("baselines.yaml", 'select: {vendor: dell, models: ["PowerEdge R750"]}', "Dell",
     "baselines.dell-r750.select.vendor: unknown vendor 'Dell'", "did you mean 'dell'? "),
    ("repository.yaml", "  - id: dell-r750-idrac-7.10.30.00\n    description: iDRAC9 firmware\n    vendor: dell",
     "del", "images[0].vendor: unknown vendor 'del'", "did you mean 'dell'? "),
    ("compatibility.yaml", "  - id: lab-r750-bios-1.12-needs-idrac-7\n    vendor: dell", "dells",
     "rules[0].vendor: unknown vendor 'dells'", "did you mean 'dell'? "),
    ("compatibility.yaml", "  - id: dell-idrac-redfish-update-minimum\n    vendor: dell", "idrac",
     "minimums[0].vendor: unknown vendor 'idrac'", ""),
    ("compatibility.yaml", "  - id: lab-idrac-7-from-6.10\n    vendor: dell", "del1",
     "stepping_stones[0].vendor: unknown vendor 'del1'", "did you mean 'dell'? "),
    ("sequences.yaml", "  dell: [bios, raid", "dell_emc", "vendors: unknown vendor 'dell_emc'",
     "did you mean 'dell'? "),
    ("fleet.yaml", "  lab-smc-01:\n    profile: supermicro", "supermicr",
     "hosts.lab-smc-01.profile: unknown simulator profile 'supermicr'", "did you mean 'supermicro'? "),
]
_NAMES = ("supermicro", "dell", "hpe")


def _renamed(text: str, written: str) -> str:
    """`text` with its last vendor name (a value, or the key that starts it) replaced."""
    if text.startswith("  dell:"):
        return text.replace("dell", written, 1)
    name = next(n for n in _NAMES if text.endswith(f" {n}") or f" {n}," in text.rsplit("vendor:", 1)[-1])
    head, _, tail = text.rpartition(f" {name}")
    return f"{head} {written}{tail}"


def validate_json(workspace: Path) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(cli, ["validate", str(workspace), "--format", "json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, json.loads(result.stdout)


def test_the_cases_cover_every_vendor_field() -> None:
    files = [c[0].removesuffix(".yaml") for c in CASES]
    kinds = {"compatibility": "compatibility", "fleet": "fleet"}
    assert sorted(kinds.get(f, f) for f in files) == sorted(k for k, paths in VENDOR_FIELDS.items() for _ in paths)


@pytest.mark.parametrize(("file", "lab_text", "written", "message", "suggestion"), CASES,
                         ids=[f"{c[0]}:{c[3].split(':')[0]}" for c in CASES])
def test_hwfw_validate_names_an_unknown_vendor_where_it_is(lab_copy: Path, file: str, lab_text: str, written: str,
                                                          message: str, suggestion: str) -> None:
    edited = _renamed(lab_text, written)
    edit(lab_copy / file, lab_text, edited)
    line, column = line_col_of(lab_copy / file, edited, edited.rindex(written))

    code, problems = validate_json(lab_copy)

    assert code == 1
    assert [(p["file"].rsplit("/", 1)[-1], p["line"], p["column"], p["message"]) for p in problems] == [
        (file, line, column, message)]
    (problem,) = problems
    assert problem["severity"] == "error" and problem["code"].startswith("unknown-")
    assert problem["expected"] == suggestion + KNOWN


def test_the_lab_names_only_known_vendors(lab_copy: Path) -> None:
    assert validate_json(lab_copy) == (0, [])


# ------------------------------------------------------------------ the check as a parser


# Any text JSON writes as YAML reads it back (PyYAML reads no surrogate-pair escapes).
_names = st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",)), max_size=40)
_field = st.sampled_from([(kind, steps) for kind, paths in VENDOR_FIELDS.items() for steps in paths])


def _document(steps: tuple[str, ...], name: str) -> Any:
    """A document holding `name` at `steps` (the check reads lists and mappings alike)."""
    doc: Any = name
    for step in reversed(steps):
        doc = {"h": doc} if step == "*" else {name: ["bmc"]} if step == "<keys>" else {step: doc}
    return doc


@settings(max_examples=300, deadline=None, database=None)
@given(field=_field, name=st.one_of(_names, st.sampled_from(VENDOR_NAMES)))
def test_a_name_is_reported_once_at_its_node_exactly_when_unknown(field: tuple[str, tuple[str, ...]],
                                                                  name: str) -> None:
    kind, steps = field
    text = json.dumps(_document(steps, name), indent=1)  # JSON is YAML: one node a line
    source = YamlSource(Path(f"{kind}.yaml"), f"{kind}.yaml", text)

    problems = vendor_problems(kind, json.loads(text), source, VENDOR_NAMES)

    if name in VENDOR_NAMES:
        assert problems == []
        return
    (problem,) = problems
    assert problem.location is not None and problem.location.file == f"{kind}.yaml"
    written = text.splitlines()[problem.location.line - 1][problem.location.column - 1:]
    assert written.startswith(json.dumps(name))
    assert problem.expected is not None and problem.expected.endswith(KNOWN)
    if problem.expected.startswith("did you mean"):
        assert problem.expected.split("'")[1] in VENDOR_NAMES


@given(value=st.one_of(st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
def test_a_value_of_another_type_is_left_to_the_schema(value: Any) -> None:
    assert vendor_problems("inventory", {"hosts": [{"vendor": value}]}, None, VENDOR_NAMES) == []
