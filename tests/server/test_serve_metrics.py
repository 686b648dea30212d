"""Acceptance (issue 14): GET /metrics of `hwfw serve`, scraped during and after an
apply of the lab: the run's series match its summary and the state, the fleet's match
the compliance report (POST /api/firmware/check {"live": true}); every sample parses
with prometheus_client's parser and no label holds a host name or a version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.apply.support import serve_lab

from .harness import Served, follow_ws, make_tokens, start_server, wait_for

pytestmark = pytest.mark.slow


def scrape(served: Served) -> dict[str, Any]:
    with served.client("viewer") as viewer:
        r = viewer.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain"), r.text
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def values(families: dict[str, Any], name: str, *labels: str) -> dict[Any, float]:
    out = {}
    for s in families[name].samples:
        if s.name in (name, name + "_total"):
            key = tuple(s.labels[label] for label in labels)
            out[key[0] if len(key) == 1 else key] = s.value
    return out


def test_metrics_during_and_after_an_apply_match_the_run_the_state_and_the_compliance_report(
        tmp_path: Path) -> None:
    lab = serve_lab(tmp_path)
    served = None
    try:
        tokens = make_tokens(lab.workspace, lab.env)
        served = start_server(lab.workspace, tokens, env=lab.env, args=("--no-scan",))
        with httpx.Client(base_url=served.url, timeout=30) as anon:
            assert anon.get("/metrics").status_code == 401
        with served.client("operator") as operator, served.client("approver") as approver:
            plan_id = operator.post("/api/firmware/plans", json={"rollout": {"parallelism": 9}}).json()["plan"][
                "plan_id"]
            assert approver.post(f"/api/firmware/plans/{plan_id}/approve").status_code == 200
            lab.faults("lab-dell-01", upload_rate=20000)     # keeps the run going while it is scraped
            run_id = operator.post("/api/firmware/update", json={"plan_id": plan_id}).json()["run"]["run_id"]

        during = wait_for("the run in the metrics", lambda: (lambda f: f if values(f, "hwfw_run_active")[()]
                                                             == 1 and values(f, "hwfw_hosts_out_of_service")[()]
                                                             >= 1 else None)(scrape(served)))
        assert values(during, "hwfw_hosts_out_of_service")[()] <= 9
        assert sum(values(during, "hwfw_runs", "outcome").values()) == 0
        lab.clear_faults("lab-dell-01")
        events, final = follow_ws(served, run_id)
        assert final["status"] == "succeeded", final

        with served.client("viewer") as viewer:
            report = viewer.post("/api/firmware/check", json={"live": True}).json()
            summary = viewer.get(f"/api/firmware/runs/{run_id}").json()["run"]["summary"]
        after = scrape(served)
        assert values(after, "hwfw_runs", "outcome")["succeeded"] == 1
        assert values(after, "hwfw_run_active")[()] == 0 and values(after, "hwfw_hosts_out_of_service")[()] == 0
        finished = values(after, "hwfw_hosts_finished", "outcome")
        counts = summary["counts"]
        assert {k: v for k, v in finished.items() if v} == {k: v for k, v in counts.items() if v}
        steps = values(after, "hwfw_steps", "kind", "outcome")
        step_events = [e for _, e in events if e["type"] == "step-finished"]
        assert sum(steps.values()) == len(step_events)
        for kind in {e["kind"] for e in step_events}:
            assert sum(v for (k, _), v in steps.items() if k == kind) == \
                sum(1 for e in step_events if e["kind"] == kind)
        state = json.loads((lab.workspace / ".hwfw" / "state.json").read_text())["hosts"]
        converged_in_state = [h for h, comps in state.items() if all(c["status"] == "ok" for c in comps.values())]
        assert len(converged_in_state) == counts["converged"]

        fleet = values(after, "hwfw_fleet_hosts", "baseline", "status")
        expected: dict[tuple[str, str], int] = {}
        for host in report["hosts"]:
            if host["baseline"] is not None and host["status"] != "unmanaged":
                key = (host["baseline"], host["status"])
                expected[key] = expected.get(key, 0) + 1
        assert {k: v for k, v in fleet.items() if v} == expected
        components = values(after, "hwfw_fleet_component_hosts", "baseline", "component", "status")
        for baseline in report["baselines"]:
            for comp in baseline["components"]:
                for status, n in comp["counts"].items():
                    assert components[(baseline["name"], comp["component"], status)] == n
        bmc = values(after, "hwfw_bmc_requests", "vendor", "outcome")
        assert {v for v, _ in bmc} == {"dell", "hpe", "supermicro", "generic"}
        assert sum(n for (_, outcome), n in bmc.items() if outcome == "ok") > len(report["hosts"])
        latency = {s.labels["vendor"]: s.value for s in after["hwfw_bmc_request_duration_seconds"].samples
                   if s.name.endswith("_count")}
        assert latency == {v: sum(n for (w, _), n in bmc.items() if w == v) for v in latency}
        hosts = {h["name"] for h in report["hosts"]}
        for family in after.values():
            for sample in family.samples:
                assert not hosts & set(sample.labels.values()), sample
    finally:
        if served is not None:
            served.stop()
        lab.process.stop()
