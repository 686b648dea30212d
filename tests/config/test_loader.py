"""Workspace loading: every problem reported at once, each at its file:line:col."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hwfw.config import check_workspace, load_workspace
from hwfw.errors import ConfigError, WorkspaceNotFound
from tests.helpers import edit, line_col_of, run_hwfw


def codes(problems):  # type: ignore[no-untyped-def]
    return sorted(p.code for p in problems)


def test_lab_is_valid_from_a_copy(lab_copy: Path) -> None:
    ws = load_workspace(lab_copy)
    assert len(ws.hosts) == 9
    assert {b.name for b in ws.baselines} >= {"dell-r750", "hpe-dl380-gen10", "smc-x12", "contoso-edge"}
    # Paths are resolved against the workspace, never the current directory.
    assert ws.settings.state_path == lab_copy / ".hwfw" / "state.json"
    assert ws.files["repository"] == lab_copy / "repository.yaml"
    assert ws.settings.timing.poll_interval == pytest.approx(0.05)
    assert ws.settings.simulator.speed == 200


@pytest.mark.slow
def test_cli_validate_lab_exits_0(lab_copy: Path, tmp_path: Path) -> None:
    result = run_hwfw("validate", str(lab_copy), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # human output goes to stderr; stdout stays clean
    assert "valid" in result.stderr


@pytest.mark.slow
def test_missing_workspace_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFound) as info:
        check_workspace(tmp_path)
    assert "no hwfw.yaml" in str(info.value)
    result = run_hwfw("validate", str(tmp_path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "no hwfw.yaml" in result.stderr


@pytest.mark.slow
def test_broken_copy_reports_all_five_problems_at_their_positions(lab_copy: Path) -> None:
    # A wrong type, an unknown key, an unknown image id in another file, a literal
    # password and an unclosed bracket, in five different places.
    edit(lab_copy / "hwfw.yaml", "parallelism: 9", "parallelism: nine")
    edit(lab_copy / "inventory.yaml", "    labels: {rack: r01, role: storage}",
         "    labels: {rack: r01, role: storage}\n    colour: blue")
    edit(lab_copy / "baselines.yaml", "image: smc-sys-120u-tnr-bios-1.6}", "image: smc-sys-120u-tnr-bios-1.7}")
    edit(lab_copy / "inventory.yaml", "  - name: lab-gen-02\n    bmc: sim://lab-gen-02",
         "  - name: lab-gen-02\n    bmc: sim://lab-gen-02\n    credentials: {username: root, password: calvin123}")
    edit(lab_copy / "sequences.yaml", "default: [bmc, bios, cpld, nic]", "default: [bmc, bios, cpld, nic")

    result = run_hwfw("validate", str(lab_copy), cwd=lab_copy)
    assert result.returncode == 1
    err = result.stderr
    assert "Traceback" not in err

    def at(file: str, needle: str, offset: int = 0) -> str:
        line, col = line_col_of(lab_copy / file, needle, offset)
        return f"{file}:{line}:{col}:"

    expected = [
        (at("hwfw.yaml", "parallelism: nine", len("parallelism: ")), "wrong type"),
        (at("inventory.yaml", "colour"), "unknown key 'colour'"),
        (at("baselines.yaml", "smc-sys-120u-tnr-bios-1.7"), "unknown image id 'smc-sys-120u-tnr-bios-1.7'"),
        (at("inventory.yaml", "password: calvin123"), "literal secret"),
        # Parsing fails on the next line; the note points back to the opening bracket.
        (at("sequences.yaml", "vendors:", len("vendors")), "YAML syntax error"),
    ]
    for location, message in expected:
        lines = [line for line in err.splitlines() if line.startswith(location)]
        assert lines and message in lines[0], f"expected {location} {message!r} in:\n{err}"
    opened = at("sequences.yaml", "[bmc, bios, cpld, nic")
    assert any(line.strip().startswith(opened) and "started here" in line for line in err.splitlines()), err
    assert "calvin123" not in err  # the secret itself is never echoed
    assert "5 problem(s) found" in err


@pytest.mark.slow
def test_json_format_lists_problems_on_stdout(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", "image: contoso-os2-bmc-2.15.0}", "image: nope}")
    result = run_hwfw("validate", str(lab_copy), "--json", cwd=lab_copy)
    assert result.returncode == 1
    problems = json.loads(result.stdout)
    assert [(p["file"], p["code"]) for p in problems] == [("baselines.yaml", "unknown-image")]
    line, col = line_col_of(lab_copy / "baselines.yaml", "nope}")
    assert (problems[0]["line"], problems[0]["column"]) == (line, col)


@pytest.mark.parametrize(
    ("file", "old", "new", "code", "needle"),
    [
        ("inventory.yaml", "  - name: lab-dell-02", "  - name: lab-dell-01", "duplicate-host",
         "lab-dell-01\n    bmc: sim://lab-dell-02"),
        ("baselines.yaml", "      cpld: {version: \"0x14\"", "      cpdl: {version: \"0x14\"", "unknown-component",
         "cpdl"),
        ("baselines.yaml", 'bios: {version: "1.6"', 'bios: {version: ""', "schema", None),
        ("compatibility.yaml", 'version: ">=2.60.60.60"', 'version: ">=>2.60"', "invalid-constraint", '">=>2.60"'),
        ("sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]",
         "dell: [bios, raid, nic, bios, cpld, bmc]", "sequence-cycle", None),
        ("baselines.yaml", 'bios: {version: "1.12.1", image: dell-r750-bios-1.12.1}',
         'bios: {version: "1.12.1", image: dell-r750-nic-22.41.1000}', "image-mismatch", None),
        ("inventory.yaml", "bmc: sim://lab-gen-02", "bmc: https://10.0.0.9", "missing-credentials", None),
        ("baselines.yaml", "select: {vendor: dell, models: [\"PowerEdge R650\"]}", "select: {vendor: dell}",
         "ambiguous-baseline", None),
        ("baselines.yaml", 'bmc: {version: "7.10.30.00", image: dell-r750-idrac-7.10.30.00}',
         'bmc: {version: "6.10.30.00"}', "matrix-violation", None),
    ],
)
def test_semantic_problems(lab_copy: Path, file: str, old: str, new: str, code: str, needle: str | None) -> None:
    edit(lab_copy / file, old, new)
    workspace, problems = check_workspace(lab_copy)
    assert workspace is None
    found = [p for p in problems if p.code == code or (code == "schema" and p.code in ("schema", "invalid-value"))]
    assert found, f"no {code} among {[(p.code, p.message) for p in problems]}"
    if needle:
        line, col = line_col_of(lab_copy / file, needle)
        assert (found[0].location.line, found[0].location.column) == (line, col), found[0].render()


def test_sequence_cycle_names_the_cycle(lab_copy: Path) -> None:
    edit(lab_copy / "sequences.yaml", "dell: [bios, raid, nic, drive, psu, cpld, bmc]", "dell: [bios, nic, bios]")
    _, problems = check_workspace(lab_copy)
    (cycle,) = [p for p in problems if p.code == "sequence-cycle"]
    assert "bios -> nic -> bios" in cycle.message


def test_matrix_violation_names_the_rule(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", 'bmc: {version: "7.10.30.00", image: dell-r750-idrac-7.10.30.00}',
         'bmc: {version: "6.10.30.00"}')
    _, problems = check_workspace(lab_copy)
    (p,) = [p for p in problems if p.code == "matrix-violation"]
    assert "lab-r750-bios-1.12-needs-idrac-7" in p.message


def test_http_source_needs_permission(lab_copy: Path) -> None:
    edit(lab_copy / "repository.yaml", "source: images/generic-bios-1.1.0.bin",
         "source: http://mirror.example/generic-bios-1.1.0.bin")
    _, problems = check_workspace(lab_copy)
    assert [p.code for p in problems] == ["insecure-source"]
    edit(lab_copy / "repository.yaml", "source: http://mirror.example/generic-bios-1.1.0.bin",
         "source: http://mirror.example/generic-bios-1.1.0.bin\n    allow_http: true")
    assert check_workspace(lab_copy)[1] == []


def test_unquoted_version_gets_a_quoting_hint(lab_copy: Path) -> None:
    edit(lab_copy / "baselines.yaml", 'bios: {version: "1.6"', "bios: {version: 1.6")
    with pytest.raises(ConfigError) as info:
        load_workspace(lab_copy)
    text = str(info.value)
    assert "quote it ('1.6')" in text and "baselines.yaml:" in text


def test_files_are_resolved_against_the_workspace_not_cwd(lab_copy: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert load_workspace(lab_copy).files["inventory"] == lab_copy / "inventory.yaml"


def test_the_server_runs_applies_on_the_engine_of_settings_engine_unless_told(lab_copy: Path) -> None:
    assert load_workspace(lab_copy).settings.server.engine == "local"
    edit(lab_copy / "hwfw.yaml", "\nsettings:\n", "\nsettings:\n  engine: temporal\n")
    assert load_workspace(lab_copy).settings.server.engine == "temporal"
    edit(lab_copy / "hwfw.yaml", "\nsettings:\n", "\nsettings:\n  server: {engine: local}\n")
    settings = load_workspace(lab_copy).settings
    assert (settings.engine, settings.server.engine) == ("temporal", "local")
    edit(lab_copy / "hwfw.yaml", "server: {engine: local}", "server: {engine: nomad}")
    _, problems = check_workspace(lab_copy)
    (problem,) = problems
    assert problem.code == "invalid-value" and problem.expected == "one of 'local', 'temporal'"
    assert problem.location is not None and problem.location.file.endswith("hwfw.yaml")
