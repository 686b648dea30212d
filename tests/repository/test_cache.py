"""The cache layout and its primitives: location, locks, byte ranges, TLS to mirrors."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hwfw.config import load_workspace
from hwfw.config.model import Settings
from hwfw.repository import iter_range, parse_range, resolve_cache_dir, sync_entries
from hwfw.repository.cache import Cache
from hwfw.repository.fetch import FetchOptions
from tests.repository.fileserver import FileServer
from tests.repository.support import blob, image, make_workspace, sha


def settings(cache_dir: Path | None) -> Settings:
    return Settings(state_path=Path("/ws/.hwfw/state.json"), runtime_dir=Path("/ws/.hwfw"), cache_dir=cache_dir)


def test_cache_location_precedence() -> None:
    home = Path.home()
    assert resolve_cache_dir(settings(None), environ={}) == home / ".cache" / "hwfw"
    assert resolve_cache_dir(settings(None), environ={"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/hwfw")
    assert resolve_cache_dir(settings(None), environ={"XDG_CACHE_HOME": "relative"}) == home / ".cache" / "hwfw"
    assert resolve_cache_dir(settings(Path("/set")), environ={"XDG_CACHE_HOME": "/xdg"}) == Path("/set")
    assert resolve_cache_dir(settings(Path("/set")), environ={"HWFW_CACHE": "/env"}) == Path("/env")
    assert resolve_cache_dir(settings(Path("/set")), Path("/arg"), environ={"HWFW_CACHE": "/env"}) == Path("/arg")


def test_settings_cache_dir_is_relative_to_the_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HWFW_CACHE", raising=False)
    ws = load_workspace(make_workspace(tmp_path / "ws", [], settings={"cache_dir": "fw-cache"}))
    assert resolve_cache_dir(ws.settings) == tmp_path / "ws" / "fw-cache"


def test_object_lock_excludes_a_second_holder(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    digest = "ab" * 32
    with cache.lock(digest) as first:
        assert first
        with cache.lock(digest, blocking=False) as second:
            assert second is False
    with cache.lock(digest, blocking=False) as again:
        assert again


def test_partial_and_quarantine_are_never_named_by_the_digest(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    digest = sha(b"data")
    partial = cache.new_partial("bios-1", digest, "https://mirror/bios.bin")
    partial.write(b"dat")
    partial.checkpoint()
    assert partial.path.parent == tmp_path / "partial" and partial.path.name.startswith("bios-1-")
    assert partial.path.suffix == ".part" and digest not in partial.path.name
    actual, size = partial.finish()
    q = cache.quarantine_partial(partial, actual=actual, size=size, reason="sha256 mismatch")
    assert q.parent == tmp_path / "quarantine" and q.name.startswith("bios-1-") and q.suffix == ".bin"
    assert digest not in q.name and q.with_suffix(".json").is_file()
    assert not list((tmp_path / "partial").iterdir())


@pytest.mark.parametrize(("header", "expected"), [
    (None, None), ("bytes=0-", (0, 100)), ("bytes=10-19", (10, 20)), ("bytes=90-200", (90, 100)),
    ("bytes=-10", (90, 100)), ("bytes=0-1,5-6", None), ("items=0-1", None)])
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 100) == expected


def test_parse_range_unsatisfiable() -> None:
    with pytest.raises(ValueError):
        parse_range("bytes=100-", 100)


def test_iter_range(tmp_path: Path) -> None:
    data = blob(10_000, 50)
    f = tmp_path / "x"
    f.write_bytes(data)
    assert b"".join(iter_range(f, 100, 5000, chunk_size=777)) == data[100:5000]
    assert b"".join(iter_range(f)) == data
    assert b"".join(iter_range(f, 9_990, 20_000)) == data[9_990:]


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hwfw test mirror")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp / "mirror.pem", tmp / "mirror.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
def test_https_mirror_is_verified_against_settings_ca_bundle(tmp_path: Path, cache_dir: Path, transport: str) -> None:
    cert, key = _self_signed(tmp_path)
    data = blob(50_000, 51)
    with FileServer(tls=(cert, key)) as srv:
        url = srv.add("/bios.bin", data)
        assert url.startswith("https://")
        untrusted = load_workspace(make_workspace(tmp_path / "a", [image("bios", url, data)]))
        report = asyncio.run(sync_entries(untrusted, list(untrusted.repository.entries), cache=Cache(cache_dir),
                                          options=FetchOptions(retries=3, backoff=0, transport=transport)))
        (failure,) = report.failed
        assert "TLS verification failed for " + url in str(failure.error)
        assert failure.error is not None and "settings.ca_bundle" in (failure.error.hint or "")
        assert srv.gets("/bios.bin") == []  # no retries for a certificate problem

        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "ca.pem").write_bytes(cert.read_bytes())
        trusted = load_workspace(make_workspace(tmp_path / "b", [image("bios", url, data)],
                                                settings={"ca_bundle": "ca.pem"}))
        report = asyncio.run(sync_entries(trusted, list(trusted.repository.entries), cache=Cache(cache_dir),
                                          options=FetchOptions(transport=transport)))
        assert report.ok and (cache_dir / "sha256" / sha(data)).read_bytes() == data


@pytest.mark.parametrize("digest", ["ab" * 32 + "\n", "ab" * 32 + "\n\n", "AB" * 32, "ab" * 31])
def test_a_digest_is_64_lower_case_hex_digits_and_nothing_after(tmp_path: Path, digest: str) -> None:
    # `$` in a Python pattern also matches before a final newline: a digest with one
    # would name another file than the object it stands for.
    cache = Cache(tmp_path / "cache")
    with pytest.raises(ValueError, match="not a sha256 hex digest"):
        cache.object_path(digest)
    assert cache.object_path("ab" * 32).name == "ab" * 32
