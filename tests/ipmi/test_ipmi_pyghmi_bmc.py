"""hwfw's IPMI client against a BMC built on pyghmi's own IPMI server (the base of virtual
BMCs such as virtualbmc), started by the test in its own process
(tests/fixtures/pyghmi_bmc/serve.py).

That server answers a proposal of cipher suite 17 with the algorithms of suite 3 and
then speaks SHA-1. The client must notice, log in again with suite 3, and never blame
the network after waiting for its whole timeout; a handshake that no suite can complete
must fail at once and name the cause.
"""

from __future__ import annotations

import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hwfw.errors import IpmiError
from hwfw.ipmi import client
from tests.ipmi.ipmi_testkit import LOOPBACK, PASSWORD, USER, free_udp_port, run

pytestmark = pytest.mark.slow

SERVE = Path(__file__).resolve().parents[1] / "fixtures" / "pyghmi_bmc" / "serve.py"
# Long enough that a client waiting for it (the old behaviour) could not pass unnoticed.
TIMEOUT = 20.0
DEADLINE_TEXT = "no valid IPMI answer"


@contextmanager
def pyghmi_bmc(mode: str) -> Iterator[int]:
    port = free_udp_port()
    proc = subprocess.Popen([sys.executable, str(SERVE), str(port), USER, PASSWORD, mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"ready":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"pyghmi BMC did not start: {err.decode(errors='replace')[-2000:]}")
        yield port
    finally:
        proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.parametrize("mode", ["stock", "echo"])
def test_logs_in_with_the_cipher_suite_the_bmc_speaks(mode: str) -> None:
    """stock: the BMC names suite 3 in its Open Session Response; echo: it claims suite
    17 but sends a SHA-1 (20-byte) RAKP 2 code. Either way the client logs in with 3."""
    with pyghmi_bmc(mode) as port:
        facts = run(client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=TIMEOUT))
    assert facts.power_state == "On" and facts.ipmi_version == "2.0"


def test_a_wrong_password_after_the_suite_switch_blames_the_password() -> None:
    with pyghmi_bmc("stock") as port:
        with pytest.raises(IpmiError) as caught:
            run(client.read_facts(LOOPBACK, port, USER, "not-the-" + PASSWORD, timeout=TIMEOUT))
    error = caught.value
    assert DEADLINE_TEXT not in error.message
    assert "cipher suite 17" in error.message and "algorithms of cipher suite 3" in error.message
    assert error.hint is not None and "password" in error.hint


def test_a_handshake_no_suite_completes_fails_at_once_and_names_the_cause() -> None:
    with pyghmi_bmc("short") as port:
        with pytest.raises(IpmiError) as caught:
            run(client.read_facts(LOOPBACK, port, USER, PASSWORD, timeout=TIMEOUT))
    error = caught.value
    assert DEADLINE_TEXT not in error.message
    assert "RAKP 2 carries a 10-byte key exchange code where cipher suite 3 has 20 bytes" in error.message
    assert error.hint is not None and "cipher suites" in error.hint and "IPMI over LAN is enabled" not in error.hint
