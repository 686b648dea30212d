"""hwfw's IPMI client against a third-party BMC: OpenIPMI's `ipmi_sim` (Debian package `openipmi`)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from hwfw.errors import IpmiError
from hwfw.ipmi import client
from tests.ipmi.ipmi_testkit import LOOPBACK, free_udp_port, run

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ipmi_sim"
SIM_USER = "hwfw"
SIM_PASSWORD = "hwfw-sim-pass"
TIMEOUT = 5.0


@dataclass(frozen=True)
class ConfiguredMc:
    """What the emulator command file's `mc_add` line configures (all values hex)."""

    major: int
    minor: int
    manufacturer_id: int
    product_id: int

    @property
    def bmc_version(self) -> str:
        return f"{self.major}.{self.minor:02X}"


def configured_mc() -> ConfiguredMc:
    text = (FIXTURES / "hwfwsim.emu").read_text()
    match = re.search(r"^mc_add\s+0x20\s+(\S+\s+){2}\S+\s+(\S+)\s+(\S+)\s+\S+\s+(\S+)\s+(\S+)\s*$", text, re.M)
    assert match, "mc_add line not found in hwfwsim.emu"
    major, minor, mfg, prod = (int(v, 16) for v in match.group(2, 3, 4, 5))
    return ConfiguredMc(major, minor, mfg, prod)


def udp_port_bound(port: int) -> bool:
    needle = f":{port:04X} "
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            if needle in Path(table).read_text():
                return True
        except OSError:
            continue
    return False


@dataclass(frozen=True)
class RunningSim:
    port: int
    process: subprocess.Popen[bytes]


@contextmanager
def launched_ipmi_sim(tmp_path: Path) -> Iterator[RunningSim]:
    """Start ipmi_sim on a free loopback UDP port (called in the test body, so a missing
    binary is reported as a test failure, not a setup error)."""
    binary = shutil.which("ipmi_sim")
    if binary is None:
        pytest.fail(
            "OpenIPMI's BMC simulator `ipmi_sim` is not installed; these tests need it. "
            "On Debian/Ubuntu: `apt-get install -y openipmi`."
        )
    port = free_udp_port()
    template = (FIXTURES / "lan.conf.in").read_text()
    lan_conf = tmp_path / "lan.conf"
    lan_conf.write_text(
        template.replace("@ADDRESS@", LOOPBACK)
        .replace("@PORT@", str(port))
        .replace("@USER@", SIM_USER)
        .replace("@PASSWORD@", SIM_PASSWORD)
    )
    state = tmp_path / "state"
    state.mkdir()
    stderr_path = tmp_path / "ipmi_sim.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            # -c config, -f emulator commands, -s state dir, -n no console on stdio, -p no persistence
            [binary, "-c", str(lan_conf), "-f", str(FIXTURES / "hwfwsim.emu"), "-s", str(state), "-n", "-p"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: the power "startcmd" child dies with it
        )
    try:
        deadline = time.monotonic() + 10
        while not udp_port_bound(port):
            if process.poll() is not None:
                pytest.fail(f"ipmi_sim exited with {process.returncode}: {stderr_path.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"ipmi_sim did not bind UDP {LOOPBACK}:{port} within 10 s")
            time.sleep(0.01)  # bounded polling for the socket to appear
        yield RunningSim(port, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def test_read_facts_from_ipmi_sim(tmp_path: Path) -> None:
    expected = configured_mc()
    assert expected.bmc_version == "6.10"
    with launched_ipmi_sim(tmp_path) as sim:
        deadline = time.monotonic() + 5  # power follows the startcmd child, started with the sim
        while True:
            facts = run(client.read_facts(LOOPBACK, sim.port, SIM_USER, SIM_PASSWORD, timeout=TIMEOUT))
            if facts.power_state == "On" or time.monotonic() > deadline:
                break
    assert facts.power_state == "On"
    assert facts.bmc_version == expected.bmc_version
    assert facts.manufacturer_id == expected.manufacturer_id == 674
    assert facts.product_id == expected.product_id
    assert facts.ipmi_version == "2.0"


def test_device_id_raw_bytes_from_ipmi_sim(tmp_path: Path) -> None:
    expected = configured_mc()
    with launched_ipmi_sim(tmp_path) as sim:
        (reply,) = run(client.raw_commands(LOOPBACK, sim.port, SIM_USER, SIM_PASSWORD, [(6, 1, b"")], timeout=TIMEOUT))
    assert reply.code == 0
    assert reply.data[2] & 0x7F == expected.major and reply.data[3] == expected.minor


def test_wrong_password_against_ipmi_sim(tmp_path: Path) -> None:
    with launched_ipmi_sim(tmp_path) as sim:
        with pytest.raises(IpmiError) as info:
            run(client.read_facts(LOOPBACK, sim.port, SIM_USER, "wrong-password", timeout=2.0))
    assert "no valid IPMI answer" not in str(info.value)  # refused by ipmi_sim, not timed out
    assert info.value.url == f"ipmi://127.0.0.1:{sim.port}"
