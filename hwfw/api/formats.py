"""Small helpers the front ends need: report formats, duration parsing, display paths.

`format_check_report` turns a `CheckReport` into the machine formats of `hwfw check
--format` (JSON, SARIF, JUnit XML, GitHub annotations, GitLab Code Quality); the text
for people is drawn by hwfw.render.check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from hwfw import __version__
from hwfw.config.loader import display_path
from hwfw.config.model import ACTIVATIONS, parse_duration

if TYPE_CHECKING:
    from hwfw.compliance.gate import CheckReport

__all__ = ["ACTIVATIONS", "CHECK_FORMATS", "display_path", "format_check_report", "parse_duration"]

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
