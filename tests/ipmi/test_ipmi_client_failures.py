"""Every way an IPMI conversation can fail ends as a per-host IpmiError within the timeout."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from hwfw.errors import IpmiError
from hwfw.ipmi import client
from hwfw.logs import redactor
from tests.ipmi.ipmi_testkit import LOOPBACK, PASSWORD, USER, StandInMachine, free_udp_port, garbage_bmc, run, serving

SHORT = 1.0
# A failure is reported at the deadline, plus one pump slice and scheduling slack.
SLACK = 0.75


def ipmi_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hwfw-ipmi"]


def test_wrong_password_is_refused_quickly_and_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password-42"

    async def scenario() -> tuple[IpmiError, float]:
        async with serving(StandInMachine()) as bmc:
            started = time.monotonic()
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, bmc.port, USER, wrong, timeout=SHORT, host="r1-n3")
            return info.value, time.monotonic() - started

    error, elapsed = run(scenario())
    assert elapsed < SHORT + SLACK
    assert error.host == "r1-n3" and error.url is not None and error.url.startswith("ipmi://")
    assert "password" in str(error).lower()
    assert error.hint and "password" in error.hint
    assert wrong not in str(error)
    assert all(wrong not in record.getMessage() for record in caplog.records)
    assert redactor(f"x {wrong} y") == "x *** y"  # registered before anything was sent


def test_unknown_user_is_refused_quickly() -> None:
    async def scenario() -> tuple[IpmiError, float]:
        async with serving(StandInMachine()) as bmc:
            started = time.monotonic()
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, bmc.port, "nobody", PASSWORD, timeout=SHORT)
            return info.value, time.monotonic() - started

    error, elapsed = run(scenario())
    assert elapsed < SHORT + SLACK
    assert "unauthorized name" in str(error).lower()


def test_silent_port_times_out_cleanly() -> None:
    port = free_udp_port()  # nothing listens: datagrams vanish or bounce as ICMP

    async def scenario() -> tuple[IpmiError, float]:
        started = time.monotonic()
        with pytest.raises(IpmiError) as info:
            await client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=SHORT)
        return info.value, time.monotonic() - started

    error, elapsed = run(scenario())
    assert SHORT - 0.05 <= elapsed < SHORT + SLACK
    assert error.url == f"ipmi://127.0.0.1:{port}"
    assert "no valid IPMI answer" in str(error)


@pytest.mark.parametrize("shaped", [False, True], ids=["random-bytes", "rmcp-shaped"])
def test_garbage_answers_become_an_ipmi_error(shaped: bool) -> None:
    async def scenario() -> tuple[IpmiError, float, int]:
        async with garbage_bmc(shaped=shaped, seed=7) as (port, peer):
            started = time.monotonic()
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=SHORT)
            return info.value, time.monotonic() - started, peer.received

    error, elapsed, received = run(scenario())
    assert received >= 1
    assert elapsed < SHORT + SLACK
    assert isinstance(error, IpmiError)


def test_failures_do_not_pile_up_threads_and_do_not_block_healthy_bmcs() -> None:
    silent_ports = [free_udp_port() for _ in range(6)]

    async def scenario() -> tuple[list[BaseException | client.IpmiFacts], client.IpmiFacts, float]:
        async with serving(StandInMachine()) as bmc, garbage_bmc(shaped=True, seed=3) as (garbage_port, _):
            failing = [client.read_facts(LOOPBACK, p, USER, PASSWORD, timeout=0.5) for p in silent_ports]
            failing += [client.power(LOOPBACK, garbage_port, USER, PASSWORD, "on", timeout=0.5)]
            results = await asyncio.gather(*failing, return_exceptions=True)
            started = time.monotonic()
            healthy = await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=2.0)
            return results, healthy, time.monotonic() - started

    results, healthy, healthy_elapsed = run(scenario())
    assert all(isinstance(r, IpmiError) for r in results), results
    assert healthy.power_state == "On"
    assert healthy_elapsed < 1.0
    assert len(ipmi_threads()) == 1  # one pyghmi driver thread, however many BMCs fail


def test_invalid_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown power action"):
        run(client.power(LOOPBACK, 623, USER, PASSWORD, "hibernate", timeout=1))
    with pytest.raises(ValueError, match="timeout"):
        run(client.read_facts(LOOPBACK, 623, USER, PASSWORD, timeout=0))
