"""Detached OpenPGP signatures on images, verified with Sequoia-PGP (`pysequoia`).

An entry opts in with `signature: PATH_OR_URL` (a detached signature, armored or
binary). The trusted public keys (OpenPGP certificates, armored or binary, one or
several per file) are the entry's `public_key` file plus the workspace-wide
`settings.signing_keys`; a signature verifies when it was made by any of them.
Signatures given by URL are fetched by `hwfw repo sync` into the cache's
`signatures/` folder, so verification itself never touches the network.

Why pysequoia: maintained Rust implementation (Sequoia-PGP) with wheels, streams the
image from disk (`verify(file=...)`) instead of loading it into memory, and ships
type stubs; PGPy is unmaintained since 2022 (breaks on Python 3.13, warns with
current `cryptography`, verifies only in-memory data); `gpgv` needs a GnuPG keyring
and a binary that is not a Python dependency.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import IntegrityError, RepositoryError
from hwfw.repository.cache import Cache, resolve_cache_dir
from hwfw.repository.sources import Source, resolve_location

if TYPE_CHECKING:
    import pysequoia

MAX_SIGNATURE_BYTES = 1 << 20


def _pysequoia() -> Any:
    try:
        import pysequoia
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise IntegrityError("verifying OpenPGP signatures needs the pysequoia package",
                             hint="pip install pysequoia") from exc
    return pysequoia


def _resolve(workspace: Workspace, value: str | os.PathLike[str]) -> Path:
    p = Path(os.path.expanduser(str(value)))
    return p if p.is_absolute() else workspace.root / p


def entry_public_key(entry: RepositoryEntry, workspace: Workspace) -> Path | None:
    """The entry-level public key file, if the entry names one."""
    return _resolve(workspace, entry.public_key) if entry.public_key else None


def signing_keys(entry: RepositoryEntry, workspace: Workspace) -> list[Path]:
    """Every public key file trusted for `entry`: its own, then the workspace's."""
    keys: list[Path] = []
    own = entry_public_key(entry, workspace)
    if own is not None:
        keys.append(own)
    for value in workspace.settings.signing_keys:
        keys.append(_resolve(workspace, value))
    return keys


def signature_source(entry: RepositoryEntry, workspace: Workspace) -> Source | None:
    if not entry.signature:
        return None
    return resolve_location(entry.signature, workspace.root, allow_http=entry.allow_http,
                            what=f"signature of image {entry.id!r}")


def signature_file(entry: RepositoryEntry, workspace: Workspace, cache: Cache) -> Path:
    """The local file holding the entry's detached signature."""
    src = signature_source(entry, workspace)
    assert src is not None
    if src.url is not None:
        path = cache.signature_path(entry.id, src.url)
        if not path.is_file():
            raise IntegrityError(f"image {entry.id!r}: signature {src.url} has not been fetched",
                                 hint=f"hwfw repo sync {workspace.root}")
        return path
    assert src.path is not None
    if not src.path.is_file():
        raise IntegrityError(f"image {entry.id!r}: signature file not found: {src.path}",
                             hint="fix `signature` of this entry (a relative path is relative to hwfw.yaml)")
    return src.path


async def fetch_signature(entry: RepositoryEntry, workspace: Workspace, cache: Cache,
                          client: httpx.AsyncClient) -> Path | None:
    """Download a URL signature into the cache (once); None when the entry has none or a local one."""
    src = signature_source(entry, workspace)
    if src is None or src.url is None:
        return None
    target = cache.signature_path(entry.id, src.url)
    if target.is_file():
        return target
    cache.prepare()
    try:
        async with client.stream("GET", src.url) as resp:
            if resp.status_code != 200:
                raise RepositoryError(f"image {entry.id!r}: signature {src.url}: HTTP {resp.status_code} "
                                      f"{resp.reason_phrase}", hint="check the entry's `signature` URL")
            data = bytearray()
            async for chunk in resp.aiter_raw():
                data += chunk
                if len(data) > MAX_SIGNATURE_BYTES:
                    raise IntegrityError(f"image {entry.id!r}: signature {src.url} is larger than "
                                         f"{MAX_SIGNATURE_BYTES} bytes; not a detached signature")
    except httpx.HTTPError as exc:
        raise RepositoryError(f"image {entry.id!r}: cannot fetch signature {src.url}: {exc}") from exc
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, target)
    return target


@functools.lru_cache(maxsize=64)
def _certs(path: str, mtime_ns: int) -> tuple[Any, ...]:
    ps = _pysequoia()
    return tuple(ps.Cert.split_file(path))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def load_certs(keys: list[Path], entry_id: str) -> list[pysequoia.Cert]:
    certs: list[Any] = []
    for key in keys:
        try:
            certs.extend(_certs(str(key), key.stat().st_mtime_ns))
        except FileNotFoundError as exc:
            raise IntegrityError(f"image {entry_id!r}: public key file not found: {key}") from exc
        except (RuntimeError, ValueError) as exc:
            raise IntegrityError(f"image {entry_id!r}: {key} is not an OpenPGP public key: "
                                 f"{_first_line(exc)}") from exc
    return certs


def verify_signature(entry: RepositoryEntry, object_path: Path, workspace: Workspace, *,
                     cache: Cache | None = None) -> None:
    """Check `object_path` against the entry's detached signature and trusted keys.

    No-op for an entry without `signature` (whether unsigned images are acceptable
    is `policy_problems`' business). Raises IntegrityError naming the entry, the
    signature and the key files when the signature does not verify.
    """
    if not entry.signature:
        return
    keys = signing_keys(entry, workspace)
    if not keys:
        raise IntegrityError(f"image {entry.id!r} has a signature but no public key is configured",
                             hint="set `public_key: FILE` on the entry or `settings.signing_keys` in hwfw.yaml")
    cache = cache or Cache(resolve_cache_dir(workspace.settings))
    sig_path = signature_file(entry, workspace, cache)
    ps = _pysequoia()
    certs = load_certs(keys, entry.id)
    try:
        sig = ps.Sig.from_file(str(sig_path))
    except (RuntimeError, ValueError) as exc:
        raise IntegrityError(f"image {entry.id!r}: {sig_path} is not an OpenPGP signature: "
                             f"{_first_line(exc)}") from exc
    key_list = ", ".join(str(k) for k in keys)
    try:
        result = ps.verify(file=str(object_path), signature=sig, store=lambda _ids: certs)
    except (RuntimeError, ValueError) as exc:
        raise IntegrityError(
            f"image {entry.id!r}: OpenPGP signature {entry.signature} does not verify against {key_list}: "
            f"{_first_line(exc)}",
            hint="the image or its signature was altered, or it was signed by a key you do not trust") from exc
    if not result.valid_sigs:  # pragma: no cover - pysequoia raises instead
        raise IntegrityError(f"image {entry.id!r}: no valid signature from {key_list}")
