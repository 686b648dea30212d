"""The image server over real loopback sockets: ranges, integrity, exact paths, events.

Requests that httpx would normalise (dot segments, absolute-form targets, encoded
slashes) are written by hand on a raw socket, so the server sees them as an attacker
would send them.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from hwfw.apply.imageserver import BLOCK, ImageServer
from hwfw.clock import SystemClock
from hwfw.config.model import ImageServerSettings
from hwfw.events import CallbackSink, Event, JsonLinesSink
from hwfw.resources import schema_path
from hwfw.sim.tls import generate

pytestmark = pytest.mark.slow


def _image(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    path = tmp_path / "bios.bin"
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest()


def _server(events: Any = None, **settings: Any) -> ImageServer:
    return ImageServer(ImageServerSettings(listen="127.0.0.1:0", **settings), SystemClock(), events=events,
                       run_id="run-42")


async def _raw(srv: ImageServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `request` as is; return status, headers and every body byte until the server closes."""
    assert srv.address is not None
    reader, writer = await asyncio.open_connection(*srv.address)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()  # to EOF: the request says Connection: close
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _get(target: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                         *extra]) + "\r\n\r\n").encode()


def test_ranges_of_every_form_and_head(tmp_path: Path) -> None:
    path, data, digest = _image(tmp_path, 2 * BLOCK + 4321)
    size = len(data)

    async def body() -> None:
        async with _server() as srv:
            url = await srv.publish_async(path, digest)
            async with httpx.AsyncClient() as c:
                cases = {"bytes=0-0": data[:1], f"bytes={BLOCK - 3}-{BLOCK + 2}": data[BLOCK - 3:BLOCK + 3],
                         f"bytes={2 * BLOCK}-": data[2 * BLOCK:], "bytes=-7": data[-7:],
                         f"bytes={size - 1}-{size + 100}": data[-1:]}
                for header, want in cases.items():
                    r = await c.get(url, headers={"Range": header})
                    assert (r.status_code, r.content) == (206, want), header
                    first = size - len(want) if header.startswith("bytes=-") else int(header[6:].split("-")[0])
                    assert r.headers["content-range"] == f"bytes {first}-{first + len(want) - 1}/{size}"
                several = await c.get(url, headers={"Range": "bytes=0-1,5-9"})
                assert (several.status_code, several.content) == (200, data)   # served whole
                bad = await c.get(url, headers={"Range": f"bytes={size}-"})
                assert bad.status_code == 416 and bad.headers["content-range"] == f"bytes */{size}"
                head = await c.head(url)
                assert head.status_code == 200 and head.headers["content-length"] == str(size) and head.content == b""
                assert head.headers["accept-ranges"] == "bytes" and "server" not in head.headers
            assert [a.bytes_sent for a in srv.access_log[:5]] == [1, 6, size - 2 * BLOCK, 7, 1]

    asyncio.run(body())


def test_a_block_that_no_longer_hashes_right_is_never_sent(tmp_path: Path) -> None:
    path, data, digest = _image(tmp_path, 4 * BLOCK)
    seen: list[Event] = []

    async def body() -> None:
        async with _server(CallbackSink(seen.append)) as srv:
            url = await srv.publish_async(path, digest, image="bios-1.2")
            with open(path, "r+b") as fh:    # same inode, same size, one byte of block 2 flipped
                fh.seek(2 * BLOCK + 77)
                fh.write(bytes([data[2 * BLOCK + 77] ^ 0xFF]))
            target = url.split(str(srv.address[1]), 1)[1]  # type: ignore[index]
            status, headers, got = await _raw(srv, _get(target))
            assert status == 200 and headers["content-length"] == str(len(data))
            assert got == data[:2 * BLOCK]          # blocks 0 and 1, then the connection was cut
            status, _, got = await _raw(srv, _get(target, f"Range: bytes={2 * BLOCK + 100}-{2 * BLOCK + 200}"))
            assert status == 206 and got == b""    # not one byte of the changed block, even inside a range
            status, _, got = await _raw(srv, _get(target, f"Range: bytes={3 * BLOCK}-"))
            assert status == 206 and got == data[3 * BLOCK:]   # untouched blocks still serve
            cut = srv.access_log[0]
            assert not cut.complete and cut.bytes_sent == 2 * BLOCK and "block 2" in (cut.error or "")

    asyncio.run(body())
    served = [e for e in seen if e.name == "image-served"]
    assert [(e.payload["status"], e.payload["complete"], e.payload["bytes"]) for e in served] == \
        [(200, False, 2 * BLOCK), (206, False, 0), (206, True, BLOCK)]
    assert all(e.image == "bios-1.2" and e.sha256 == digest and e.run_id == "run-42" for e in served)


def test_unknown_urls_and_path_tricks_get_a_bare_404(tmp_path: Path) -> None:
    path, data, digest = _image(tmp_path, 5000)
    out = io.StringIO()
    tokens: list[str] = []

    async def body() -> None:
        async with _server(JsonLinesSink(out)) as srv:
            url = srv.publish(path, digest)
            token = url.split("/")[3]
            tokens.append(token)
            origin = f"http://127.0.0.1:{srv.address[1]}"  # type: ignore[index]
            assert (await _raw(srv, _get(f"/{token}/bios.bin")))[2] == data   # the one spelling that works
            tricks = [f"/{token[:-1]}x/bios.bin", f"/{token}/other.bin", f"/{token}", f"/{token}/",
                      f"/{token}/bios.bin/", f"//{token}/bios.bin", f"/../{token}/bios.bin",
                      f"/{token}/../{token}/bios.bin", f"/{token}/./bios.bin", f"/x/../{token}/bios.bin",
                      f"/{token}%2Fbios.bin", f"%2F{token}%2Fbios.bin", f"/{token}/bios.bin%2F..%2F",
                      f"/%{ord(token[0]):02X}{token[1:]}/bios.bin", f"/{token}/%2e%2e/{token}/bios.bin",
                      f"{origin}/{token}/bios.bin", f"http://other.example/{token}/bios.bin", "*", "/"]
            for target in tricks:
                status, headers, got = await _raw(srv, _get(target))
                assert (status, got) == (404, b"not found\n"), target
                assert token.encode() not in got and "server" not in headers
            assert {a.status for a in srv.access_log[1:]} == {404}
            assert all(a.sha256 is None for a in srv.access_log[1:])

    asyncio.run(body())
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    schema = json.loads(schema_path("events").read_text())
    for line in lines:
        jsonschema.validate(line, schema)
    assert [line["status"] for line in lines] == [200] + [404] * 19
    assert "path" not in lines[0] and lines[0]["remote"] == "127.0.0.1" and lines[0]["complete"] is True
    assert tokens[0] not in out.getvalue()  # the token never leaves in an event


def test_served_over_https_with_the_configured_certificate(tmp_path: Path) -> None:
    path, data, digest = _image(tmp_path, BLOCK + 1)
    ca, certs, key = generate(tmp_path / "tls", ["127.0.0.1"])

    async def body() -> None:
        async with _server(tls_cert=certs["127.0.0.1"], tls_key=key) as srv:
            url = srv.publish(path, digest)
            assert url.startswith("https://127.0.0.1:")
            async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca))) as c:
                r = await c.get(url, headers={"Range": "bytes=-10"})
                assert (r.status_code, r.content) == (206, data[-10:])
            with pytest.raises(httpx.ConnectError):  # no certificate check skipped on the client side
                async with httpx.AsyncClient() as c:
                    await c.get(url)

    asyncio.run(body())
