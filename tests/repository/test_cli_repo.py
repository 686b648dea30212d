"""`hwfw repo ...` as a user runs it: exit codes, streams, messages, files left behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from hwfw.errors import ConfigError
from hwfw.repository.add import add_image
from hwfw.resources import schema_path
from tests.helpers import run_hwfw
from tests.repository.fileserver import FileServer
from tests.repository.support import REPO_HEADER, blob, image, make_workspace, run_cli, sha


def jsonl(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.slow
def test_sync_json_events_then_idempotent_second_run(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(300_000, 30)
    url = server.add("/bios.bin", data)
    ws = make_workspace(tmp_path / "ws", [image("bios", url, data, allow_http=True)])

    first = run_hwfw("repo", "sync", str(ws), "--format", "json")
    assert first.returncode == 0, first.stderr
    events = jsonl(first.stdout)
    assert [e["event"] for e in events][0] == "download-started"
    assert events[-2]["event"] == "cached" and events[-2]["id"] == "bios" and events[-2]["bytes"] == len(data)
    assert events[-1] == {"event": "summary", "images": 1, "downloaded": 1, "already_cached": 0, "failed": 0}
    assert all({"event", "id", "sha256", "bytes"} <= set(e) for e in events[:-1])
    schema = json.loads(schema_path("events").read_text())
    for e in events:  # one schema for every event any run writes (the summary line included)
        jsonschema.validate(e, schema)
    assert len({e["run_id"] for e in events[:-1]}) == 1 and events[0]["type"] == "image-download-started"
    assert (cache_dir / "sha256" / sha(data)).is_file()

    second = run_hwfw("repo", "sync", str(ws), "--json")
    assert second.returncode == 0
    assert [e["event"] for e in jsonl(second.stdout)] == ["already-cached", "summary"]
    assert len(server.gets("/bios.bin")) == 1

    text = run_hwfw("repo", "sync", str(ws))  # human lines on stderr, stdout empty
    assert text.returncode == 0 and text.stdout == ""
    assert "already cached bios" in text.stderr and "0 downloaded, 1 already cached, 0 failed" in text.stderr


@pytest.mark.slow
def test_sync_404_fails_one_image_and_exits_1(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    a, b = blob(2000, 31), blob(3000, 32)
    ws = make_workspace(tmp_path / "ws", [
        image("bios", server.add("/bios.bin", a), a, allow_http=True),
        image("nic-fw", server.url("/missing.bin"), b, allow_http=True, component="nic", version="22.91.5"),
        image("raid", server.add("/raid.bin", b), b, allow_http=True, component="raid", version="52.26.0-5179")])
    result = run_cli("repo", "sync", str(ws))
    assert result.returncode == 1
    assert "image 'nic-fw': HTTP 404 Not Found from " + server.url("/missing.bin") in result.stderr
    assert "3 images" in result.stderr and "2 downloaded, 0 already cached, 1 failed" in result.stderr
    assert (cache_dir / "sha256" / sha(a)).is_file() and (cache_dir / "sha256" / sha(b)).is_file()


@pytest.mark.slow
def test_sync_wrong_checksum_message(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    served, declared = blob(5000, 33), blob(5000, 34)
    ws = make_workspace(tmp_path / "ws", [image("bios", server.add("/b.bin", served), declared, allow_http=True)])
    result = run_cli("repo", "sync", str(ws))
    assert result.returncode == 1
    assert f"image 'bios': sha256 mismatch: expected sha256 {sha(declared)}, got {sha(served)}" in result.stderr
    assert "quarantine" in result.stderr
    assert list((cache_dir / "sha256").iterdir()) == []


@pytest.mark.slow
def test_http_source_without_allow_http_is_refused(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(100, 35)
    ws = make_workspace(tmp_path / "ws", [image("bios", server.add("/b.bin", data), data)])
    result = run_cli("repo", "sync", str(ws))
    assert result.returncode == 1
    assert "image 'bios' has an http:// source" in result.stderr and "allow_http: true" in result.stderr
    assert server.requests == []


def test_verify_detects_and_quarantines_a_corrupted_object(tmp_path: Path, cache_dir: Path) -> None:
    data = blob(40_000, 36)
    ws = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", data)])
    (ws / "bios.bin").write_bytes(data)
    assert run_cli("repo", "sync", str(ws)).returncode == 0
    ok = run_cli("repo", "verify", str(ws), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["checked"] == 1

    obj = cache_dir / "sha256" / sha(data)
    obj.chmod(0o644)
    with obj.open("r+b") as fh:
        fh.seek(1234)
        fh.write(b"\x00\xff")
    bad = run_cli("repo", "verify", str(ws))
    assert bad.returncode == 1
    assert f"corrupt: sha256/{sha(data)} (used by bios)" in bad.stderr
    assert obj.exists()

    moved = run_cli("repo", "verify", str(ws), "--workspace-only", "--quarantine", "--json")
    assert moved.returncode == 1
    (corrupt,) = json.loads(moved.stdout)["corrupt"]
    assert corrupt["sha256"] == sha(data) and corrupt["entries"] == ["bios"]
    assert not obj.exists() and Path(corrupt["quarantined"]).is_file()
    assert run_cli("repo", "verify", str(ws)).returncode == 0
    # The next sync fetches it again.
    assert run_cli("repo", "sync", str(ws)).returncode == 0 and obj.read_bytes() == data


def test_list_shows_cached_state(tmp_path: Path, cache_dir: Path) -> None:
    data = blob(1000, 37)
    ws = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", data, critical=True),
                                          image("spare", "spare.bin", b"zz", referenced=False)])
    (ws / "bios.bin").write_bytes(data)
    run_cli("repo", "sync", str(ws))
    rows = json.loads(run_cli("repo", "list", str(ws), "--json").stdout)
    assert [(r["id"], r["cached"], r["critical"], r["referenced"]) for r in rows] == [
        ("bios", True, True, True), ("spare", False, False, False)]
    table = run_cli("repo", "list", str(ws))
    assert table.returncode == 0 and "bios" in table.stdout and "PowerEdge R750" in table.stdout


def test_gc_removes_only_unreferenced_objects(tmp_path: Path, cache_dir: Path) -> None:
    keep, drop = blob(1000, 38), blob(1000, 39)
    other = make_workspace(tmp_path / "other", [image("old", "old.bin", drop)])
    (other / "old.bin").write_bytes(drop)
    ws = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", keep)])
    (ws / "bios.bin").write_bytes(keep)
    assert run_cli("repo", "sync", str(other)).returncode == 0
    assert run_cli("repo", "sync", str(ws)).returncode == 0

    dry = run_cli("repo", "gc", str(ws), "--dry-run", "--json")
    assert dry.returncode == 0 and [o["sha256"] for o in json.loads(dry.stdout)["removed"]] == [sha(drop)]
    assert (cache_dir / "sha256" / sha(drop)).exists()
    assert "note:" in dry.stderr and "other" in dry.stderr  # the loud shared-cache warning

    real = run_cli("repo", "gc", str(ws))
    assert real.returncode == 0 and "removed 1 object" in real.stderr
    assert sorted(p.name for p in (cache_dir / "sha256").iterdir()) == [sha(keep)]


def test_add_keeps_comments_writes_a_valid_entry_and_caches_the_file(tmp_path: Path, cache_dir: Path) -> None:
    data = blob(12_345, 40)
    ws = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", b"abc")])
    (ws / "bios.bin").write_bytes(b"abc")  # validate checks that every referenced image can be obtained
    repo = ws / "repository.yaml"
    repo.write_text(repo.read_text() + "  # trailing note about the lab mirror\n")
    (ws / "images").mkdir()
    (ws / "images" / "idrac.exe").write_bytes(data)

    result = run_cli("repo", "add", str(ws / "images" / "idrac.exe"), str(ws), "--vendor", "dell",
                      "--component", "bmc", "--version", "7.10.30.00", "--models", "PowerEdge R750",
                      "--models", "PowerEdge R650", "--activation", "none", "--critical", "--json")
    assert result.returncode == 0, result.stderr
    entry = json.loads(result.stdout)["entry"]
    assert entry == {"id": "dell-bmc-7.10.30.00", "vendor": "dell", "component": "bmc", "version": "7.10.30.00",
                     "models": ["PowerEdge R750", "PowerEdge R650"], "source": "images/idrac.exe",
                     "sha256": sha(data), "size": len(data), "activation": "none", "critical": True}
    text = repo.read_text()
    assert text.startswith(REPO_HEADER) and "# trailing note about the lab mirror" in text
    assert 'version: "7.10.30.00"' in text and 'models: ["PowerEdge R750", "PowerEdge R650"]' in text
    assert run_cli("validate", str(ws)).returncode == 0
    assert (cache_dir / "sha256" / sha(data)).read_bytes() == data

    again = run_cli("repo", "add", str(ws / "images" / "idrac.exe"), str(ws), "--vendor", "dell",
                     "--component", "bmc", "--version", "7.10.30.00", "--models", "PowerEdge R750")
    assert again.returncode == 1 and "already has an image with id 'dell-bmc-7.10.30.00'" in again.stderr


def test_add_with_http_source_writes_allow_http_and_warns(tmp_path: Path, cache_dir: Path) -> None:
    ws = make_workspace(tmp_path / "ws", [])
    f = tmp_path / "nic.bin"
    f.write_bytes(blob(100, 41))
    result = run_cli("-C", str(ws), "repo", "add", str(f), "--vendor", "dell", "--component", "nic",
                      "--version", "22.91.5", "--models", "PowerEdge R750", "--source", "http://mirror.lab/nic.bin")
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "http://" in result.stderr
    text = (ws / "repository.yaml").read_text()
    assert "allow_http: true" in text and "# Firmware images of the test lab. Keep this comment!" in text
    assert run_cli("validate", str(ws)).returncode == 0


def test_add_that_would_break_validation_leaves_the_file_unchanged(tmp_path: Path, cache_dir: Path) -> None:
    ws = make_workspace(tmp_path / "ws", [])
    before = (ws / "repository.yaml").read_text()
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    result = run_cli("repo", "add", str(f), str(ws), "--vendor", "dell", "--component", "bmc",
                      "--version", "1.0", "--models", "PowerEdge R750", "--source", "ftp://h/x.bin")
    assert result.returncode == 1 and "unsupported source scheme ftp" in result.stderr
    assert (ws / "repository.yaml").read_text() == before
    assert not (cache_dir / "sha256").exists() or not any((cache_dir / "sha256").iterdir())


def test_adding_an_image_of_a_vendor_the_registry_does_not_know_names_it_and_changes_nothing(
        tmp_path: Path, cache_dir: Path) -> None:
    """The CLI offers only the registry's vendors; the API (no click choices) is stopped by
    the loader's vendor check, with the line of the entry it would have written."""
    ws = make_workspace(tmp_path / "ws", [])
    before = (ws / "repository.yaml").read_text()
    f = tmp_path / "x.bin"
    f.write_bytes(b"x")
    with pytest.raises(ConfigError) as info:
        add_image(ws, f, vendor="lenovoo", component="bmc", version="1.0", models=["SR650"])
    (problem,) = info.value.problems
    assert problem.code == "unknown-vendor" and problem.message == "images[0].vendor: unknown vendor 'lenovoo'"
    assert problem.location is not None and problem.location.file.endswith("repository.yaml")
    assert (ws / "repository.yaml").read_text() == before
    assert not (cache_dir / "sha256").exists() or not any((cache_dir / "sha256").iterdir())


@pytest.mark.slow
def test_sync_progress_is_plain_lines_when_stderr_is_not_a_terminal(
        tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(200_000, 42)
    ws = make_workspace(tmp_path / "ws", [image("bios", server.add("/b.bin", data), data, allow_http=True)])
    result = run_hwfw("repo", "sync", str(ws), env={"TERM": "xterm", **{k: v for k, v in os.environ.items()}})
    assert result.returncode == 0
    assert "fetching bios (195.3 KiB) from " + server.url("/b.bin") in result.stderr
    assert "\x1b[" not in result.stderr  # no progress-bar escape codes in a log file


def test_gc_refuses_to_empty_the_cache_for_a_repository_without_images(tmp_path: Path, cache_dir: Path) -> None:
    other = make_workspace(tmp_path / "other", [image("old", "old.bin", b"old")])
    (other / "old.bin").write_bytes(b"old")
    assert run_cli("repo", "sync", str(other)).returncode == 0
    empty = make_workspace(tmp_path / "empty", [])
    result = run_cli("repo", "gc", str(empty))
    assert result.returncode == 1 and "gc would empty the whole cache" in result.stderr
    assert (cache_dir / "sha256" / sha(b"old")).is_file()
