"""`hwfw check` and `validate`: every image a baseline needs can be obtained.

A local source file must be there with the declared size (and sha256, for small files
or with --verify-images), or the cache must hold the image, or the source is a URL
(then it is reported as not fetched yet). Apply says so when it flashes a cached copy
whose local source is gone.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from hwfw import api
from hwfw.events import JsonLinesSink
from tests.compliance.support import Expect, assert_everywhere, check_all_formats, hwfw
from tests.helpers import edit, line_col_of

DELETED = "images/dell-bios-1.12.1.bin"


@pytest.fixture
def lab(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HWFW_CACHE", str(tmp_path / "cache"))  # an empty cache
    monkeypatch.chdir(tmp_path)
    return lab_copy


def test_a_deleted_image_file_fails_check_at_its_repository_line(lab: Path, tmp_path: Path) -> None:
    (lab / DELETED).unlink()
    runs = check_all_formats(lab)
    assert {name: run.code for name, run in runs.items()} == dict.fromkeys(runs, 1)
    assert_everywhere(runs, lab, tmp_path, Expect.at(
        "image-unavailable", lab, "repository.yaml", f"source: {DELETED}",
        f"source file {DELETED} does not exist and the cache", offset=len("source: ")))
    valid = hwfw("validate", str(lab))
    line, col = line_col_of(lab / "repository.yaml", DELETED)
    assert valid.code == 1 and f"repository.yaml:{line}:{col}: error:" in valid.stderr + valid.stdout


@pytest.mark.slow
def test_a_deleted_image_that_is_still_cached_is_a_warning_and_apply_says_what_it_flashes(lab: Path) -> None:
    ws = api.open_workspace(lab)
    synced = asyncio.run(ws.sync_repository())  # local sources are copied into the cache
    assert synced.ok and synced.summary()["failed"] == 0
    (lab / DELETED).unlink()
    run = hwfw("check", str(lab), "--format", "json")
    assert run.code == 0
    (finding,) = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "image-source-missing"]
    assert finding["severity"] == "warning" and DELETED in finding["message"]
    assert hwfw("check", str(lab), "--strict").code == 1
    out = io.StringIO()
    result = asyncio.run(ws.apply(None, api.ApplyOptions(auto_approve=True, targets=("lab-dell-01",)),
                                  on_event=JsonLinesSink(out)))
    assert result.exit_code == 0
    warnings = [json.loads(line)["message"] for line in out.getvalue().splitlines() if '"warning"' in line]
    assert any(DELETED in w and "no longer exists; flashing the cached copy" in w for w in warnings), warnings


def test_a_source_file_of_another_size_or_content_is_an_error(lab: Path) -> None:
    path = lab / DELETED
    data = path.read_bytes()
    path.write_bytes(data + b"x")
    run = hwfw("check", str(lab), "--format", "json")
    (finding,) = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "image-source-mismatch"]
    assert run.code == 1 and f"has {len(data) + 1} bytes, the repository declares {len(data)}" in finding["message"]
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, other bytes: small files are hashed
    run = hwfw("check", str(lab), "--format", "json")
    (finding,) = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "image-source-mismatch"]
    assert run.code == 1 and "hashes to sha256" in finding["message"]


def test_a_url_source_not_fetched_yet_is_a_note(lab: Path) -> None:
    edit(lab / "repository.yaml", f"source: {DELETED}", "source: https://mirror.example/dell-bios-1.12.1.bin")
    run = hwfw("check", str(lab), "--format", "json")
    assert run.code == 0
    (finding,) = [f for f in json.loads(run.stdout)["findings"] if f["rule"] == "image-not-fetched"]
    assert finding["severity"] == "note" and "has not been fetched from https://mirror.example" in finding["message"]
    assert hwfw("check", str(lab), "--strict").code == 0  # a note is not a problem, even under --strict
