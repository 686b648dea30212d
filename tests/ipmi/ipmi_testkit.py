"""Helpers for the IPMI tests: a stand-in machine, bounded polling, hostile UDP peers.

A plain module (imported by the test files as tests.ipmi.ipmi_testkit) rather than a
conftest.py, so importing its names never depends on conftest module naming.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import threading
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable

from hwfw.sim.ipmi import IpmiServerHandle, start_ipmi

USER = "admin"
PASSWORD = "s3cret-ipmi-pw"
LOOPBACK = "127.0.0.1"


class StandInMachine:
    """Test double of `hwfw.sim.ipmi.IpmiMachine`: records what IPMI asked of it."""

    def __init__(
        self,
        *,
        power_state: str = "On",
        bmc_version: str = "6.10.30.00",
        ipmi_ids: tuple[int, int] = (674, 0x0100),
        credentials: dict[str, str] | None = None,
    ) -> None:
        self._power_state = power_state
        self.bmc_version = bmc_version
        self.ipmi_ids = ipmi_ids
        self.ipmi_credentials = dict(credentials or {USER: PASSWORD})
        self.actions: list[str] = []
        self.resets = 0
        self.threads: set[int] = set()

    @property
    def power_state(self) -> str:
        self.threads.add(threading.get_ident())
        return self._power_state

    def ipmi_power(self, action: str) -> None:
        self.threads.add(threading.get_ident())
        if action == "cycle" and self._power_state == "Off":
            raise RuntimeError("cannot power cycle a machine that is off")
        self.actions.append(action)
        if action == "on":
            self._power_state = "On"
        elif action in ("off", "softoff"):
            self._power_state = "Off"

    def bmc_reset(self) -> None:
        self.threads.add(threading.get_ident())
        self.resets += 1


@asynccontextmanager
async def serving(machine: Any, host: str = LOOPBACK) -> AsyncIterator[IpmiServerHandle]:
    handle = await start_ipmi(machine, host, 0)
    try:
        yield handle
    finally:
        await handle.close()


async def eventually(condition: Callable[[], bool], *, within: float = 5.0, what: str = "condition") -> None:
    """Bounded polling of a condition (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.01)


def free_udp_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class GarbageBmc(asyncio.DatagramProtocol):
    """Answers every datagram with junk: random bytes, or RMCP/IPMI-shaped junk
    (valid RMCP header, mangled copy of the request or random body)."""

    def __init__(self, shaped: bool, seed: int) -> None:
        self.shaped = shaped
        self.rng = random.Random(seed)
        self.received = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received += 1
        assert self.transport is not None
        for _ in range(3):
            if not self.shaped:
                reply = os.urandom(self.rng.randint(0, 200))
            else:
                body = bytearray(data) if self.rng.random() < 0.4 else bytearray(os.urandom(self.rng.randint(0, 120)))
                for _ in range(self.rng.randint(0, 8)):
                    if body:
                        body[self.rng.randrange(len(body))] = self.rng.randrange(256)
                reply = b"\x06\x00\xff\x07" + bytes([self.rng.choice([0, 2, 6])]) + bytes(body[5:])
            self.transport.sendto(reply, addr)


@asynccontextmanager
async def garbage_bmc(*, shaped: bool, seed: int = 1) -> AsyncIterator[tuple[int, GarbageBmc]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: GarbageBmc(shaped, seed), local_addr=(LOOPBACK, 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1], protocol
    finally:
        transport.close()


def run(coro: Awaitable[Any]) -> Any:
    """Run a coroutine on a fresh event loop (the project has no asyncio pytest plugin)."""
    return asyncio.run(coro)  # type: ignore[arg-type]
