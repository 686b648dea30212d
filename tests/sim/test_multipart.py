"""Streaming multipart parser: file parts on disk, any chunking, malformed bodies refused."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.sim.multipart import MultipartError, parse_multipart
from tests.sim.support import run

BOUNDARY = "----hwfwBoundary7MA4YWxk"


def body(payload: bytes) -> bytes:
    b = BOUNDARY.encode()
    return (b"--" + b + b'\r\nContent-Disposition: form-data; name="UpdateParameters"\r\n'
            b"Content-Type: application/json\r\n\r\n" + b'{"Targets": []}' + b"\r\n--" + b +
            b'\r\nContent-Disposition: form-data; name="UpdateFile"; filename="fw.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + payload + b"\r\n--" + b + b"--\r\n")


async def chunked(data: bytes, sizes: list[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in sizes:
        yield data[pos:pos + size]
        pos += size
    yield data[pos:]


@settings(max_examples=40, deadline=None)
@given(payload=st.binary(max_size=3000), sizes=st.lists(st.integers(min_value=1, max_value=97), max_size=60))
def test_any_chunking_gives_the_same_parts(tmp_path_factory: pytest.TempPathFactory, payload: bytes,
                                           sizes: list[int]) -> None:
    spool = tmp_path_factory.mktemp("spool")
    parts = run(parse_multipart(chunked(body(payload), sizes), f"multipart/form-data; boundary={BOUNDARY}", spool))
    fields = {p.name: p for p in parts}
    assert fields["UpdateParameters"].text() == '{"Targets": []}'
    f = fields["UpdateFile"]
    assert f.path is not None and f.path.read_bytes() == payload
    assert f.sha256 == hashlib.sha256(payload).hexdigest() and f.size == len(payload)
    f.discard()


def test_truncated_body_and_size_limit_are_refused(tmp_path: Path) -> None:
    data = body(b"x" * 5000)
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    with pytest.raises(MultipartError):
        run(parse_multipart(chunked(data[:-40], [100] * 10), ctype, tmp_path))
    with pytest.raises(MultipartError, match="too-large"):
        run(parse_multipart(chunked(data, [512] * 20), ctype, tmp_path, max_file=1000))
    with pytest.raises(MultipartError):
        run(parse_multipart(chunked(data, []), "application/json", tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing left behind
