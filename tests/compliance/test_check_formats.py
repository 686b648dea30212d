"""`hwfw check` output formats: the lab is clean; SARIF validates against the OASIS schema;
JUnit parses and counts failures; GitHub annotations are escaped; JSON follows its schema."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from hwfw.compliance.output import escape_data, escape_property
from tests.compliance.support import FORMATS, check_all_formats, hwfw, junit_failures
from tests.helpers import REPO_ROOT, edit, run_hwfw

SARIF_SCHEMA = REPO_ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
SARIF_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"
CHECK_SCHEMA = REPO_ROOT / "schemas" / "check.schema.json"


@pytest.mark.slow
def test_the_lab_is_clean() -> None:
    # The real examples/lab, through the console entry point, as an operator runs it.
    result = run_hwfw("check", "examples/lab", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == ["hwfw check passed: 0 errors, 0 warnings, 0 notes; 7 checks ran"]


def test_the_lab_is_clean_in_every_format() -> None:
    runs = check_all_formats(REPO_ROOT / "examples" / "lab")
    assert {f: r.code for f, r in runs.items()} == dict.fromkeys(FORMATS, 0)
    assert json.loads(runs["json"].stdout)["findings"] == []
    assert json.loads(runs["sarif"].stdout)["runs"][0]["results"] == []
    assert runs["github"].stdout == ""
    assert junit_failures(runs["junit"].stdout) == (0, 0)


# ---------------------------------------------------------------- SARIF

def _format_checker() -> jsonschema.FormatChecker:
    """`uri`/`uri-reference` checks without optional packages (jsonschema skips them otherwise)."""
    checker = jsonschema.FormatChecker()

    @checker.checks("uri")
    def is_uri(value: object) -> bool:
        return not isinstance(value, str) or (bool(urlsplit(value).scheme) and " " not in value)

    @checker.checks("uri-reference")
    def is_uri_reference(value: object) -> bool:
        return not isinstance(value, str) or (" " not in value and "\\" not in value)

    return checker


def validate_sarif(doc: dict) -> None:  # type: ignore[type-arg]
    schema = json.loads(SARIF_SCHEMA.read_text())
    for validator in (jsonschema.Draft7Validator, jsonschema.Draft4Validator):
        errors = sorted(validator(schema, format_checker=_format_checker()).iter_errors(doc), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


def test_sarif_schema_fixture_is_the_oasis_copy() -> None:
    assert hashlib.sha256(SARIF_SCHEMA.read_bytes()).hexdigest() == SARIF_SHA256
    title = json.loads(SARIF_SCHEMA.read_text())["title"]
    assert title.startswith("Static Analysis Results Format (SARIF) Version 2.1.0")


def test_sarif_of_a_broken_lab_validates_and_is_complete(lab_copy: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # An error with related locations, a secret in a file whose name needs
    # percent-encoding, and a warning.
    edit(lab_copy / "sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]",
         "dell: [bios, raid, drive, psu, cpld, bmc]")
    edit(lab_copy / "compatibility.yaml", "minimums:", """  - id: lab-r750-idrac-7-needs-bios-1.12
    vendor: dell
    models: ["PowerEdge R750"]
    when: {component: bmc, version: ">=7.00"}
    requires: {component: bios, version: ">=1.12"}

minimums:""")
    (lab_copy / "old notes").mkdir()
    (lab_copy / "old notes" / "bmc #1.yaml").write_text("api_key: 0123456789abcdef\n")
    monkeypatch.chdir(tmp_path)
    run = hwfw("check", str(lab_copy), "--format", "sarif")
    assert run.code == 1
    doc = json.loads(run.stdout)
    validate_sarif(doc)
    sarif = doc["runs"][0]
    driver = sarif["tool"]["driver"]
    assert driver["name"] == "hwfw" and driver["version"]
    rule_ids = [r["id"] for r in driver["rules"]]
    assert all(r["shortDescription"]["text"] for r in driver["rules"])
    assert sarif["originalUriBaseIds"]["%SRCROOT%"]["uri"] == lab_copy.resolve().as_uri() + "/"
    by_rule = {r["ruleId"]: r for r in sarif["results"]}
    assert set(by_rule) == {"rule-cycle", "literal-secret", "sequence-coverage"}
    for r in sarif["results"]:
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert by_rule["sequence-coverage"]["level"] == "warning"
    secret = by_rule["literal-secret"]["locations"][0]["physicalLocation"]
    assert secret == {"artifactLocation": {"uri": "old%20notes/bmc%20%231.yaml", "uriBaseId": "%SRCROOT%"},
                      "region": {"startLine": 1, "startColumn": 1}}
    related = by_rule["rule-cycle"]["relatedLocations"]
    assert [r["physicalLocation"]["artifactLocation"]["uri"] for r in related] == ["compatibility.yaml"] * 2


def test_sarif_srcroot_makes_paths_repository_relative(lab_copy: Path) -> None:
    edit(lab_copy / "sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]",
         "dell: [bios, raid, drive, psu, cpld, bmc]")
    doc = json.loads(hwfw("check", str(lab_copy), "--format", "sarif", "--srcroot", str(lab_copy.parent)).stdout)
    validate_sarif(doc)
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert loc == {"uri": "lab/baselines.yaml", "uriBaseId": "%SRCROOT%"}


# ---------------------------------------------------------------- JUnit

def test_junit_has_one_case_per_check_and_one_failure_per_failing_check(lab_copy: Path) -> None:
    edit(lab_copy / "sequences.yaml", "default: [bmc, bios, cpld, nic]", "default: [bmc, bios, cpld, nic, bmc]")
    edit(lab_copy / "inventory.yaml", "  - name: lab-gen-02\n    bmc: sim://lab-gen-02",
         "  - name: lab-gen-02\n    bmc: sim://lab-gen-02\n    credentials: {username: root, password: calvin}")
    (lab_copy / "extra.yml").write_text("db:\n  secret: s3cr3t\n")
    run = hwfw("check", str(lab_copy), "--format", "junit")
    assert run.code == 1
    root = ET.fromstring(run.stdout)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    # downgrades and fleet were not asked for: no test case. Checks blocked by the errors are skipped.
    assert sorted(cases) == sorted(["validate", "secrets", "images", "compatibility", "stepping-stones",
                                    "sequences", "critical-images"])
    assert junit_failures(run.stdout) == (2, 2)  # secrets (2 errors in one case) and sequences
    secrets = cases["secrets"].find("failure")
    assert secrets is not None and secrets.get("type") == "literal-secret"
    assert secrets.get("message", "").startswith("2 errors; first: ")
    assert (secrets.text or "").count("error: literal secret") == 2
    assert root.get("tests") == "7" and root.get("skipped") == str(sum(1 for _ in root.iter("skipped")))
    assert cases["compatibility"].find("skipped") is not None


# ---------------------------------------------------------------- GitHub annotations

@pytest.mark.parametrize(("raw", "data", "prop"), [
    ("50% done", "50%25 done", "50%25 done"),
    ("a\r\nb", "a%0D%0Ab", "a%0D%0Ab"),
    ("x: y, z", "x: y, z", "x%3A y%2C z"),
    ("%0A", "%250A", "%250A"),
])
def test_github_escaping(raw: str, data: str, prop: str) -> None:
    assert escape_data(raw) == data
    assert escape_property(raw) == prop


def test_github_annotations_escape_file_names_and_messages(lab_copy: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    (lab_copy / "a,b:c.yaml").write_text("x:\n  token: abc123\n")
    monkeypatch.chdir(tmp_path)
    run = hwfw("check", str(lab_copy), "--format", "github")
    assert run.code == 1
    [line] = run.stdout.splitlines()
    assert line == ("::error file=lab/a%2Cb%3Ac.yaml,line=2,col=3,title=hwfw literal-secret::"
                    "literal secret in YAML: 'token' holds a value%0Aexpected: a reference: password_env: "
                    "VAR_NAME or password_file: PATH")


# ---------------------------------------------------------------- JSON, Code Quality, --out

def test_json_follows_its_schema(lab_copy: Path, tmp_path: Path) -> None:
    edit(lab_copy / "sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]",
         "dell: [bios, raid, drive, psu, cpld, bmc]")
    schema = json.loads(CHECK_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for extra in ((), ("--strict",)):
        doc = json.loads(hwfw("check", str(lab_copy), "--format", "json", *extra).stdout)
        jsonschema.Draft202012Validator(schema).validate(doc)
        assert doc["ok"] is (not extra)
        assert doc["summary"]["checks"]["sequences"]["status"] == ("failed" if extra else "passed")
        assert doc["findings"][0]["severity"] == ("error" if extra else "warning")


def test_codequality_and_out_file(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edit(lab_copy / "sequences.yaml", "default: [bmc, bios, cpld, nic]", "default: [bmc, bios, cpld, nic, bmc]")
    monkeypatch.chdir(tmp_path)
    run = hwfw("check", str(lab_copy), "--format", "codequality", "--out", "gl-code-quality.json")
    assert run.code == 1
    assert "sequence 'default' lists 'bmc' twice" in run.stdout  # the text report goes to the log
    [issue] = json.loads((tmp_path / "gl-code-quality.json").read_text())
    assert issue["check_name"] == "hwfw/sequence-cycle" and issue["severity"] == "major"
    assert issue["location"] == {"path": "lab/sequences.yaml", "lines": {"begin": 5}}
    assert len(issue["fingerprint"]) == 64
