"""`hwfw check` (the offline pre-merge gate) and `hwfw compliance` (the fleet report).

Module map:

* `findings`  — `Finding`, the rule catalogue `RULES`, check names, --strict promotion
* `locate`    — workspace-relative file:line:col of workspace nodes, read lazily
* `scenarios` — the vendor/model pairs a baseline stands for, for offline checks
* `baselines` — satisfiability (a synthetic plan per baseline) and stepping-stone paths
* `checks`    — image policy, sequence coverage, critical images
* `scan`      — literal secrets in every YAML file under the workspace
* `gitref`    — baseline targets at a Git revision (`--base-ref`) and downgrades
* `fleet`     — `--inventory`: drift and downgrades per host from an offline plan
* `status`    — compliance status of a planned change (shared by check and compliance)
* `gate`      — `run_check`: every check, in order, into a `CheckReport`
* `output`    — check machine formats: JSON, JUnit XML, GitHub annotations, Code Quality
* `sarif`     — check machine format: SARIF 2.1.0
* `report`    — `build_report`: the compliance report value and its JSON

Text, markdown and HTML for people are in hwfw/render (check.py, compliance.py,
compliance_html.py).

Nothing here contacts a BMC: the CLI hands in an `Inventory` (live or from a snapshot).
"""

from hwfw.compliance.findings import CHECKS, RULES, Finding, Rule
from hwfw.compliance.gate import CheckReport, run_check

__all__ = ["CHECKS", "RULES", "CheckReport", "Finding", "Rule", "run_check"]
