"""Acceptance (issue 13): SIGKILL `hwfw serve` in the middle of a run, start it again:
the run is marked interrupted and offered for resume; resuming settles what it left
open and converges; the simulator's event log shows no image flashed twice.

The simulated BMCs run in their own process (`hwfw sim serve`), so they and their event
log, the ground truth, outlive the killed server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apply.support import assert_nothing_flashed_twice, serve_lab

from .harness import follow_ws, make_tokens, start_server, wait_for

pytestmark = pytest.mark.slow

HOSTS = ["lab-dell-01", "lab-hpe-02", "lab-smc-01", "lab-gen-01"]


def test_sigkill_mid_run_then_restart_and_resume_flashes_nothing_twice(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, HOSTS)
    served = None
    try:
        tokens = make_tokens(lab.workspace, lab.env)
        served = start_server(lab.workspace, tokens, env=lab.env, args=("--no-scan",))
        with served.client("operator") as operator, served.client("approver") as approver:
            plan_id = operator.post("/api/firmware/plans", json={}).json()["plan"]["plan_id"]
            assert approver.post(f"/api/firmware/plans/{plan_id}/approve").status_code == 200
            lab.faults("lab-dell-01", upload_rate=20000)     # keeps the run busy on one host
            since = lab.events()[-1]["seq"] if lab.events() else 0
            run_id = operator.post("/api/firmware/update", json={"plan_id": plan_id}).json()["run"]["run_id"]
        wait_for("a BMC flashing", lambda: any(e["type"] == "flash-started" for e in lab.events(since)))
        served.kill()
        started = {(e["bmc"], e["component"], e["to"]) for e in lab.events() if e["type"] == "flash-started"}
        lab.clear_faults("lab-dell-01")

        served = start_server(lab.workspace, tokens, env=lab.env, args=("--no-scan",))
        with served.client("viewer") as viewer, served.client("operator") as operator:
            view = viewer.get(f"/api/firmware/runs/{run_id}").json()
            assert view["run"]["status"] == "interrupted" and view["resumable"] is True
            assert "resume" in view["run"]["message"]
            assert any(e["action"] == "run-interrupted" and e["target"] == run_id
                       for e in viewer.get("/api/firmware/audit").json()["entries"])
            assert viewer.post(f"/api/firmware/runs/{run_id}/resume").status_code == 403
            resumed = operator.post(f"/api/firmware/runs/{run_id}/resume")
            assert resumed.status_code == 202, resumed.text
            new_run = resumed.json()["run"]
            assert new_run["resumed_from"] == run_id and new_run["plan_id"] == plan_id
            _, final = follow_ws(served, new_run["run_id"])
            hosts = viewer.get(f"/api/firmware/runs/{new_run['run_id']}").json()["progress"]["hosts"]
            assert final["status"] == "succeeded", [(h["name"], h["status"], h["message"]) for h in hosts]
            status = viewer.get("/api/firmware/status").json()
            assert status["summary"]["compliant_hosts"] == status["summary"]["hosts"] == len(HOSTS)

        assert_nothing_flashed_twice(lab.events(), started)
    finally:
        if served is not None:
            served.stop()
        lab.process.stop()
