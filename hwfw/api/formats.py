"""Small helpers the front ends need: report formats, duration parsing, display paths.

`format_check_report` turns a `CheckReport` into the machine formats of `hwfw check
--format` (JSON, SARIF, JUnit XML, GitHub annotations, GitLab Code Quality); the text
for people is drawn by hwfw.render.check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hwfw import __version__
from hwfw.config.loader import display_path
from hwfw.config.model import ACTIVATIONS, parse_duration

if TYPE_CHECKING:
    from hwfw.compliance.gate import CheckReport

__all__ = ["ACTIVATIONS", "CHECK_FORMATS", "body_validator", "display_path", "format_check_report", "parse_duration"]

CHECK_FORMATS = ("json", "sarif", "junit", "github", "codequality")


def format_check_report(report: CheckReport, fmt: str, srcroot: Path | None = None) -> str:
    """The report in one of CHECK_FORMATS (`srcroot`: SARIF paths relative to it)."""
    from hwfw.compliance.output import to_codequality, to_github, to_json, to_junit
    from hwfw.compliance.sarif import to_sarif

    if fmt == "json":
        return _dumps(to_json(report, __version__))
    if fmt == "sarif":
        return _dumps(to_sarif(report, __version__, srcroot))
    if fmt == "junit":
        return to_junit(report)
    if fmt == "github":
        return to_github(report)
    if fmt == "codequality":
        return _dumps(to_codequality(report))
    raise ValueError(f"unknown check report format {fmt!r}; one of {', '.join(CHECK_FORMATS)}")


def _dumps(doc: object) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def body_validator(schema: dict[str, Any]) -> Callable[[Any], list[str]]:
    """A function listing why a JSON value does not match `schema` (JSON Schema 2020-12,
    patterns read as ECMA-262 like every schema of hwfw); empty when it matches. Each
    reason reads `at PATH: MESSAGE`."""
    import jsonschema

    from hwfw.config.schema import python_patterns

    validator = jsonschema.Draft202012Validator(python_patterns(schema))

    def check(value: Any) -> list[str]:
        out = []
        for err in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))[:20]:
            where = "/".join(str(p) for p in err.absolute_path) or "(the body)"
            out.append(f"at {where}: {err.message[:300]}")
        return out

    return check
