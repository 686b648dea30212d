"""Alerts: what is worth telling people, decided from run events and fleet scans.

`AlertRules` reads the events of runs (hwfw/events.py, as their JSON: the same for a
CLI run's sink and for the server's hub) and turns the few that matter into `Alert`s;
`FleetWatch` compares one compliance report with the previous one and raises an alert
for each host that newly fell behind (critical when a critical image is among what it
misses), for each newly unreachable host, and for a workspace lock held too long.
Pure: no I/O, no clock; time comes in with the events and reports.

Every alert has a `key`: the same key within a target's dedup window is sent once.
Run alerts carry the run id in it (each run reports its own end); fleet alerts carry
the host and what it misses, so a host that stays behind is reported once, however
many scans see it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hwfw.apply.events import halted_by

__all__ = ["ALERT_KINDS", "SEVERITIES", "Alert", "AlertRules", "FleetWatch", "severity_rank", "test_alert"]

SEVERITIES = ("info", "warning", "error", "critical")

# kind -> what it means (docs/alerts-and-metrics.md lists the same).
ALERT_KINDS: Mapping[str, str] = {
    "run-started": "an apply started",
    "run-finished": "an apply ended (its summary)",
    "host-failed": "a host's step failed (step, error, MessageId)",
    "rollback-done": "a host was rolled back to its checkpoint",
    "rollback-failed": "a host's rollback failed",
    "rollout-halted": "the failure budget is exhausted, a canary failed or the run aborted: no new host starts",
    "hosts-deferred": "the maintenance window closed with hosts deferred",
    "host-unreachable": "a host's BMC could not be reached",
    "host-behind": "a host fell behind its baseline (critical when a critical image is among it)",
    "lock-held": "the workspace lock has been held longer than settings.server.lock_alert_after",
    "test": "hwfw notify test",
}

# Redfish MessageIds look like Registry.Major.Minor.Key (Base.1.8.GeneralError,
# IDRAC.2.8.SYS011, iLO.2.14.UpdateFailed) or Registry.Key.
_MESSAGE_ID = re.compile(r"\b([A-Za-z][A-Za-z0-9]*\.\d+\.\d+\.[A-Za-z][A-Za-z0-9]*)\b")
# A host apply skipped because its BMC could not be read says so (hwfw/apply/run.py).
_UNREACHABLE = ("allow-unreachable", "unreachable", "did not answer", "cannot connect", "could not be reached",
                "not reachable")


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


@dataclass(frozen=True)
class Alert:
    """One thing to tell people. `fields` are the facts a JSON receiver gets as they
    are (host, step, versions, MessageId, counts); `title` and `body` are for people."""

    kind: str
    severity: str
    title: str
    body: str
    key: str
    time: str = ""
    run_id: str | None = None
    host: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "severity": self.severity, "title": self.title, "time": self.time}
        if self.run_id:
            out["run_id"] = self.run_id
        if self.host:
            out["host"] = self.host
        out.update({k: v for k, v in self.fields.items() if v is not None})
        return out


def message_id_in(text: str) -> str | None:
    match = _MESSAGE_ID.search(text or "")
    return match.group(1) if match else None


@dataclass
class _RunView:
    hosts: int = 0
    halted: bool = False
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)   # step id -> step (from/to)


class AlertRules:
    """Run events in, alerts out (see the module docstring). One instance follows any
    number of runs (keyed by run id); a run is forgotten when it finishes."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunView] = {}

    def feed(self, event: Mapping[str, Any]) -> list[Alert]:
        kind = event.get("type")
        run_id = str(event.get("run_id") or "")
        view = self._runs.setdefault(run_id, _RunView())
        time = str(event.get("time") or "")
        if kind == "run-started":
            run = event.get("run") or {}
            view.hosts = len(run.get("hosts") or ())
            return [Alert("run-started", "info", f"apply {run_id} started: {view.hosts} hosts, "
                          f"{run.get('steps', 0)} steps", f"on_failure {run.get('on_failure')}, parallelism "
                          f"{run.get('parallelism')}", f"run-started:{run_id}", time, run_id,
                          fields={"hosts": view.hosts, "steps": run.get("steps")})]
        if kind == "step-started":
            step = event.get("step") or {}
            view.steps[str(step.get("id"))] = step
            return []
        if kind == "step-finished":
            return self._step_finished(event, view, run_id, time)
        if kind == "host-finished":
            return self._host_finished(event, view, run_id, time)
        if kind == "run-finished":
            self._runs.pop(run_id, None)
            return _run_finished(event.get("summary") or {}, run_id, time)
        return []

    def _step_finished(self, event: Mapping[str, Any], view: _RunView, run_id: str, time: str) -> list[Alert]:
        outcome = event.get("outcome") or {}
        step_id = str(event.get("step_id") or "")
        step = view.steps.pop(step_id, {})
        if outcome.get("status") != "failed" or "/rollback/" in step_id:
            return []
        host = str(event.get("host") or "")
        error = str(outcome.get("message") or "")
        mid = message_id_in(error)
        versions = f"{step.get('from')} -> {step.get('to')}" if step.get("to") else ""
        body = f"step {step_id} failed: {error}" + (f" (MessageId {mid})" if mid else "")
        return [Alert("host-failed", "error", f"{host}: {event.get('kind') or 'step'} failed"
                      + (f" ({step.get('component')} {versions})" if versions else ""), body,
                      f"host-failed:{run_id}:{host}", time, run_id, host,
                      fields={"step": step_id, "step_kind": event.get("kind"), "component": step.get("component"),
                              "from_version": step.get("from"), "to_version": step.get("to"), "error": error,
                              "message_id": mid})]

    def _host_finished(self, event: Mapping[str, Any], view: _RunView, run_id: str, time: str) -> list[Alert]:
        outcome = event.get("outcome") or {}
        status = outcome.get("status")
        host = str(event.get("host") or "")
        message = str(outcome.get("message") or "")
        if status == "rolled-back":
            return [Alert("rollback-done", "warning", f"{host}: rolled back to its checkpoint", message,
                          f"rollback-done:{run_id}:{host}", time, run_id, host)]
        if status == "failed" and "rollback" in message:
            return [Alert("rollback-failed", "critical", f"{host}: rollback failed", message,
                          f"rollback-failed:{run_id}:{host}", time, run_id, host,
                          fields={"message_id": message_id_in(message)})]
        if not view.halted and halted_by(outcome):
            view.halted = True
            return [Alert("rollout-halted", "critical", f"apply {run_id} halted: {message}",
                          "no new host starts; hosts already running finish", f"rollout-halted:{run_id}", time,
                          run_id, fields={"reason": message})]
        if status == "skipped" and any(w in message for w in _UNREACHABLE):
            return [Alert("host-unreachable", "warning", f"{host}: BMC unreachable", message,
                          f"host-unreachable:{run_id}:{host}", time, run_id, host)]
        return []


def _run_finished(summary: Mapping[str, Any], run_id: str, time: str) -> list[Alert]:
    counts = {k: v for k, v in (summary.get("counts") or {}).items() if v}
    code = summary.get("exit_code", 0)
    severity = "info" if code == 0 else "warning" if code in (2, 130) else "error"
    line = ", ".join(f"{v} {k}" for k, v in counts.items()) or "nothing to do"
    alerts = [Alert("run-finished", severity, f"apply {run_id} finished: {line}",
                    f"exit code {code}, {summary.get('seconds', 0)} s", f"run-finished:{run_id}", time, run_id,
                    fields={"counts": counts, "exit_code": code})]
    deferred = sorted(h for h, o in (summary.get("hosts") or {}).items() if o.get("status") == "deferred")
    if deferred:
        alerts.append(Alert("hosts-deferred", "warning", f"maintenance window closed: {len(deferred)} hosts "
                            "deferred", "deferred: " + ", ".join(deferred[:50]) + (" ..." if len(deferred) > 50
                                                                                    else ""),
                            f"hosts-deferred:{run_id}", time, run_id, fields={"deferred": deferred[:200]}))
    return alerts


class FleetWatch:
    """Compares each compliance report (schemas/compliance.schema.json) with the last
    one. The first report sets the reference and alerts only for hosts behind a
    critical image; later ones alert for hosts that fell behind since (one alert per
    host, listing every component it now misses) and hosts that became unreachable."""

    def __init__(self) -> None:
        self._behind: dict[str, frozenset[str]] | None = None
        self._unreachable: set[str] = set()

    def feed(self, report: Mapping[str, Any], time: str) -> list[Alert]:
        behind: dict[str, frozenset[str]] = {}
        alerts: list[Alert] = []
        unreachable: set[str] = set()
        for host in report.get("hosts") or ():
            name = str(host["name"])
            if host.get("status") == "unreachable":
                unreachable.add(name)
                continue
            missing = [c for c in host.get("components") or () if c.get("status") == "behind"]
            behind[name] = frozenset(str(c["key"]) for c in missing)
            before = self._behind.get(name, frozenset()) if self._behind is not None else None
            new = behind[name] - before if before is not None else behind[name]
            critical = [c for c in missing if c.get("critical")]
            if not new or (before is None and not critical):
                continue
            alerts.append(_behind_alert(name, host, missing, critical, time))
        for name in sorted(unreachable - self._unreachable):
            alerts.append(Alert("host-unreachable", "warning", f"{name}: BMC unreachable", "the fleet scan could "
                                "not read it", f"host-unreachable:scan:{name}", time, None, name))
        self._behind, self._unreachable = behind, unreachable
        return alerts


def _behind_alert(name: str, host: Mapping[str, Any], missing: Iterable[Mapping[str, Any]],
                  critical: list[Mapping[str, Any]], time: str) -> Alert:
    rows = [{"component": c["key"], "running": c.get("current"), "target": c.get("target"),
             "critical": bool(c.get("critical"))} for c in missing]
    text = "; ".join(f"{r['component']} {r['running']} -> {r['target']}" + (" (critical)" if r["critical"] else "")
                     for r in rows)
    key = "host-behind:" + name + ":" + ",".join(f"{r['component']}={r['target']}" for r in rows)
    return Alert("host-behind", "critical" if critical else "warning",
                 f"{name} is behind {host.get('baseline')}" + (": critical image available" if critical else ""),
                 text, key, time, None, name, fields={"baseline": host.get("baseline"), "components": rows})


def lock_alert(lock: Mapping[str, Any], held_seconds: float, time: str) -> Alert:
    """The workspace lock (`hwfw state show`'s lock) has been held `held_seconds`."""
    return Alert("lock-held", "warning", f"the workspace lock has been held for {int(held_seconds // 60)} min",
                 f"{lock.get('operation')} by {lock.get('who')} (pid {lock.get('pid')}) since {lock.get('created')}",
                 f"lock-held:{lock.get('id')}", time, fields={"lock_id": lock.get("id"), "who": lock.get("who")})


def test_alert(target: str, time: str) -> Alert:
    return Alert("test", "info", "hwfw test notification", f"hwfw notify test: the target {target} works",
                 f"test:{target}:{time}", time)
