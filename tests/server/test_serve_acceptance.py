"""Acceptance (issue 13): `hwfw serve` on a copy of examples/lab, as a real process.

401 without a token, 403 for a viewer starting a run; plan -> approve -> update ->
follow the WebSocket to the end, every event valid against schemas/events.schema.json;
then GET /status shows the fleet compliant. The same events again over SSE, resumed
with Last-Event-ID.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.helpers import REPO_ROOT

from .harness import follow_ws, make_tokens, start_server

pytestmark = pytest.mark.slow

EVENTS = jsonschema.Draft202012Validator(json.loads((REPO_ROOT / "schemas/events.schema.json").read_text()))


def _git_checkout(path: Path) -> str:
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@example.test", "-c", "user.name=t", "commit",
                                                 "-qm", "lab"]):
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, check=True, capture_output=True,
                          text=True).stdout.strip()


def _sse(client: httpx.Client, path: str, headers: dict[str, str]) -> list[tuple[str | None, str | None, str]]:
    """(id, event, data) of every message of a finished run's stream."""
    out, current = [], {"id": None, "event": None, "data": []}
    with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line == "":
                if current["data"]:
                    out.append((current["id"], current["event"], "\n".join(current["data"])))
                current = {"id": None, "event": None, "data": []}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if key == "data":
                    current["data"].append(value)
                elif key in ("id", "event"):
                    current[key] = value
    return out


def _ws_close_code(url: str, headers: dict[str, str]) -> int:
    """Read a run's WebSocket to its end; the close code."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with connect(url, additional_headers=headers, open_timeout=30) as ws:
        try:
            while True:
                ws.recv(timeout=60)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None
            return int(closed.rcvd.code)


def test_plan_approve_update_follow_then_compliant(lab_copy: Path) -> None:
    commit = _git_checkout(lab_copy)
    tokens = make_tokens(lab_copy)
    served = start_server(lab_copy, tokens)
    try:
        with served.client(None) as anon, served.client("viewer") as viewer, \
                served.client("operator") as operator, served.client("approver") as approver:
            assert anon.get("/api/health").json()["status"] == "ok"
            denied = anon.get("/api/firmware/status")
            assert denied.status_code == 401
            assert denied.headers["content-type"] == "application/problem+json"
            assert denied.json()["status"] == 401 and "traceback" not in denied.text.lower()
            assert anon.get("/api/firmware/status", headers={"Authorization": "Bearer hwfw_0_nope"}).status_code == 401

            status = viewer.get("/api/firmware/status").json()
            assert status["workspace"]["valid"] and status["workspace"]["commit"] == commit

            made = operator.post("/api/firmware/plans", json={"rollout": {"parallelism": 9}})
            assert made.status_code == 201, made.text
            plan = made.json()["plan"]
            plan_id = plan["plan_id"]
            assert made.headers["location"] == f"/api/firmware/plans/{plan_id}"
            assert plan["commit"] == commit and plan["document"]["inputs"] and plan["created_by"] == \
                "test-operator (operator)"

            # a viewer may not start a run; an unapproved plan is not applied
            forbidden = viewer.post("/api/firmware/update", json={"plan_id": plan_id})
            assert forbidden.status_code == 403 and forbidden.json()["status"] == 403
            assert operator.post("/api/firmware/update", json={"plan_id": plan_id}).status_code == 409
            assert operator.post(f"/api/firmware/plans/{plan_id}/approve").status_code == 403
            markdown = viewer.get(f"/api/firmware/plans/{plan_id}", headers={"Accept": "text/markdown"})
            assert markdown.headers["content-type"].startswith("text/markdown") and "lab-dell-01" in markdown.text

            decision = approver.post(f"/api/firmware/plans/{plan_id}/approve", json={"comment": "go"})
            assert decision.status_code == 200 and decision.json()["verdict"] == "approved"
            started = operator.post("/api/firmware/update", json={"plan_id": plan_id})
            assert started.status_code == 202, started.text
            run_id = started.json()["run"]["run_id"]
            busy = operator.post("/api/firmware/update", json={"plan_id": plan_id})
            assert busy.status_code == 409 and run_id in busy.json()["detail"]     # names the holder

            events, final = follow_ws(served, run_id)
            assert [seq for seq, _ in events] == list(range(1, len(events) + 1))
            for _, event in events:
                EVENTS.validate(event)
            assert events[0][1]["type"] == "run-started" and events[-1][1]["type"] == "run-finished"
            assert final["status"] == "succeeded" and final["run_id"] == run_id

            status = viewer.get("/api/firmware/status").json()
            assert status["current_run"] is None
            assert status["summary"]["compliant_hosts"] == status["summary"]["hosts"] == 9
            assert all(c["counts"]["behind"] == 0 for b in status["baselines"] for c in b["components"])

            detail = viewer.get(f"/api/firmware/runs/{run_id}").json()
            hosts = detail["progress"]["hosts"]
            converged = [h for h in hosts if h["state"] == "done"]
            assert converged and all(h["steps"] and all(s["state"] in ("ok", "pending-activation", "not-needed")
                                                        for s in h["steps"]) for h in converged)
            assert all(s["started"] and s["finished"] for h in converged for s in h["steps"])

            # the same stream over SSE, resumed after event 5
            messages = _sse(viewer, f"/api/firmware/runs/{run_id}/events", {"Last-Event-ID": "5"})
            data = [(int(i), json.loads(d)) for i, e, d in messages if e is None]
            assert [s for s, _ in data] == list(range(6, len(events) + 1))
            assert [e for _, e in data] == [e for s, e in events if s > 5]
            assert messages[-1][1] == "end" and json.loads(messages[-1][2])["status"] == "succeeded"

            # a WebSocket signed in by cookie is refused from another site's page, taken from this one
            assert anon.post("/api/session", json={"token": tokens["viewer"]}).status_code == 204
            cookie = {"Cookie": f"hwfw_session={anon.cookies['hwfw_session']}"}
            assert _ws_close_code(served.ws_url(f"/api/firmware/runs/{run_id}/ws"),
                                  {**cookie, "Origin": "http://evil.example"}) == 4403
            assert _ws_close_code(served.ws_url(f"/api/firmware/runs/{run_id}/ws"),
                                  {**cookie, "Origin": served.url.rstrip("/")}) == 1000
            assert _ws_close_code(served.ws_url(f"/api/firmware/runs/{run_id}/ws"), {}) == 4401

            # every change is in the audit trail with its principal
            trail = viewer.get("/api/firmware/audit").json()["entries"]
            actions = {(e["action"], e["principal"]) for e in trail}
            assert {("plan-created", "test-operator (operator)"), ("plan-approved", "test-approver (approver)"),
                    ("run-started", "test-operator (operator)")} <= actions
            host = viewer.get("/api/firmware/hosts/lab-dell-01").json()
            assert host["inventory"]["host"] == "lab-dell-01" and host["runs"][0]["run_id"] == run_id
            assert host["audit"] and all(a["operator"].startswith("test-operator (operator) via ")
                                         for a in host["audit"] if a["run_id"] == run_id)
    finally:
        assert served.stop() == 0, served.stderr()[-3000:]
    assert "Traceback" not in served.stderr(), served.stderr()[-3000:]
