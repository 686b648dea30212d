"""Dell Catalog.xml import: encodings as Dell ships them, mapping, sha256-only policy."""

from __future__ import annotations

import gzip
import importlib.util
import json
from pathlib import Path

import pytest

from hwfw.errors import RepositoryError
from hwfw.repository.catalogs import get_reader
from hwfw.repository.catalogs.dell import component_kind, decode_catalog, parse_catalog
from tests.helpers import REPO_ROOT, run_hwfw
from tests.repository.support import REPO_HEADER, image, make_workspace, run_cli

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "catalogs"
SOURCE = FIXTURES / "dell-catalog-small.xml"
SHIPPED = FIXTURES / "dell-catalog-small.xml.gz"


def test_committed_gz_is_the_encoded_source() -> None:
    spec = importlib.util.spec_from_file_location("catalog_build", FIXTURES / "build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.encode(SOURCE.read_text(encoding="utf-8")) == SHIPPED.read_bytes()
    raw = gzip.decompress(SHIPPED.read_bytes())
    assert raw[:2] == b"\xff\xfe" and "\r\n" in raw.decode("utf-16") and 'encoding="utf-16"' in raw.decode("utf-16")


@pytest.mark.parametrize("encode", [
    lambda t: t.encode("utf-8"),
    lambda t: b"\xef\xbb\xbf" + t.encode("utf-8"),
    lambda t: t.replace("\n", "\r\n").encode("utf-16"),          # BOM, native order
    lambda t: b"\xfe\xff" + t.encode("utf-16-be"),
    lambda t: gzip.compress(b"\xff\xfe" + t.encode("utf-16-le")),
], ids=["utf8", "utf8-bom", "utf16-bom", "utf16-be", "gzip-utf16le"])
def test_every_shipping_encoding_parses_the_same(encode) -> None:  # type: ignore[no-untyped-def]
    text = SOURCE.read_text(encoding="utf-8")
    catalog = parse_catalog(encode(text))
    assert catalog.base_location == "downloads.dell.com" and catalog.protocols == ("HTTP", "HTTPS")
    assert len(catalog.components) == 10
    assert decode_catalog(encode(text)).lstrip("\ufeff").startswith("<?xml")


def test_component_fields_and_kinds() -> None:
    catalog = parse_catalog(SHIPPED.read_bytes())
    by_version = {c.vendor_version: c for c in catalog.components}
    bios = by_version["1.13.2"]
    assert bios.component_type == "BIOS" and bios.reboot_required and bios.criticality == "1"
    assert bios.hashes["SHA256"] == "1" * 64 and bios.size == 32505856 and bios.release_date == "May 01, 2024"
    assert [(s.display, s.system_id) for s in bios.systems] == [("PowerEdge R750", "0B1B"), ("PowerEdge R650", "0B1C")]
    assert by_version["00.1D.7D"].hashes == {"MD5": "fedcba9876543210fedcba9876543210"}  # legacy hashMD5
    kinds = {c.vendor_version: component_kind(c) for c in catalog.components}
    assert kinds == {"1.13.2": "bios", "7.10.30.00": "bmc", "22.91.5": "nic", "52.26.0-5179": "raid", "1.0.6": "cpld",
                     "00.1D.7D": "psu", "4.35": "backplane", "10.1.19": "drvr", "11.0.1.0": "apac", "2.19.1": "bios"}


@pytest.mark.parametrize("model", ["R750", "PowerEdge R750", "poweredge  r750", "0B1B"])
def test_models_match_by_name_or_system_id(model: str) -> None:
    found = get_reader("dell-catalog").read(SHIPPED, models=[model], base_url=None, include=None)
    assert [e["id"] for e in found.entries] == [
        "dell-r750-bios-1.13.2", "dell-r750-bmc-7.10.30.00", "dell-r750-nic-22.91.5", "dell-r750-raid-52.26.0-5179",
        "dell-r750-cpld-1.0.6"]


def test_entry_mapping() -> None:
    found = get_reader("dell-catalog").read(SHIPPED, models=["R650"], base_url="https://mirror.lab/dell/",
                                            include=None)
    bios, idrac = found.entries
    assert bios == {
        "id": "dell-r650-bios-1.13.2", "vendor": "dell", "component": "bios", "version": "1.13.2",
        "models": ["PowerEdge R650"], "source": "https://mirror.lab/dell/FOLDER11111111M/1/BIOS_B1X2Y_WN64_1.13.2.EXE",
        "sha256": "1" * 64, "size": 32505856, "activation": "host-reboot", "critical": None,
        "description": "Dell Server BIOS PowerEdge R750/R650 Version 1.13.2; released May 01, 2024; "
                       "Dell criticality: Recommended; devices: BIOS (159)"}
    assert idrac["component"] == "bmc" and idrac["activation"] == "none" and idrac["critical"] is True
    assert found.skipped == []  # the MD5-only packages are R750-only


def test_md5_only_packages_are_skipped_by_name() -> None:
    found = get_reader("dell-catalog").read(SHIPPED, models=["R750"], base_url=None, include=["FRMW", "BIOS", "APAC"])
    skipped = {s.name: s.reason for s in found.skipped}
    assert skipped == {
        "Dell 1400W Power Supply Firmware 00.1D.7D": "catalog gives only MD5 hash(es); hwfw requires sha256",
        "Dell PowerEdge Backplane Expander Firmware 4.35": "catalog gives only MD5/SHA1 hash(es); hwfw requires sha256"}
    assert "dell-r750-apac-11.0.1.0" in [e["id"] for e in found.entries]
    assert any("1 DRVR" in n for n in found.notes)


def test_catalog_without_base_location_needs_base_url(tmp_path: Path) -> None:
    local = tmp_path / "Catalog.xml"
    local.write_text(SOURCE.read_text().replace('baseLocation="downloads.dell.com"', 'baseLocation=""'))
    with pytest.raises(RepositoryError, match="--base-url"):
        get_reader("dell-catalog").read(local, models=["R750"], base_url=None, include=None)
    with pytest.raises(RepositoryError, match="not a readable Dell catalog"):
        parse_catalog(b"\x1f\x8bnot really gzip")


@pytest.mark.slow
def test_cli_import_keeps_comments_validates_and_is_idempotent(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", [image("bios", "bios.bin", b"abc")])
    (ws / "bios.bin").write_bytes(b"abc")  # validate checks that every referenced image can be obtained
    result = run_hwfw("repo", "import", "dell-catalog", str(SHIPPED), str(ws), "--models", "PowerEdge R750")
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "skipped 'Dell 1400W Power Supply Firmware 00.1D.7D'" in err and "only MD5" in err
    assert "skipped 'Dell PowerEdge Backplane Expander Firmware 4.35'" in err
    assert "added 5 entries" in err
    text = (ws / "repository.yaml").read_text()
    assert text.startswith(REPO_HEADER)
    assert "source: https://downloads.dell.com/FOLDER22222222M/1/iDRAC-with-Lifecycle-Controller" in text
    assert run_hwfw("validate", str(ws)).returncode == 0

    again = run_hwfw("repo", "import", "dell-catalog", str(SHIPPED), str(ws), "--models", "R750", "--json")
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert report["added"] == [] and len(report["unchanged"]) == 5
    assert (ws / "repository.yaml").read_text() == text


def test_id_taken_by_another_image_gets_the_release_id(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", [image("dell-r750-cpld-1.0.6", "cpld.bin", b"other", component="cpld",
                                                version="1.0.6", referenced=False)])
    result = run_cli("repo", "import", "dell-catalog", str(SHIPPED), str(ws), "-m", "R750", "--json")
    assert result.returncode == 0, result.stderr
    ids = [e["id"] for e in json.loads(result.stdout)["added"]]
    assert "dell-r750-cpld-1.0.6-c7p8l" in ids
    assert run_cli("validate", str(ws)).returncode == 0
