"""Simulated firmware images: a small header the simulator checks, then a payload.

Layout (all deterministic, so identical arguments give byte-identical files):

    HWFWSIM1\\n
    {"component": ..., "model": ..., "payload_sha256": ..., "payload_size": ..., "vendor": ..., "version": ...}\\n
    <payload_size bytes: a SHA-256 counter stream seeded by the header fields>

A simulated BMC accepts an image only if the magic is right, the vendor, model and
component fit the target, and the payload hashes to `payload_sha256`; otherwise the
update task ends in Exception with the vendor's VerificationFailed-style message.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

MAGIC = b"HWFWSIM1\n"
_MAX_HEADER = 4096
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ImageHeader:
    vendor: str
    model: str
    component: str
    version: str
    payload_size: int
    payload_sha256: str

    def to_bytes(self) -> bytes:
        fields = {"component": self.component, "model": self.model, "payload_sha256": self.payload_sha256,
                  "payload_size": self.payload_size, "vendor": self.vendor, "version": self.version}
        return MAGIC + json.dumps(fields, sort_keys=True, separators=(",", ":")).encode() + b"\n"


class ImageError(ValueError):
    """The bytes are not a valid simulated image (bad magic, header or payload)."""


def _payload_chunks(seed: bytes, size: int) -> Iterator[bytes]:
    counter = 0
    remaining = size
    block = b""
    while remaining > 0:
        # 32-byte blocks from sha256(seed || counter), grouped into 1 MiB chunks.
        out = bytearray()
        while len(out) < min(_CHUNK, remaining):
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
            out += block
            counter += 1
        chunk = bytes(out[: min(_CHUNK, remaining)])
        remaining -= len(chunk)
        yield chunk


def _seed(vendor: str, model: str, component: str, version: str) -> bytes:
    return f"{vendor}\0{model}\0{component}\0{version}".encode()


def make_image(vendor: str, model: str, component: str, version: str, size: int, out: Path) -> str:
    """Write a simulated image of `size` payload bytes to `out`; return the file's sha256."""
    seed = _seed(vendor, model, component, version)
    payload_hash = hashlib.sha256()
    for chunk in _payload_chunks(seed, size):
        payload_hash.update(chunk)
    header = ImageHeader(vendor, model, component, version, size, payload_hash.hexdigest()).to_bytes()
    file_hash = hashlib.sha256(header)
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("wb") as fh:
        fh.write(header)
        for chunk in _payload_chunks(seed, size):
            fh.write(chunk)
            file_hash.update(chunk)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    return file_hash.hexdigest()


def parse_header(data: bytes) -> tuple[ImageHeader, int]:
    """Parse the header at the start of `data`; return it and the payload offset."""
    if not data.startswith(MAGIC):
        raise ImageError("not a firmware image for this platform (bad signature)")
    end = data.find(b"\n", len(MAGIC), len(MAGIC) + _MAX_HEADER)
    if end < 0:
        raise ImageError("image header is truncated")
    try:
        fields = json.loads(data[len(MAGIC):end])
        header = ImageHeader(**fields)
    except (ValueError, TypeError) as exc:
        raise ImageError(f"image header is corrupt: {exc}") from exc
    return header, end + 1


def verify_image_file(fh: BinaryIO) -> ImageHeader:
    """Check an image from an open binary file without reading it all into memory."""
    head = fh.read(len(MAGIC) + _MAX_HEADER)
    header, offset = parse_header(head)
    digest = hashlib.sha256(head[offset:])
    size = len(head) - offset
    while chunk := fh.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    if size != header.payload_size:
        raise ImageError(f"image payload is {size} bytes, header says {header.payload_size}")
    if digest.hexdigest() != header.payload_sha256:
        raise ImageError("image payload checksum mismatch (corrupted image)")
    return header
