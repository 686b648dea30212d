"""Acceptance (issue 13): schemathesis runs against the served OpenAPI document, for every
operation: no 5xx, and every response (status, content type, headers, body) valid
against the document, with schemathesis' checks (including its own auth, negative-data
and stateful checks), against `hwfw serve` on a copy of the lab, as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import edit

from .harness import Served, make_tokens, start_server

pytestmark = pytest.mark.slow

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab"
CONFIG = Path(__file__).resolve().parent / "schemathesis.toml"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workspace = tmp_path_factory.mktemp("schemathesis") / "lab"
    shutil.copytree(LAB, workspace, ignore=shutil.ignore_patterns(".hwfw"))
    # schemathesis sends many requests without a valid token on purpose: the failed-
    # authentication limit (tested on its own) would otherwise answer 429 to everything
    edit(workspace / "hwfw.yaml", "settings:\n", "settings:\n  server: {auth_failures_per_minute: 10000}\n")
    server = start_server(workspace, make_tokens(workspace))
    yield server
    assert server.stop() == 0, server.stderr()[-3000:]
    assert "Traceback" not in server.stderr(), server.stderr()[-3000:]


def test_the_document_covers_every_route_of_the_issue(served: Served) -> None:
    doc = httpx.get(served.url + "api/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    expected = {("get", "/api/firmware/status"), ("post", "/api/firmware/check"), ("post", "/api/firmware/plans"),
                ("get", "/api/firmware/plans/{plan_id}"), ("post", "/api/firmware/plans/{plan_id}/approve"),
                ("post", "/api/firmware/update"), ("get", "/api/firmware/runs"), ("get", "/api/firmware/runs/{run_id}"),
                ("get", "/api/firmware/runs/{run_id}/events"), ("post", "/api/firmware/runs/{run_id}/cancel"),
                ("post", "/api/firmware/repository/sync"), ("get", "/api/firmware/repository"),
                ("get", "/api/firmware/hosts/{name}")}
    assert expected <= {(m, p) for p, ops in doc["paths"].items() for m in ops}
    # bodies are the schemas of schemas/, not models written again in Python
    assert doc["components"]["schemas"]["PlanView"]["properties"]["plan"] == {"$ref": "#/components/schemas/PlanRecord"}
    assert "Run" in doc["components"]["schemas"] and "Check" in doc["components"]["schemas"]


def _schemathesis(served: Served, cwd: Path, role: str, *selection: str) -> subprocess.CompletedProcess[str]:
    """`schemathesis run` (every phase: examples, coverage, fuzzing, stateful) with every check
    (in `cwd`: it keeps a cache of its findings in the directory it runs in)."""
    return subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "run", served.url + "api/openapi.json",
         "--checks", "all",
         "--header", f"Authorization: Bearer {served.tokens[role]}", "--max-examples", "15", "--seed", "13",
         "--request-timeout", "120", "--max-failures", "5", "--no-color", "--workers", "1", *selection],
        capture_output=True, text=True, timeout=1500, cwd=cwd, env={**os.environ, "SCHEMATHESIS_HOOKS": ""})


def test_every_operation_conforms_to_the_document(served: Served, tmp_path: Path) -> None:
    """As an operator (who may do everything but approve), then as an approver on the approvals."""
    for role, selection in (("operator", ("--exclude-path-regex", "/approve$")),
                            ("approver", ("--include-path-regex", "/approve$"))):
        result = _schemathesis(served, tmp_path, role, *selection)
        assert result.returncode == 0, f"{role}:\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}"
        assert "passed" in result.stdout
