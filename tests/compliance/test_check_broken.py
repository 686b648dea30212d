"""`hwfw check` on broken copies of the lab: exit 1, the right rule and message at the right
file:line:col, in every format (text, json, junit, sarif, github)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.compliance.support import Expect, assert_everywhere, assert_exit_everywhere, check_all_formats
from tests.helpers import edit

R750_RULE = """  - id: lab-r750-bios-1.12-needs-idrac-7
    vendor: dell"""


def _rule_cycle(ws: Path) -> Expect:
    # A second rule makes bios and bmc wait for each other: no flash order exists.
    edit(ws / "compatibility.yaml", "minimums:", """  - id: lab-r750-idrac-7-needs-bios-1.12
    vendor: dell
    models: ["PowerEdge R750"]
    when: {component: bmc, version: ">=7.00"}
    requires: {component: bios, version: ">=1.12"}

minimums:""")
    return Expect.at("rule-cycle", ws, "baselines.yaml", '"7.10.30.00", image: dell-r750-idrac',
                     "baseline 'dell-r750' (PowerEdge R750): dependency cycle")


def _rule_broken(ws: Path) -> Expect:
    edit(ws / "compatibility.yaml", "minimums:", """  - id: lab-r650-bios-needs-new-nic
    vendor: dell
    models: ["PowerEdge R650"]
    when: {component: bios, version: ">=1.10"}
    requires: {component: nic, version: ">=23"}

minimums:""")
    return Expect.at("matrix-violation", ws, "baselines.yaml", '"22.41.1000", image: dell-r650-nic',
                     "baseline 'dell-r650' breaks compatibility rule 'lab-r650-bios-needs-new-nic'")


def _no_upgrade_path(ws: Path) -> Expect:
    # Chained stepping stones: 7.10 needs >=7.05 first, and no 7.05-7.10 image exists.
    edit(ws / "compatibility.yaml", "  - id: dell-m1000e-idrac-3.0-via-2.3", """  - id: lab-idrac-7.10-from-7.05
    vendor: dell
    component: bmc
    target: ">=7.10"
    from: ">=7.05"
  - id: dell-m1000e-idrac-3.0-via-2.3""")
    return Expect.at("no-upgrade-path", ws, "baselines.yaml", '"7.10.30.00", image: dell-r750-idrac',
                     "a host at bmc 6.10 (the lowest version rule 'lab-idrac-7-from-6.10' accepts) cannot "
                     "reach 7.10.30.00")


def _unknown_image(ws: Path) -> Expect:
    text = (ws / "repository.yaml").read_text()
    start = text.index("  - id: dell-r650-bios-1.10.2")
    end = text.index("  - id: dell-r750-nic-22.41.1000")
    (ws / "repository.yaml").write_text(text[:start] + text[end:])
    return Expect.at("unknown-image", ws, "baselines.yaml", "dell-r650-bios-1.10.2}",
                     "unknown image id 'dell-r650-bios-1.10.2'")


def _no_image_for_version(ws: Path) -> Expect:
    edit(ws / "baselines.yaml", 'bios: {version: "1.1.0", image: contoso-os2-bios-1.1.0}', 'bios: {version: "1.2.0"}')
    return Expect.at("missing-image", ws, "baselines.yaml", '"1.2.0"',
                     "the repository has no bios image of version 1.2.0 for generic Contoso OpenServer 2")


def _missing_sha256(ws: Path) -> Expect:
    edit(ws / "repository.yaml", "    sha256: 1db107cf181004d889eba959545b9ab149beea97de949ce057267a2bbbff7f98\n", "")
    return Expect.at("image-sha256", ws, "repository.yaml", "id: dell-r650-bios-1.10.2",
                     "missing required key 'sha256' in images[3]")


def _not_allowed(ws: Path) -> Expect:
    edit(ws / "hwfw.yaml", "  parallelism: 9", "  parallelism: 9\n  allowed_sha256:\n"
         "    - 262111d9812f6424346ed27854ec38d7fd67bab1ac2e6b710c94e7cff2627e35")
    return Expect.at("image-not-allowed", ws, "repository.yaml",
                     "1ca7fae8b9253fc7635a2ca7e4dd7a4fa20c657bf78398334a0084b05f988fd6",
                     "image 'hpe-dl380g10-cpld-0x14' (sha256 1ca7fae8")


def _secret_in_unnamed_file(ws: Path) -> Expect:
    (ws / "notes").mkdir()
    (ws / "notes" / "bmc-access.yaml").write_text(
        "# handover notes\nbmc:\n  user: root\n  password: calvin\n  token: ${{ secrets.BMC_TOKEN }}\n")
    return Expect.at("literal-secret", ws, "notes/bmc-access.yaml", "password: calvin",
                     "literal secret in YAML: 'password' holds a value")


def _secret_in_named_file(ws: Path) -> Expect:
    edit(ws / "inventory.yaml", "  - name: lab-gen-02\n    bmc: sim://lab-gen-02",
         "  - name: lab-gen-02\n    bmc: sim://lab-gen-02\n    credentials: {username: root, password: calvin}")
    return Expect.at("literal-secret", ws, "inventory.yaml", "password: calvin",
                     "literal secret in YAML: 'password' holds a value")


def _sequence_cycle(ws: Path) -> Expect:
    edit(ws / "sequences.yaml", "default: [bmc, bios, cpld, nic]", "default: [bmc, bios, cpld, nic, bmc]")
    return Expect.at("sequence-cycle", ws, "sequences.yaml", "bmc]", "sequence 'default' lists 'bmc' twice")


def _unknown_key(ws: Path) -> Expect:
    edit(ws / "baselines.yaml", "    description: PowerEdge R650 storage nodes",
         "    description: PowerEdge R650 storage nodes\n    colour: blue")
    return Expect.at("unknown-key", ws, "baselines.yaml", "colour: blue", "unknown key 'colour'")


CASES: dict[str, Callable[[Path], Expect]] = {
    "unsatisfiable-rule-cycle": _rule_cycle,
    "unsatisfiable-rule": _rule_broken,
    "no-upgrade-path": _no_upgrade_path,
    "missing-image-id": _unknown_image,
    "missing-image-version": _no_image_for_version,
    "missing-sha256": _missing_sha256,
    "image-not-allowed": _not_allowed,
    "secret-unnamed-file": _secret_in_unnamed_file,
    "secret-named-file": _secret_in_named_file,
    "sequence-cycle": _sequence_cycle,
    "unknown-key": _unknown_key,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_lab_fails_with_the_finding_in_every_format(case: str, lab_copy: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    expected = CASES[case](lab_copy)
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy)
    assert_exit_everywhere(runs, 1)
    assert_everywhere(runs, lab_copy, tmp_path, expected)


def test_secrets_are_never_echoed_and_references_are_not_secrets(lab_copy: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _secret_in_unnamed_file(lab_copy)
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy)
    for fmt, run in runs.items():
        assert "calvin" not in run.stdout + run.stderr, fmt
    # `token: ${{ secrets.BMC_TOKEN }}` is a reference (line 5), not a literal.
    assert "bmc-access.yaml:5:" not in runs["text"].stdout


def test_only_the_first_error_family_blocks_the_deeper_checks(lab_copy: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # A schema error stops the checks that need a loaded workspace; they are reported as not run,
    # never as passed.
    _unknown_key(lab_copy)
    monkeypatch.chdir(tmp_path)
    runs = check_all_formats(lab_copy)
    assert "not run until the errors above are fixed: images, compatibility" in runs["text"].stdout
    import json

    checks = json.loads(runs["json"].stdout)["summary"]["checks"]
    assert checks["validate"]["status"] == "failed"
    assert checks["compatibility"]["status"] == "skipped"
    assert checks["secrets"]["status"] == "passed"
