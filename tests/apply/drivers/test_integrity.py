"""Images are checked while they stream: a file that does not hash right never leaves
whole, neither as an upload nor from the image server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import httpx
import pytest

from hwfw.apply.imageserver import BLOCK, ImageServer
from hwfw.apply.upload import FilePart, FormField, HashingReader, ImageChanged, MultipartBody
from hwfw.clock import SystemClock
from hwfw.config.model import ImageServerSettings
from hwfw.errors import IntegrityError
from tests.apply.drivers.support import DELL, GEN, HPE, SMC, Rig, flash_request, run, with_rig, write_fleet


def _corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF              # same size, different bytes
    path.write_bytes(bytes(data))


@pytest.mark.slow
@pytest.mark.parametrize("vendor, spec, component, version, current", [
    ("dell", DELL, "bios", "1.12.1", "1.10.2"),
    ("hpe", HPE, "bios", "U30 v2.80 (10/03/2023)", "U30 v2.68 (07/14/2022)"),
    ("supermicro", SMC, "bmc", "01.03.12", "01.01.10"),
    ("generic", GEN, "bios", "1.1.0", "1.0.5"),
])
def test_corrupted_image_is_never_received(tmp_path: Path, vendor: str, spec: dict, component: str,
                                           version: str, current: str) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", {"h1": spec})

    async def body(rig: Rig) -> None:
        drv = await rig.driver("h1")
        path, entry = rig.image(vendor, spec["model"], component, version, size=3 * 1024 * 1024 + 17)
        _corrupt(path)   # the repository verified it earlier; it changed on disk since
        req = flash_request("h1", component, entry, path, current=current, apply_time="Immediate",
                            activation="host-reboot")
        with pytest.raises(IntegrityError, match="hashed to sha256"):
            await drv.flash(req, rig.progress)
        assert rig.events("h1", "image-received") == []
        assert (await drv.read_versions())[component] == current

    with_rig(tmp_path, fleet, body)


def test_hashing_reader_holds_back_the_last_chunk(tmp_path: Path) -> None:
    path = tmp_path / "img.bin"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 5))
    good = hashlib.sha256(path.read_bytes()).hexdigest()

    async def collect(expected: str) -> tuple[list[int], Exception | None]:
        sizes: list[int] = []
        reader = HashingReader(path, expected, chunk_size=1024 * 1024)
        try:
            async for chunk in reader.chunks():
                sizes.append(len(chunk))
        except ImageChanged as exc:
            return sizes, exc
        return sizes, None

    sizes, error = run(collect(good))
    assert error is None and sum(sizes) == path.stat().st_size
    sizes, error = run(collect("0" * 64))
    assert isinstance(error, ImageChanged)
    assert sum(sizes) == 3 * 1024 * 1024  # everything but the final chunk went out


def test_multipart_body_length_matches_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "img.bin"
    path.write_bytes(os.urandom(200_000))
    body = MultipartBody([FormField("UpdateParameters", '{"Targets": []}', "application/json")],
                         FilePart("UpdateFile", path, hashlib.sha256(path.read_bytes()).hexdigest()))

    async def total() -> bytes:
        return b"".join([c async for c in body.stream()])

    raw = run(total())
    assert len(raw) == body.content_length()
    assert b'name="UpdateParameters"\r\nContent-Type: application/json\r\n\r\n{"Targets": []}' in raw
    assert b'name="UpdateFile"; filename="img.bin"\r\nContent-Type: application/octet-stream' in raw


# ------------------------------------------------------------------ image server

def _server_settings(**kw: object) -> ImageServerSettings:
    return ImageServerSettings(listen="127.0.0.1:0", **kw)  # type: ignore[arg-type]


@pytest.mark.slow
def test_image_server_publishes_unguessable_urls_serves_ranges_and_logs(tmp_path: Path) -> None:
    path = tmp_path / "bios.bin"
    data = os.urandom(2 * BLOCK + 1234)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    async def body() -> None:
        async with ImageServer(_server_settings(), SystemClock()) as srv:
            url = srv.publish(path, digest)
            assert srv.publish(path, digest) == url          # one URL per image per run
            token = url.split("/")[3]
            assert len(token) >= 32 and url.endswith("/bios.bin")
            async with httpx.AsyncClient() as c:
                full = await c.get(url)
                assert full.status_code == 200 and full.content == data
                part = await c.get(url, headers={"Range": f"bytes={BLOCK - 10}-{BLOCK + 9}"})
                assert part.status_code == 206 and part.content == data[BLOCK - 10:BLOCK + 10]
                assert part.headers["content-range"] == f"bytes {BLOCK - 10}-{BLOCK + 9}/{len(data)}"
                tail = await c.get(url, headers={"Range": "bytes=-100"})
                assert tail.content == data[-100:]
                assert (await c.get(url, headers={"Range": f"bytes={len(data) + 5}-"})).status_code == 416
                assert (await c.head(url)).headers["content-length"] == str(len(data))
                guessed = url.replace(token, token[:-1] + ("A" if token[-1] != "A" else "B"))
                assert (await c.get(guessed)).status_code == 404
                assert (await c.post(url)).status_code == 405
            log = srv.access_log
            assert [(a.method, a.status, a.bytes_sent) for a in log[:3]] == \
                [("GET", 200, len(data)), ("GET", 206, 20), ("GET", 206, 100)]
            assert all(a.remote == "127.0.0.1" for a in log)
            assert srv.fetches(sha256=digest, complete=True)[0].sha256 == digest
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)                        # only for the duration of the run

    run(body())


@pytest.mark.slow
def test_image_server_refuses_wrong_hash_and_cuts_changed_files(tmp_path: Path) -> None:
    path = tmp_path / "img.bin"
    data = os.urandom(3 * BLOCK)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    async def body() -> None:
        async with ImageServer(_server_settings(), SystemClock()) as srv:
            with pytest.raises(IntegrityError):
                srv.publish(path, "f" * 64)
            url = await srv.publish_async(path, digest)
            # Overwrite the second block in place (same inode, same size) after publication.
            with open(path, "r+b") as fh:
                fh.seek(BLOCK + 10)
                fh.write(b"\x00" * 16)
            async with httpx.AsyncClient() as c:
                with pytest.raises(httpx.RemoteProtocolError):   # cut short: never the whole, wrong image
                    await c.get(url)
                ok = await c.get(url, headers={"Range": f"bytes=0-{BLOCK - 1}"})
                assert ok.status_code == 206 and ok.content == data[:BLOCK]   # untouched block still fine
                bad = srv.access_log[0]
                assert not bad.complete and "does not hash right" in (bad.error or "")
                assert bad.bytes_sent <= BLOCK

    run(body())


@pytest.mark.slow
def test_image_server_limits_concurrent_transfers(tmp_path: Path) -> None:
    path = tmp_path / "img.bin"
    data = os.urandom(8 * BLOCK)
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    async def body() -> None:
        async with ImageServer(_server_settings(max_transfers=2), SystemClock()) as srv:
            url = srv.publish(path, digest)
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=10)) as c:
                results = await asyncio.gather(*(c.get(url) for _ in range(6)))
            assert all(r.status_code == 200 and r.content == data for r in results)
            assert srv.peak_transfers <= 2
            assert len(srv.fetches(sha256=digest, complete=True)) == 6

    run(body())
