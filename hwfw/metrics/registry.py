"""hwfw's Prometheus metrics: one set per registry, fed by events and compliance reports.

Every label comes from a small closed set: baselines and components (from the
workspace's files), statuses and outcomes (fixed lists), step kinds, vendors
(hwfw/vendor_registry.py), notification target names (settings.notifications). No
host names, run ids, versions or error texts: per-host detail is in the API and the
event log. docs/alerts-and-metrics.md lists every series.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, write_to_textfile

from hwfw.apply.events import HOST_OUTCOMES
from hwfw.bmcstats import observe_requests
from hwfw.vendor_registry import record_for

__all__ = ["HOST_STATUSES", "RUN_OUTCOMES", "STEP_BUCKETS", "HwfwMetrics", "run_outcome"]

# `_created` series double every counter for no use here.
disable_created_metrics()

HOST_STATUSES = ("compliant", "behind", "ahead", "unknown", "missing", "unreachable")
RUN_OUTCOMES = ("succeeded", "failed", "incomplete", "interrupted")
# Firmware steps take seconds (a verify) to most of an hour (a BIOS flash and POST).
STEP_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


def run_outcome(exit_code: int) -> str:
    """An apply's outcome label from its exit code (hwfw/cli/apply.py's contract)."""
    return {0: "succeeded", 2: "incomplete", 130: "interrupted"}.get(exit_code, "failed")


class HwfwMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # runs
        self.runs = Counter("hwfw_runs", "Applies ended, by outcome (exit code 0 succeeded, 2 incomplete: "
                            "hosts deferred, 130 interrupted, else failed)", ["outcome"], registry=r)
        self.hosts_finished = Counter("hwfw_hosts_finished", "Hosts an apply finished, by outcome",
                                      ["outcome"], registry=r)
        self.steps = Counter("hwfw_steps", "Plan steps ended, by kind and outcome", ["kind", "outcome"], registry=r)
        self.step_seconds = Histogram("hwfw_step_duration_seconds", "Duration of plan steps, by kind", ["kind"],
                                      buckets=STEP_BUCKETS, registry=r)
        self.rollouts_halted = Counter("hwfw_rollouts_halted", "Applies whose rollout halted (failure budget "
                                       "exhausted, canary failed, run aborted)", registry=r)
        self.hosts_out_of_service = Gauge("hwfw_hosts_out_of_service", "Hosts an apply is updating now",
                                          registry=r)
        self.run_active = Gauge("hwfw_run_active", "1 while an apply runs", registry=r)
        self.last_run_time = Gauge("hwfw_last_run_end_timestamp_seconds", "When the last apply ended",
                                   registry=r)
        self.last_run_exit = Gauge("hwfw_last_run_exit_code", "Exit code of the last apply", registry=r)
        # fleet (from the compliance report)
        self.fleet_hosts = Gauge("hwfw_fleet_hosts", "Hosts by compliance status, per baseline",
                                 ["baseline", "status"], registry=r)
        self.component_hosts = Gauge("hwfw_fleet_component_hosts", "Hosts by status of one baseline component",
                                     ["baseline", "component", "status"], registry=r)
        self.behind_critical = Gauge("hwfw_fleet_hosts_behind_critical", "Hosts behind a critical image, per "
                                     "baseline", ["baseline"], registry=r)
        self.scan_time = Gauge("hwfw_fleet_scan_timestamp_seconds", "When the last fleet scan ended", registry=r)
        self.scan_seconds = Gauge("hwfw_fleet_scan_duration_seconds", "How long the last fleet scan took",
                                  registry=r)
        self.scans = Counter("hwfw_fleet_scans", "Fleet scans, by result (ok, failed, skipped: a run held the "
                             "workspace)", ["result"], registry=r)
        # BMC requests and notifications
        self.bmc_requests = Counter("hwfw_bmc_requests", "Redfish requests sent to BMCs, by vendor and outcome "
                                    "(ok, error: an HTTP error answer, unreachable: no answer)",
                                    ["vendor", "outcome"], registry=r)
        self.bmc_seconds = Histogram("hwfw_bmc_request_duration_seconds", "Redfish request latency, by vendor",
                                     ["vendor"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        self.notifications = Counter("hwfw_notifications", "Notification deliveries, by target and outcome "
                                     "(sent, failed, dropped: queue full, suppressed: duplicate)",
                                     ["target", "outcome"], registry=r)
        for outcome in RUN_OUTCOMES:
            self.runs.labels(outcome)
        for outcome in HOST_OUTCOMES:
            self.hosts_finished.labels(outcome)

    def count_bmc_requests(self, vendors: Mapping[str, str | None]) -> Callable[[], None]:
        """Count every BMC request of this process by the vendor of its host (`vendors`:
        host name -> vendor; a vendor hwfw does not know is `other`, a host without
        one `unknown`). Returns the function that stops counting."""
        def vendor_label(host: str) -> str:
            vendor = vendors.get(host)
            if vendor is None:
                return "unknown"
            record = record_for(vendor)
            return record.name if record is not None else "other"

        def observe(host: str, outcome: str, seconds: float) -> None:
            vendor = vendor_label(host)
            self.bmc_requests.labels(vendor, outcome).inc()
            self.bmc_seconds.labels(vendor).observe(seconds)

        return observe_requests(observe)

    def note_notification(self, target: str, outcome: str) -> None:
        self.notifications.labels(target, outcome).inc()

    def fleet_report(self, report: Mapping[str, Any]) -> None:
        """Set the fleet gauges from a compliance report (schemas/compliance.schema.json):
        the series of baselines and components no longer in it are removed."""
        for gauge in (self.fleet_hosts, self.component_hosts, self.behind_critical):
            gauge.clear()
        by_baseline: dict[str, dict[str, int]] = {}
        critical: dict[str, int] = {}
        for host in report.get("hosts") or ():
            baseline = host.get("baseline")
            if baseline is None:
                continue
            counts = by_baseline.setdefault(baseline, {s: 0 for s in HOST_STATUSES})
            if host["status"] in counts:
                counts[host["status"]] += 1
            critical[baseline] = critical.get(baseline, 0) + (1 if host.get("critical_behind") else 0)
        for baseline in report.get("baselines") or ():
            name = baseline["name"]
            for status, n in by_baseline.get(name, {s: 0 for s in HOST_STATUSES}).items():
                self.fleet_hosts.labels(name, status).set(n)
            self.behind_critical.labels(name).set(critical.get(name, 0))
            for comp in baseline.get("components") or ():
                for status, n in comp["counts"].items():
                    self.component_hosts.labels(name, comp["component"], status).set(n)

    def scanned(self, *, ended: float, seconds: float, result: str) -> None:
        self.scans.labels(result).inc()
        if result == "ok":
            self.scan_time.set(ended)
            self.scan_seconds.set(seconds)

    def write_textfile(self, path: Path) -> None:
        """node_exporter's textfile format, written atomically (a temporary file renamed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), self.registry)
