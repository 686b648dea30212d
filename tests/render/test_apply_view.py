"""The live apply view for people: a warning repeated by a busy BMC is printed once, with
its count at the end of the run; a different warning is printed as it comes."""

from __future__ import annotations

import io

from rich.console import Console

from hwfw.apply.events import ApplyEvents, RunSummary
from hwfw.clock import FakeClock
from hwfw.render.apply import ApplyLiveView


def test_repeated_warnings_are_folded_with_a_count() -> None:
    out = io.StringIO()
    view = ApplyLiveView(Console(file=out, width=200, no_color=True))
    events = ApplyEvents(view, FakeClock(), "run1")
    for _ in range(34):
        events.warning("re-attached to flash of bios: /redfish/v1/TaskService/Tasks/7", "lab-dell-01")
    events.warning("another thing", "lab-dell-02")
    events.run_finished(RunSummary(run_id="run1", hosts={}))
    lines = out.getvalue().splitlines()
    reattached = [ln for ln in lines if "re-attached" in ln]
    assert reattached == ["warning: lab-dell-01: re-attached to flash of bios: /redfish/v1/TaskService/Tasks/7",
                          "warning: lab-dell-01: re-attached to flash of bios: /redfish/v1/TaskService/Tasks/7 "
                          "(repeated 34 times)"]
    assert lines.count("warning: lab-dell-02: another thing") == 1
