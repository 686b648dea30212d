"""Machine formats of a `CheckReport`: JSON, JUnit XML, GitHub annotations, GitLab Code Quality.

They read the report and never re-run a check (terminal text: hwfw/render/check.py).
Paths: JSON keeps workspace-relative files (with the workspace named once); the others
name files relative to the current
directory, which in CI is the repository root that annotations and test reports resolve
against. SARIF has its own module (`sarif`).
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from typing import Any

from hwfw.compliance.findings import CHECKS, Finding, PathStyle
from hwfw.compliance.gate import CheckReport
from hwfw.config.loader import display_path

CHECK_FORMAT = 1
# ---------------------------------------------------------------- JSON

def finding_json(f: Finding) -> dict[str, Any]:
    loc = f.location
    out: dict[str, Any] = {
        "rule": f.rule, "check": f.check, "severity": f.severity, "message": f.message,
        "file": loc.file if loc else None, "line": loc.line if loc else None, "column": loc.column if loc else None,
        "host": f.host, "component": f.component,
    }
    if f.expected:
        out["expected"] = f.expected
    if f.related:
        out["related"] = [{"file": r.file, "line": r.line, "column": r.column, "message": note}
                          for r, note in f.related]
    return out


def check_status(report: CheckReport, name: str) -> str:
    if report.checks.get(name) is not None:
        return "skipped"
    return "failed" if any(f.check == name and f.severity == "error" for f in report.findings) else "passed"


def to_json(report: CheckReport, hwfw_version: str) -> dict[str, Any]:
    """The document of schemas/check.schema.json."""
    checks = {}
    for name in CHECKS:
        mine = [f for f in report.findings if f.check == name]
        entry: dict[str, Any] = {"status": check_status(report, name),
                                 **{f"{s}s": sum(1 for f in mine if f.severity == s)
                                    for s in ("error", "warning", "note")}}
        if report.checks.get(name):
            entry["skipped_reason"] = report.checks[name]
        checks[name] = entry
    return {
        "format_version": CHECK_FORMAT, "hwfw_version": hwfw_version, "workspace": display_path(report.root),
        "ok": report.ok,
        "options": {"strict": report.strict, "base_ref": report.base_ref, "inventory": report.inventory},
        "summary": {"errors": report.count("error"), "warnings": report.count("warning"),
                    "notes": report.count("note"), "findings": len(report.findings),
                    "hosts": len(report.hosts), "checks": checks},
        "findings": [finding_json(f) for f in report.findings],
    }


# ---------------------------------------------------------------- JUnit XML

def to_junit(report: CheckReport) -> str:
    """One test case per check (per host for `fleet`): a failure lists the check's errors,
    warnings and notes go to system-out, a check that could not run is skipped."""
    paths = PathStyle(report.root)
    suites = ET.Element("testsuites", name="hwfw check")
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for name in CHECKS:
        if name in report.not_requested:
            continue  # an option that was not given is not a test
        suite = ET.SubElement(suites, "testsuite", name=f"hwfw.{name}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        mine = [f for f in report.findings if f.check == name]
        reason = report.checks.get(name)
        if reason is not None:
            case = ET.SubElement(suite, "testcase", classname=f"hwfw.check.{name}", name=name, time="0")
            ET.SubElement(case, "skipped", message=reason)
            counts["tests"] += 1
            counts["skipped"] += 1
        elif name == "fleet":
            for host in report.hosts:
                counts["tests"] += 1
                counts["failures"] += _case(suite, f"hwfw.check.{name}", host,
                                            [f for f in mine if f.host == host], paths)
        else:
            counts["tests"] += 1
            counts["failures"] += _case(suite, f"hwfw.check.{name}", name, mine, paths)
        suite.set("tests", str(counts["tests"]))
        suite.set("failures", str(counts["failures"]))
        suite.set("errors", "0")
        suite.set("skipped", str(counts["skipped"]))
        for k in totals:
            totals[k] += counts[k]
    for k, v in totals.items():
        suites.set(k, str(v))
    suites.set("errors", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _case(suite: ET.Element, classname: str, name: str, findings: list[Finding], paths: PathStyle) -> int:
    case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
    errors = [f for f in findings if f.severity == "error"]
    others = [f for f in findings if f.severity != "error"]
    located = [f for f in errors or others if f.location]
    if located:
        case.set("file", paths.show(located[0].location.file))  # type: ignore[union-attr]
    if errors:
        first = errors[0]
        message = first.message if len(errors) == 1 else f"{len(errors)} errors; first: {first.message}"
        failure = ET.SubElement(case, "failure", type=first.rule, message=message)
        failure.text = "\n".join(f.render(paths) for f in errors)
    if others:
        ET.SubElement(case, "system-out").text = "\n".join(f.render(paths) for f in others)
    return 1 if errors else 0


# ---------------------------------------------------------------- GitHub workflow commands

def escape_data(text: str) -> str:
    """GitHub workflow-command message escaping (`%`, CR, LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Property values additionally escape `:` and `,`, which separate properties."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


_GITHUB_LEVEL = {"error": "error", "warning": "warning", "note": "notice"}


def to_github(report: CheckReport) -> str:
    """`::error file=F,line=L,col=C,title=T::message` lines, one per finding."""
    paths = PathStyle(report.root)
    lines = []
    for f in report.findings:
        props = []
        if f.location:
            props += [f"file={escape_property(paths.show(f.location.file))}", f"line={f.location.line}",
                      f"col={f.location.column}"]
        props.append(f"title={escape_property(f'hwfw {f.rule}' + (f' ({f.host})' if f.host else ''))}")
        message = (f"{f.host}: " if f.host else "") + f.message
        if f.expected:
            message += f"\nexpected: {f.expected}"
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{escape_data(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


# ---------------------------------------------------------------- GitLab Code Quality

_CODEQUALITY_SEVERITY = {"error": "major", "warning": "minor", "note": "info"}


def to_codequality(report: CheckReport) -> list[dict[str, Any]]:
    """GitLab Code Quality report (a CodeClimate subset): one issue per finding."""
    paths = PathStyle(report.root)
    out = []
    for f in report.findings:
        path = paths.show(f.location.file) if f.location else "hwfw.yaml"
        line = f.location.line if f.location else 1
        text = (f"{f.host}: " if f.host else "") + f.message
        digest = hashlib.sha256(f"{f.rule}\0{path}\0{f.host or ''}\0{f.message}".encode()).hexdigest()
        out.append({"type": "issue", "check_name": f"hwfw/{f.rule}", "description": text,
                    "categories": ["Bug Risk" if f.severity == "error" else "Style"],
                    "severity": _CODEQUALITY_SEVERITY[f.severity], "fingerprint": digest,
                    "location": {"path": path, "lines": {"begin": line}}})
    return out
