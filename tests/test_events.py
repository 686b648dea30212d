"""hwfw/events.py: the one event value, its JSON, and the sinks every run emits through."""

from __future__ import annotations

import io
import json
import logging

import jsonschema
import pytest

from hwfw.apply.events import ApplyEvents, HostOutcome, RunInfo, RunSummary, StepOutcome
from hwfw.clock import FakeClock
from hwfw.events import NULL_SINK, CallbackSink, Event, FanOutSink, JsonLinesSink, NullSink, guarded
from hwfw.logs import redactor
from hwfw.plan.model import Step
from hwfw.repository.events import SyncEvents, kind_of
from hwfw.resources import schema_path

SCHEMA = json.loads(schema_path("events").read_text())
DIGEST = "ab" * 32


def _step(step_id: str = "h1/flash/bios") -> Step:
    return Step(id=step_id, host="h1", kind="flash", component="bios", from_version="1.0", to_version="1.1",
                image=None, apply_time="OnReset", activation="host-reboot", estimate_seconds=300.0, rollback=None)


def test_to_json_is_the_envelope_plus_the_payload_without_nones() -> None:
    e = Event("step-progress", "2026-01-01T00:00:00Z", "r1", host="h1", step_id="h1/flash/bios",
              payload={"percent": None, "message": "flashing"})
    assert e.to_json() == {"format_version": 1, "type": "step-progress", "time": "2026-01-01T00:00:00Z",
                           "run_id": "r1", "host": "h1", "step_id": "h1/flash/bios", "message": "flashing"}


def test_json_lines_are_sorted_redacted_and_flushed_per_event() -> None:
    secret = "hunter2-bmc-password"
    redactor.register(secret)
    out = io.StringIO()
    sink = JsonLinesSink(out)
    sink.emit(Event("warning", "t", "r", host="h1", payload={"message": f"login with {secret} failed"}))
    compact = io.StringIO()
    JsonLinesSink(compact, separators=(",", ":"), ensure_ascii=True).emit(Event("warning", "t", "r",
                                                                               payload={"message": "é"}))
    line = out.getvalue()
    assert line.endswith("\n") and secret not in line and "***" in line
    assert list(json.loads(line)) == sorted(json.loads(line))
    assert line.startswith('{"format_version": 1, "host": "h1", ')
    assert compact.getvalue() == '{"format_version":1,"message":"\\u00e9","run_id":"r","time":"t","type":"warning"}\n'


def test_callback_sink_filters_by_name() -> None:
    got: list[str] = []
    sink = CallbackSink(lambda e: got.append(e.name), names={"host-finished"})
    for name in ("host-started", "host-finished", "warning"):
        sink.emit(Event(name, "t"))
    assert got == ["host-finished"]


def test_a_failing_sink_is_logged_once_and_never_stops_the_others(caplog: pytest.LogCaptureFixture) -> None:
    got: list[str] = []

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    fan = FanOutSink(CallbackSink(broken), NullSink(), CallbackSink(lambda e: got.append(e.name)))
    with caplog.at_level(logging.WARNING, logger="hwfw.events"):
        for name in ("a", "b", "c"):
            fan.emit(Event(name, "t"))
    assert got == ["a", "b", "c"]
    failures = [r for r in caplog.records if "event sink" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert len(fan.sinks) == 2  # null sinks are dropped


def test_guarded_wraps_once_and_maps_none_to_the_null_sink() -> None:
    assert guarded(None) is NULL_SINK and guarded(NullSink()) is NULL_SINK
    fan = guarded(CallbackSink(lambda e: None))
    assert isinstance(fan, FanOutSink) and guarded(fan) is fan


def test_apply_events_validate_stamp_the_run_and_thin_progress() -> None:
    clock = FakeClock()
    events: list[Event] = []
    report = ApplyEvents(CallbackSink(events.append), clock, "run-7")
    step = _step()
    report.run_started(RunInfo("run-7", ("h1",), 1, 4, None, 0, None, "halt-host"))
    report.host_started("h1", 1)
    report.step_started("h1", step)
    for percent in (0.0, 0.4, 0.9, 1.0, 1.5, None, None, 50.0):
        report.step_progress("h1", step, percent, "flashing")
    clock.advance(61)
    outcome = StepOutcome("pending-activation", "staged", version="1.1", method="multipart", seconds=61.0)
    report.step_finished("h1", step, outcome)
    host = HostOutcome("converged", steps_done=1, steps_total=1, resets={"host-reboot": 1}, seconds=61.0)
    report.host_finished("h1", host)
    report.warning("something odd")
    report.run_finished(RunSummary("run-7", {"h1": host}, seconds=61.0))
    for e in events:
        jsonschema.validate(e.to_json(), SCHEMA)
    assert {e.run_id for e in events} == {"run-7"}
    assert [e.payload.get("percent") for e in events if e.name == "step-progress"] == [0.0, 1.0, None, None, 50.0]
    assert events[-1].time == "2026-01-01T00:01:01Z"
    # Subscribers read outcomes back exactly as the executor decided them.
    finished = next(e for e in events if e.name == "step-finished")
    assert StepOutcome.from_json(finished.payload["outcome"]) == outcome
    assert RunSummary.from_json(events[-1].payload["summary"]).line() == "Apply finished: 1 converged"


def test_a_quiet_run_builds_no_event() -> None:
    report = ApplyEvents(None, FakeClock(), "r")
    assert report.sink is NULL_SINK
    report.step_started("h1", _step())  # nothing to emit to: no error, nothing built


def test_sync_events_keep_the_fields_repo_sync_always_wrote() -> None:
    events: list[Event] = []
    report = SyncEvents(CallbackSink(events.append), FakeClock(), "sync-1")
    report.emit("cached", "bios", DIGEST, bytes=10, total=10, path="/c/sha256/x", elapsed=0.123456)
    e = events[0]
    assert (e.name, e.image, e.sha256, kind_of(e)) == ("image-cached", "bios", DIGEST, "cached")
    doc = e.to_json()
    jsonschema.validate(doc, SCHEMA)
    assert {"event": "cached", "id": "bios", "sha256": DIGEST, "bytes": 10, "elapsed": 0.123}.items() <= doc.items()
    assert kind_of(Event("cached", "t")) is None  # a name that is not a sync event's


def test_the_sync_summary_line_validates_too() -> None:
    jsonschema.validate({"event": "summary", "images": 1, "downloaded": 1, "already_cached": 0, "failed": 0},
                        SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"event": "summary", "images": 1}, SCHEMA)
