"""Integrity policy: approved-firmware allow-list and detached OpenPGP signatures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pysequoia as ps
import pytest

from hwfw.config import load_workspace
from hwfw.errors import IntegrityError
from hwfw.repository import ImageStore, PolicyViolation, policy_problems, verify_signature
from hwfw.repository.cache import Cache
from hwfw.repository.sync import sync_entries
from tests.repository.fileserver import FileServer
from tests.repository.support import blob, image, make_workspace, sha


def make_key(tmp: Path, name: str) -> tuple[ps.Tsk, Path]:
    """A fresh signing key; its public certificate (armored) is written to `tmp/name.asc`."""
    key = ps.Tsk.generate(f"{name} <{name}@firmware.test>")
    path = tmp / f"{name}.asc"
    path.write_text(str(key.extract_certificate()))
    return key, path


def sign(key: ps.Tsk, file: Path, out: Path) -> Path:
    ps.sign_file(key.signer(), str(file), str(out), mode=ps.SignatureMode.DETACHED)
    return out


@pytest.fixture
def signed_ws(tmp_path: Path) -> tuple[Path, bytes, ps.Tsk]:
    root = tmp_path / "ws"
    (root / "keys").mkdir(parents=True)
    data = blob(50_000, 20)
    (root / "bios.bin").write_bytes(data)
    key, _ = make_key(root / "keys", "vendor")
    sign(key, root / "bios.bin", root / "bios.bin.sig")
    make_workspace(root, [image("bios", "bios.bin", data, signature="bios.bin.sig",
                                public_key="keys/vendor.asc")])
    return root, data, key


def test_good_signature_is_accepted(signed_ws: tuple[Path, bytes, ps.Tsk], cache_dir: Path) -> None:
    root, data, _ = signed_ws
    ws = load_workspace(root)
    entry = ws.repository.entries[0]
    assert policy_problems(entry, ws) == []
    store = ImageStore(ws, cache_dir=cache_dir)
    asyncio.run(store.ensure(entry, fetch=True))
    with store.open_verified(entry) as fh:
        assert fh.read() == data


def test_signature_from_another_key_is_refused(signed_ws: tuple[Path, bytes, ps.Tsk], cache_dir: Path) -> None:
    root, _, _ = signed_ws
    intruder, _ = make_key(root, "intruder")
    sign(intruder, root / "bios.bin", root / "bios.bin.sig")
    ws = load_workspace(root)
    entry = ws.repository.entries[0]
    store = ImageStore(ws, cache_dir=cache_dir)
    asyncio.run(store.ensure(entry, fetch=True))
    with pytest.raises(IntegrityError) as info:
        with store.open_verified(entry):
            pass
    text = str(info.value)
    assert "'bios'" in text and "does not verify" in text and "vendor.asc" in text


def test_signature_over_other_bytes_is_refused(signed_ws: tuple[Path, bytes, ps.Tsk], cache_dir: Path) -> None:
    root, _, key = signed_ws
    other = root / "other.bin"
    other.write_bytes(b"not the image")
    sign(key, other, root / "bios.bin.sig")
    ws = load_workspace(root)
    entry = ws.repository.entries[0]
    path = asyncio.run(ImageStore(ws, cache_dir=cache_dir).ensure(entry, fetch=True))
    with pytest.raises(IntegrityError, match="does not verify"):
        verify_signature(entry, path, ws, cache=Cache(cache_dir))


def test_image_not_on_the_allow_list_is_refused(tmp_path: Path, cache_dir: Path) -> None:
    data, approved = blob(1000, 21), blob(1000, 22)
    root = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", data)],
                          settings={"allowed_sha256": [sha(approved)]})
    (root / "bios.bin").write_bytes(data)
    ws = load_workspace(root)
    entry = ws.repository.entries[0]
    (problem,) = policy_problems(entry, ws)
    assert "'bios'" in problem and sha(data) in problem and "allowed_sha256" in problem
    store = ImageStore(ws, cache_dir=cache_dir)
    asyncio.run(store.ensure(entry, fetch=True))
    with pytest.raises(PolicyViolation) as info:
        with store.open_verified(entry):
            pass
    assert info.value.problems == [problem]

    (root / "hwfw.yaml").write_text((root / "hwfw.yaml").read_text().replace(sha(approved), sha(data)))
    ws = load_workspace(root)
    with ImageStore(ws, cache_dir=cache_dir).open_verified(ws.repository.entries[0]) as fh:
        assert fh.read() == data


def test_unsigned_images_refused_when_policy_requires_signatures(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", b"x")],
                          settings={"policies": {"allow_unsigned": False}})
    ws = load_workspace(root)
    assert policy_problems(ws.repository.entries[0], ws) == [
        "image 'bios' has no signature and settings.policies.allow_unsigned is false"]


def test_signature_without_a_key_is_a_policy_problem(tmp_path: Path) -> None:
    root = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", b"x", signature="bios.sig")])
    ws = load_workspace(root)
    (problem,) = policy_problems(ws.repository.entries[0], ws)
    assert "no public key is configured" in problem


@pytest.mark.slow
def test_sync_fetches_a_url_signature_and_verifies_it(tmp_path: Path, server: FileServer, cache_dir: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    data = blob(20_000, 23)
    key, _ = make_key(root, "vendor")
    (tmp_path / "img.bin").write_bytes(data)
    sig = sign(key, tmp_path / "img.bin", tmp_path / "img.bin.sig")
    url = server.add("/img.bin", data)
    sig_url = server.add("/img.bin.sig", sig.read_bytes())
    make_workspace(root, [image("nic", url, data, allow_http=True, signature=sig_url, public_key="vendor.asc")])
    ws = load_workspace(root)
    cache = Cache(cache_dir)
    report = asyncio.run(sync_entries(ws, list(ws.repository.entries), cache=cache))
    assert report.ok, [str(r.error) for r in report.failed]
    assert cache.signature_path("nic", sig_url).read_bytes() == sig.read_bytes()
    with ImageStore(ws, cache_dir=cache_dir).open_verified(ws.repository.entries[0]) as fh:
        assert fh.read() == data
    # A second sync fetches neither the image nor its signature again.
    asyncio.run(sync_entries(ws, list(ws.repository.entries), cache=cache))
    assert len(server.gets("/img.bin")) == 1 and len(server.gets("/img.bin.sig")) == 1

    # A bad signature fails the sync for that image.
    intruder, _ = make_key(tmp_path, "intruder")
    cache.signature_path("nic", sig_url).write_bytes(
        sign(intruder, tmp_path / "img.bin", tmp_path / "bad.sig").read_bytes())
    report = asyncio.run(sync_entries(ws, list(ws.repository.entries), cache=cache))
    assert "does not verify" in str(report.failed[0].error)


def test_workspace_wide_signing_keys(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    data = blob(1000, 24)
    (root / "bmc.bin").write_bytes(data)
    key, _ = make_key(root, "vendor")
    sign(key, root / "bmc.bin", root / "bmc.sig")
    make_workspace(root, [image("bmc", "bmc.bin", data, signature="bmc.sig")],
                   settings={"signing_keys": ["vendor.asc"]})
    ws = load_workspace(root)
    entry = ws.repository.entries[0]
    assert policy_problems(entry, ws) == []
    store = ImageStore(ws, cache_dir=cache_dir)
    asyncio.run(store.ensure(entry, fetch=True))
    with store.open_verified(entry) as fh:
        assert fh.read() == data
