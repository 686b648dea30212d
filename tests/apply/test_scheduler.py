"""Rollout rules as pure decisions (FakeClock), and the host shapes they are built on."""

from __future__ import annotations

import pytest

from hwfw.apply.events import HOST_CONVERGED, HOST_DEFERRED, HOST_FAILED, HOST_NOT_STARTED
from hwfw.apply.scheduler import (
    Rollout,
    Scheduler,
    host_shape,
    is_disruptive,
    makespan_lower_bound,
    parse_count,
    shapes_of,
)
from hwfw.clock import FakeClock
from hwfw.errors import HwfwError


def test_counts_and_percentages() -> None:
    assert parse_count("3", 50, option="--max-unavailable") == 3
    assert parse_count("10%", 55, option="--max-unavailable") == 5
    assert parse_count("1%", 50, option="--max-unavailable", minimum=1) == 1
    assert parse_count("0%", 50, option="--failure-budget") == 0
    assert parse_count(None, 50, option="--failure-budget") is None
    with pytest.raises(HwfwError, match=r"--canary 'x' is not a count or a percentage"):
        parse_count("x", 5, option="--canary")
    with pytest.raises(HwfwError):
        parse_count("120%", 5, option="--max-unavailable")


def test_the_out_of_service_window_spans_first_to_last_disruptive_step(make_rig) -> None:
    plan = make_rig().plan()
    shapes = shapes_of(plan.steps)
    hpe = shapes["lab-hpe-01"]
    # bmc flash + its BMC reset + bmc verify are staging; the Immediate BIOS flash (the BMC
    # reboots the host when it ends), the host reboot, the CPLD flash between the reboots
    # and the AC cycle keep the host out of service.
    assert hpe.first_disruptive == "lab-hpe-01/flash/bios"
    assert hpe.last_disruptive == "lab-hpe-01/activate/ac-cycle#1"
    assert "lab-hpe-01/flash/cpld" in hpe.window and "lab-hpe-01/flash/bmc" not in hpe.window
    assert not any(is_disruptive(s) for s in plan.steps if s.activation == "bmc-reset")
    dell = shapes["lab-dell-02"]
    assert dell.window == frozenset({"lab-dell-02/activate/host-reboot#1"})
    assert dell.downtime_seconds == 300.0
    assert hpe.path_seconds == pytest.approx(max(h.estimate_seconds for h in plan.hosts) - 30)


def test_lower_bound_is_the_longest_path_or_total_downtime_per_slot(make_rig) -> None:
    shapes = list(shapes_of(make_rig().plan().steps).values())
    total_down = sum(s.downtime_seconds for s in shapes)
    longest = max(s.path_seconds for s in shapes)
    assert makespan_lower_bound(shapes, None) == longest
    assert makespan_lower_bound(shapes, 1) == max(longest, total_down)


def test_parallelism_and_failure_budget_gate_new_hosts() -> None:
    s = Scheduler(Rollout(parallelism=2, failure_budget=0), ["a", "b", "c", "d"], FakeClock())
    assert s.admit("a", 10).go and (s.host_started("a") or True)
    assert s.admit("b", 10).go and (s.host_started("b") or True)
    assert s.admit("c", 10).verdict == "wait"
    s.host_finished("a", HOST_CONVERGED)
    assert s.admit("c", 10).go
    s.host_started("c")
    s.host_finished("b", HOST_FAILED)
    d = s.admit("d", 10)
    assert (d.verdict, d.outcome) == ("no", HOST_NOT_STARTED)
    assert d.reason == "failure budget exceeded (1 failed, budget 0)"


def test_canaries_must_converge_before_anyone_else_starts() -> None:
    s = Scheduler(Rollout(parallelism=10, canary=2), ["c1", "c2", "x"], FakeClock())
    for h in ("c1", "c2"):
        assert s.admit(h, 1).go
        s.host_started(h)
    assert s.admit("x", 1).verdict == "wait"
    s.host_finished("c1", HOST_CONVERGED)
    assert s.admit("x", 1).verdict == "wait"
    s.host_finished("c2", HOST_CONVERGED)
    assert s.admit("x", 1).go
    bad = Scheduler(Rollout(parallelism=10, canary=1), ["c1", "x"], FakeClock())
    bad.host_started("c1")
    bad.host_finished("c1", HOST_FAILED)
    d = bad.admit("x", 1)
    assert (d.outcome, d.reason) == (HOST_NOT_STARTED, "canary c1 did not converge (failed)")


def test_window_defers_hosts_and_steps_that_would_overrun() -> None:
    clock = FakeClock()
    s = Scheduler(Rollout(parallelism=10, deadline=100.0, time_scale=10.0), ["a", "b"], clock)
    assert s.admit("a", 1000).go          # 1000 plan-seconds = 100 clock seconds: fits exactly
    clock.advance(1)
    d = s.admit("b", 1000)
    assert (d.verdict, d.outcome) == ("no", HOST_DEFERRED)
    assert s.fits(990) and not s.fits(991)


def test_slots_are_first_come_first_served_and_failed_holders_keep_theirs() -> None:
    s = Scheduler(Rollout(parallelism=10, max_unavailable=2), ["a", "b", "c", "d"], FakeClock())
    assert s.request_slot("a").go and s.request_slot("b").go
    assert s.request_slot("c").verdict == "wait"
    assert s.request_slot("d").verdict == "wait"
    s.release_slot("a")
    assert s.request_slot("d").verdict == "wait"   # c asked first
    assert s.request_slot("c").go
    s.host_finished("b", HOST_FAILED, keep_slot=True)
    s.host_finished("c", HOST_FAILED, keep_slot=True)
    d = s.request_slot("d")
    assert (d.verdict, d.outcome) == ("no", HOST_DEFERRED)
    assert "held by failed hosts: b, c" in d.reason
    assert s.peak_unavailable == 2


def test_a_stopped_run_starts_nothing() -> None:
    s = Scheduler(Rollout(parallelism=10, max_unavailable=5), ["a", "b"], FakeClock())
    s.stop(HOST_NOT_STARTED, "run aborted: a/flash/bmc failed")
    assert s.admit("b", 1).reason == "run aborted: a/flash/bmc failed"
    assert s.request_slot("a").verdict == "no"


def test_host_without_disruptive_steps_has_no_window(make_rig) -> None:
    plan = make_rig().plan()
    steps = [s for s in plan.steps if s.host == "lab-hpe-01"][:3]  # bmc flash, BMC reset, verify
    shape = host_shape("lab-hpe-01", steps)
    assert shape.window == frozenset() and shape.downtime_seconds == 0.0
