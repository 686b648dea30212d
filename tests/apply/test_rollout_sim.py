"""Acceptance (issue 5, point 5) on the real simulator: rollout rules hold, read from the
simulated hardware's own power log (reset, POST and image events), not from hwfw's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hwfw.apply.events import HOST_CONVERGED, HOST_DEFERRED
from tests.apply.test_executor_faults import apply, lab_with, statuses

pytestmark = pytest.mark.slow

DISRUPTIVE = {"host-reboot", "ac-cycle", "power-off"}


def events(result: Any) -> list[dict[str, Any]]:
    return sorted(result.extra["sim"], key=lambda e: e["seq"])


def max_hosts_down(evts: list[dict[str, Any]]) -> int:
    """Hosts whose server is down at once: from a disruptive reset until its POST ends."""
    down: set[str] = set()
    peak = 0
    for e in evts:
        if e["type"] == "reset" and e.get("kind") in DISRUPTIVE:
            down.add(e["bmc"])
        elif e["type"] == "post-finished":
            down.discard(e["bmc"])
        peak = max(peak, len(down))
    return peak


def first_seq(evts: list[dict[str, Any]], bmc: str, kind: str) -> int | None:
    return next((e["seq"] for e in evts if e["bmc"] == bmc and e["type"] == kind), None)


def test_max_unavailable_and_canary_hold_on_the_simulators_power_log(tmp_path: Path, monkeypatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch)
    result = apply(ws, max_unavailable="2", canary=1, parallelism=9)
    assert set(statuses(result).values()) == {HOST_CONVERGED}
    evts = events(result)
    assert max_hosts_down(evts) <= 2
    # More than one host was down at some point, so the limit was exercised, not idle.
    assert max_hosts_down(evts) == 2
    # The canary (the first host in plan order) finished, verified, before any other
    # host received an image.
    canary = "lab-dell-01"
    canary_done = max(e["seq"] for e in evts if e["bmc"] == canary)
    others = [first_seq(evts, h, "image-received") for h in {e["bmc"] for e in evts} - {canary}]
    assert all(s is None or s > canary_done for s in others), (canary_done, others)


def test_window_never_starts_work_that_would_overrun(tmp_path: Path, monkeypatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch)
    # The plan estimates lab-dell-02 1,410 s, lab-dell-03 and lab-hpe-02 1,740 s, every
    # other host with work longer. A window just short of 1,740 s defers those whatever
    # the timing, and leaves lab-dell-02 the widest margin (325 s of the simulator's time,
    # 1.6 real s at its speed) for the run's own reads before the host's turn comes.
    window = 1735
    result = apply(ws, window=window, parallelism=9)
    outcome = statuses(result)
    started = {h for h, s in outcome.items() if s == HOST_CONVERGED}
    deferred = {h for h, s in outcome.items() if s == HOST_DEFERRED}
    assert started and deferred
    plan = result.plan
    for host in deferred:
        assert plan.host(host).estimate_seconds > window
        assert first_seq(events(result), host, "image-received") is None
    for host in started:
        assert plan.host(host).estimate_seconds <= window
