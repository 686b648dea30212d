"""Prometheus metrics of hwfw: runs and steps (from events), the fleet's compliance (from
reports), BMC requests, notification deliveries. `hwfw serve` exposes them at
`/metrics`; CLI runs write them with `--metrics-file` (node_exporter's textfile format).
docs/alerts-and-metrics.md lists every series and its labels."""

from __future__ import annotations

from .registry import HOST_STATUSES, RUN_OUTCOMES, STEP_BUCKETS, HwfwMetrics, run_outcome
from .runs import RunMetrics, epoch_of

__all__ = ["HOST_STATUSES", "RUN_OUTCOMES", "STEP_BUCKETS", "HwfwMetrics", "RunMetrics", "epoch_of", "run_outcome"]
