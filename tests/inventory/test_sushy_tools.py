"""collect() against OpenStack sushy-tools, a Redfish emulator hwfw did not write.

The test starts `sushy-emulator` with libvirt's built-in `test:///default` hypervisor
(no daemon needed). That emulator has no SessionService (HTTP Basic), no
FirmwareInventory (404) and reports `BiosVersion` on the ComputerSystem, so the BIOS
version must come from the fallback. Needs the PyPI packages `sushy-tools` and
`libvirt-python` (which builds against Debian's `libvirt-dev` with `pkg-config`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hwfw.clock import SystemClock
from hwfw.config.model import Host, Settings, Timing
from hwfw.inventory.collect import ResolvedHost, collect

pytestmark = pytest.mark.slow

try:
    import libvirt  # type: ignore[import-untyped]  # noqa: F401
    import sushy_tools  # type: ignore[import-untyped]  # noqa: F401
    HAVE_SUSHY = True
except ImportError:
    HAVE_SUSHY = False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sushy(tmp_path: Path) -> Iterator[str]:
    """sushy-emulator with the libvirt driver (`test:///default`): BiosVersion on the
    System, SimpleUpdate bumping it, no FirmwareInventory, no Manager.Reset."""
    yield from _sushy_emulator(tmp_path / "sushy-libvirt", ["--libvirt-uri", "test:///default"])


@pytest.fixture
def sushy_fake(tmp_path: Path) -> Iterator[str]:
    """sushy-emulator with its fake driver: no BIOS version at all, host powered off."""
    yield from _sushy_emulator(tmp_path / "sushy-fake", ["--fake"])


def _sushy_emulator(state_dir: Path, driver_args: list[str]) -> Iterator[str]:
    assert HAVE_SUSHY, ("sushy-tools and libvirt-python are not installed: apt-get install libvirt-dev "
                        "pkg-config, then pip install -e '.[test]' (.ci/run does both)")
    exe = shutil.which("sushy-emulator", path=str(Path(sys.executable).parent)) or shutil.which("sushy-emulator")
    assert exe is not None, "sushy-emulator is not on PATH (pip install -e '.[test]')"
    state_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = subprocess.Popen([exe, *driver_args, "-i", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "SUSHY_EMULATOR_STATE_DIR": str(state_dir)})
    ready = threading.Event()
    log: list[str] = []

    def drain() -> None:  # Werkzeug logs to stderr: keep reading so the pipe never fills
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            log.append(line)
            if "Running on" in line:
                ready.set()
        ready.set()  # EOF: the process died

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not ready.wait(30) or proc.poll() is not None:
            pytest.fail("sushy-emulator did not start: " + "".join(log)[-2000:])
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_collect_reads_sushy_tools_unmodified(sushy: str, tmp_path: Path) -> None:
    settings = Settings(state_path=tmp_path / "s.json", runtime_dir=tmp_path, timing=Timing(request_timeout=10.0))
    rh = ResolvedHost(Host(name="sushy", bmc=sushy), sushy, "admin", "password")
    inv = asyncio.run(collect([rh], settings=settings, clock=SystemClock(), concurrency=1))
    h = inv.hosts["sushy"]
    assert h.reachable, h.error
    assert h.vendor == "generic" and h.manufacturer == "Sushy Emulator"
    comps = {c.key: c for c in h.components}
    assert comps["bios"].version == "1.0.0"  # ComputerSystem.BiosVersion fallback
    assert comps["bmc"].version == "1.00"  # Manager.FirmwareVersion fallback
    bios, bmc = comps["bios"].source, comps["bmc"].source
    assert bios is not None and (bios.resource, bios.property, bios.fallback) == ("ComputerSystem", "BiosVersion", True)
    assert bios.uri is not None and bios.uri.startswith("/redfish/v1/Systems/") and not bios.uri.endswith("/BIOS")
    assert bmc is not None and (bmc.resource, bmc.property, bmc.fallback) == ("Manager", "FirmwareVersion", True)
    assert h.capabilities is not None and h.capabilities.session_service is False
    assert "simple-update" in h.capabilities.update_methods
    # sushy-tools' Manager has no Reset action: hwfw can reboot the host, not reset the BMC.
    assert h.capabilities.activations == ("host-reboot", "ac-cycle")
    assert h.preflight is not None and h.preflight.power_state == "On"
