"""hwfw's simulated IPMI BMC (hwfw.sim.ipmi) spoken to by pyghmi through hwfw.ipmi.client."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import sys
import threading

import pyghmi.ipmi.command as pyghmi_command
import pytest

import hwfw.sim.ipmi as sim_ipmi
from hwfw.errors import IpmiError
from hwfw.ipmi import client
from hwfw.sim.ipmi import IpmiMachine, start_ipmi
from tests.ipmi.ipmi_testkit import LOOPBACK, PASSWORD, USER, StandInMachine, eventually, run, serving

TIMEOUT = 5.0


def test_stand_in_machine_satisfies_the_protocol() -> None:
    assert isinstance(StandInMachine(), IpmiMachine)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("version", "expected", "power"),
    [
        ("6.10.30.00", "6.10", "On"),  # iDRAC style
        ("01.01.10", "1.01", "Off"),  # Supermicro style
        ("2.72 Sep 04 2022", "2.72", "On"),  # iLO style
        ("7.5", "7.05", "Off"),  # one-digit minor keeps its value
    ],
)
def test_read_facts_reports_power_state_and_bmc_version(version: str, expected: str, power: str) -> None:
    machine = StandInMachine(power_state=power, bmc_version=version, ipmi_ids=(47196, 0x2020))

    async def scenario() -> client.IpmiFacts:
        async with serving(machine) as bmc:
            return await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    facts = run(scenario())
    assert facts.power_state == power
    assert facts.bmc_version == expected
    assert (facts.manufacturer_id, facts.product_id) == (47196, 0x2020)
    assert facts.ipmi_version == "2.0"
    assert not facts.update_in_progress


@pytest.mark.slow
def test_bmc_version_follows_the_running_firmware() -> None:
    machine = StandInMachine(bmc_version="6.00.30.00")

    async def scenario() -> tuple[str, str]:
        async with serving(machine) as bmc:
            before = await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            machine.bmc_version = "7.10.50.00"  # the BMC updated itself
            after = await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            return before.bmc_version, after.bmc_version

    assert run(scenario()) == ("6.00", "7.10")


@pytest.mark.slow
def test_get_device_id_wire_format() -> None:
    """Manufacturer id 3 bytes and product id 2 bytes, little endian (pyghmi's Bmc: 4 + 4)."""
    machine = StandInMachine(bmc_version="2.72", ipmi_ids=(10876, 0x1B11))

    async def scenario() -> list[client.RawResponse]:
        async with serving(machine) as bmc:
            return await client.raw_commands(LOOPBACK, bmc.port, USER, PASSWORD, [(6, 1, b"")], timeout=TIMEOUT)

    (reply,) = run(scenario())
    assert reply.code == 0
    assert len(reply.data) == 11
    assert reply.data[2:4] == bytes([2, 0x72])
    assert reply.data[6:9] == (10876).to_bytes(3, "little")
    assert reply.data[9:11] == (0x1B11).to_bytes(2, "little")


@pytest.mark.slow
def test_power_actions_reach_the_machine() -> None:
    machine = StandInMachine(power_state="On")

    async def scenario() -> list[str]:
        states = []
        async with serving(machine) as bmc:
            for action in ("cycle", "reset", "diag", "softoff", "on", "off"):
                await client.power(LOOPBACK, bmc.port, USER, PASSWORD, action, timeout=TIMEOUT)
                facts = await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
                states.append(facts.power_state)
        return states

    states = run(scenario())
    assert machine.actions == ["cycle", "reset", "diag", "softoff", "on", "off"]
    assert states == ["On", "On", "On", "Off", "On", "Off"]


@pytest.mark.slow
def test_refused_power_action_is_a_clean_ipmi_error() -> None:
    machine = StandInMachine(power_state="Off")

    async def scenario() -> IpmiError:
        async with serving(machine) as bmc:
            with pytest.raises(IpmiError) as info:
                await client.power(LOOPBACK, bmc.port, USER, PASSWORD, "cycle", timeout=TIMEOUT, host="node-7")
            return info.value

    error = run(scenario())
    assert error.host == "node-7"
    assert "0xD5" in str(error)
    assert error.url is not None and error.url.startswith("ipmi://127.0.0.1:")
    assert machine.actions == []


@pytest.mark.slow
def test_machine_is_only_touched_on_the_event_loop_thread() -> None:
    machine = StandInMachine()

    async def scenario() -> int:
        async with serving(machine) as bmc:
            await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            await client.power(LOOPBACK, bmc.port, USER, PASSWORD, "reset", timeout=TIMEOUT)
        return threading.get_ident()

    loop_thread = run(scenario())
    assert machine.threads == {loop_thread}


@pytest.mark.slow
def test_watchdog_through_raw_commands() -> None:
    machine = StandInMachine()
    # SMS/OS timer, hard reset on expiry, no pre-timeout, clear no flags, 60.0 s.
    set_60s = bytes([0x04, 0x01, 0x00, 0x00]) + struct.pack("<H", 600)

    async def scenario() -> tuple[list[client.RawResponse], client.WatchdogState]:
        async with serving(machine) as bmc:
            replies = await client.raw_commands(
                LOOPBACK,
                bmc.port,
                USER,
                PASSWORD,
                [(6, 0x22, b""), (6, 0x24, set_60s), (6, 0x25, b""), (6, 0x22, b""), (6, 0x25, b"")],
                timeout=TIMEOUT,
            )
            state = await client.read_watchdog(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            return replies, state

    replies, state = run(scenario())
    reset_unset, set_ok, get_stopped, reset_ok, get_running = replies
    assert reset_unset.code == 0x80  # never set: "attempt to start un-initialized watchdog"
    assert set_ok.code == 0
    assert get_stopped.code == 0 and get_stopped.data[0] == 0x04 and get_stopped.data[4:6] == struct.pack("<H", 600)
    assert reset_ok.code == 0
    assert get_running.data[0] & 0x40  # running
    assert 0 < struct.unpack("<H", get_running.data[6:8])[0] <= 600
    assert state.running and state.timer_use_name == "SMS/OS" and state.timeout_action_name == "hard reset"
    assert state.initial_countdown == 60.0 and 0 < state.present_countdown <= 60.0
    assert machine.actions == []


@pytest.mark.slow
def test_watchdog_expiry_applies_its_action_to_the_machine() -> None:
    machine = StandInMachine()
    # OS-load timer, power cycle on expiry, 0.1 s.
    set_short = bytes([0x03, 0x03, 0x00, 0x00, 0x01, 0x00])

    async def scenario() -> client.WatchdogState:
        async with serving(machine) as bmc:
            await client.raw_commands(
                LOOPBACK, bmc.port, USER, PASSWORD, [(6, 0x24, set_short), (6, 0x22, b"")], timeout=TIMEOUT
            )
            await eventually(lambda: machine.actions == ["cycle"], what="watchdog power cycle")
            return await client.read_watchdog(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    state = run(scenario())
    assert not state.running
    assert state.expiration_flags & (1 << 3)  # OS load timer expired


@pytest.mark.slow
def test_unknown_commands_answer_0xc1() -> None:
    async def scenario() -> list[client.RawResponse]:
        async with serving(StandInMachine()) as bmc:
            return await client.raw_commands(
                LOOPBACK, bmc.port, USER, PASSWORD, [(0x30, 0x99, b""), (6, 0x99, b""), (0x0A, 0x10, b"")],
                timeout=TIMEOUT
            )

    assert [r.code for r in run(scenario())] == [0xC1, 0xC1, 0xC1]


@pytest.mark.slow
def test_cold_reset_reaches_the_machine_and_a_new_session_works() -> None:
    machine = StandInMachine()

    async def scenario() -> client.IpmiFacts:
        async with serving(machine) as bmc:
            await client.bmc_cold_reset(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            await eventually(lambda: machine.resets == 1, what="bmc_reset")
            return await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    assert run(scenario()).power_state == "On"
    assert machine.resets == 1


@pytest.mark.slow
def test_unreachable_bmc_is_silent_then_answers_again() -> None:
    machine = StandInMachine()

    async def scenario() -> client.IpmiFacts:
        async with serving(machine) as bmc:
            bmc.set_reachable(False)
            # Silence ends the conversation at the client's own deadline (not the safety net).
            with pytest.raises(IpmiError, match=r"no valid IPMI answer within 0\.5 s"):
                await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=0.5)
            bmc.set_reachable(True)
            return await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    assert run(scenario()).bmc_version == "6.10"


@pytest.mark.slow
def test_machine_reporting_its_bmc_down_makes_ipmi_silent() -> None:
    """The optional `bmc_available` member (False while the BMC reboots)."""

    class RebootingMachine(StandInMachine):
        bmc_available = True

    machine = RebootingMachine()

    async def scenario() -> client.IpmiFacts:
        async with serving(machine) as bmc:
            await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)
            machine.bmc_available = False
            with pytest.raises(IpmiError, match="no valid IPMI answer"):
                await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=0.5)
            machine.bmc_available = True
            return await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    assert run(scenario()).power_state == "On"


@pytest.mark.slow
def test_login_falls_back_to_operator_privilege(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user limited to operator: Set Session Privilege Level 4 answers 0x81 and the
    client retries with 3 (pyghmi's behaviour, kept in hwfw's asynchronous login)."""
    original = sim_ipmi._ServerSession._got_rakp1

    def operator_only(self: sim_ipmi._ServerSession, data: bytes) -> None:
        original(self, data)
        self.maxpriv = 3

    monkeypatch.setattr(sim_ipmi._ServerSession, "_got_rakp1", operator_only)
    machine = StandInMachine()

    async def scenario() -> None:
        async with serving(machine) as bmc:
            await client.power(LOOPBACK, bmc.port, USER, PASSWORD, "on", timeout=TIMEOUT)

    run(scenario())
    assert machine.actions == ["on"]


@pytest.mark.slow
def test_pyghmi_synchronous_client_logs_in_with_sha256() -> None:
    """The known pyghmi 1.6.19 mismatch: its Bmc answers SHA-1 while its client expects
    SHA-256 and then dies in RAKP 2 with struct.error. Our server negotiates."""
    machine = StandInMachine(ipmi_ids=(674, 0x0100))

    def talk(port: int) -> tuple[dict[str, object], dict[str, object], object]:
        command = pyghmi_command.Command(LOOPBACK, USER, PASSWORD, port=port)
        try:
            return command.get_power(), command._get_device_id(), command.ipmi_session.currhashlib
        finally:
            command.ipmi_session.logout()

    async def scenario() -> tuple[dict[str, object], dict[str, object], object]:
        async with serving(machine) as bmc:
            return await asyncio.wait_for(asyncio.to_thread(talk, bmc.port), 20)

    power, device, hashlib_used = run(scenario())
    assert power == {"powerstate": "on"}
    assert device["firmware_version"] == "6.10"
    assert device["manufacturer_id"] == 674 and device["product_id"] == 0x0100
    assert hashlib_used is hashlib.sha256


@pytest.mark.slow
def test_client_falls_back_to_sha1_when_the_bmc_only_offers_suite_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sim_ipmi._SUITES, (3, 4))  # a BMC with cipher suite 3 only

    async def scenario() -> client.IpmiFacts:
        async with serving(StandInMachine(bmc_version="3.20")) as bmc:
            return await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=TIMEOUT)

    assert run(scenario()).bmc_version == "3.20"


@pytest.mark.parametrize(
    ("algorithms", "expected"),
    [
        ((3, 4, 1), (0, 3, 4, 1)),  # suite 17
        ((1, 1, 1), (0, 1, 1, 1)),  # suite 3
        ((None, None, None), (0, 3, 4, 1)),  # wildcards: BMC's choice
        ((0, 0, 0), (0x04, 0, 0, 0)),  # suite 0 (no authentication) is refused
        ((1, 4, 1), (0x11, 0, 0, 0)),  # mixed hashes
        ((3, 4, 0), (0x10, 0, 0, 0)),  # no encryption
        ((3, 2, 1), (0x05, 0, 0, 0)),  # MD5-128 integrity
    ],
)
def test_cipher_suite_negotiation(algorithms: tuple[int | None, ...], expected: tuple[int, ...]) -> None:
    request = bytearray([1, 0, 0, 0]) + bytearray(b"\x11\x22\x33\x44")
    for payload_type, algorithm in enumerate(algorithms):
        if algorithm is None:
            request += bytes([payload_type, 0, 0, 0, 0, 0, 0, 0])
        else:
            request += bytes([payload_type, 0, 0, 8, algorithm, 0, 0, 0])
    assert sim_ipmi._negotiate(bytes(request)) == expected


def _sessionless_request(command: int, data: bytes) -> bytes:
    """An IPMI 2.0 session-less request (auth type RMCP+, payload IPMI, session 0)."""
    header = bytes([0x20, 6 << 2])
    body = bytes([0x81, 1 << 2, command]) + data
    message = header + bytes([-sum(header) & 0xFF]) + body + bytes([-sum(body) & 0xFF])
    return b"\x06\x00\xff\x07\x06\x00" + bytes(8) + struct.pack("<H", len(message)) + message


@pytest.mark.slow
def test_sessionless_channel_queries() -> None:
    """Get Channel Authentication Capabilities and Get Channel Cipher Suites answer
    without a session; the cipher suites listed are 17 and 3."""

    async def scenario() -> list[bytes]:
        async with serving(StandInMachine()) as bmc:
            loop = asyncio.get_running_loop()
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)
                await loop.sock_connect(sock, (LOOPBACK, bmc.port))
                answers = []
                for command, data in ((0x38, bytes([0x8E, 0x04])), (0x54, bytes([0x0E, 0x00, 0x80]))):
                    await loop.sock_sendall(sock, _sessionless_request(command, data))
                    answers.append(await asyncio.wait_for(loop.sock_recv(sock, 512), 2))
                return answers

    auth_caps, suites = run(scenario())
    # 16-byte RMCP+ header, 6 bytes of message header, then completion code and data.
    assert auth_caps[4] == 0x06 and auth_caps[21] == 0x38 and auth_caps[22] == 0x00
    assert auth_caps[24] & 0x80 and auth_caps[26] & 0x02  # IPMI 2.0 extended, IPMI 2.0 supported
    assert suites[21] == 0x54 and suites[22] == 0x00 and suites[23] == 0x01
    records = suites[24:-1]
    assert records == bytes([0xC0, 0x11, 0x03, 0x44, 0x81, 0xC0, 0x03, 0x01, 0x41, 0x81])


@pytest.mark.slow
def test_twenty_bmcs_share_one_quiet_thread() -> None:
    machines = [StandInMachine(bmc_version=f"1.{i:02d}") for i in range(20)]

    def reactor_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "hwfw-ipmi-sim"]

    async def scenario() -> tuple[int, list[str]]:
        handles = [await start_ipmi(m, LOOPBACK, 0) for m in machines]
        try:
            (reactor,) = reactor_threads()
            # Idle, the one thread is parked in select() without a timeout: it uses no CPU
            # until a datagram (or a BMC added or closed) wakes it, however many BMCs it serves.
            await eventually(lambda: _blocked_in_select_without_timeout(reactor), what="reactor parked in select()")
            facts = await asyncio.gather(
                *(client.read_facts(LOOPBACK, h.port, USER, PASSWORD, timeout=TIMEOUT) for h in handles)
            )
            await eventually(lambda: _blocked_in_select_without_timeout(reactor), what="reactor parked again")
            return len(reactor_threads()), [f.bmc_version for f in facts]
        finally:
            for handle in handles:
                await handle.close()

            def reactor_released() -> bool:
                reactor = sim_ipmi._reactor
                if reactor is None:
                    return not reactor_threads()  # the thread exits with its last BMC
                # Another test's server may still be open; ours must be gone.
                return not any(h._bmc in reactor._bmcs for h in handles)

            await eventually(reactor_released, what="reactor released our BMCs")

    threads, versions = run(scenario())
    assert threads == 1
    assert versions == [f"1.{i:02d}" for i in range(20)]


def _blocked_in_select_without_timeout(thread: threading.Thread) -> bool:
    """Is `thread` inside `selectors.*Selector.select` with no timeout (blocking until
    an event, no periodic wake-ups)?"""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "select" and code.co_filename.endswith("selectors.py"):
            return frame.f_locals.get("timeout") in (None, -1)  # -1: what select() makes of None
        frame = frame.f_back
    return False


@pytest.mark.slow
def test_close_releases_the_port() -> None:
    async def scenario() -> int:
        handle = await start_ipmi(StandInMachine(), LOOPBACK, 0)
        port = handle.port
        await handle.close()
        await handle.close()  # idempotent
        return port

    port = run(scenario())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, port))
