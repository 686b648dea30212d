"""examples/monitoring/: the alerting rules (with their unit tests), the scrape config and
the Grafana dashboard name only series hwfw exposes; promtool checks them when it is
installed (scripts/install-system-packages installs it), a parser of the rules otherwise."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hwfw.metrics import HwfwMetrics
from tests.helpers import REPO_ROOT

MONITORING = REPO_ROOT / "examples" / "monitoring"
NAME = re.compile(r"\b(hwfw_[a-z_]+|hwfw:[a-z_:]+)")
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def exposed() -> set[str]:
    text = generate_latest(HwfwMetrics().registry).decode()
    return {f.name for f in text_string_to_metric_families(text)}


def rules() -> list[dict]:
    doc = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    return [r for group in doc["groups"] for r in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p["targets"]]
    exprs += [v["definition"] for v in doc["templating"]["list"] if "definition" in v]
    return exprs


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_rules_and_dashboard_name_only_series_hwfw_exposes_or_records() -> None:
    names = exposed()
    recorded = {r["record"] for r in rules() if "record" in r}
    used = [n for expr in [r["expr"] for r in rules()] + dashboard_exprs() for n in NAME.findall(expr)]
    assert used
    unknown = {n for n in used if n not in recorded and family(n) not in names}
    assert not unknown, f"not exposed by hwfw.metrics: {sorted(unknown)}"


def test_the_key_conditions_have_alerts_with_severity_and_summary() -> None:
    alerts = {r["alert"]: r for r in rules() if "alert" in r}
    assert {"HwfwRolloutHalted", "HwfwHostsBehindCritical", "HwfwComplianceScanStale"} <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name
        assert rule["expr"].count("(") == rule["expr"].count(")"), name
    assert "hwfw_rollouts_halted_total" in alerts["HwfwRolloutHalted"]["expr"]
    assert "hwfw_fleet_hosts_behind_critical" in alerts["HwfwHostsBehindCritical"]["expr"]
    assert "hwfw_fleet_scan_timestamp_seconds" in alerts["HwfwComplianceScanStale"]["expr"]


@pytest.mark.slow
def test_promtool_accepts_the_rules_their_unit_tests_and_the_scrape_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        # no promtool on this machine: the structure check above stands for `check rules`;
        # here every selector's braces and quotes must at least balance
        for expr in [r["expr"] for r in rules()] + dashboard_exprs():
            assert expr.count("{") == expr.count("}") and expr.count('"') % 2 == 0, expr
        return
    for args in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        run = subprocess.run([promtool, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
    # the config names the token file of a real installation; check it against a stand-in
    work = tmp_path / "monitoring"
    shutil.copytree(MONITORING, work)
    token = tmp_path / "hwfw-token"
    token.write_text("stand-in\n")
    config = work / "prometheus.yml"
    config.write_text(config.read_text().replace("/etc/prometheus/hwfw-token", str(token)))
    run = subprocess.run([promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text((MONITORING / "alerts.yml").read_text().replace("hwfw_rollouts_halted_total",
                                                                        "hwfw_rollouts_halted_totl"))
    used = {n for n in NAME.findall(broken.read_text())}
    assert {n for n in used if family(n) not in exposed() and not n.startswith("hwfw:")} == \
        {"hwfw_rollouts_halted_totl"}
