"""How many BMCs are read at once, and with how many requests each."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hwfw.inventory.sizing import PER_HOST_BYTES, TLS_WIDE_HOSTS, size_concurrency, size_for_this_process
from hwfw.redfish.transport import FileLimit

LIMIT = FileLimit(soft=20_000, original=1_024, hard=20_000)
GIB = 1 << 30


def size(hosts: int, **kw):  # type: ignore[no-untyped-def]
    args = {"requests_per_bmc": 4, "cap": None, "tls": False, "files_per_connection": 1, "files": LIMIT,
            "open_now": 50, "memory": 8 * GIB, **kw}
    return size_concurrency(hosts, **args)


def test_the_whole_fleet_at_once_when_files_and_memory_allow() -> None:
    s = size(1_000)
    assert (s.in_flight, s.per_bmc, s.waves, s.bound) == (1_000, 4, 1, "fleet")
    assert "every host at once" in s.describe() and "20,000 (raised from 1,024)" in s.describe()


def test_fewer_requests_per_bmc_before_waves() -> None:
    s = size(6_000)  # 24,000 connections do not fit, 12,000 do
    assert (s.in_flight, s.per_bmc, s.waves) == (6_000, 2, 1)
    s = size(10_000)
    assert (s.in_flight, s.per_bmc, s.waves) == (10_000, 1, 1)
    s = size(10_000, files_per_connection=2)  # the embedded simulator holds the other end
    assert s.per_bmc == 1 and s.waves == 2 and s.bound == "open files" and "2 waves" in s.describe()


def test_large_tls_fleets_get_two_connections_per_bmc() -> None:
    assert size(1_000, tls=True).per_bmc == 2  # each further connection is a handshake of client CPU
    assert size(TLS_WIDE_HOSTS, tls=True).per_bmc == 4
    assert size(1_000, tls=True, requests_per_bmc=1).per_bmc == 1


def test_memory_and_the_setting_bound_hosts_in_flight() -> None:
    s = size(1_000, memory=100 * PER_HOST_BYTES[True], tls=True)
    assert (s.in_flight, s.bound, s.waves, s.per_bmc) == (100, "memory", 10, 4)
    s = size(1_000, cap=250)
    assert (s.in_flight, s.bound, s.waves, s.per_bmc) == (250, "setting", 4, 4)
    assert size(1_000, memory=None).in_flight == 1_000


@given(st.integers(0, 50_000), st.integers(1, 8), st.integers(100, 200_000), st.sampled_from([1, 2]),
       st.one_of(st.none(), st.integers(1, 10_000)))
def test_the_sizing_never_exceeds_what_it_was_given(hosts: int, per_bmc: int, soft: int, files: int,
                                                    cap: int | None) -> None:
    s = size(hosts, requests_per_bmc=per_bmc, files=FileLimit(soft, soft, soft), files_per_connection=files,
             cap=cap)
    assert 1 <= s.per_bmc <= per_bmc and s.in_flight >= 1
    assert s.in_flight <= max(1, hosts) and (cap is None or s.in_flight <= cap)
    assert s.in_flight * s.per_bmc * files <= max(s.files_free, files)
    assert s.waves * s.in_flight >= hosts


def test_this_process_limit_is_raised_and_reported() -> None:
    s = size_for_this_process(10, requests_per_bmc=4)
    assert s.files.soft >= s.files.original and s.in_flight == 10
