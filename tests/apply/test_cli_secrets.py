"""Acceptance (issue 5, point 6): a BMC password never leaks into output or files.

The hosts are https:// URLs of `hwfw sim serve`, the password comes from the
environment; plan, apply, check and inventory run with -vv and a log file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.apply.support import serve_lab
from tests.helpers import run_hwfw

pytestmark = pytest.mark.slow

PASSWORD = "Dummy-Pa55w0rd-7f3c9e"


def test_the_password_appears_in_no_output_log_plan_state_audit_or_event_file(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, ["lab-gen-01", "lab-hpe-02"], password=PASSWORD)
    try:
        ws, log = lab.workspace, tmp_path / "hwfw.log"
        plan_file = tmp_path / "plan.json"
        runs = [
            run_hwfw("-vv", "--log-file", str(log), "inventory", str(ws), "--out", str(tmp_path / "inv.json"),
                     env=lab.env),
            run_hwfw("-vv", "--log-file", str(log), "plan", str(ws), "--out", str(plan_file), env=lab.env),
            run_hwfw("-vv", "--log-file", str(log), "apply", str(ws), "--auto-approve", "--format", "json",
                     env=lab.env, timeout=180),
            run_hwfw("-vv", "--log-file", str(log), "check", str(ws), env=lab.env),
        ]
        assert runs[2].returncode == 0, runs[2].stderr[-2000:]
        for r in runs:
            assert PASSWORD not in r.stdout and PASSWORD not in r.stderr, r.args
        files = [log, plan_file, tmp_path / "inv.json", *sorted((ws / ".hwfw").glob("*.json*"))]
        assert (ws / ".hwfw" / "audit.jsonl") in files and (ws / ".hwfw" / "state.json") in files
        for f in files:
            assert PASSWORD not in f.read_text(errors="replace"), f
        assert "DEBUG" in log.read_text()       # -vv really logged
    finally:
        lab.process.stop()
