"""Alert rules (run events -> alerts), the fleet watch (reports -> alerts), URL secrets."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hwfw.config.secrets import literal_secret_in_url
from hwfw.notify import AlertRules, FleetWatch


def ev(type_: str, **fields: Any) -> dict[str, Any]:
    return {"format_version": 1, "type": type_, "time": "2026-01-01T00:00:00Z", "run_id": "r1", **fields}


def test_a_failed_step_becomes_one_host_failed_alert_with_step_versions_and_message_id() -> None:
    rules = AlertRules()
    step = {"id": "h1/flash/bmc", "kind": "flash", "component": "bmc", "from": "2.14.0", "to": "2.15.0"}
    assert rules.feed(ev("step-started", host="h1", step_id=step["id"], step=step)) == []
    alerts = rules.feed(ev("step-finished", host="h1", step_id=step["id"], kind="flash",
                           outcome={"status": "failed", "message": "flashing failed. [Update.1.3.ApplyFailed]"}))
    assert [a.kind for a in alerts] == ["host-failed"]
    doc = alerts[0].to_json()
    assert doc["host"] == "h1" and doc["step"] == "h1/flash/bmc" and doc["message_id"] == "Update.1.3.ApplyFailed"
    assert doc["from_version"] == "2.14.0" and doc["to_version"] == "2.15.0" and alerts[0].severity == "error"
    ok = rules.feed(ev("step-finished", host="h1", step_id="h1/verify/bios", kind="verify",
                       outcome={"status": "ok"}))
    assert ok == []


def test_rollout_halted_is_raised_once_per_run_and_deferred_hosts_at_its_end() -> None:
    rules = AlertRules()
    halted = {"status": "not-started", "message": "failure budget exceeded (1 failed, budget 0)"}
    first = rules.feed(ev("host-finished", host="h2", outcome=halted))
    second = rules.feed(ev("host-finished", host="h3", outcome=halted))
    assert [a.kind for a in first] == ["rollout-halted"] and second == []
    assert first[0].severity == "critical"
    summary = {"counts": {"converged": 1, "deferred": 2}, "exit_code": 2,
               "hosts": {"a": {"status": "converged"}, "b": {"status": "deferred"}, "c": {"status": "deferred"}}}
    end = rules.feed(ev("run-finished", summary=summary))
    assert [a.kind for a in end] == ["run-finished", "hosts-deferred"]
    assert end[1].fields["deferred"] == ["b", "c"] and end[0].severity == "warning"


def test_rollback_done_and_failed_are_told_apart() -> None:
    rules = AlertRules()
    done = rules.feed(ev("host-finished", host="h", outcome={"status": "rolled-back", "message": "x"}))
    failed = rules.feed(ev("host-finished", host="g", outcome={"status": "failed",
                                                               "message": "boom; rollback of bios failed: y"}))
    assert [a.kind for a in done + failed] == ["rollback-done", "rollback-failed"]


def _report(behind: dict[str, list[tuple[str, bool]]], unreachable: tuple[str, ...] = ()) -> dict[str, Any]:
    hosts = [{"name": n, "baseline": "b", "status": "behind" if comps else "compliant",
              "critical_behind": any(c for _, c in comps),
              "components": [{"key": k, "component": k, "current": "1", "target": "2", "status": "behind",
                              "critical": c} for k, c in comps]} for n, comps in behind.items()]
    hosts += [{"name": n, "baseline": "b", "status": "unreachable", "components": []} for n in unreachable]
    return {"hosts": hosts}


def test_fleet_watch_alerts_once_per_host_that_falls_behind_not_once_per_scan() -> None:
    watch = FleetWatch()
    first = watch.feed(_report({"a": [("bios", False)], "c": [("bmc", True)], "d": []}), "t1")
    assert [(x.kind, x.host, x.severity) for x in first] == [("host-behind", "c", "critical")]
    assert watch.feed(_report({"a": [("bios", False)], "c": [("bmc", True)], "d": []}), "t2") == []
    drifted = watch.feed(_report({"a": [("bios", False)], "c": [("bmc", True)], "d": [("bios", False)]}), "t3")
    assert [(x.kind, x.host) for x in drifted] == [("host-behind", "d")]
    assert watch.feed(_report({"a": [("bios", False)], "c": [("bmc", True)], "d": [("bios", False)]}), "t4") == []
    gone = watch.feed(_report({"a": [("bios", False)], "c": [("bmc", True)]}, unreachable=("d",)), "t5")
    assert [(x.kind, x.host) for x in gone] == [("host-unreachable", "d")]


_words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=12)


@given(user=_words, password=_words)
def test_a_written_out_password_in_a_url_is_refused_and_a_reference_accepted(user: str, password: str) -> None:
    assert literal_secret_in_url(f"json://{user}:{password}@hooks.example/x") is not None
    assert literal_secret_in_url(f"mailto://smtp.example?from=a@b.example&pass={password}") is not None
    assert literal_secret_in_url(f"json://{user}:${{HOOK_PASSWORD}}@hooks.example/x") is None
    assert literal_secret_in_url(f"ntfy://ntfy.example/{user}?token=${{NTFY_TOKEN}}") is None


def test_a_host_skipped_as_unreachable_is_alerted() -> None:
    alerts = AlertRules().feed(ev("host-finished", host="h", outcome={
        "status": "skipped", "message": "skipped (--allow-unreachable): the BMC did not answer"}))
    assert [(a.kind, a.host, a.severity) for a in alerts] == [("host-unreachable", "h", "warning")]
    assert AlertRules().feed(ev("host-finished", host="h", outcome={"status": "skipped",
                                                                    "message": "pre-host hook failed"})) == []


@given(interval=st.floats(0, 1e6), jitter=st.floats(-10, 1e5), seed=st.integers(0, 2**32))
def test_scheduled_scans_start_within_their_jitter(interval: float, jitter: float, seed: int) -> None:
    import random

    from hwfw.api.service.observe import scan_delay

    delays = {scan_delay(interval, jitter, random.Random(seed + i)) for i in range(5)}
    assert all(interval <= d <= interval + max(0.0, jitter) for d in delays)
    if jitter > 1:
        assert len(delays) > 1      # spread, not in step
