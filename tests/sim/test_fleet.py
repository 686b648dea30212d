"""The fleet file: schema, derived identities, and the lab fleet others build on."""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.config.schema import validate
from hwfw.errors import ConfigError
from hwfw.sim.fleet import build_fleet, load_fleet
from hwfw.sim.images import verify_image_file
from hwfw.sim.profiles import profiles
from tests.sim.support import REPO, write_fleet

LAB = REPO / "examples" / "lab"
EXPECTED = {
    "lab-dell-01": ("dell", "PowerEdge R750", {"bmc": "6.10.30.00", "bios": "1.10.2", "nic": "22.31.6",
                                               "cpld": "1.0.6"}),
    "lab-dell-02": ("dell", "PowerEdge R750", {"bmc": "7.00.00.00", "bios": "1.12.1", "nic": "22.31.6",
                                               "cpld": "1.0.6"}),
    "lab-dell-03": ("dell", "PowerEdge R650", {"bmc": "7.10.30.00", "bios": "1.9.4", "nic": "22.41.1000",
                                               "cpld": "1.0.6"}),
    "lab-hpe-01": ("hpe", "ProLiant DL380 Gen10", {"bmc": "2.72 Sep 04 2022", "bios": "U30 v2.68 (07/14/2022)",
                                                   "cpld": "0x11"}),
    "lab-hpe-02": ("hpe", "ProLiant DL360 Gen10 Plus", {"bmc": "2.81 Mar 27 2023", "bios": "U46 v1.42 (06/20/2022)",
                                                        "cpld": "0x0C"}),
    "lab-smc-01": ("supermicro", "SYS-120U-TNR", {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02"}),
    "lab-smc-02": ("supermicro", "SYS-221H-TNR", {"bmc": "01.02.04", "bios": "2.0", "cpld": "F1.02"}),
    "lab-gen-01": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"}),
    "lab-gen-02": ("generic", "Contoso OpenServer 2", {"bmc": "2.15.0", "bios": "1.1.0"}),
}


def test_lab_fleet_matches_the_agreed_table() -> None:
    fleet = load_fleet(LAB / "fleet.yaml")
    assert list(fleet.hosts) == list(EXPECTED)
    for name, (profile, model, firmware) in EXPECTED.items():
        h = fleet.hosts[name]
        got = {kind: next(iter(inst.values())) for kind, inst in h.firmware.items()}
        assert (h.profile, h.model, got, h.power) == (profile, model, firmware, "On")
        assert h.ipmi_enabled is (profile != "hpe")
        assert not h.faults
    assert dict(fleet.hosts["lab-dell-01"].firmware["nic"]) == {"NIC.Integrated.1-1": "22.31.6"}
    assert fleet.hosts["lab-smc-01"].licenses["dcms"] is True and fleet.hosts["lab-smc-02"].licenses["dcms"] is False


def test_lab_images_are_valid_and_listed_in_sha256sums() -> None:
    import hashlib

    sums = dict(reversed(line.split("  ", 1)) for line in (LAB / "images" / "SHA256SUMS").read_text().splitlines())
    assert len(sums) == 17
    for name, digest in sums.items():
        path = LAB / "images" / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        with path.open("rb") as fh:
            header = verify_image_file(fh)
        assert header.payload_size == 65536 and header.vendor in ("dell", "hpe", "supermicro", "generic")


def test_identities_are_derived_from_seed_and_name() -> None:
    data = {"seed": 5, "hosts": {"a": {"profile": "dell", "model": "M", "firmware": {"bmc": "1"}},
                                 "b": {"profile": "hpe", "model": "M", "firmware": {"bmc": "1"}, "serial": "FIXED1"}}}
    one, two = build_fleet(data), build_fleet(data)
    assert one.hosts["a"].serial == two.hosts["a"].serial and len(one.hosts["a"].serial) == 7
    assert one.hosts["a"].uuid == two.hosts["a"].uuid != one.hosts["b"].uuid
    assert one.hosts["b"].serial == "FIXED1"
    assert one.hosts["b"].serial != build_fleet({**data, "seed": 6}).hosts["a"].serial
    assert dict(one.hosts["a"].credentials) == {"admin": "password"}


def test_schema_reports_problems_at_their_location(tmp_path: Path) -> None:
    bad = write_fleet(tmp_path, {"x": {"profile": "lenovo", "model": "M", "firmware": {"bmc": "1"}, "typo": 1}})
    with pytest.raises(ConfigError) as info:
        load_fleet(bad)
    text = str(info.value)
    assert "lenovo" in text and "typo" in text and "fleet.yaml:" in text


def test_an_unknown_profile_is_named_at_its_line_with_the_closest_profile(tmp_path: Path) -> None:
    """The schema takes any profile name; the simulator's own profiles decide (the
    simulator does not read the client's vendor registry)."""
    bad = write_fleet(tmp_path, {"x": {"profile": "generic", "model": "M", "firmware": {"bmc": "1"}},
                                 "y": {"profile": "hpee", "model": "M", "firmware": {"bmc": "1"}}})
    with pytest.raises(ConfigError) as info:
        load_fleet(bad)
    (problem,) = info.value.problems
    line = bad.read_text().splitlines().index("  y:") + 2
    assert (problem.location.line if problem.location else None) == line
    assert problem.message == "hosts.y.profile: unknown simulator profile 'hpee'"
    assert problem.expected == "did you mean 'hpe'? one of: " + ", ".join(sorted(profiles()))


def test_schema_accepts_faults_timings_and_options() -> None:
    data = {"seed": 1, "defaults": {"speed": 200, "latency": {"fixed": "50ms", "jitter": "10ms"},
                                    "faults": {"error_rate": 0.1}, "timings": {"post": "3m"}},
            "hosts": {"x": {"profile": "generic", "model": "M", "firmware": {"bmc": "1", "nic": {"NIC.1": "2"}},
                            "faults": {"down_mode": "html", "bmc_down_extra": "forever",
                                       "task_exception": {"at_percent": 30}},
                            "options": {"task_monitor": "bmcweb", "etag_policy": "strong-only"},
                            "ipmi": {"enabled": True, "port": 6230}}}}
    assert validate("fleet", data, None) == []
    assert validate("fleet", {"hosts": {"x": {"profile": "generic", "model": "M", "firmware": {}}}}, None)
