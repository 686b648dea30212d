"""Encoding and decoding of the IPMI "Get Device ID" response (App netfn 0x06, cmd 0x01).

Both sides of hwfw use this: the IPMI client (`hwfw.ipmi`) decodes what a BMC says, and
the simulated BMC (`hwfw.sim.ipmi`) encodes the firmware revision of its running version
string. It is a foundation module (no hwfw imports) because the simulator may not import
the client's packages.

Response data (IPMI 2.0 table 20-2, after the completion code):

====  =====================================================================
byte  meaning
====  =====================================================================
0     device id
1     device revision: bit 7 = provides device SDRs, bits 3:0 = revision
2     firmware revision 1: bits 6:0 = major, bit 7 = device unavailable
      (firmware/SDR update or self-initialisation in progress)
3     firmware revision 2: minor revision, **BCD** (0x72 means "72")
4     IPMI version, BCD with the digits swapped: 0x02 = 2.0, 0x51 = 1.5
5     additional device support (bit mask)
6-8   manufacturer id, IANA enterprise number, 20 bits, little endian
9-10  product id, little endian
11-14 auxiliary firmware revision (optional, vendor specific)
====  =====================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["DeviceId", "decode_device_id", "encode_firmware_revision", "format_bmc_version"]

_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class DeviceId:
    """A decoded Get Device ID response."""

    device_id: int
    device_revision: int
    provides_device_sdrs: bool
    firmware_major: int
    firmware_minor_raw: int
    update_in_progress: bool
    ipmi_version: str
    additional_device_support: int
    manufacturer_id: int
    product_id: int
    aux_firmware_revision: bytes | None

    @property
    def bmc_version(self) -> str:
        return format_bmc_version(self.firmware_major, self.firmware_minor_raw)


def format_bmc_version(major: int, minor_bcd: int) -> str:
    """`major.minor` from firmware revision bytes: bit 7 of the major is masked, the minor
    is two BCD digits ("6.10", "1.01", "2.72").

    A minor byte that is not valid BCD (a nibble above 9; some BMCs write it in binary)
    is rendered as two upper-case hex digits, so "1.0A" shows it was not BCD instead of
    silently inventing a decimal number.
    """
    return f"{major & 0x7F}.{minor_bcd & 0xFF:02X}"


def decode_device_id(data: bytes | bytearray) -> DeviceId:
    """Decode Get Device ID response data (without the completion code).

    Raises ValueError when fewer than the 11 mandatory bytes are present.
    """
    data = bytes(data)
    if len(data) < 11:
        raise ValueError(f"Get Device ID response too short: {len(data)} bytes, expected at least 11")
    ipmi_ver = data[4]
    return DeviceId(
        device_id=data[0],
        device_revision=data[1] & 0x0F,
        provides_device_sdrs=bool(data[1] & 0x80),
        firmware_major=data[2] & 0x7F,
        firmware_minor_raw=data[3],
        update_in_progress=bool(data[2] & 0x80),
        ipmi_version=f"{ipmi_ver & 0x0F}.{ipmi_ver >> 4}",
        additional_device_support=data[5],
        manufacturer_id=int.from_bytes(data[6:9], "little") & 0x0FFFFF,
        product_id=int.from_bytes(data[9:11], "little"),
        aux_firmware_revision=data[11:15] if len(data) >= 15 else None,
    )


def encode_firmware_revision(version: str) -> tuple[int, int]:
    """Firmware revision bytes (rev 1, rev 2) for a BMC firmware version string.

    The first two groups of digits are major and minor ("6.10.30.00" -> 6, 10;
    "01.01.10" -> 1, 1; "2.72 Sep 04 2022" -> 2, 72). The major is clamped to 7 bits.
    The minor is written as BCD: a one- or two-digit minor keeps its value
    ("10" -> 0x10, "01" and "1" -> 0x01), a longer one keeps its first two digits
    ("123" -> 0x12). A string without digits encodes as 0.00.
    """
    groups = _NUMBER.findall(version or "")
    major = min(int(groups[0]), 0x7F) if groups else 0
    minor_text = groups[1] if len(groups) > 1 else "0"
    if len(minor_text) > 2:
        minor_text = minor_text[:2]
    minor = int(minor_text)
    return major, ((minor // 10) << 4) | (minor % 10)
