"""Acceptance (issue 14): `hwfw apply` of the lab with faults injected through the
simulator's fleet file, real receivers on loopback (a JSON webhook, an SMTP server with
AUTH), a receiver that hangs, secrets that appear in no file hwfw writes, and the run's
metrics file parsed by prometheus_client's own parser."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import edit, run_hwfw

from .receivers import Webhook, smtp_server, webhook

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab"
SECRET = "Hook-S3cret-value-0042"
SMTP_SECRET = "Smtp-S3cret-value-0077"
pytestmark = pytest.mark.slow


def lab(tmp_path: Path, faults: dict[str, dict[str, Any]], notifications: str) -> Path:
    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    fleet = yaml.safe_load((ws / "fleet.yaml").read_text())
    for host, f in faults.items():
        fleet["hosts"][host]["faults"] = f
    (ws / "fleet.yaml").write_text(yaml.safe_dump(fleet, sort_keys=False))
    edit(ws / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n" + notifications)
    return ws


def no_secret_anywhere(ws: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text and SMTP_SECRET not in text
    for path in ws.rglob("*"):
        if path.is_file() and path.suffix != ".bin":
            data = path.read_bytes()
            assert SECRET.encode() not in data and SMTP_SECRET.encode() not in data, path


BMC_FAULT = {"task_exception": {"component": "bmc", "message": "ApplyFailed"}}


def test_host_failure_reaches_the_webhook_with_step_and_message_id_and_the_metrics_file_parses(
        tmp_path: Path) -> None:
    with webhook() as hook:
        ws = lab(tmp_path, {"lab-gen-01": BMC_FAULT}, f"    - {{name: ops, url: '{hook.url()}', "
                                                      "min_severity: warning}\n")
        metrics = tmp_path / "textfile" / "hwfw.prom"
        run = run_hwfw("-v", "--log-file", str(ws / ".hwfw" / "hwfw.log"), "apply", str(ws), "--auto-approve",
                       "--target", "lab-gen-01", "--target", "lab-gen-02", "--target", "lab-dell-03",
                       "--metrics-file", str(metrics), "--format", "json",
                       env={"HOOK_PASSWORD": SECRET, "HWFW_CACHE": str(tmp_path / "cache")})
        assert run.returncode == 1, run.stderr[-2000:]
        failed = hook.bodies("lab-gen-01: flash failed")
        assert len(failed) == 1, hook.received
        assert "lab-gen-01/flash/bmc" in failed[0]["message"] and "Update.1.3.ApplyFailed" in failed[0]["message"]
        assert failed[0]["type"] == "failure"
        assert Webhook.basic_password(hook.received[0][1]) == SECRET
        assert hook.bodies("started") == []          # info: below the target's min_severity
        assert len(hook.bodies("finished: 1 converged, 1 failed")) == 1
    no_secret_anywhere(ws, run.stdout, run.stderr)
    events = [json.loads(line) for line in run.stdout.splitlines()]
    summary = events[-1]["summary"]
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    hosts = {s.labels["outcome"]: s.value for s in families["hwfw_hosts_finished"].samples
             if s.name.endswith("_total")}
    assert hosts["converged"] == summary["counts"]["converged"] == 1
    assert hosts["failed"] == summary["counts"]["failed"] == 1
    runs = {s.labels["outcome"]: s.value for s in families["hwfw_runs"].samples if s.name.endswith("_total")}
    assert runs["failed"] == 1 and runs["succeeded"] == 0
    steps = {(s.labels["kind"], s.labels["outcome"]): s.value for s in families["hwfw_steps"].samples
             if s.name.endswith("_total")}
    finished = [e for e in events if e["type"] == "step-finished"]
    assert sum(steps.values()) == len(finished)
    assert steps[("flash", "failed")] == sum(1 for e in finished if e["kind"] == "flash"
                                             and e["outcome"]["status"] == "failed") == 1
    bmc = {(s.labels["vendor"], s.labels["outcome"]): s.value for s in families["hwfw_bmc_requests"].samples
           if s.name.endswith("_total")}
    assert {v for v, _ in bmc} == {"generic", "dell"} and bmc[("generic", "ok")] > 0
    state = json.loads((ws / ".hwfw" / "state.json").read_text())["hosts"]
    failed_in_state = [h for h, comps in state.items() if any(c["status"] == "failed" for c in comps.values())]
    assert failed_in_state == ["lab-gen-01"] and hosts["failed"] == len(failed_in_state)
    assert all(c["status"] != "failed" for c in state["lab-dell-03"].values())


def test_rollout_halted_arrives_by_e_mail_over_smtp_with_auth(tmp_path: Path) -> None:
    with smtp_server("hwfw", SMTP_SECRET) as box:
        url = (f"mailto://hwfw:${{SMTP_PASSWORD}}@127.0.0.1:{box.port}?from=hwfw@example.test"
               "&to=ops@example.test")
        ws = lab(tmp_path, {"lab-gen-01": BMC_FAULT, "lab-dell-01": {"task_exception": {"component": "bmc"}}},
                 f"    - {{name: mail, url: '{url}', events: [rollout-halted]}}\n")
        run = run_hwfw("apply", str(ws), "--auto-approve", "--target", "lab-gen-01", "--target", "lab-dell-01",
                       "--target", "lab-hpe-01", "-j", "1", "--failure-budget", "0",
                       env={"SMTP_PASSWORD": SMTP_SECRET, "HWFW_CACHE": str(tmp_path / "cache")})
        assert run.returncode == 1, run.stderr[-2000:]
        assert "not-started" in run.stderr or "not started" in run.stderr
    assert len(box.messages) == 1, box.messages
    mail = box.messages[0]
    assert mail["to"] == ["ops@example.test"] and "halted" in mail["data"] and "failure budget" in mail["data"]
    assert box.logins and box.logins[0][0] == "hwfw"
    no_secret_anywhere(ws, run.stdout, run.stderr)


def test_a_hanging_receiver_delays_the_end_by_at_most_the_delivery_timeout_and_changes_nothing(
        tmp_path: Path) -> None:
    timeout = 3.0
    with webhook(hang=True) as hook:
        ws = lab(tmp_path, {"lab-gen-01": BMC_FAULT}, f"    - {{name: ops, url: '{hook.url()}', "
                                                      f"timeout: {timeout:g}s, retries: 2}}\n")
        proc = subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(ws), "--auto-approve", "--target",
                                 "lab-gen-01", "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**_env(), "HOOK_PASSWORD": SECRET,
                                                "HWFW_CACHE": str(tmp_path / "cache")})
        assert proc.stdout is not None
        events = []
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["type"] == "run-finished":
                ended = time.monotonic()
        rc = proc.wait(120)
        tail = time.monotonic() - ended
        stderr = proc.stderr.read() if proc.stderr else ""
        assert hook.requests >= 1 and hook.received == []
    assert rc == 1 and events[-1]["summary"]["counts"]["failed"] == 1       # the outcome of the fault alone
    # after the run's last event: the queue is given the target's timeout, then the process ends
    assert tail < timeout + 5.0, (tail, stderr[-1500:])
    assert "not delivered" in stderr
    no_secret_anywhere(ws, stderr, json.dumps(events))


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
