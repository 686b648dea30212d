"""`-vv --log-file` against https BMCs: the log has one line per request (hwfw's Redfish
client sends through the transport, so httpx's own request log never fires)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.apply.support import serve_lab
from tests.helpers import run_hwfw

pytestmark = pytest.mark.slow


def test_plan_with_vv_and_a_log_file_logs_every_bmc_request(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, ["lab-dell-01", "lab-gen-01"])
    try:
        log = tmp_path / "plan.log"
        result = run_hwfw("-vv", "--log-file", str(log), "plan", str(lab.workspace), env=lab.env)
        assert result.returncode == 0, result.stderr[-3000:]
        text = log.read_text()
        for host in ("lab-dell-01", "lab-gen-01"):
            lines = [line for line in text.splitlines() if f"hwfw.redfish.client: {host}: GET https://" in line]
            assert any(re.search(r"GET https://\S+/redfish/v1/ -> HTTP 200$", line) for line in lines), text[-3000:]
            assert any("-> HTTP 201" in line and "POST" in line for line in text.splitlines() if host in line)
        assert "hwfw.redfish.client" in result.stderr  # -vv shows the same on stderr
        assert lab.env["HWFW_SIM_PASSWORD"] not in text  # the login body is never logged
    finally:
        lab.process.stop()


def test_a_log_file_without_v_keeps_debug_lines_out_of_stderr(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, ["lab-gen-01"])
    try:
        log = tmp_path / "plan.log"
        result = run_hwfw("--log-file", str(log), "plan", str(lab.workspace), env=lab.env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "-> HTTP 200" in log.read_text()
        assert "-> HTTP 200" not in result.stderr
    finally:
        lab.process.stop()
