"""Images a simulated BMC receives: streaming verification and real HTTP(S) pulls.

Uploads arrive as spool files (multipart.py); `inspect_file` checks them with
`verify_image_file` in a worker thread (a 1 GiB image never sits in memory and never
blocks the event loop). `fetch` really downloads an `ImageURI` with httpx, hashing as
it streams, the way a BMC pulls from an image server (`SimpleUpdate`).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hwfw.sim.images import ImageError, ImageHeader, verify_image_file


@dataclass
class ImageInfo:
    """What the BMC learnt about an image: identity, and why it is unusable if it is."""

    sha256: str
    size: int
    filename: str
    header: ImageHeader | None = None
    error: str | None = None

    def to_event(self) -> dict[str, Any]:
        h = self.header
        return {"sha256": self.sha256, "size": self.size, "filename": self.filename,
                "component": h.component if h else None, "version": h.version if h else None,
                "model": h.model if h else None, "valid": self.error is None}


def _verify(path: Path) -> ImageHeader:
    with path.open("rb") as fh:
        return verify_image_file(fh)


async def inspect_file(path: Path, filename: str, sha256: str, size: int) -> ImageInfo:
    """Verify a spooled image without blocking the loop; never raises for bad images."""
    try:
        header = await asyncio.to_thread(_verify, path)
    except ImageError as exc:
        return ImageInfo(sha256, size, filename, None, str(exc))
    return ImageInfo(sha256, size, filename, header)


def not_applicable_reason(info: ImageInfo, vendor: str, model: str, component: str | None) -> str | None:
    """Why this image cannot go on this BMC/target, or None if it can."""
    h = info.header
    if h is None:
        return info.error or "unreadable image"
    if h.vendor != vendor:
        return f"image is for vendor {h.vendor!r}, this is a {vendor!r} server"
    if h.model != model:
        return f"image is for model {h.model!r}, this server is a {model!r}"
    if component is not None and h.component != component:
        return f"image is a {h.component!r} image, the target is {component!r}"
    return None


class FetchError(Exception):
    """A pull failed; `key` is the Base/Update message key to report."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(detail)
        self.key = key
        self.detail = detail


_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE


async def fetch(uri: str, spool_dir: Path, username: str | None = None, password: str | None = None,
                timeout: float = 60.0, local_address: str | None = None) -> tuple[Path, str, int]:
    """Download `uri` to a spool file; return (path, sha256, size) or raise FetchError.

    Like most BMCs, the simulator does not verify the image server's certificate. The
    connection leaves from `local_address` (the BMC's own loopback address) when the
    image server is on IPv4 loopback too, so the server sees which BMC fetched.
    """
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="pull-", suffix=".bin", dir=spool_dir)
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    auth = (username, password or "") if username else None
    try:
        transport = httpx.AsyncHTTPTransport(verify=_INSECURE, local_address=_source_for(uri, local_address))
        async with httpx.AsyncClient(verify=_INSECURE, timeout=timeout, auth=auth, transport=transport) as client:
            async with client.stream("GET", uri) as resp:
                if resp.status_code in (401, 403):
                    raise FetchError("ResourceAtUriUnauthorized", f"HTTP {resp.status_code}")
                if resp.status_code != 200:
                    raise FetchError("TransferFailed", f"HTTP {resp.status_code}")
                with os.fdopen(fd, "wb") as fh:
                    fd = -1
                    async for chunk in resp.aiter_bytes(1 << 20):
                        fh.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
    except FetchError:
        path.unlink(missing_ok=True)
        raise
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        path.unlink(missing_ok=True)
        raise FetchError("CouldNotEstablishConnection", str(exc) or type(exc).__name__) from None
    except (httpx.HTTPError, OSError, ValueError) as exc:
        path.unlink(missing_ok=True)
        raise FetchError("TransferFailed", str(exc) or type(exc).__name__) from None
    finally:
        if fd >= 0:
            os.close(fd)
    return path, digest.hexdigest(), size


def _source_for(uri: str, local_address: str | None) -> str | None:
    """`local_address` when both it and the URI's host are IPv4 loopback, else None."""
    import ipaddress
    from urllib.parse import urlsplit

    try:
        here = ipaddress.ip_address(local_address or "")
        there = urlsplit(uri).hostname or ""
        target = ipaddress.ip_address("127.0.0.1" if there == "localhost" else there)
    except ValueError:
        return None
    both_v4_loopback = here.version == target.version == 4 and here.is_loopback and target.is_loopback
    return local_address if both_v4_loopback else None
