"""Get Device ID encoding (simulator side) and decoding (client side)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hwfw.ipmi_deviceid import decode_device_id, encode_firmware_revision, format_bmc_version


@pytest.mark.parametrize(
    ("version", "revision"),
    [
        ("6.10.30.00", (6, 0x10)),
        ("01.01.10", (1, 0x01)),
        ("2.72 Sep 04 2022", (2, 0x72)),
        ("7", (7, 0x00)),
        ("1.5", (1, 0x05)),
        ("3.123.4", (3, 0x12)),
        ("v200.1", (127, 0x01)),
        ("no digits", (0, 0)),
    ],
)
def test_encode_firmware_revision(version: str, revision: tuple[int, int]) -> None:
    assert encode_firmware_revision(version) == revision


@given(major=st.integers(0, 127), minor=st.integers(0, 99), tail=st.text(max_size=12))
def test_encode_then_decode_round_trips(major: int, minor: int, tail: str) -> None:
    rev1, rev2 = encode_firmware_revision(f"{major}.{minor:02d}.{tail}")
    payload = bytes([0x20, 0x81, rev1 | 0x80, rev2, 0x02, 0x80]) + b"\xa2\x02\x00" + b"\x00\x01"
    device = decode_device_id(payload)
    assert device.bmc_version == f"{major}.{minor:02d}"
    assert device.update_in_progress  # bit 7 was set, and masked out of the major


def test_decode_device_id_fields() -> None:
    payload = (bytes([0x20, 0x81, 0x06, 0x10, 0x51, 0xBF]) + (47196).to_bytes(3, "little") + b"\x20\x20"
               + b"\x01\x02\x03\x04")
    device = decode_device_id(payload)
    assert device.device_id == 0x20 and device.device_revision == 1 and device.provides_device_sdrs
    assert device.bmc_version == "6.10" and not device.update_in_progress
    assert device.ipmi_version == "1.5"
    assert device.manufacturer_id == 47196 and device.product_id == 0x2020
    assert device.aux_firmware_revision == b"\x01\x02\x03\x04"


def test_non_bcd_minor_is_shown_in_hex() -> None:
    assert format_bmc_version(0x81, 0x0A) == "1.0A"


def test_short_device_id_is_rejected() -> None:
    with pytest.raises(ValueError, match="too short"):
        decode_device_id(b"\x20\x01\x06")
