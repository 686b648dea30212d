"""Findings of `hwfw check`: one located statement about a workspace, under a stable rule id.

A `Finding` is to `check` what a `Problem` is to `validate`, plus the rule id every
machine format keys on (SARIF `ruleId`, JUnit test case, GitHub annotation title), the
check it belongs to, and the host/component it is about when it comes from a fleet
snapshot. Locations are workspace-relative (`baselines.yaml`), so a report means the
same thing on a laptop and in CI; renderers turn them into what their reader needs.

`RULES` is the catalogue: every rule id hwfw can report, its check, a one-line summary
and what to do about it. Loader problem codes are rules too (same ids), so `validate`
and `check` never disagree on what a problem is called.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from hwfw.errors import Problem, SourceLocation

SEVERITIES = ("error", "warning", "note")

# Checks in report order. A check is one JUnit test case (per host for `fleet`).
CHECKS = ("validate", "secrets", "images", "compatibility", "stepping-stones", "sequences",
          "critical-images", "downgrades", "fleet")


@dataclass(frozen=True, slots=True)
class Rule:
    """One kind of finding: `id` is stable (scripts and SARIF baselines key on it)."""

    id: str
    check: str
    summary: str
    help: str
    level: str = "error"


def _rules(check: str, level: str, *rows: tuple[str, str, str]) -> list[Rule]:
    return [Rule(id, check, summary, help, level) for id, summary, help in rows]


RULES: dict[str, Rule] = {r.id: r for r in [
    *_rules("validate", "error",
            ("yaml-syntax", "A workspace file is not valid YAML.",
             "Fix the syntax at the position shown; the note points at where the construct started."),
            ("yaml-duplicate-key", "A YAML mapping repeats a key.", "Keep one of the two keys."),
            ("path-outside-workspace", "A path the workspace names leaves it (also through a symbolic link).",
             "Keep the file inside the workspace, or list its directory under settings.allowed_roots."),
            ("url-credentials", "A BMC or image URL holds a user name or password.",
             "Remove user@ from the URL; BMC credentials come from environment variables or files."),
            ("missing-file", "A file named by hwfw.yaml does not exist.",
             "Create the file or fix its path under files: in hwfw.yaml (paths are relative to hwfw.yaml)."),
            ("unknown-key", "A key the file's schema does not allow (often a typo).",
             "Remove or rename the key; the expected keys are listed."),
            ("missing-key", "A required key is missing.", "Add the key."),
            ("wrong-type", "A value has the wrong type.", "Quote versions so YAML keeps them as text."),
            ("invalid-value", "A value is not allowed by the file's schema.", "Use one of the listed values."),
            ("schema", "The file does not match its JSON Schema.", "See schemas/ for the file's schema."),
            ("duplicate-host", "Two hosts share a name.", "Host names must be unique."),
            ("missing-credentials", "A real BMC has no credentials reference.",
             "Add credentials: {username_env: VAR, password_env: VAR} to the host or to defaults."),
            ("missing-fleet", "sim:// hosts but no fleet file.", "Name the fleet file under files.fleet."),
            ("unknown-sim-host", "A sim:// host is not in the fleet file.", "Add it to the fleet file."),
            ("unknown-component", "A baseline names an unknown component kind.", "Use a known component kind."),
            ("invalid-version", "A version does not parse.", "Write the version as the BMC reports it."),
            ("invalid-constraint", "A version constraint does not parse.",
             "Write clauses like '>=7.00,<8', '==2.10' or '7.00 - 7.99'."),
            ("ambiguous-baseline", "A host is selected by more than one baseline.",
             "Narrow the select: blocks so exactly one baseline applies."),
            ("error", "A workspace problem.", "See the message.")),
    *_rules("secrets", "error",
            ("literal-secret", "A YAML file in the workspace holds a literal secret.",
             ("Remove the value from the file (and from Git history); reference it instead: "
              "password_env: VAR_NAME or password_file: PATH."))),
    *_rules("images", "error",
            ("unknown-image", "A baseline references an image id the repository lacks.",
             "Add the image with hwfw repo add, or fix the id."),
            ("image-mismatch", "A baseline's image is for another component, vendor or version.",
             "Point the component at a matching image."),
            ("duplicate-image", "Two repository images share an id.", "Image ids must be unique."),
            ("insecure-source", "An image has a plain http:// source.",
             "Use https://, or set allow_http: true (the sha256 still guards integrity)."),
            ("image-sha256", "A repository image has no valid sha256.",
             "Add the sha256 computed from the file (hwfw repo add computes it); never type it by hand."),
            ("missing-image", "No repository image provides a baseline's target version.",
             "Add the image (hwfw repo add) or name it with image: on the component."),
            ("image-not-allowed", "A referenced image's sha256 is not on settings.allowed_sha256.",
             "Have the image approved (add its sha256 to the allow-list) or pick an approved image."),
            ("image-policy", "A referenced image is refused by the workspace's integrity policy.",
             "Sign the image and configure its public key, or relax settings.policies."),
            ("image-unavailable", "A referenced image's local source file is gone and the cache has no copy.",
             "Restore the file at the path in `source:`, or fetch the image into the cache (hwfw repo sync)."),
            ("image-source-mismatch", "A referenced image's local source file differs from its declared size "
             "or sha256.", "Put the right file there, or re-add it with hwfw repo add (never edit sha256 by "
             "hand).")),
    # image-not-fetched is reported as a note (nothing is wrong yet); --strict leaves notes alone.
    *_rules("images", "warning",
            ("image-source-missing", "A referenced image's local source file is gone; only the cache holds it.",
             "Restore the file (the repository cannot rebuild the cache from it any more)."),
            ("image-not-fetched", "A referenced image's URL source has not been fetched into the cache yet.",
             "Run hwfw repo sync (apply --sync also fetches it).")),
    *_rules("compatibility", "error",
            ("matrix-violation", "A baseline's targets break a compatibility or minimum rule.",
             "Change the targets so every rule holds, or change the rule."),
            ("incompatible-baseline", "A compatibility rule cannot hold on hosts of a baseline.",
             "Change the targets so the rule holds once every component is at its target."),
            ("below-minimum", "A baseline target is below a minimum rule.", "Raise the target."),
            ("rule-cycle", "Compatibility rules make a baseline's flashes wait for each other.",
             "Change one of the rules, or make one of them active: false."),
            ("rule-undecidable", "A rule cannot be evaluated against a baseline's targets.",
             "Versions of different schemes are never compared; force a scheme on the component.",
             )),
    *_rules("stepping-stones", "error",
            ("no-upgrade-path", "Stepping-stone rules leave no upgrade path to a baseline target.",
             "Add the intermediate image(s) to the repository.")),
    *_rules("sequences", "error",
            ("sequence-cycle", "An update sequence lists a component twice.", "List each component once."),
            ("sequence-coverage", "A baseline component is missing from its vendor's update sequence.",
             "Add the component to the sequence so its flash order is deliberate.")),
    *_rules("critical-images", "warning",
            ("critical-left-behind", "A baseline pins a version older than a critical image.",
             "Raise the baseline target to the critical image's version (or newer).")),
    *_rules("downgrades", "error",
            ("downgrade", "A baseline target is lower than before (base ref) or than a host runs.",
             "Raise the target, or set allow_downgrade: true on the component if the downgrade is intended."),
            ("downgrade-undecidable", "A target cannot be ordered against the version it replaces.",
             "Versions of different schemes are never compared; check the change by hand.")),
    *_rules("fleet", "warning",
            ("drift-behind", "A host runs an older version than its baseline.", "Run hwfw plan / hwfw apply."),
            ("drift-ahead", "A host runs a newer version than its baseline (downgrade allowed).",
             "Raise the baseline or let hwfw apply downgrade the host."),
            ("drift-unknown", "A host's version is unreadable or cannot be ordered against the target.",
             "Check the component by hand; plan with --accept-unknown HOST:COMPONENT to flash anyway."),
            ("drift-missing", "A host lacks a component its baseline declares.",
             "Check the hardware, or narrow the component's match: pattern."),
            ("drift-unreachable", "A host was unreachable when the snapshot was taken.",
             "Take a new snapshot (hwfw inventory --out) once the BMC answers."),
            ("host-problem", "The plan for a host reports an error.", "See the message."),
            ("drift-setting", "A host's BIOS attribute differs from what its baseline declares.",
             "Run hwfw plan / hwfw apply.")),
    *_rules("fleet", "error",
            ("rollback-impossible", "With on_failure: rollback-host, a change a host needs could not be rolled back.",
             "Add the image of the version the host runs to the repository (or use another failure policy).")),
    *_rules("fleet", "error",
            ("bios-unknown-attribute", "A declared BIOS attribute is not in the host's attribute registry.",
             "Use the attribute name the registry gives (see the suggestion), or the BIOS version that has it."),
            ("bios-wrong-type", "A declared BIOS value has the wrong type for its attribute.",
             "Enumeration and String values are strings, Integer values integers, Boolean values true/false."),
            ("bios-value-not-allowed", "A declared BIOS value is not allowed (not listed, out of range, bad format).",
             "Use one of the values the registry lists."),
            ("bios-read-only", "A declared BIOS attribute is read-only.", "Remove it from bios_settings."),
            ("bios-password", "A BIOS password attribute is declared.",
             "hwfw does not manage BIOS passwords; remove it (set passwords with Bios.ChangePassword)."),
            ("bios-removed-by-target", "The BIOS version the baseline installs no longer has a declared attribute.",
             "Remove the attribute or pick the name the new BIOS uses.")),
    *_rules("fleet", "warning",
            ("bios-unchecked", "A host's BIOS settings or attribute registry are not in the snapshot.",
             "Take a new snapshot (hwfw inventory --output) with this hwfw: it reads them for hosts that declare "
             "settings.")),
]}

# Loader codes that become `image-sha256` (an images finding) when they are about an image's sha256.
_SHA256_CODES = ("missing-key", "invalid-value")


def rule(rule_id: str) -> Rule:
    """The rule for an id; unknown ids (a loader code added later) are validate rules."""
    return RULES.get(rule_id) or Rule(rule_id, "validate", f"Workspace problem ({rule_id}).", "See the message.")


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. `location.file` is relative to the workspace root (absolute outside it).

    `check` defaults to the rule's check; fleet findings (from `--inventory`) set it to
    `fleet` and carry `host` and `component`.
    """

    rule: str
    severity: str
    message: str
    location: SourceLocation | None = None
    check: str = ""
    host: str | None = None
    component: str | None = None
    expected: str | None = None
    related: tuple[tuple[SourceLocation, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if not self.check:
            object.__setattr__(self, "check", rule(self.rule).check)

    def render(self, path: PathStyle | None = None) -> str:
        """`FILE:LINE:COL: severity: message [rule]` plus expected and notes (like validate)."""
        where = f"{_loc_text(self.location, path)}: " if self.location else ""
        about = f"{self.host}: " if self.host else ""
        text = f"{where}{self.severity}: {about}{self.message} [{self.rule}]"
        if self.expected:
            text += f"\n    expected: {self.expected}"
        for loc, note in self.related:
            text += f"\n    {_loc_text(loc, path)}: note: {note}"
        return text


class PathStyle:
    """Turns workspace-relative files into what a reader needs (cwd-relative by default)."""

    def __init__(self, root: Path, base: Path | None = None) -> None:
        self.root = root
        self.base = base

    def show(self, file: str) -> str:
        path = Path(file)
        full = path if path.is_absolute() else self.root / path
        try:
            rel = os.path.relpath(full, self.base or Path.cwd())
        except ValueError:
            return str(full)
        return Path(rel).as_posix() if not rel.startswith("..") else str(full)


def _loc_text(loc: SourceLocation | None, path: PathStyle | None) -> str:
    if loc is None:
        return ""
    file = path.show(loc.file) if path else loc.file
    return f"{file}:{loc.line}:{loc.column}"


def workspace_relative(file: str, root: Path) -> str:
    """A loader display path (cwd-relative or absolute) as a workspace-relative one."""
    path = Path(file)
    full = (path if path.is_absolute() else Path.cwd() / path).resolve()
    try:
        return full.relative_to(root).as_posix()
    except ValueError:
        return str(full)


def relocate(loc: SourceLocation | None, root: Path) -> SourceLocation | None:
    return SourceLocation(workspace_relative(loc.file, root), loc.line, loc.column) if loc else None


def from_problem(p: Problem, root: Path) -> Finding:
    """A loader problem as a finding under the same rule id (sha256 problems get their own)."""
    rule_id = p.code
    if p.code in _SHA256_CODES and "sha256" in p.message and "images" in p.message:
        rule_id = "image-sha256"
    return Finding(rule=rule_id, severity=p.severity if p.severity in SEVERITIES else "error",
                   message=p.message, location=relocate(p.location, root), expected=p.expected,
                   related=tuple((relocate(loc, root), note) for loc, note in p.related  # type: ignore[misc]
                                 if loc is not None))


def strict(findings: Iterable[Finding]) -> list[Finding]:
    """`--strict`: every warning is an error (notes stay notes)."""
    return [replace(f, severity="error") if f.severity == "warning" else f for f in findings]


def sort_key(f: Finding) -> tuple[int, str, int, int, str, str]:
    loc = f.location
    check = CHECKS.index(f.check) if f.check in CHECKS else len(CHECKS)
    return (check, loc.file if loc else "", loc.line if loc else 0, loc.column if loc else 0,
            f.host or "", f.message)


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    seen: set[tuple[object, ...]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.location, f.host, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
