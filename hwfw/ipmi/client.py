"""asyncio-facing IPMI-over-LAN client on top of pyghmi's IPMI client.

Every public function is one *conversation* with one BMC: open an RMCP+ session
(pyghmi's `Session`, the object `pyghmi.ipmi.command.Command` wraps), run a few raw
commands, close the session. A session is never reused (pyghmi keeps per-session state
and a BMC cold reset kills the session). Failures of any
kind (refused credentials, silence, a broken handshake, garbage answers, odd exceptions
inside pyghmi) become `hwfw.errors.IpmiError` carrying the host and an
`ipmi://address:port` URL; the functions never hang beyond their timeout.

The conversations run on one pyghmi driver thread (`hwfw.ipmi.driver`, which says
why).

Only raw commands are used (Get Device ID, Get Chassis Status, Chassis Control, Cold
Reset, watchdog): pyghmi's helpers (`get_power`, `set_power`, `get_firmware`) first run
`oem_init()`, which for some manufacturer ids loads OEM handlers that talk HTTPS to the
BMC, and `get_firmware` does not mask bit 7 of the major revision.

Passwords are registered with `hwfw.logs.redactor` before anything is sent and never
appear in messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hwfw.ipmi.driver import Failure, RawResponse, Request, Steps, ask, checked, converse, describe_code, ipmi_url
from hwfw.ipmi_deviceid import decode_device_id

__all__ = [
    "DEFAULT_TIMEOUT",
    "IpmiFacts",
    "POWER_ACTIONS",
    "RawResponse",
    "WatchdogState",
    "bmc_cold_reset",
    "ipmi_url",
    "power",
    "raw_commands",
    "read_facts",
    "read_watchdog",
]

DEFAULT_TIMEOUT = 10.0
#: Chassis Control directives (IPMI 2.0 table 28-4).
POWER_ACTIONS: dict[str, int] = {"off": 0, "on": 1, "cycle": 2, "reset": 3, "diag": 4, "softoff": 5}
#: How long a cold reset waits for the BMC's (optional) reply.
COLD_RESET_REPLY_WAIT = 1.0

_WATCHDOG_USES = {1: "FRB2", 2: "POST", 3: "OS load", 4: "SMS/OS", 5: "OEM"}
_WATCHDOG_ACTIONS = {0: "none", 1: "hard reset", 2: "power down", 3: "power cycle"}


@dataclass(frozen=True, slots=True)
class IpmiFacts:
    """What one IPMI conversation learns about a BMC and its machine."""

    address: str
    port: int
    power_state: str  # "On" | "Off"
    bmc_version: str  # "major.minor", minor as two BCD digits: "6.10", "2.72"
    manufacturer_id: int  # IANA enterprise number: Dell 674, HPE 47196, Supermicro 10876
    product_id: int
    device_id: int
    device_revision: int
    firmware_major: int
    firmware_minor_raw: int  # the BCD byte as sent
    update_in_progress: bool  # bit 7 of firmware revision 1
    ipmi_version: str  # "2.0"
    additional_device_support: int
    aux_firmware_revision: bytes | None


@dataclass(frozen=True, slots=True)
class WatchdogState:
    """A decoded Get Watchdog Timer response (App 0x25)."""

    timer_use: int  # 1 FRB2, 2 POST, 3 OS load, 4 SMS/OS, 5 OEM
    running: bool
    dont_log: bool
    timeout_action: int  # 0 none, 1 hard reset, 2 power down, 3 power cycle
    pretimeout_interrupt: int
    pretimeout_seconds: int
    expiration_flags: int
    initial_countdown: float  # seconds
    present_countdown: float  # seconds

    @property
    def timer_use_name(self) -> str:
        return _WATCHDOG_USES.get(self.timer_use, f"reserved ({self.timer_use})")

    @property
    def timeout_action_name(self) -> str:
        return _WATCHDOG_ACTIONS.get(self.timeout_action, f"reserved ({self.timeout_action})")

    @classmethod
    def decode(cls, data: bytes) -> WatchdogState:
        if len(data) < 8:
            raise ValueError(f"Get Watchdog Timer response too short: {len(data)} bytes, expected 8")
        return cls(
            timer_use=data[0] & 0x07,
            running=bool(data[0] & 0x40),
            dont_log=bool(data[0] & 0x80),
            timeout_action=data[1] & 0x07,
            pretimeout_interrupt=(data[1] >> 4) & 0x07,
            pretimeout_seconds=data[2],
            expiration_flags=data[3],
            initial_countdown=(data[4] | data[5] << 8) / 10,
            present_countdown=(data[6] | data[7] << 8) / 10,
        )


async def read_facts(
    address: str,
    port: int,
    username: str,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str | None = None,
) -> IpmiFacts:
    """Power state and BMC identity/firmware revision (Get Device ID, Get Chassis Status)."""

    def steps() -> Steps[IpmiFacts]:
        raw_id = yield from checked(0x06, 0x01, what="Get Device ID")
        try:
            device = decode_device_id(raw_id)
        except ValueError as exc:
            raise Failure(str(exc)) from None
        status = yield from checked(0x00, 0x01, what="Get Chassis Status")
        if not status:
            raise Failure("Get Chassis Status: empty answer")
        return IpmiFacts(
            address=address,
            port=port,
            power_state="On" if status[0] & 0x01 else "Off",
            bmc_version=device.bmc_version,
            manufacturer_id=device.manufacturer_id,
            product_id=device.product_id,
            device_id=device.device_id,
            device_revision=device.device_revision,
            firmware_major=device.firmware_major,
            firmware_minor_raw=device.firmware_minor_raw,
            update_in_progress=device.update_in_progress,
            ipmi_version=device.ipmi_version,
            additional_device_support=device.additional_device_support,
            aux_firmware_revision=device.aux_firmware_revision,
        )

    return await converse(
        address, port, username, password, timeout=timeout, host=host, what="read IPMI facts", steps=steps
    )


async def power(
    address: str,
    port: int,
    username: str,
    password: str,
    action: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str | None = None,
) -> None:
    """Chassis Control: `on`, `off` (hard), `cycle`, `reset` (hard), `softoff` (ACPI), `diag` (NMI).

    Returns once the BMC accepted the request; the power transition itself may take longer.
    A BMC refusing (e.g. cycle while off: completion code 0xD5) raises IpmiError.
    """
    if action not in POWER_ACTIONS:
        raise ValueError(f"unknown power action {action!r}; expected one of {', '.join(POWER_ACTIONS)}")
    directive = POWER_ACTIONS[action]

    def steps() -> Steps[None]:
        yield from checked(0x00, 0x02, [directive], what=f"Chassis Control ({action})")

    await converse(
        address, port, username, password, timeout=timeout, host=host, what=f"power {action}", steps=steps
    )


async def bmc_cold_reset(
    address: str,
    port: int,
    username: str,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str | None = None,
) -> None:
    """BMC Cold Reset (App 0x02). The BMC may reboot before replying: no reply within
    `COLD_RESET_REPLY_WAIT` s counts as accepted, a non-zero completion code raises.
    The request is sent once (a retransmission could reset the BMC twice) and the session
    is abandoned without Close Session; poll `read_facts` to see the BMC come back."""

    def steps() -> Steps[None]:
        response = yield Request(0x06, 0x02, b"", "Cold Reset", retry=False, wait=COLD_RESET_REPLY_WAIT)
        if response is not None and response.code:
            raise Failure(f"Cold Reset refused: {describe_code(0x06, 0x02, response.code)}")

    await converse(
        address,
        port,
        username,
        password,
        timeout=timeout,
        host=host,
        what="BMC cold reset",
        steps=steps,
        send_close=False,
    )


async def raw_commands(
    address: str,
    port: int,
    username: str,
    password: str,
    commands: Sequence[tuple[int, int, bytes | Sequence[int]]],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str | None = None,
) -> list[RawResponse]:
    """Run (netfn, command, data) requests in one session; completion codes are returned,
    not raised (only transport/session failures raise IpmiError)."""
    requests = [(int(n), int(c), bytes(d)) for n, c, d in commands]

    def steps() -> Steps[list[RawResponse]]:
        results = []
        for netfn, command, data in requests:
            results.append((yield from ask(netfn, command, data, what=f"raw netfn 0x{netfn:02X} cmd 0x{command:02X}")))
        return results

    return await converse(
        address, port, username, password, timeout=timeout, host=host, what="raw IPMI commands", steps=steps
    )


async def read_watchdog(
    address: str,
    port: int,
    username: str,
    password: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    host: str | None = None,
) -> WatchdogState:
    """Get Watchdog Timer (App 0x25), decoded."""

    def steps() -> Steps[WatchdogState]:
        data = yield from checked(0x06, 0x25, what="Get Watchdog Timer")
        try:
            return WatchdogState.decode(data)
        except ValueError as exc:
            raise Failure(str(exc)) from None

    return await converse(
        address, port, username, password, timeout=timeout, host=host, what="read watchdog", steps=steps
    )
