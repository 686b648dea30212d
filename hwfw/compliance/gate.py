"""`run_check`: every check of `hwfw check` over one workspace, offline, into one report.

Order: the loader's problems (everything `validate` reports); secrets in the YAML files
the loader does not read; then, when the workspace loaded without errors, the checks
that need it (images, compatibility, stepping stones, sequences, critical images),
downgrades against `base_ref` and the fleet snapshot. A check that could not run is
recorded as skipped with the reason, so a report never passes silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml_rs

from hwfw.compliance import baselines, checks, gitref
from hwfw.compliance.findings import CHECKS, Finding, dedupe, from_problem, sort_key
from hwfw.compliance.findings import strict as promote
from hwfw.compliance.locate import Locator
from hwfw.compliance.scan import scan_secrets
from hwfw.compliance.scenarios import scenarios
from hwfw.config.model import Workspace
from hwfw.config.paths import PathPolicy
from hwfw.config.yamlio import loads, read_text
from hwfw.connect import check_workspace
from hwfw.inventory.model import Inventory

NEEDS_WORKSPACE = "the workspace has errors (see validate); fix them first"


@dataclass
class CheckReport:
    """The outcome of `hwfw check`. `checks` maps each check to None (ran) or why it was skipped;
    `not_requested` names the optional checks (downgrades, fleet) whose option was not given."""

    root: Path
    findings: list[Finding]
    checks: dict[str, str | None]
    hosts: list[str] = field(default_factory=list)
    strict: bool = False
    base_ref: str | None = None
    inventory: str | None = None
    workspace: Workspace | None = None
    not_requested: frozenset[str] = frozenset()

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def ok(self) -> bool:
        """No error-level finding (under --strict, warnings are already errors)."""
        return self.count("error") == 0


def run_check(directory: Path, *, base_ref: str | None = None, inventory: Inventory | None = None,
              inventory_name: str | None = None, strict: bool = False, verify_images: bool = False) -> CheckReport:
    """Run every check on the workspace in `directory`. Offline: `inventory` is a snapshot
    already read, `base_ref` is read with git; raises `GitError` when it cannot be.
    `verify_images` hashes every local image source (else only small ones)."""
    root = directory.resolve()
    ws, problems = check_workspace(root)
    findings = [from_problem(p, root) for p in problems]
    ran: dict[str, str | None] = {c: None for c in CHECKS}
    if base_ref is None:
        # Targets below what hosts run (--inventory) are reported per host, under `fleet`.
        ran["downgrades"] = "no --base-ref given"
    if inventory is None:
        ran["fleet"] = "no --inventory snapshot given"
    scanned, policy = _already_scanned(root)
    findings += scan_secrets(root, scanned, policy)
    hosts: list[str] = []
    if ws is None:
        for name in CHECKS[2:]:
            ran[name] = ran[name] or NEEDS_WORKSPACE
    else:
        loc = Locator(ws)
        scens = scenarios(ws)
        steps: list[tuple[str, Callable[[], list[Finding]]]] = [
            ("images", lambda: checks.images(ws, loc) + checks.image_sources(ws, loc, policy, verify=verify_images)),
            ("compatibility", lambda: baselines.satisfiability(ws, loc, scens)),
            ("stepping-stones", lambda: baselines.stepping_stones(ws, loc, scens)),
            ("sequences", lambda: checks.sequences(ws, loc)),
            ("critical-images", lambda: checks.critical_images(ws, loc)),
        ]
        if base_ref is not None:
            steps.append(("downgrades", lambda: gitref.downgrades(ws, loc, base_ref)))
        for _, step in steps:
            findings += step()
        if inventory is not None:
            from hwfw.compliance import fleet

            more, hosts = fleet.fleet_findings(ws, loc, inventory)
            findings += more
    for name in CHECKS:
        if ran[name] == NEEDS_WORKSPACE and any(f.check == name for f in findings):
            ran[name] = None  # the loader ran this check's part (e.g. unknown-image): report it
    findings = sorted(dedupe(findings), key=sort_key)
    if strict:
        findings = promote(findings)
    off = frozenset(({"downgrades"} if base_ref is None else set()) | ({"fleet"} if inventory is None else set()))
    return CheckReport(root=root, findings=findings, checks=ran, hosts=hosts, strict=strict, base_ref=base_ref,
                       inventory=inventory_name, workspace=ws, not_requested=off)


def _already_scanned(root: Path) -> tuple[set[Path], PathPolicy]:
    """Files the loader reads (it scans them itself) and the simulator's fleet file, and
    which directories outside the workspace hwfw.yaml allows."""
    skip = {root / "hwfw.yaml", root / ".hwfw"}
    try:
        doc = loads(read_text(root / "hwfw.yaml"))
    except (OSError, UnicodeDecodeError, yaml_rs.YAMLDecodeError):  # the loader reports a broken hwfw.yaml
        return {p.resolve() for p in skip}, PathPolicy(root)
    allowed: tuple[str, ...] = ()
    if isinstance(doc, dict):
        files = doc.get("files")
        for rel in (files.values() if isinstance(files, dict) else ()):
            if isinstance(rel, str):
                skip.add(root / rel)
        settings = doc.get("settings")
        if isinstance(settings, dict):
            for key in ("runtime_dir", "cache_dir"):
                if isinstance(settings.get(key), str):
                    skip.add(root / settings[key])
            roots = settings.get("allowed_roots")
            if isinstance(roots, list) and all(isinstance(r, str) for r in roots):
                allowed = tuple(roots)
    return {p.resolve() for p in skip}, PathPolicy(root, allowed)
