"""SARIF 2.1.0 for `hwfw check --format sarif` (GitHub code scanning, IDE SARIF viewers).

One run; `tool.driver.rules` is the whole rule catalogue (so `ruleIndex` is stable);
each result has its rule id, level, message and one physical location whose
`artifactLocation.uri` is relative to `%SRCROOT%`. `%SRCROOT%` is the workspace by
default (`originalUriBaseIds` records its absolute file URI); pass `srcroot` (the
repository root) when the workspace is a subdirectory and the log goes to GitHub,
which resolves URIs against the repository root. Columns count Unicode code points,
as the YAML positions do. Output validates against the OASIS SARIF 2.1.0 schema
(tests/fixtures/sarif/).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from hwfw.compliance.findings import RULES, Finding, rule
from hwfw.compliance.gate import CheckReport
from hwfw.errors import SourceLocation

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"


def to_sarif(report: CheckReport, hwfw_version: str, srcroot: Path | None = None) -> dict[str, Any]:
    base = (srcroot or report.root).resolve()
    ids = sorted(set(RULES) | {f.rule for f in report.findings})
    index = {rid: i for i, rid in enumerate(ids)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "hwfw", "version": hwfw_version, "semanticVersion": hwfw_version,
            "rules": [_rule(rid) for rid in ids],
        }},
        "originalUriBaseIds": {SRCROOT: {
            "uri": base.as_uri().rstrip("/") + "/",
            "description": {"text": "The hwfw workspace (the directory holding hwfw.yaml)" if base == report.root
                            else "The source root given with --srcroot"}}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": True,
                         "properties": {"strict": report.strict, "baseRef": report.base_ref,
                                        "inventory": report.inventory}}],
        "results": [_result(f, index, report.root, base) for f in report.findings],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _rule(rule_id: str) -> dict[str, Any]:
    r = rule(rule_id)
    return {
        "id": r.id,
        "name": "".join(part.capitalize() for part in r.id.split("-")),
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": f"{r.summary} {r.help}"},
        "help": {"text": r.help},
        "defaultConfiguration": {"level": r.level},
        "properties": {"tags": ["hwfw", r.check]},
    }


def _result(f: Finding, index: dict[str, int], root: Path, base: Path) -> dict[str, Any]:
    text = (f"{f.host}: " if f.host else "") + f.message
    if f.expected:
        text += f" (expected: {f.expected})"
    loc = f.location or SourceLocation("hwfw.yaml", 1, 1)  # code scanning needs a location
    out: dict[str, Any] = {
        "ruleId": f.rule, "ruleIndex": index[f.rule], "level": f.severity, "message": {"text": text},
        "locations": [{"physicalLocation": _physical(loc, root, base)}],
        "partialFingerprints": {"hwfwFinding/v1": hashlib.sha256(
            f"{f.rule}\0{loc.file}\0{f.host or ''}\0{f.component or ''}\0{f.message}".encode()).hexdigest()},
        "properties": {"check": f.check, **({"host": f.host} if f.host else {}),
                       **({"component": f.component} if f.component else {})},
    }
    if f.related:
        out["relatedLocations"] = [{"id": i, "physicalLocation": _physical(r, root, base), "message": {"text": note}}
                                   for i, (r, note) in enumerate(f.related)]
    return out


def _physical(loc: SourceLocation, root: Path, base: Path) -> dict[str, Any]:
    return {"artifactLocation": _artifact(loc.file, root, base),
            "region": {"startLine": loc.line, "startColumn": loc.column}}


def _artifact(file: str, root: Path, base: Path) -> dict[str, Any]:
    path = Path(file)
    full = path if path.is_absolute() else root / path
    rel = os.path.relpath(full, base)
    if rel.startswith(".."):  # outside the source root (a shipped default config): absolute file URI
        return {"uri": full.resolve().as_uri()}
    return {"uri": quote(Path(rel).as_posix()), "uriBaseId": SRCROOT}
