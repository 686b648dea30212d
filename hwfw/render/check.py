"""A `CheckReport` as terminal text: one line per finding, then the verdict line.

Reads the report and never re-runs a check; machine formats are in
hwfw/compliance/output.py.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from hwfw.compliance.findings import PathStyle
from hwfw.compliance.gate import NEEDS_WORKSPACE, CheckReport

_COLOURS = {"error": "red", "warning": "yellow", "note": "cyan"}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(report: CheckReport) -> str:
    """`hwfw check passed: 0 errors, 1 warning, 0 notes; 7 checks ran` (the last line of text output)."""
    ran = sum(1 for reason in report.checks.values() if reason is None)
    wanted = len(report.checks) - len(report.not_requested)
    counts = ", ".join(_plural(report.count(s), s) for s in ("error", "warning", "note"))
    verdict = "failed" if not report.ok else "passed"
    runs = f"{ran} checks ran" if ran == wanted else f"{ran} of {wanted} checks ran"
    return f"hwfw check {verdict}: {counts}; {runs}" + \
        (" (--strict: warnings are errors)" if report.strict else "")


def render_text(report: CheckReport, console: Console) -> None:
    paths = PathStyle(report.root)
    for f in report.findings:
        head, _, rest = f.render(paths).partition("\n")
        where, sep, tail = head.partition(f": {f.severity}: ")
        colour = _COLOURS[f.severity]
        line = f"{escape(where)}: [{colour}]{f.severity}[/{colour}]: {escape(tail)}" if sep else escape(head)
        console.print(line + (f"\n{escape(rest)}" if rest else ""), highlight=False)
    blocked = [name for name, reason in report.checks.items() if reason == NEEDS_WORKSPACE]
    if blocked:
        console.print(escape(f"not run until the errors above are fixed: {', '.join(blocked)}"), style="dim")
    style = "red" if not report.ok else "green"
    console.print(f"[{style}]{escape(summary_line(report))}[/{style}]", highlight=False)
