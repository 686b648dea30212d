"""IPMI-over-LAN (RMCP+, IPMI 2.0) face of a simulated BMC, built on pyghmi's `Bmc`.

`start_ipmi(machine, host, port)` makes one simulated machine answer IPMI on a UDP
socket: power status and control (Get Chassis Status; Chassis Control on/off/cycle/
hard reset/diag interrupt/soft off; the legacy Chassis Reset), Get Device ID with the
running BMC firmware revision, BMC Cold Reset, the watchdog timer (Set 0x24, Get 0x25,
Reset 0x22 with completion code 0x80 until it was set once, expiry actions applied to
the machine; kept by the machine when it offers `watchdog_command`), boot flags, Get
Self Test Results, Get System GUID. Anything else answers completion code 0xC1 (invalid
command).

Why one module of more than 800 lines: it is one protocol engine. The RMCP+ session
(cipher-suite negotiation, RAKP, integrity trailers), the command handlers of the
simulated BMC, its watchdog and the reactor thread that feeds them datagrams share the
session table, the pyghmi subclasses they patch and the rule that every machine access
is marshalled onto the caller's loop; split apart, each piece would reach into the
others' private state.

What is reused from pyghmi and what is not
------------------------------------------
* `_SimBmc` subclasses `pyghmi.ipmi.bmc.Bmc` (command dispatch, boot-option handlers,
  SOL refusal) and `_ServerSession` subclasses
  `pyghmi.ipmi.private.serversession.ServerSession` (IPMI message framing, AES-CBC-128,
  integrity trailers, sequence-number checks, response building).
* pyghmi's socket handling is NOT used. `IpmiServer.__init__` binds through
  `Session._assignsocket`, which puts the socket into pyghmi's process-global socket
  list served by pyghmi's process-global I/O thread, and `Bmc.listen()` is an endless
  `Session.wait_for_rsp()` loop. That loop processes *every* pyghmi session in the
  process, so with a pyghmi client in the same process (hwfw's own IPMI client, tests,
  an embedded fleet) the server thread would run client callbacks and client threads
  would run server handlers (and block in them while the machine call is marshalled).
  It also cannot be stopped (`while True`), and with port 0 `Bmc.port` stays 0
  (the ephemeral port is never read back) although pyghmi keys server sessions by it.
  Instead, one reactor thread per process
  (`hwfw-ipmi-sim`) `select()`s on the server sockets of all simulated BMCs with no
  timeout (zero idle CPU, 20 or 2000 BMCs alike), feeds each datagram to its BMC, and
  exits when the last BMC is closed. Server sessions live in a per-BMC table keyed by
  the client address, never in pyghmi's global `Session.bmc_handlers`.
* Every access to the machine (power state, power actions, versions, ids, credentials,
  BMC reset) is marshalled onto the asyncio loop that called `start_ipmi`
  (`asyncio.run_coroutine_threadsafe`, result awaited by the reactor thread with a 5 s
  limit, answered 0xC3 beyond it; a method may also return an awaitable). Watchdog
  expiry runs on that loop too.
* A BMC that is down answers nothing: if the machine has a `bmc_available` attribute
  (optional, beyond `IpmiMachine`) it is read for each datagram, and while it is False
  datagrams are dropped and sessions forgotten; `IpmiServerHandle.set_reachable(False)`
  does the same on demand.

The SHA-256 fix (pyghmi 1.6.19)
-------------------------------
pyghmi's client (`Session._open_rmcpplus_request`) first proposes cipher suite 17:
authentication RAKP-HMAC-SHA256 (3), integrity HMAC-SHA256-128 (4), confidentiality
AES-CBC-128 (1); it falls back to suite 3 (SHA-1) only when the BMC answers the
RMCP+ Open Session Request with a non-zero status code. It never reads the algorithms
the BMC puts in its Open Session Response ("we take it for granted that the responder
accepted our integrity/auth/confidentiality proposal", `_got_rmcp_response`).
pyghmi's server (`ServerSession.create_open_session_response`) ignores the proposal
and always answers status 0 with auth 1 / integrity 1 / conf 1, then computes the
RAKP 2 key-exchange code with HMAC-SHA1 (20 bytes), the SIK/K1/K2 and the RAKP 4
integrity check value with SHA-1 (12 bytes) and sets `currhashlib = sha1`,
`currhashlen = 12` for the session. The client, believing in SHA-256, reads a 32-byte
code from the 20 bytes in RAKP 2: `struct.pack("32B", *data[40:72])` raises
`struct.error: pack expected 32 items for packing (got 20)` in `Session._got_rakp2`,
which escapes from `Command()` (reproduced here with pyghmi 1.6.19; with a shorter
client read the login would instead fail as "Incorrect password provided").

`_ServerSession` here negotiates instead:
1. `_got_rmcp_openrequest` parses the three 8-byte algorithm payloads of the request
   (a zero payload length is a wildcard, "BMC chooses") and accepts exactly the two
   cipher suites whose keys it can derive: suite 17 (3/4/1: SHA-256, 16-byte
   integrity code) and suite 3 (1/1/1: SHA-1, 12-byte integrity code); wildcards
   resolve to suite 17. The response echoes the chosen algorithms. Anything else gets
   the RMCP+ status the spec prescribes (0x04 invalid authentication algorithm, 0x05
   invalid integrity algorithm, 0x10 invalid confidentiality algorithm, 0x11 no cipher
   suite match, 0x12 illegal parameter), so pyghmi's client falls back to suite 3 and
   other clients get a standard status instead of a broken handshake.
2. RAKP 2 (`_got_rakp1`), the SIK, K1, K2 and the RAKP 3 check (`_got_rakp3`), and
   the RAKP 4 integrity check value (`_send_rakp4`) all use the negotiated hash; the
   RAKP 4 value and the per-message integrity trailer are truncated to 16 bytes for
   HMAC-SHA256-128 and to 12 bytes for HMAC-SHA1-96 (`currhashlib`/`currhashlen` are
   set from the negotiation after RAKP 4 is sent, because RAKP messages carry no
   trailer).
3. Also fixed on the way: an unknown user name gets RAKP 2 status 0x0D (unauthorized
   name) and a bad name length 0x0C, a wrong role 0x09, a stale managed session id
   0x02 (pyghmi stayed silent, so the client waited for its timeout); a RAKP 3 with a
   wrong key-exchange code gets RAKP 4 status 0x0F instead of silence; the code
   comparison is constant-time; Set Session Privilege Level no longer raises
   AttributeError when the first request is for level 0 or 1; Get Channel Cipher
   Suites lists suites 3 and 17 (pyghmi advertised only suite 3 with a fixed length).

Get Device ID
-------------
Firmware revision 1 = major (bits 6:0), revision 2 = minor as BCD, both derived from
`machine.bmc_version` at each request (`hwfw.ipmi_deviceid.encode_firmware_revision`:
first two numeric groups, "6.10.30.00" -> 6 / 0x10, "2.72 Sep 04 2022" -> 2 / 0x72).
The manufacturer id is 3 bytes little endian (20-bit IANA number) and the product id
2 bytes little endian, as in the spec; pyghmi's `IpmiServer.send_device_id` packs 4 + 4
bytes, which shifts the product id (pyghmi's client then reads the high byte of the
manufacturer id and the low byte of the product id as the product id).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import hmac
import inspect
import math
import os
import selectors
import socket
import struct
import threading
import time
import uuid
from typing import Any, Callable, Protocol, cast, runtime_checkable

import pyghmi.ipmi.bmc as pyghmi_bmc
import pyghmi.ipmi.command as pyghmi_command
import pyghmi.ipmi.private.constants as ipmi_constants
import pyghmi.ipmi.private.serversession as pyghmi_serversession

from hwfw.ipmi_deviceid import encode_firmware_revision
from hwfw.logs import get_logger

__all__ = [
    "IpmiMachine",
    "IpmiServerHandle",
    "POWER_ACTIONS",
    "start_ipmi",
]

log = get_logger("sim.ipmi")

#: Actions `IpmiMachine.ipmi_power` receives.
POWER_ACTIONS = ("on", "off", "reset", "cycle", "softoff", "diag")

#: How long the IPMI thread waits for a machine call on the asyncio loop.
MACHINE_CALL_TIMEOUT = 5.0
#: Idle RMCP+ sessions are forgotten after this many seconds (real BMCs: 30-60 s).
SESSION_IDLE_TIMEOUT = 60.0
#: Concurrent RMCP+ sessions per BMC; the least recently used one is dropped beyond it.
MAX_SESSIONS = 32
#: Datagrams read from one socket per reactor round, so one busy BMC cannot starve others.
_MAX_DATAGRAMS_PER_ROUND = 64

# Completion codes (IPMI 2.0 table 5-2).
CC_OK = 0x00
CC_WATCHDOG_UNINITIALISED = 0x80
CC_PARAMETER_NOT_SUPPORTED = 0x80
CC_PRIVILEGE_EXCEEDS_LIMIT = 0x81
CC_INVALID_COMMAND = 0xC1
CC_TIMEOUT = 0xC3
CC_REQUEST_LENGTH = 0xC7
CC_INVALID_FIELD = 0xCC
CC_NOT_IN_PRESENT_STATE = 0xD5
CC_UNSPECIFIED = 0xFF

# RMCP+ / RAKP status codes (IPMI 2.0 table 13-15).
RMCP_INVALID_SESSION_ID = 0x02
RMCP_INVALID_AUTH_ALGORITHM = 0x04
RMCP_INVALID_INTEGRITY_ALGORITHM = 0x05
RMCP_INVALID_ROLE = 0x09
RMCP_INSUFFICIENT_RESOURCES = 0x01
RMCP_INVALID_NAME_LENGTH = 0x0C
RMCP_UNAUTHORIZED_NAME = 0x0D
RMCP_INVALID_INTEGRITY_CHECK = 0x0F
RMCP_INVALID_CONF_ALGORITHM = 0x10
RMCP_NO_CIPHER_SUITE_MATCH = 0x11
RMCP_ILLEGAL_PARAMETER = 0x12

# Supported (authentication, integrity) algorithm pairs -> (hash, integrity code length).
_AUTH_SHA1, _AUTH_SHA256 = 1, 3
_INTEGRITY_SHA1_96, _INTEGRITY_SHA256_128 = 1, 4
_CONF_AES_CBC_128 = 1
_SUITES: dict[tuple[int, int], tuple[Callable[..., Any], int]] = {
    (_AUTH_SHA256, _INTEGRITY_SHA256_128): (hashlib.sha256, 16),  # cipher suite 17
    (_AUTH_SHA1, _INTEGRITY_SHA1_96): (hashlib.sha1, 12),  # cipher suite 3
}
# Get Channel Cipher Suites records: start-of-record, suite id, auth, 0x40|integrity, 0x80|conf.
_CIPHER_SUITE_RECORDS = bytes([0xC0, 0x11, 0x03, 0x44, 0x81, 0xC0, 0x03, 0x01, 0x41, 0x81])

_CHASSIS_DIRECTIVES = {0: "off", 1: "on", 2: "cycle", 3: "reset", 4: "diag", 5: "softoff"}
_WATCHDOG_ACTIONS = {1: "reset", 2: "off", 3: "cycle"}
_ON_STATES = {"on", "poweringoff", "paused"}

_PAYLOAD_IPMI = 0x00
_PAYLOAD_OPEN_SESSION_REQUEST = 0x10
_PAYLOAD_RAKP1 = 0x12
_PAYLOAD_RAKP3 = 0x14


@runtime_checkable
class IpmiMachine(Protocol):
    """What the IPMI server needs from a simulated machine.

    Members are used only on the asyncio loop that called `start_ipmi`. Methods may be
    plain or return an awaitable (awaited on that loop).
    """

    @property
    def power_state(self) -> str:
        """"On" or "Off" (Redfish spelling; "PoweringOff" and "Paused" count as on)."""
        ...

    def ipmi_power(self, action: str) -> object:
        """Apply one of `POWER_ACTIONS`. Raise to refuse (answered as 0xD5)."""
        ...

    @property
    def bmc_version(self) -> str:
        """Running BMC firmware version, e.g. "6.10.30.00", "01.01.10", "2.72 Sep 04 2022"."""
        ...

    @property
    def ipmi_ids(self) -> tuple[int, int]:
        """(IANA manufacturer id, product id)."""
        ...

    def bmc_reset(self) -> object:
        """BMC Cold Reset was requested (after the reply was sent)."""
        ...

    @property
    def ipmi_credentials(self) -> dict[str, str]:
        """IPMI users: name -> password."""
        ...


class WatchdogMachine(IpmiMachine, Protocol):
    """A machine that keeps the watchdog timer itself (the simulated servers do)."""

    def watchdog_command(self, cmd: int, data: bytes) -> tuple[int, bytes]:
        """Set/Reset/Get Watchdog Timer: (completion code, response data)."""
        ...


# Optional machine members, used when present:
#   bmc_available -> bool   False while the BMC is down (rebooting): every datagram is
#                           dropped and the RMCP+ sessions are forgotten, as a real BMC
#                           reboot does. Checked (on the loop) for each datagram.
#   watchdog_command(cmd, data) -> (completion code, response data)
#                           the machine keeps the watchdog timer itself (the simulator's
#                           machines run it on virtual time, hwfw/sim/watchdog.py); Set,
#                           Reset and Get Watchdog Timer are passed to it. Without it the
#                           server keeps a real-time watchdog of its own (below).


class _MachineUnavailable(Exception):
    """A machine call could not be completed on its asyncio loop (closed, stuck)."""


# --------------------------------------------------------------------------------------
# Watchdog timer (IPMI 2.0 section 27)
# --------------------------------------------------------------------------------------


class _Watchdog:
    """Watchdog state; touched by the reactor thread (commands) and the loop (expiry)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.configured = False
        self.timer_use = 0  # byte 1 of Set Watchdog Timer without the "running" bit
        self.actions = 0
        self.pretimeout = 0
        self.expiration_flags = 0
        self.initial = 0  # in 100 ms
        self.running = False
        self.deadline = 0.0  # time.monotonic() of expiry while running
        self.remaining = 0  # in 100 ms, while stopped
        self.generation = 0  # bumped whenever a pending expiry becomes stale
        self.expirations = 0

    def present_countdown(self) -> int:
        if not self.running:
            return self.remaining
        return max(0, math.ceil((self.deadline - time.monotonic()) * 10))

    def set(self, data: bytes) -> tuple[int, float | None]:
        """Set Watchdog Timer. Returns (completion code, delay to (re)arm or None)."""
        if len(data) < 6:
            return CC_REQUEST_LENGTH, None
        use = data[0] & 0x07
        if use == 0 or use > 5:
            return CC_INVALID_FIELD, None
        self.configured = True
        self.timer_use = data[0] & 0xBF
        self.actions = data[1]
        self.pretimeout = data[2]
        self.expiration_flags &= ~data[3] & 0xFF
        self.initial = data[4] | (data[5] << 8)
        self.generation += 1
        if self.running and data[0] & 0x40:  # "don't stop": keep counting from the new value
            self.deadline = time.monotonic() + self.initial / 10
            return CC_OK, self.initial / 10
        self.running = False
        self.remaining = self.initial
        return CC_OK, None

    def reset(self) -> tuple[int, float | None]:
        """Reset Watchdog Timer: (re)start the countdown from the initial value."""
        if not self.configured:
            return CC_WATCHDOG_UNINITIALISED, None
        self.generation += 1
        self.running = True
        self.deadline = time.monotonic() + self.initial / 10
        return CC_OK, self.initial / 10

    def get(self) -> bytes:
        present = self.present_countdown()
        return bytes(
            [
                self.timer_use | (0x40 if self.running else 0),
                self.actions,
                self.pretimeout,
                self.expiration_flags,
                self.initial & 0xFF,
                self.initial >> 8,
                present & 0xFF,
                present >> 8,
            ]
        )

    def expire(self, generation: int) -> str | None:
        """Expiry callback body; returns the power action to apply, if any."""
        if generation != self.generation or not self.running:
            return None
        self.running = False
        self.remaining = 0
        self.expirations += 1
        use = self.timer_use & 0x07
        self.expiration_flags |= 1 << use
        return _WATCHDOG_ACTIONS.get(self.actions & 0x07)

    def clear(self) -> None:
        """BMC reboot: the watchdog is volatile state (call with the lock held)."""
        self.configured = self.running = False
        self.timer_use = self.actions = self.pretimeout = self.expiration_flags = 0
        self.initial = self.remaining = 0
        self.deadline = 0.0
        self.generation += 1


# --------------------------------------------------------------------------------------
# RMCP+ session with cipher-suite negotiation
# --------------------------------------------------------------------------------------


def _algorithm(payload: bytes, payload_type: int) -> int | None:
    """Algorithm number of an 8-byte RMCP+ algorithm payload; -1 = wildcard; None = bad."""
    if len(payload) < 8 or payload[0] != payload_type:
        return None
    if payload[3] == 0:
        return -1
    return payload[4] & 0x3F


def _negotiate(request: bytes) -> tuple[int, int, int, int]:
    """(status, auth, integrity, confidentiality) for an Open Session Request."""
    if len(request) < 32:
        return RMCP_ILLEGAL_PARAMETER, 0, 0, 0
    auth = _algorithm(request[8:16], 0)
    integrity = _algorithm(request[16:24], 1)
    conf = _algorithm(request[24:32], 2)
    if auth is None or integrity is None or conf is None:
        return RMCP_ILLEGAL_PARAMETER, 0, 0, 0
    if auth == -1:
        auth = _AUTH_SHA1 if integrity == _INTEGRITY_SHA1_96 else _AUTH_SHA256
    if integrity == -1:
        integrity = _INTEGRITY_SHA1_96 if auth == _AUTH_SHA1 else _INTEGRITY_SHA256_128
    if conf == -1:
        conf = _CONF_AES_CBC_128
    if auth not in (_AUTH_SHA1, _AUTH_SHA256):
        return RMCP_INVALID_AUTH_ALGORITHM, 0, 0, 0
    if integrity not in (_INTEGRITY_SHA1_96, _INTEGRITY_SHA256_128):
        return RMCP_INVALID_INTEGRITY_ALGORITHM, 0, 0, 0
    if (auth, integrity) not in _SUITES:
        return RMCP_NO_CIPHER_SUITE_MATCH, 0, 0, 0
    if conf != _CONF_AES_CBC_128:
        return RMCP_INVALID_CONF_ALGORITHM, 0, 0, 0
    return 0, auth, integrity, conf


class _SendOnlySocket:
    """What pyghmi's `_io_sendto` gets: it calls `setblocking(1)` before each send,
    which would make the reactor's reads block; here that is a no-op."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def setblocking(self, flag: bool) -> None:
        pass

    def sendto(self, data: bytes, addr: Any) -> int:
        return self._sock.sendto(data, addr)


class _ServerSession(pyghmi_serversession.ServerSession):
    """One RMCP+ session of one client; see the module docstring for what changed."""

    def __new__(cls, *args: Any, **kwargs: Any) -> _ServerSession:
        return object.__new__(cls)

    def __init__(self, bmc: _SimBmc, clientaddr: Any, request: bytes) -> None:
        # Deliberately not ServerSession.__init__: it registers the session in pyghmi's
        # process-global Session.bmc_handlers, which its client code also walks.
        self.bmc = bmc
        self.uuid = bmc.uuid
        self.authdata = bmc.authdata
        self.kg = bmc.kg
        self.socket = _SendOnlySocket(bmc.serversocket)
        self.sockaddr = clientaddr
        self.servermode = True
        self.ipmiversion = 2.0
        self.rqaddr = ipmi_constants.IPMI_BMC_ADDRESS
        self.rqlun = None
        self.sequencenumber = 0
        self.sessionid = 0
        self.authtype = 6
        self.integrityalgo: int | str = 0
        self.confalgo: int | str = 0
        self.currhashlib = hashlib.sha1
        self.currhashlen = 12
        self.k1: bytes | None = None
        self.aeskey: bytes | None = None
        self.remseqnumber = None
        self.lastpayload = None
        self.last_payload_type = None
        self.broken = False
        self.pendingpayloads: collections.deque[Any] = collections.deque()
        self.pktqueue: collections.deque[Any] = collections.deque()
        self.ipmicallback: Callable[[dict[str, Any]], None] | None = None
        self.clientsessionid = bytearray(4)
        self.managedsessionid = bytearray(4)
        self.privlevel = 4
        self.maxpriv = 4
        self.clientpriv = 2  # RMCP+ sessions start at User level
        self.username = b""
        self.kuid: bytes | None = None
        self.suite_hash: Callable[..., Any] | None = None
        self.suite_codelen = 12
        self.established = False
        self.last_activity = time.monotonic()
        self._got_rmcp_openrequest(request)

    # -- Open Session ------------------------------------------------------------------

    def _got_rmcp_openrequest(self, data: Any) -> None:
        request = bytes(data)
        if len(request) < 8:
            return
        tag = request[0]
        self.clientsessionid = bytearray(request[4:8])
        status, auth, integrity, conf = _negotiate(request)
        if status:
            self._send_rmcp(bytearray([tag, status, 0, 0]) + self.clientsessionid, "rmcpplusopenresponse")
            return
        managed = os.urandom(4)
        while managed == b"\0\0\0\0":
            managed = os.urandom(4)
        self.managedsessionid = bytearray(managed)
        requested = request[1] & 0x0F
        self.privlevel = 4 if requested == 0 else min(requested, 4)
        self.suite_hash, self.suite_codelen = _SUITES[(auth, integrity)]
        response = (
            bytearray([tag, 0, self.privlevel, 0])
            + self.clientsessionid
            + self.managedsessionid
            + bytearray([0, 0, 0, 8, auth, 0, 0, 0])
            + bytearray([1, 0, 0, 8, integrity, 0, 0, 0])
            + bytearray([2, 0, 0, 8, conf, 0, 0, 0])
        )
        self._send_rmcp(response, "rmcpplusopenresponse")

    def _send_rmcp(self, payload: bytearray, kind: str) -> None:
        self.send_payload(payload, ipmi_constants.payload_types[kind], retry=False)

    # -- RAKP ----------------------------------------------------------------------------

    def _got_rakp1(self, data: Any) -> None:
        msg = bytes(data)
        if len(msg) < 28 or self.suite_hash is None:
            return
        tag = msg[0]
        if msg[4:8] != bytes(self.managedsessionid):
            return self._send_rakp_error("rakp2", tag, RMCP_INVALID_SESSION_ID)
        rolem = msg[24]
        role = rolem & 0x0F
        namelen = msg[27]
        if namelen > 16 or len(msg) < 28 + namelen:
            return self._send_rakp_error("rakp2", tag, RMCP_INVALID_NAME_LENGTH)
        if not 1 <= role <= 4:
            return self._send_rakp_error("rakp2", tag, RMCP_INVALID_ROLE)
        username = msg[28 : 28 + namelen]
        try:
            password = self.authdata.get(username.decode("utf-8"))
        except UnicodeDecodeError:
            password = None
        except _MachineUnavailable:
            return self._send_rakp_error("rakp2", tag, RMCP_INSUFFICIENT_RESOURCES)
        if password is None:
            return self._send_rakp_error("rakp2", tag, RMCP_UNAUTHORIZED_NAME)
        self.Rm = msg[8:24]
        self.rolem = rolem
        self.maxpriv = min(role, self.privlevel)
        self.username = username
        self.kuid = password.encode("utf-8")
        self.Rc = os.urandom(16)
        self.uuiddata = self.uuid.bytes
        hmacdata = (
            bytes(self.clientsessionid)
            + bytes(self.managedsessionid)
            + self.Rm
            + self.Rc
            + self.uuiddata
            + bytes([rolem, namelen])
            + username
        )
        authcode = hmac.new(self.kuid, hmacdata, self.suite_hash).digest()
        payload = bytearray([tag, 0, 0, 0]) + self.clientsessionid + self.Rc + self.uuiddata + authcode
        self._send_rmcp(payload, "rakp2")

    def _got_rakp3(self, data: Any) -> None:
        msg = bytes(data)
        if len(msg) < 8 or self.kuid is None or self.suite_hash is None:
            return
        tag = msg[0]
        if msg[1] != 0:  # the client rejected our RAKP 2
            self.bmc.drop_session(self)
            return
        if msg[4:8] != bytes(self.managedsessionid):
            return self._send_rakp_error("rakp4", tag, RMCP_INVALID_SESSION_ID)
        role_and_name = bytes([self.rolem, len(self.username)]) + self.username
        expected = hmac.new(
            self.kuid, self.Rc + bytes(self.clientsessionid) + role_and_name, self.suite_hash
        ).digest()
        if not hmac.compare_digest(expected, msg[8:]):
            return self._send_rakp_error("rakp4", tag, RMCP_INVALID_INTEGRITY_CHECK)
        kg = self.kg or self.kuid
        self.sik = hmac.new(kg, self.Rm + self.Rc + role_and_name, self.suite_hash).digest()
        self.k1 = hmac.new(self.sik, b"\x01" * 20, self.suite_hash).digest()
        self.k2 = hmac.new(self.sik, b"\x02" * 20, self.suite_hash).digest()
        self.aeskey = self.k2[:16]
        self.localsid = struct.unpack("<I", bytes(self.managedsessionid))[0]
        self.ipmicallback = self.handle_client_request
        self._send_rakp4(tag, 0)

    def _send_rakp4(self, tagvalue: int, statuscode: int) -> None:
        assert self.suite_hash is not None
        icv = hmac.new(
            self.sik, self.Rm + bytes(self.managedsessionid) + self.uuiddata, self.suite_hash
        ).digest()[: self.suite_codelen]
        self._send_rmcp(bytearray([tagvalue, statuscode, 0, 0]) + self.clientsessionid + icv, "rakp4")
        # From now on every message is encrypted and carries the negotiated trailer.
        self.currhashlib = self.suite_hash
        self.currhashlen = self.suite_codelen
        self.integrityalgo = "sha256" if self.suite_codelen == 16 else "sha1"
        self.confalgo = "aes"
        self.sequencenumber = 1
        self.sessionid = struct.unpack("<I", bytes(self.clientsessionid))[0]
        self.established = True

    def _send_rakp_error(self, kind: str, tag: int, status: int) -> None:
        self._send_rmcp(bytearray([tag, status, 0, 0]) + self.clientsessionid, kind)

    # -- in-session requests -----------------------------------------------------------

    def handle_client_request(self, request: dict[str, Any]) -> None:
        netfn, command, data = request["netfn"], request["command"], bytes(request["data"])
        if netfn == 6 and command == 0x3B:  # Set Session Privilege Level
            if not data:
                return self.send_ipmi_response(code=CC_REQUEST_LENGTH)
            wanted = data[0] & 0x0F
            if wanted == 0:
                return self.send_ipmi_response(data=[self.clientpriv])
            if wanted < 2 or wanted > 5:
                return self.send_ipmi_response(code=CC_INVALID_FIELD)
            if wanted > self.maxpriv:
                return self.send_ipmi_response(code=CC_PRIVILEGE_EXCEEDS_LIMIT)
            self.clientpriv = wanted
            return self.send_ipmi_response(data=[wanted])
        if netfn == 6 and command == 0x3C:  # Close Session
            self.send_ipmi_response()
            self.bmc.drop_session(self)
            return
        self.bmc.handle_raw_request(request, self)

    def send_ipmi_response(self, data: Any = (), code: int = 0) -> None:
        self._send_ipmi_net_payload(data=data, code=code)


# --------------------------------------------------------------------------------------
# The simulated BMC
# --------------------------------------------------------------------------------------


class _MachineCredentials:
    """`authdata` for the sessions: reads `machine.ipmi_credentials` at each login."""

    def __init__(self, bmc: _SimBmc) -> None:
        self._bmc = bmc

    def get(self, username: str, default: str | None = None) -> str | None:
        creds = self._bmc.call_machine(lambda m: dict(m.ipmi_credentials))
        return creds.get(username, default)


class _SimBmc(pyghmi_bmc.Bmc):
    def __init__(self, machine: IpmiMachine, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        # Deliberately not IpmiServer.__init__ (see the module docstring): it binds the
        # socket through pyghmi's process-global client socket pool and I/O thread.
        self.machine = machine
        self.loop = loop
        self.serversocket = sock
        self.host, self.port = sock.getsockname()[:2]
        self.uuid = uuid.uuid4()
        self.kg = None
        self.timeout = SESSION_IDLE_TIMEOUT
        self.deviceid = 0x20
        self.revision = 0x01
        self.ipmiversion = 0x02  # BCD, digits swapped: 2.0
        self.additionaldevices = 0x80  # chassis device
        self.firmwaremajor = 0
        self.firmwareminor = 0
        self.mfgid = 0
        self.prodid = 0
        self.authdata = _MachineCredentials(self)
        # Get Channel Authentication Capabilities: completion code, channel 1, IPMI 2.0
        # extended capabilities, non-null user names enabled, IPMI 2.0 supported, no OEM.
        self.authcap = bytes([0x00, 0x01, 0x80, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00])
        self.pktqueue: collections.deque[Any] = collections.deque()
        self.sessions: dict[Any, _ServerSession] = {}
        self.watchdog = _Watchdog()
        self.bootdevice: int | str = "default"
        self.reachable = True
        self._watchdog_handle: asyncio.TimerHandle | None = None
        self.closed = False
        # Constructed on the loop thread, so looking at the machine here is fine.
        self.tracks_availability = hasattr(machine, "bmc_available")
        self.machine_watchdog = hasattr(machine, "watchdog_command")

    # -- machine access ----------------------------------------------------------------

    def call_machine(self, fn: Callable[[IpmiMachine], Any]) -> Any:
        """Run fn(machine) on the machine's asyncio loop and wait for the result."""
        if self.loop.is_closed():
            raise _MachineUnavailable("the simulator's event loop is closed")

        async def run() -> Any:
            result = fn(self.machine)
            if inspect.isawaitable(result):
                result = await result
            return result

        coro = run()
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError as exc:
            coro.close()
            raise _MachineUnavailable(str(exc)) from exc
        try:
            return future.result(MACHINE_CALL_TIMEOUT)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise _MachineUnavailable("machine call timed out") from exc
        except concurrent.futures.CancelledError as exc:
            raise _MachineUnavailable("machine call cancelled") from exc

    # -- datagram dispatch (reactor thread) ------------------------------------------------

    def machine_available(self) -> bool:
        if not self.tracks_availability:
            return True
        try:
            return bool(self.call_machine(lambda m: getattr(m, "bmc_available", True)))  # optional member
        except _MachineUnavailable:
            return False

    def handle_datagram(self, data: bytes, addr: Any) -> None:
        if not self.reachable or self.closed:
            return
        if not self.machine_available():
            self.sessions.clear()  # a rebooting BMC loses its sessions
            return
        # RMCP header: version 6, reserved, sequence 0xff (no ack), class 7 (IPMI).
        if len(data) < 16 or data[0] != 0x06 or data[2] != 0xFF or data[3] != 0x07:
            return
        authtype = data[4]
        if authtype != 6:
            # IPMI 1.5 session header: only session-less requests (auth type none,
            # sequence and session id 0) are served; 1.5 sessions are not supported.
            if authtype == 0 and data[5:13] == bytes(8):
                self.sessionless_data(data, addr)
            return
        ptype = data[5] & 0x3F
        length = int.from_bytes(data[14:16], "little")
        if ptype == _PAYLOAD_OPEN_SESSION_REQUEST:
            self._open_session(addr, data[16 : 16 + length])
            return
        session_id = int.from_bytes(data[6:10], "little")
        if ptype == _PAYLOAD_IPMI and session_id == 0:
            self.sessionless_data(data, addr)
            return
        if ptype not in (_PAYLOAD_IPMI, _PAYLOAD_RAKP1, _PAYLOAD_RAKP3):
            return
        session = self.sessions.get(addr)
        if session is None:
            return
        session.last_activity = time.monotonic()
        session._handle_ipmi_packet(bytearray(data), sockaddr=addr)

    def _open_session(self, addr: Any, request: bytes) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if now - session.last_activity > SESSION_IDLE_TIMEOUT:
                del self.sessions[key]
        self.sessions.pop(addr, None)
        while len(self.sessions) >= MAX_SESSIONS:
            oldest = min(self.sessions, key=lambda k: self.sessions[k].last_activity)
            del self.sessions[oldest]
        self.sessions[addr] = _ServerSession(self, addr, request)

    def drop_session(self, session: _ServerSession) -> None:
        if self.sessions.get(session.sockaddr) is session:
            del self.sessions[session.sockaddr]

    def sessionless_data(self, data: Any, sockaddr: Any) -> None:
        """Get Channel Authentication Capabilities and Get Channel Cipher Suites."""
        data = bytes(data)
        v2 = data[4] == 6
        if v2:
            start, length = 16, int.from_bytes(data[14:16], "little")
        else:
            start, length = 14, data[13]
        msg = data[start : start + length]
        if len(msg) < 7 or msg[1] >> 2 != 6:  # application netfn requests only
            return
        rqaddr, rqseqlun, command, body = msg[3], msg[4], msg[5], msg[6:-1]
        if command == 0x38:  # Get Channel Authentication Capabilities
            if len(body) < 2:
                reply = bytes([CC_REQUEST_LENGTH])
            elif (body[0] & 0x0F) not in (0x0E, 0x01):
                reply = bytes([CC_INVALID_FIELD])
            else:
                reply = self.authcap if body[0] & 0x80 else self.authcap[:2] + b"\0" + self.authcap[3:]
        elif command == 0x54:  # Get Channel Cipher Suites
            if len(body) < 3:
                reply = bytes([CC_REQUEST_LENGTH])
            elif body[1] != 0:  # only the IPMI payload type has cipher suites
                reply = bytes([CC_INVALID_FIELD])
            else:
                index = body[2] & 0x3F
                chunk = _CIPHER_SUITE_RECORDS[index * 16 : index * 16 + 16]
                reply = bytes([CC_OK, 0x01]) + chunk
        else:
            return
        self._send_sessionless(v2, sockaddr, rqaddr, rqseqlun, command, reply)

    def _send_sessionless(
        self, v2: bool, sockaddr: Any, rqaddr: int, rqseqlun: int, command: int, reply: bytes
    ) -> None:
        header = bytes([rqaddr, (7 << 2) | (rqseqlun & 0x03)])
        body = bytes([ipmi_constants.IPMI_BMC_ADDRESS, rqseqlun & 0xFC, command]) + reply
        message = header + bytes([_checksum(header)]) + body + bytes([_checksum(body)])
        if v2:
            packet = b"\x06\x00\xff\x07\x06\x00" + bytes(8) + struct.pack("<H", len(message)) + message
        else:
            packet = b"\x06\x00\xff\x07\x00" + bytes(8) + bytes([len(message)]) + message
        try:
            self.serversocket.sendto(packet, sockaddr)
        except OSError as exc:
            log.debug("ipmi sim %s:%s: send failed: %s", self.host, self.port, exc)

    # -- commands --------------------------------------------------------------------------

    def handle_raw_request(self, request: dict[str, Any], session: Any) -> None:
        netfn, command, data = request["netfn"], request["command"], bytes(request["data"])
        try:
            if netfn == 6:
                if command == 0x01:
                    return self.send_device_id(session)
                if command == 0x02:
                    return self._cold_reset(session)
                if command == 0x04:  # Get Self Test Results: "no error"
                    return session.send_ipmi_response(data=[0x55, 0x00])
                if command in (0x22, 0x24, 0x25) and self.machine_watchdog:
                    code, reply = self.call_machine(
                        lambda m: cast("WatchdogMachine", m).watchdog_command(command, data))
                    return session.send_ipmi_response(data=reply, code=code)
                if command == 0x22:
                    return self._watchdog_command(session, self.watchdog.reset)
                if command == 0x24:
                    return self._watchdog_command(session, lambda: self.watchdog.set(data))
                if command == 0x25:
                    with self.watchdog.lock:
                        reply = self.watchdog.get()
                    return session.send_ipmi_response(data=reply)
                if command == 0x37:
                    return session.send_ipmi_response(data=self.uuid.bytes_le)
                if command == 0x38:
                    return session.send_ipmi_response(data=self.authcap[1:])
                if command in (0x48, 0x49):  # SOL (de)activation: not offered
                    return super().handle_raw_request(request, session)
            elif netfn == 0:
                if command == 0x01:
                    return self.get_chassis_status(session)
                if command == 0x02:
                    return self.control_chassis(request, session)
                if command == 0x03:  # Chassis Reset (legacy)
                    return self._power(session, "reset")
                if command == 0x08:
                    return self.set_system_boot_options(request, session)
                if command == 0x09:
                    return self.get_system_boot_options(request, session)
            session.send_ipmi_response(code=CC_INVALID_COMMAND)
        except _MachineUnavailable as exc:
            log.debug("ipmi sim %s:%s: machine unavailable: %s", self.host, self.port, exc)
            session.send_ipmi_response(code=CC_TIMEOUT)
        except IndexError:
            session.send_ipmi_response(code=CC_REQUEST_LENGTH)
        except Exception:
            log.exception("ipmi sim %s:%s: netfn %#x cmd %#x failed", self.host, self.port, netfn, command)
            session.send_ipmi_response(code=CC_UNSPECIFIED)

    def send_device_id(self, session: Any) -> None:
        version, (mfgid, prodid) = self.call_machine(lambda m: (m.bmc_version, tuple(m.ipmi_ids)))
        self.firmwaremajor, self.firmwareminor = encode_firmware_revision(str(version))
        self.mfgid, self.prodid = int(mfgid), int(prodid)
        response = bytes(
            [
                self.deviceid,
                self.revision,
                self.firmwaremajor & 0x7F,
                self.firmwareminor,
                self.ipmiversion,
                self.additionaldevices,
            ]
        )
        response += (self.mfgid & 0x0FFFFF).to_bytes(3, "little") + (self.prodid & 0xFFFF).to_bytes(2, "little")
        session.send_ipmi_response(data=response)

    def get_power_state(self) -> str:
        state = self.call_machine(lambda m: m.power_state)
        return "on" if str(state).lower() in _ON_STATES else "off"

    def get_chassis_status(self, session: Any) -> None:
        on = self.get_power_state() == "on"
        # Current power state: bit 0 power on, bits 6:5 restore policy 01 (previous state).
        session.send_ipmi_response(data=[0x20 | int(on), 0x00, 0x00])

    def control_chassis(self, request: dict[str, Any], session: Any) -> None:
        data = request["data"]
        if not data:
            return session.send_ipmi_response(code=CC_REQUEST_LENGTH)
        action = _CHASSIS_DIRECTIVES.get(data[0] & 0x0F)
        if action is None:
            return session.send_ipmi_response(code=CC_INVALID_FIELD)
        self._power(session, action)

    def _power(self, session: Any, action: str) -> None:
        try:
            self.call_machine(lambda m: m.ipmi_power(action))
        except _MachineUnavailable:
            raise
        except Exception as exc:  # the machine refused (e.g. cycle while off)
            log.debug("ipmi sim %s:%s: power %s refused: %s", self.host, self.port, action, exc)
            return session.send_ipmi_response(code=CC_NOT_IN_PRESENT_STATE)
        session.send_ipmi_response()

    # pyghmi's Bmc helpers the chassis handlers call.
    def power_off(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("off"))

    def power_on(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("on"))

    def power_cycle(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("cycle"))

    def power_reset(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("reset"))

    def pulse_diag(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("diag"))

    def power_shutdown(self) -> None:
        self.call_machine(lambda m: m.ipmi_power("softoff"))

    def get_boot_device(self) -> int | str:
        return self.bootdevice

    def set_boot_device(self, bootdevice: int | str) -> None:
        self.bootdevice = bootdevice

    def get_system_guid(self) -> uuid.UUID:
        return self.uuid

    def set_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        try:
            super().set_system_boot_options(request, session)
        except NotImplementedError:
            session.send_ipmi_response(code=CC_PARAMETER_NOT_SUPPORTED)

    def get_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
        if request["data"][0] & 0x7F != 5:
            return session.send_ipmi_response(code=CC_PARAMETER_NOT_SUPPORTED)
        device = self.bootdevice
        if not isinstance(device, int):
            device = pyghmi_command.boot_devices.get(device, 0)
        # Parameter version 1, parameter 5 (boot flags): valid, next boot only, legacy.
        session.send_ipmi_response(data=[1, 5, 0x80, device, 0, 0, 0])

    def cold_reset(self) -> None:
        self.call_machine(lambda m: m.bmc_reset())

    def _cold_reset(self, session: Any) -> None:
        session.send_ipmi_response()
        # A rebooting BMC forgets its sessions and its (volatile) watchdog settings.
        self.sessions.clear()
        with self.watchdog.lock:
            self.watchdog.clear()
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._cancel_watchdog_timer)
        try:
            self.cold_reset()
        except Exception as exc:  # the reply is already sent
            log.warning("ipmi sim %s:%s: bmc_reset failed: %s", self.host, self.port, exc)

    # -- watchdog --------------------------------------------------------------------------

    def _watchdog_command(self, session: Any, op: Callable[[], tuple[int, float | None]]) -> None:
        with self.watchdog.lock:
            code, delay = op()
            generation = self.watchdog.generation
        if delay is not None:
            self.loop.call_soon_threadsafe(self._arm_watchdog, generation, delay)
        session.send_ipmi_response(code=code)

    def _cancel_watchdog_timer(self) -> None:
        if self._watchdog_handle is not None:
            self._watchdog_handle.cancel()
            self._watchdog_handle = None

    def _arm_watchdog(self, generation: int, delay: float) -> None:  # on the loop
        self._cancel_watchdog_timer()
        if not self.closed:
            self._watchdog_handle = self.loop.call_later(delay, self._watchdog_expired, generation)

    def _watchdog_expired(self, generation: int) -> None:  # on the loop
        self._watchdog_handle = None
        with self.watchdog.lock:
            action = self.watchdog.expire(generation)
        if action is None:
            return
        log.info("ipmi sim %s:%s: watchdog expired, %s", self.host, self.port, action)
        try:
            result = self.machine.ipmi_power(action)
            if inspect.isawaitable(result):
                asyncio.ensure_future(result)
        except Exception as exc:
            log.warning("ipmi sim %s:%s: watchdog action %s failed: %s", self.host, self.port, action, exc)


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


# --------------------------------------------------------------------------------------
# Reactor: one thread serving every simulated BMC of the process
# --------------------------------------------------------------------------------------

_REACTOR_LOCK = threading.Lock()
_reactor: _Reactor | None = None


class _Reactor(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="hwfw-ipmi-sim", daemon=True)
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._ops: collections.deque[tuple[str, _SimBmc, concurrent.futures.Future[None]]] = collections.deque()
        self._bmcs: set[_SimBmc] = set()

    def submit(self, op: str, bmc: _SimBmc) -> concurrent.futures.Future[None]:
        """Queue an add/remove; call with _REACTOR_LOCK held."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._ops.append((op, bmc, future))
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending
        return future

    def run(self) -> None:
        global _reactor
        try:
            while True:
                try:
                    events = self._selector.select()
                except OSError as exc:  # pragma: no cover - selector failure
                    log.error("ipmi sim reactor: select failed: %s", exc)
                    events = []
                for key, _ in events:
                    if key.data is None:
                        self._drain_wake()
                    else:
                        self._read(key.fileobj, key.data)  # type: ignore[arg-type]
                with _REACTOR_LOCK:
                    ops = list(self._ops)
                    self._ops.clear()
                for op, bmc, future in ops:
                    self._apply(op, bmc, future)
                with _REACTOR_LOCK:
                    if not self._bmcs and not self._ops:
                        _reactor = None
                        return
        finally:
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _apply(self, op: str, bmc: _SimBmc, future: concurrent.futures.Future[None]) -> None:
        try:
            if op == "add":
                self._selector.register(bmc.serversocket, selectors.EVENT_READ, bmc)
                self._bmcs.add(bmc)
            else:
                if bmc in self._bmcs:
                    self._selector.unregister(bmc.serversocket)
                    self._bmcs.discard(bmc)
                bmc.sessions.clear()
            future.set_result(None)
        except Exception as exc:
            future.set_exception(exc)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _read(self, sock: socket.socket, bmc: _SimBmc) -> None:
        for _ in range(_MAX_DATAGRAMS_PER_ROUND):
            try:
                data, addr = sock.recvfrom(4096, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                log.debug("ipmi sim %s:%s: recv: %s", bmc.host, bmc.port, exc)
                return
            try:
                bmc.handle_datagram(data, addr)
            except Exception:
                # Garbage or a protocol state pyghmi's session code did not expect: drop
                # the datagram, keep serving.
                log.debug("ipmi sim %s:%s: dropped a datagram from %s", bmc.host, bmc.port, addr, exc_info=True)


def _submit(op: str, bmc: _SimBmc) -> concurrent.futures.Future[None]:
    global _reactor
    with _REACTOR_LOCK:
        if _reactor is None:
            if op != "add":
                done: concurrent.futures.Future[None] = concurrent.futures.Future()
                done.set_result(None)
                return done
            _reactor = _Reactor()
            _reactor.start()
        return _reactor.submit(op, bmc)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


class IpmiServerHandle:
    """A running IPMI endpoint of one simulated machine."""

    def __init__(self, bmc: _SimBmc) -> None:
        self._bmc = bmc

    @property
    def host(self) -> str:
        return str(self._bmc.host)

    @property
    def port(self) -> int:
        """The bound UDP port (the real one when 0 was asked for)."""
        return int(self._bmc.port)

    @property
    def closed(self) -> bool:
        return self._bmc.closed

    def set_reachable(self, reachable: bool) -> None:
        """False: drop every datagram and forget sessions, as a BMC that is rebooting.

        For the simulator's "BMC down" windows; True serves again (clients must log in
        again, like after a real BMC reboot). Safe to call from any thread.
        """
        self._bmc.reachable = bool(reachable)
        if not reachable:
            # The reactor may be reading the table right now; swap it instead of mutating.
            self._bmc.sessions = {}

    async def close(self) -> None:
        """Stop answering and release the socket. Idempotent."""
        bmc = self._bmc
        if bmc.closed:
            return
        bmc.closed = True
        try:
            await asyncio.wrap_future(_submit("remove", bmc))
        finally:
            bmc.serversocket.close()
            if bmc.loop is asyncio.get_running_loop():
                bmc._cancel_watchdog_timer()
            elif not bmc.loop.is_closed():
                bmc.loop.call_soon_threadsafe(bmc._cancel_watchdog_timer)

    async def __aenter__(self) -> IpmiServerHandle:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<IpmiServerHandle {self.host}:{self.port}{' closed' if self.closed else ''}>"


async def start_ipmi(machine: IpmiMachine, host: str, port: int) -> IpmiServerHandle:
    """Serve IPMI 2.0 (RMCP+) for `machine` on UDP `host:port` (port 0: any free port).

    Machine members are called on the running loop (the one calling this). Raises
    OSError if the address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise OSError(f"cannot resolve {host!r}")
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind(sockaddr)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    bmc = _SimBmc(machine, loop, sock)
    try:
        await asyncio.wrap_future(_submit("add", bmc))
    except BaseException:
        sock.close()
        raise
    log.debug("ipmi sim listening on %s:%s", bmc.host, bmc.port)
    return IpmiServerHandle(bmc)
