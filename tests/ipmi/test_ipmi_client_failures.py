"""Every way an IPMI conversation can fail ends as a per-host IpmiError within the timeout."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from hwfw.errors import IpmiError
from hwfw.ipmi import client
from hwfw.logs import redactor
from tests.ipmi.ipmi_testkit import LOOPBACK, PASSWORD, USER, StandInMachine, free_udp_port, garbage_bmc, run, serving

SHORT = 1.0
# Which mechanism ended a conversation shows in its message: the BMC's refusal, the
# driver's own deadline ("no valid IPMI answer within <timeout> s"), or the asyncio
# safety net behind it, which only fires when the driver thread was blocked.
DEADLINE = f"no valid IPMI answer within {SHORT:g} s"
SAFETY_NET = "the IPMI driver was blocked"


def ipmi_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hwfw-ipmi"]


@pytest.mark.slow
def test_wrong_password_is_refused_quickly_and_never_echoed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password-42"

    async def scenario() -> IpmiError:
        async with serving(StandInMachine()) as bmc:
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, bmc.port, USER, wrong, timeout=SHORT, host="r1-n3")
            return info.value

    error = run(scenario())
    assert "no valid IPMI answer" not in str(error) and SAFETY_NET not in str(error)  # refused, not timed out
    assert error.host == "r1-n3" and error.url is not None and error.url.startswith("ipmi://")
    assert "password" in str(error).lower()
    assert error.hint and "password" in error.hint
    assert wrong not in str(error)
    assert all(wrong not in record.getMessage() for record in caplog.records)
    assert redactor(f"x {wrong} y") == "x *** y"  # registered before anything was sent


@pytest.mark.slow
def test_unknown_user_is_refused_quickly() -> None:
    async def scenario() -> IpmiError:
        async with serving(StandInMachine()) as bmc:
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, bmc.port, "nobody", PASSWORD, timeout=SHORT)
            return info.value

    error = run(scenario())
    assert "no valid IPMI answer" not in str(error) and SAFETY_NET not in str(error)  # refused, not timed out
    assert "unauthorized name" in str(error).lower()


@pytest.mark.slow
def test_silent_port_times_out_cleanly() -> None:
    port = free_udp_port()  # nothing listens: datagrams vanish or bounce as ICMP

    async def scenario() -> IpmiError:
        with pytest.raises(IpmiError) as info:
            await client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=SHORT)
        return info.value

    error = run(scenario())
    assert error.url == f"ipmi://127.0.0.1:{port}"
    assert DEADLINE in str(error) and SAFETY_NET not in str(error)  # the driver's deadline ended it


@pytest.mark.slow
@pytest.mark.parametrize("shaped", [False, True], ids=["random-bytes", "rmcp-shaped"])
def test_garbage_answers_become_an_ipmi_error(shaped: bool) -> None:
    async def scenario() -> tuple[IpmiError, int]:
        async with garbage_bmc(shaped=shaped, seed=7) as (port, peer):
            with pytest.raises(IpmiError) as info:
                await client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=SHORT)
            return info.value, peer.received

    error, received = run(scenario())
    assert received >= 1
    assert isinstance(error, IpmiError) and SAFETY_NET not in str(error)  # never stuck in pyghmi


@pytest.mark.slow
def test_failures_do_not_pile_up_threads_and_do_not_block_healthy_bmcs() -> None:
    silent_ports = [free_udp_port() for _ in range(6)]

    async def scenario() -> tuple[list[BaseException | client.IpmiFacts], client.IpmiFacts, list[bool]]:
        async with serving(StandInMachine()) as bmc, garbage_bmc(shaped=True, seed=3) as (garbage_port, _):
            failing = [client.read_facts(LOOPBACK, p, USER, PASSWORD, timeout=0.5) for p in silent_ports]
            failing += [client.power(LOOPBACK, garbage_port, USER, PASSWORD, "on", timeout=0.5)]
            results = await asyncio.gather(*failing, return_exceptions=True)
            # While conversations with dead BMCs wait for their (long) deadlines, a healthy
            # BMC is answered: it never waits behind them.
            stuck = [asyncio.ensure_future(client.read_facts(LOOPBACK, p, USER, PASSWORD, timeout=60))
                     for p in silent_ports]
            try:
                healthy = await client.read_facts(LOOPBACK, bmc.port, USER, PASSWORD, timeout=60)
                still_waiting = [not f.done() for f in stuck]
            finally:
                for f in stuck:
                    f.cancel()
                await asyncio.gather(*stuck, return_exceptions=True)
            return results, healthy, still_waiting

    results, healthy, still_waiting = run(scenario())
    assert all(isinstance(r, IpmiError) for r in results), results
    assert healthy.power_state == "On"
    assert all(still_waiting)
    assert len(ipmi_threads()) == 1  # one pyghmi driver thread, however many BMCs fail


def test_invalid_arguments_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="unknown power action"):
        run(client.power(LOOPBACK, 623, USER, PASSWORD, "hibernate", timeout=1))
    with pytest.raises(ValueError, match="timeout"):
        run(client.read_facts(LOOPBACK, 623, USER, PASSWORD, timeout=0))
