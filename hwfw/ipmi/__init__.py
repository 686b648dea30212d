"""IPMI-over-LAN for hwfw: an asyncio client (`hwfw.ipmi.client`) on one pyghmi driver
thread (`hwfw.ipmi.driver`), and the Get Device ID codec it shares with the simulator
(`hwfw.ipmi_deviceid`).

IPMI is used for power control when Redfish is down, BMC-alive probes, BMC firmware
version cross-checks, the watchdog and cold resets of a wedged BMC; it is not a
firmware-update path.
"""

from hwfw.ipmi.client import (
    IpmiFacts,
    RawResponse,
    WatchdogState,
    bmc_cold_reset,
    power,
    raw_commands,
    read_facts,
    read_watchdog,
)
from hwfw.ipmi_deviceid import DeviceId, decode_device_id, encode_firmware_revision

__all__ = [
    "DeviceId",
    "IpmiFacts",
    "RawResponse",
    "WatchdogState",
    "bmc_cold_reset",
    "decode_device_id",
    "encode_firmware_revision",
    "power",
    "raw_commands",
    "read_facts",
    "read_watchdog",
]
