"""`hwfw -vv inventory` says, member by member, why each became the component it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_hwfw

pytestmark = pytest.mark.slow

INV = "/redfish/v1/UpdateService/FirmwareInventory"


def test_every_member_is_explained(lab_copy: Path) -> None:
    result = run_hwfw("-vv", "inventory", str(lab_copy), "--target", "lab-hpe-02")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "lab-hpe-02 (hpe adapter): " in line]
    said = {line.split("(hpe adapter): ", 1)[1] for line in lines}
    # the evidence, not the position, decided each kind
    assert any(s.startswith(f"{INV}/1 'iLO 5': bmc '2.81 Mar 27 2023' (Oem.Hpe.DeviceClass") for s in said)
    assert any("'Server Platform Services (SPS) Firmware': me '4.4.4.53'" in s for s in said)
    assert any("'Server Platform Services (SPS) Descriptor': other:System Board/" in s
               and "is Server Platform Services descriptor)" in s for s in said)
    assert any("'Redundant System ROM': skipped (the redundant (backup) System ROM" in s for s in said)
    # platform firmware hwfw does not manage is `other`, with the evidence that says so
    assert any("'Power Management Controller FW Bootloader': other:" in s
               and "Description 'PowerManagementControllerBootloader' is iLO's key for it" in s for s in said)
    assert any("'Embedded Video Controller': other:" in s and "PCI vendor 102b" in s for s in said)
    # one line per member the BMC listed
    members = {s.split(" ", 1)[0] for s in said if s.startswith(INV)}
    assert len(members) == len(lines) and len(members) >= 12
