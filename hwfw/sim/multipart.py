"""Streaming multipart/form-data parser: file parts go to disk as they arrive.

A BMC image can be 1 GiB; the body is never held in memory. File parts (those with a
filename) are written to a spool file with their sha256 computed on the way; other
parts (JSON parameters, sessionKey) are small and kept in memory (capped).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator, BinaryIO

MAX_FIELD = 1 << 20


class MultipartError(ValueError):
    """The body is not valid multipart/form-data."""


@dataclass
class Part:
    name: str
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)
    path: Path | None = None
    size: int = 0
    sha256: str = ""
    _fh: BinaryIO | None = None
    _hash: hashlib._Hash | None = None

    @property
    def is_file(self) -> bool:
        return self.path is not None

    def text(self) -> str:
        return bytes(self.data).decode("utf-8", "replace")

    def discard(self) -> None:
        if self.path is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass


def boundary_of(content_type: str) -> bytes:
    """The boundary parameter of a multipart Content-Type, or MultipartError."""
    main, _, params = content_type.partition(";")
    if main.strip().lower() != "multipart/form-data":
        raise MultipartError("Content-Type is not multipart/form-data")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary" and value:
            return value.strip().strip('"').encode("latin-1")
    raise MultipartError("multipart boundary missing")


def _parse_headers(block: bytes) -> tuple[str, str | None, str | None]:
    name = filename = ctype = None
    for line in block.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "content-disposition":
            for item in value.split(";")[1:]:
                k, _, v = item.strip().partition("=")
                v = v.strip().strip('"')
                if k.lower() == "name":
                    name = v
                elif k.lower() == "filename":
                    filename = v
        elif key == "content-type":
            ctype = value.strip()
    if name is None:
        raise MultipartError("part without a name")
    return name, filename, ctype


class _Parser:
    def __init__(self, boundary: bytes, spool_dir: Path, max_file: int | None) -> None:
        self.delim = b"\r\n--" + boundary
        self.first = b"--" + boundary
        self.spool_dir = spool_dir
        self.max_file = max_file
        self.buf = bytearray()
        self.state = "preamble"
        self.parts: list[Part] = []
        self.part: Part | None = None

    def _open(self, part: Part) -> None:
        if part.filename is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="upload-", suffix=".bin", dir=self.spool_dir)
            part.path = Path(name)
            part._fh = os.fdopen(fd, "wb")
            part._hash = hashlib.sha256()

    def _write(self, data: bytes) -> None:
        part = self.part
        assert part is not None
        if not data:
            return
        part.size += len(data)
        if part._fh is not None:
            if self.max_file is not None and part.size > self.max_file:
                raise MultipartError("too-large")
            part._fh.write(data)
            assert part._hash is not None
            part._hash.update(data)
        else:
            if part.size > MAX_FIELD:
                raise MultipartError(f"form field {part.name!r} is too large")
            part.data += data

    def _close_part(self) -> None:
        part = self.part
        if part is None:
            return
        if part._fh is not None:
            part._fh.close()
            part._fh = None
            assert part._hash is not None
            part.sha256 = part._hash.hexdigest()
        self.parts.append(part)
        self.part = None

    def feed(self, chunk: bytes) -> None:
        self.buf += chunk
        while True:
            if self.state == "preamble":
                idx = self.buf.find(self.first)
                if idx < 0:
                    del self.buf[: max(0, len(self.buf) - len(self.first))]
                    return
                del self.buf[: idx + len(self.first)]
                self.state = "after-delim"
            elif self.state == "after-delim":
                if len(self.buf) < 2:
                    return
                if self.buf[:2] == b"--":
                    self.state = "done"
                    return
                if self.buf[:2] != b"\r\n":
                    raise MultipartError("malformed boundary line")
                del self.buf[:2]
                self.state = "headers"
            elif self.state == "headers":
                idx = self.buf.find(b"\r\n\r\n")
                if idx < 0:
                    if len(self.buf) > 16384:
                        raise MultipartError("part headers too long")
                    return
                name, filename, ctype = _parse_headers(bytes(self.buf[:idx]))
                del self.buf[: idx + 4]
                self.part = Part(name, filename, ctype)
                self._open(self.part)
                self.state = "body"
            elif self.state == "body":
                idx = self.buf.find(self.delim)
                if idx < 0:
                    keep = len(self.delim) - 1
                    if len(self.buf) > keep:
                        self._write(bytes(self.buf[: len(self.buf) - keep]))
                        del self.buf[: len(self.buf) - keep]
                    return
                self._write(bytes(self.buf[:idx]))
                del self.buf[: idx + len(self.delim)]
                self._close_part()
                self.state = "after-delim"
            else:
                return

    def abort(self) -> None:
        if self.part is not None and self.part._fh is not None:
            self.part._fh.close()
            self.part.discard()
        for part in self.parts:
            part.discard()


async def parse_multipart(stream: AsyncIterator[bytes], content_type: str, spool_dir: Path,
                          max_file: int | None = None) -> list[Part]:
    """Parse a multipart body; file parts are spooled under `spool_dir` (caller discards them)."""
    parser = _Parser(boundary_of(content_type), spool_dir, max_file)
    try:
        async for chunk in stream:
            parser.feed(chunk)
            if parser.state == "done":
                break
        if parser.state != "done":
            raise MultipartError("multipart body ended before the closing boundary")
    except BaseException:
        parser.abort()
        raise
    return parser.parts
