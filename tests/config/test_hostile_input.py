"""What a hostile pull request or odd input can make `validate` do: paths leaving the
workspace, credentials in URLs, huge numbers, alias bombs, trailing newlines in digests,
byte-order marks. Each is refused (or accepted) with a located problem, fast, and
nothing of a file outside the workspace reaches a message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwfw.config import check_workspace, load_workspace
from hwfw.config.yamlio import YamlSyntaxError, load_yaml
from tests.helpers import edit, line_col_of

CANARY = "CANARY-7f3a9c-do-not-print"


def errors(ws: Path) -> list:  # type: ignore[type-arg]
    _, problems = check_workspace(ws)
    return [p for p in problems if p.severity == "error"]


def rendered(problems: list) -> str:  # type: ignore[type-arg]
    return "\n".join(p.render() for p in problems)


def at(path: Path, needle: str, offset: int = 0) -> tuple[str, int, int]:
    line, col = line_col_of(path, needle, offset)
    return path.name, line, col


def where(problem) -> tuple[str, int, int]:  # type: ignore[no-untyped-def]
    return Path(problem.location.file).name, problem.location.line, problem.location.column


# ---------------------------------------------------------------- 1. paths leaving the workspace

@pytest.mark.parametrize("content", [f"{CANARY}\n", f"hosts: {CANARY}\n", f"{CANARY}: 1\n",
                                     f"hosts:\n  - name: a\n    bmc: {CANARY}\n"])
def test_a_named_file_that_is_a_symlink_out_of_the_workspace_is_never_read(
        lab_copy: Path, tmp_path: Path, content: str) -> None:
    outside = tmp_path / "runner-token"
    outside.write_text(content)
    (lab_copy / "inventory.yaml").unlink()
    (lab_copy / "inventory.yaml").symlink_to(outside)
    problems = errors(lab_copy)
    assert [(p.code, where(p)) for p in problems] == [
        ("path-outside-workspace", at(lab_copy / "hwfw.yaml", "inventory.yaml"))]
    assert "'inventory.yaml' leads outside the workspace through a symbolic link" in problems[0].message
    assert CANARY not in rendered(problems) and "runner-token" not in rendered(problems)


def test_hwfw_yaml_itself_may_not_be_a_symlink_out(lab_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text(f"format: 1\nfiles: {CANARY}\n")
    (lab_copy / "hwfw.yaml").unlink()
    (lab_copy / "hwfw.yaml").symlink_to(outside)
    problems = errors(lab_copy)
    assert [(p.code, p.location.line, p.location.column) for p in problems] == [("path-outside-workspace", 1, 1)]
    assert CANARY not in rendered(problems)


def test_paths_named_anywhere_must_stay_inside_or_under_allowed_roots(lab_copy: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "bmc.pw").write_text("pw\n")
    (lab_copy / "keys").symlink_to(tmp_path)  # a directory link committed in the repository
    edit(lab_copy / "hwfw.yaml", "  state_path: .hwfw/state.json",
         f"  state_path: .hwfw/state.json\n  ca_bundle: ../ca.pem\n  cache_dir: {shared}/cache\n"
         "  signing_keys: [keys/signer.asc]")
    edit(lab_copy / "inventory.yaml", "    labels: {rack: r01, role: storage}",
         f"    labels: {{rack: r01, role: storage}}\n    credentials: {{password_file: {shared}/bmc.pw}}")
    edit(lab_copy / "repository.yaml", "source: images/dell-bios-1.12.1.bin", "source: file:///etc/passwd")
    problems = errors(lab_copy)
    hwfw_yaml, inventory, repository = (lab_copy / n for n in ("hwfw.yaml", "inventory.yaml", "repository.yaml"))
    assert sorted((p.code, where(p)) for p in problems) == sorted([
        ("path-outside-workspace", at(hwfw_yaml, "../ca.pem")),
        ("path-outside-workspace", at(hwfw_yaml, f"{shared}/cache")),
        ("path-outside-workspace", at(hwfw_yaml, "keys/signer.asc")),
        ("path-outside-workspace", at(inventory, f"{shared}/bmc.pw")),
        ("path-outside-workspace", at(repository, "file:///etc/passwd")),
    ]), rendered(problems)
    assert "'keys/signer.asc' leads outside the workspace through a symbolic link" in rendered(problems)
    # Listing the directories (relative to hwfw.yaml, or absolute) makes the same paths valid.
    edit(lab_copy / "hwfw.yaml", "  state_path: .hwfw/state.json",
         f"  state_path: .hwfw/state.json\n  allowed_roots: [.., {shared}, /etc]")
    assert errors(lab_copy) == []


def test_a_committed_runtime_directory_link_counts_too(lab_copy: Path, tmp_path: Path) -> None:
    (lab_copy / ".hwfw").symlink_to(tmp_path, target_is_directory=True)
    problems = errors(lab_copy)
    assert [p.code for p in problems] == ["path-outside-workspace", "path-outside-workspace"]
    assert {p.message.split(":")[0] for p in problems} == {"settings.state_path", "settings.runtime_dir"}


def test_links_inside_the_workspace_are_fine(lab_copy: Path) -> None:
    (lab_copy / "data").mkdir()
    (lab_copy / "inventory.yaml").rename(lab_copy / "data" / "hosts.yaml")
    (lab_copy / "inventory.yaml").symlink_to(Path("data") / "hosts.yaml")
    assert len(load_workspace(lab_copy).hosts) == 9


# ---------------------------------------------------------------- 4. credentials in URLs

def test_user_info_in_bmc_and_image_urls_is_refused_without_repeating_it(lab_copy: Path) -> None:
    edit(lab_copy / "inventory.yaml", "    labels: {rack: r01, role: storage}",
         "    labels: {rack: r01, role: storage}\n  - name: real-01\n    bmc: https://admin:S3CRET-pw@10.0.0.1\n"
         "    credentials: {username_env: U, password_env: P}")
    edit(lab_copy / "repository.yaml", "source: images/dell-bios-1.12.1.bin",
         "source: https://deploy-token-S3CRET@mirror.example.com/dell-bios-1.12.1.bin")
    problems = errors(lab_copy)
    assert sorted((p.code, where(p)) for p in problems) == sorted([
        ("url-credentials", at(lab_copy / "inventory.yaml", "https://admin")),
        ("url-credentials", at(lab_copy / "repository.yaml", "https://deploy")),
    ])
    assert "S3CRET" not in rendered(problems)


def test_a_url_with_user_info_that_breaks_the_schema_is_quoted_redacted(lab_copy: Path) -> None:
    edit(lab_copy / "inventory.yaml", "    bmc: sim://lab-gen-02", "    bmc: https://root:S3CRET@10.0.0.9/redfish")
    problems = errors(lab_copy)
    assert [(p.code, where(p)) for p in problems] == [
        ("invalid-value", at(lab_copy / "inventory.yaml", "https://root"))]
    assert "S3CRET" not in rendered(problems) and "https://***@10.0.0.9/redfish" in problems[0].message


# ---------------------------------------------------------------- 5. huge numbers, odd values

def test_a_4400_digit_integer_is_a_located_error_not_a_traceback(lab_copy: Path) -> None:
    edit(lab_copy / "hwfw.yaml", "parallelism: 9", "parallelism: " + "9" * 4400)
    problems = errors(lab_copy)
    assert [(p.code, where(p)) for p in problems] == [
        ("invalid-value", at(lab_copy / "hwfw.yaml", "9999", 0))]
    assert "an integer of about 4400 digits is too large" in problems[0].message
    assert "9" * 30 not in rendered(problems)


@pytest.mark.parametrize(("text", "message"), [
    ("a:\n  b: .nan\n", "is not a finite number"),
    ("a:\n  b: 1e999\n", "is not a finite number"),
    ("a:\n  b: -18446744073709551616\n", "is too large"),
    ("a:\n  1: x\n", "key 1 is not text"),
    ("a:\n  ? [x, y]\n  : z\n", "a list or mapping used as a key"),
    ("a: " + "[" * 70 + "]" * 70 + "\n", "nested deeper than 64 levels"),
])
def test_values_yaml_allows_but_no_workspace_needs_are_located_errors(tmp_path: Path, text: str,
                                                                       message: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path, "f.yaml")
    assert message in info.value.problem.message
    assert info.value.problem.location.line >= 1


def test_deep_block_nesting_is_refused_before_parsing(tmp_path: Path) -> None:
    # The Rust parser recurses on block nesting without a limit: this 60 KB file of
    # 30,000 nested sequences made the process die of a segmentation fault.
    path = tmp_path / "f.yaml"
    path.write_text("- " * 30_000 + "x\n")
    with pytest.raises(YamlSyntaxError) as info:
        load_yaml(path, "f.yaml")
    problem = info.value.problem
    assert "nested deeper than 64 levels" in problem.message
    assert (problem.location.line, problem.location.column) == (1, 2 * 64 + 1)


def test_a_document_of_the_wrong_kind_is_never_quoted(lab_copy: Path) -> None:
    (lab_copy / "inventory.yaml").write_text(f"root:x:0:0:{CANARY}:/root:/bin/bash\n")
    problems = errors(lab_copy)
    assert [(p.code, where(p), p.message) for p in problems] == [
        ("wrong-type", ("inventory.yaml", 1, 1), "the file holds text, not a mapping")]


def test_long_scalars_are_cut_in_messages(lab_copy: Path) -> None:
    edit(lab_copy / "inventory.yaml", "    bmc: sim://lab-gen-02", f"    bmc: {'x' * 5000}{CANARY}")
    (problem,) = errors(lab_copy)
    assert len(problem.message) < 200 and "(5026 characters)" in problem.message


# ---------------------------------------------------------------- 6. alias bombs

def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_a_billion_laughs_file_is_refused_at_the_alias_that_overflows(lab_copy: Path) -> None:
    # Before the limit, reporting this file cost ~34 s of CPU (benchmarks/bench_hostile_yaml.py
    # prints the figure); the expansion is now bounded before anything walks it.
    (lab_copy / "inventory.yaml").write_text(billion_laughs())
    problems = errors(lab_copy)
    assert [(p.code, where(p)) for p in problems] == [
        ("yaml-syntax", at(lab_copy / "inventory.yaml", "*e,*e"))], rendered(problems)
    assert "aliases expand to more than" in problems[0].message


def test_anchors_a_workspace_really_uses_still_load(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("d: &creds {username_env: U, password_env: P}\nhosts:\n"
                    + "".join(f"  - {{name: h{i}, credentials: *creds}}\n" for i in range(5000)))
    data, _ = load_yaml(path, "f.yaml")
    assert data["hosts"][4999]["credentials"] == {"username_env": "U", "password_env": "P"}


# ---------------------------------------------------------------- 9. digests with a trailing newline

@pytest.mark.parametrize("written", ['"{d}\\n"', "|\n      {d}", '"{d} "'])
def test_a_sha256_with_a_trailing_newline_or_space_is_refused(lab_copy: Path, written: str) -> None:
    digest = "262111d9812f6424346ed27854ec38d7fd67bab1ac2e6b710c94e7cff2627e35"
    edit(lab_copy / "repository.yaml", f"sha256: {digest}", "sha256: " + written.format(d=digest))
    problems = errors(lab_copy)
    assert [(p.code, p.message.split(":")[0]) for p in problems] == [("invalid-value", "images[0].sha256")]
    assert problems[0].expected == "64 lower-case hex digits (mandatory)"


# ---------------------------------------------------------------- 10. byte-order marks

def test_a_utf8_byte_order_mark_is_accepted_as_yaml_1_2_does(lab_copy: Path) -> None:
    for name in ("hwfw.yaml", "inventory.yaml", "baselines.yaml"):
        path = lab_copy / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert len(load_workspace(lab_copy).hosts) == 9


def test_positions_after_a_byte_order_mark_are_those_an_editor_shows(lab_copy: Path) -> None:
    path = lab_copy / "hwfw.yaml"
    edit(path, "parallelism: 9", "parallelism: nine")
    line, col = line_col_of(path, "parallelism: nine", len("parallelism: "))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    (problem,) = errors(lab_copy)
    assert (problem.code, problem.location.line, problem.location.column) == ("wrong-type", line, col)


def test_symlink_loops_are_located_errors(lab_copy: Path) -> None:
    os.symlink("loop-b.yaml", lab_copy / "loop-a.yaml")
    os.symlink("loop-a.yaml", lab_copy / "loop-b.yaml")
    edit(lab_copy / "hwfw.yaml", "inventory: inventory.yaml", "inventory: loop-a.yaml")
    (problem,) = errors(lab_copy)
    assert problem.code == "path-outside-workspace" and where(problem) == at(lab_copy / "hwfw.yaml", "loop-a.yaml")
