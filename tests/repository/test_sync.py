"""Fetching images into the cache: verification, quarantine, resume, retries, concurrency."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hwfw.config import load_workspace
from hwfw.config.model import RepositoryEntry
from hwfw.errors import IntegrityError, RepositoryError
from hwfw.events import CallbackSink, Event
from hwfw.repository import ImageStore, SyncReport, referenced_entries, sync_entries
from hwfw.repository.cache import Cache
from hwfw.repository.fetch import FetchOptions
from hwfw.repository.sources import resolve_source
from tests.repository.fileserver import FileServer
from tests.repository.support import blob, image, make_workspace, sha

FAST = FetchOptions(retries=3, backoff=0.0)
MiB = 1 << 20


class Recorded:
    """A sync's events as they arrived; `events` reads each payload as attributes."""

    def __init__(self) -> None:
        self.raw: list[Event] = []
        self.sink = CallbackSink(self.raw.append)

    @property
    def events(self) -> list[Any]:
        return [SimpleNamespace(sha256=e.sha256, **e.payload) for e in self.raw]

    def kinds(self, entry_id: str | None = None) -> list[str]:
        return [e.payload["event"] for e in self.raw if entry_id is None or e.image == entry_id]


def run_sync(ws_root: Path, cache_dir: Path, *, all_entries: bool = False, jobs: int = 4,
             options: FetchOptions = FAST) -> tuple[SyncReport, Recorded]:
    ws = load_workspace(ws_root)
    hooks = Recorded()
    entries = list(ws.repository.entries) if all_entries else referenced_entries(ws)
    report = asyncio.run(sync_entries(ws, entries, cache=Cache(cache_dir), jobs=jobs, events=hooks.sink,
                                      options=options))
    return report, hooks


@pytest.mark.slow
def test_good_image_is_cached_by_digest_and_second_sync_downloads_nothing(
        tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(3 * MiB + 17)
    url = server.add("/bios.bin", data)
    ws = make_workspace(tmp_path / "ws", [image("bios", url, data, allow_http=True)])

    report, hooks = run_sync(ws, cache_dir)
    assert report.ok and report.summary()["downloaded"] == 1
    obj = cache_dir / "sha256" / sha(data)
    assert obj.read_bytes() == data
    assert hooks.kinds("bios")[0] == "download-started" and hooks.kinds("bios")[-1] == "cached"
    assert len(server.gets("/bios.bin")) == 1

    report, hooks = run_sync(ws, cache_dir)
    assert hooks.kinds("bios") == ["already-cached"]
    assert len(server.gets("/bios.bin")) == 1, "the second sync must not touch the server"
    # Nothing else in the cache is named by the digest.
    named = [p for p in cache_dir.rglob("*") if sha(data) in p.name and p.parent.name != "locks"]
    assert named == [obj]


@pytest.mark.slow
def test_wrong_checksum_goes_to_quarantine_never_into_the_cache(
        tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    served, declared = blob(100_000, 1), blob(100_000, 2)
    url = server.add("/nic.bin", served)
    ws = make_workspace(tmp_path / "ws", [image("nic-fw", url, declared, allow_http=True)])

    report, hooks = run_sync(ws, cache_dir)
    (failure,) = report.failed
    message = str(failure.error)
    assert "'nic-fw'" in message and sha(declared) in message and sha(served) in message
    assert not any((cache_dir / "sha256").iterdir())
    quarantined = sorted((cache_dir / "quarantine").iterdir())
    assert [p.suffix for p in quarantined] == [".bin", ".json"]
    assert quarantined[0].name.startswith("nic-fw-") and sha(declared) not in quarantined[0].name
    assert quarantined[0].read_bytes() == served
    meta = json.loads(quarantined[1].read_text())
    assert meta["expected_sha256"] == sha(declared) and meta["actual_sha256"] == sha(served)
    assert meta["source"] == url
    failed = hooks.events[-1]
    assert failed.event == "failed" and failed.expected == sha(declared) and failed.actual == sha(served)


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_dropped_connection_is_resumed_with_a_range_request(
        tmp_path: Path, server: FileServer, cache_dir: Path, transport: str) -> None:
    data = blob(6 * MiB, 3)
    url = server.add("/idrac.bin", data, drop_after=3 * MiB)
    ws = make_workspace(tmp_path / "ws", [image("idrac", url, data, allow_http=True, component="bmc",
                                                version="7.10.30.00")])

    report, hooks = run_sync(ws, cache_dir, options=FetchOptions(retries=3, backoff=0, transport=transport))
    assert report.ok, report.failed
    gets = server.gets("/idrac.bin")
    assert len(gets) == 2 and gets[0].range is None
    assert gets[1].range is not None and gets[1].range.startswith("bytes=") and gets[1].status == 206
    assert gets[1].if_range == server.blobs["/idrac.bin"].etag
    assert server.sent("/idrac.bin") < 1.2 * len(data)
    assert (cache_dir / "sha256" / sha(data)).read_bytes() == data
    assert "retrying" in hooks.kinds("idrac")
    assert not list((cache_dir / "partial").iterdir())


@pytest.mark.slow
def test_interrupted_run_is_resumed_by_the_next_run(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(4 * MiB, 4)
    url = server.add("/bios.bin", data, drop_after=MiB + 5)
    ws = make_workspace(tmp_path / "ws", [image("bios", url, data, allow_http=True)])

    report, _ = run_sync(ws, cache_dir, options=FetchOptions(retries=0, backoff=0))
    assert not report.ok
    parts = sorted((cache_dir / "partial").iterdir())
    assert [p.name[p.name.index("."):] for p in parts] == [".part", ".part.json"]
    assert parts[0].name.startswith("bios-") and sha(data) not in parts[0].name
    sidecar = json.loads(parts[1].read_text())
    assert sidecar["source"] == url and sidecar["sha256"] == sha(data) and sidecar["bytes"] > 0
    assert sidecar["etag"] == server.blobs["/bios.bin"].etag

    report, hooks = run_sync(ws, cache_dir)
    assert report.ok
    second = server.gets("/bios.bin")[1]
    assert second.range == f"bytes={sidecar['bytes']}-"
    assert hooks.events[0].resumed_from == sidecar["bytes"]
    assert server.sent("/bios.bin") < 1.2 * len(data)
    assert (cache_dir / "sha256" / sha(data)).read_bytes() == data


@pytest.mark.slow
def test_server_without_range_support_restarts_from_zero(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(2 * MiB, 5)
    url = server.add("/cpld.bin", data, drop_after=MiB, ranges=False)
    ws = make_workspace(tmp_path / "ws", [image("cpld", url, data, allow_http=True, component="cpld")])
    report, _ = run_sync(ws, cache_dir)
    assert report.ok
    assert [g.status for g in server.gets("/cpld.bin")] == [200, 200]
    assert (cache_dir / "sha256" / sha(data)).read_bytes() == data


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_transient_5xx_is_retried_and_404_is_not(tmp_path: Path, server: FileServer, cache_dir: Path,
                                                 transport: str) -> None:
    good = blob(1000, 6)
    server.add("/gone.bin", status=404)
    server.add("/busy.bin", status=503)
    ws = make_workspace(tmp_path / "ws", [
        image("good", server.add("/good.bin", good), good, allow_http=True),
        image("gone", server.url("/gone.bin"), b"x", allow_http=True),
        image("busy", server.url("/busy.bin"), b"y", allow_http=True)])
    report, _ = run_sync(ws, cache_dir, options=FetchOptions(retries=2, backoff=0, transport=transport))
    by_id = {r.id: r for r in report.results}
    assert by_id["good"].status == "downloaded"
    assert "HTTP 404" in str(by_id["gone"].error) and "'gone'" in str(by_id["gone"].error)
    assert "3 attempt" in str(by_id["busy"].error)
    assert len(server.gets("/gone.bin")) == 1 and len(server.gets("/busy.bin")) == 3


def test_local_sources_relative_absolute_and_file_url(tmp_path: Path, cache_dir: Path) -> None:
    ws_root = tmp_path / "ws"
    (ws_root / "images").mkdir(parents=True)
    a, b, c = blob(5000, 7), blob(6000, 8), blob(7000, 9)
    (ws_root / "images" / "a.bin").write_bytes(a)
    (tmp_path / "b.bin").write_bytes(b)
    (tmp_path / "c.bin").write_bytes(c)
    # b and c live outside the workspace: their directory is an allowed root
    make_workspace(ws_root, [image("a", "images/a.bin", a), image("b", str(tmp_path / "b.bin"), b),
                             image("c", (tmp_path / "c.bin").as_uri(), c)],
                   settings={"allowed_roots": [str(tmp_path)]})
    report, _ = run_sync(ws_root, cache_dir)
    assert report.ok and report.summary()["downloaded"] == 3
    for data in (a, b, c):
        assert (cache_dir / "sha256" / sha(data)).read_bytes() == data


@pytest.mark.slow
def test_only_referenced_images_unless_all(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    used, spare = blob(100, 10), blob(100, 11)
    ws = make_workspace(tmp_path / "ws", [
        image("used", server.add("/used.bin", used), used, allow_http=True),
        image("spare", server.add("/spare.bin", spare), spare, allow_http=True, referenced=False)])
    report, _ = run_sync(ws, cache_dir)
    assert [r.id for r in report.results] == ["used"]
    report, _ = run_sync(ws, cache_dir, all_entries=True)
    assert {r.id: r.status for r in report.results} == {"used": "already-cached", "spare": "downloaded"}


def test_http_source_needs_allow_http() -> None:
    entry = RepositoryEntry(id="plain", vendor="dell", component="bios", version="1", models=("*",),
                            source="http://mirror.invalid/x.bin", sha256="0" * 64)
    with pytest.raises(RepositoryError) as info:
        resolve_source(entry, Path("/ws"))
    assert "'plain'" in str(info.value) and "allow_http: true" in str(info.value)
    assert resolve_source(replace(entry, allow_http=True), Path("/ws")).kind == "http"
    assert resolve_source(replace(entry, source="img/x.bin"), Path("/ws")).path == Path("/ws/img/x.bin")
    with pytest.raises(RepositoryError, match="unsupported source scheme ftp"):
        resolve_source(replace(entry, source="ftp://h/x"), Path("/ws"))


@pytest.mark.slow
def test_concurrent_ensure_of_one_image_downloads_once(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    data = blob(2 * MiB, 12)
    url = server.add("/bmc.bin", data)
    ws = load_workspace(make_workspace(tmp_path / "ws", [
        image("bmc", url, data, allow_http=True, component="bmc", version="7.10.30.00")]))
    entry = ws.repository.entries[0]
    # Two tasks on one store (asyncio lock) and a second store (file lock, as another process would).
    store, other = ImageStore(ws, cache_dir=cache_dir, options=FAST), ImageStore(ws, cache_dir=cache_dir)

    async def main() -> tuple[Path, Path, Path]:
        return await asyncio.gather(store.ensure(entry, fetch=True), store.ensure(entry, fetch=True),
                                    other.ensure(entry, fetch=True))

    paths = asyncio.run(main())
    assert len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert len(server.gets("/bmc.bin")) == 1


def test_ensure_without_fetch_names_the_sync_command(tmp_path: Path, cache_dir: Path) -> None:
    ws = load_workspace(make_workspace(tmp_path / "ws", [image("x", "x.bin", b"abc")]))
    store = ImageStore(ws, cache_dir=cache_dir)
    with pytest.raises(RepositoryError) as info:
        asyncio.run(store.ensure(ws.repository.entries[0], fetch=False))
    assert info.value.hint == f"hwfw repo sync {tmp_path / 'ws'}"
    assert store.cached_path(ws.repository.entries[0]) is None


def test_open_verified_rehashes_and_refuses_a_corrupted_object(tmp_path: Path, cache_dir: Path) -> None:
    data = blob(10_000, 13)
    root = make_workspace(tmp_path / "ws", [image("x", "x.bin", data)])
    (root / "x.bin").write_bytes(data)
    ws = load_workspace(root)
    store = ImageStore(ws, cache_dir=cache_dir)
    entry = ws.repository.entries[0]
    path = asyncio.run(store.ensure(entry, fetch=True))
    with store.open_verified(entry) as fh:
        assert fh.read() == data
    path.chmod(0o644)
    path.write_bytes(b"X" + data[1:])
    with pytest.raises(IntegrityError) as info:
        with store.open_verified(entry):
            pass
    assert sha(data) in str(info.value) and "corrupt" in str(info.value)


@pytest.mark.slow
def test_oversized_download_is_cut_short_and_quarantined(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    declared = blob(1000, 14)
    served = declared + blob(3 * MiB, 15)
    url = server.add("/big.bin", served)
    ws = make_workspace(tmp_path / "ws", [image("big", url, declared, allow_http=True)])
    report, _ = run_sync(ws, cache_dir)
    (failure,) = report.failed
    assert "size mismatch: expected 1000 bytes" in str(failure.error)
    (q,) = (cache_dir / "quarantine").glob("*.bin")
    assert q.stat().st_size < len(served)
