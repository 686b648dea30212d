"""Render a `ComplianceReport` as terminal text (rich) or markdown (wikis, PR comments, email).

Both read counts and statuses from the report and never recompute them. Columns are the
statuses in `STATUSES` order; hosts come in report order (critical first).
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hwfw.compliance.report import SETTING_STATUSES, ComplianceReport, HostRow, pct_text
from hwfw.compliance.status import STATUSES
from hwfw.inventory.model import shown as _shown

STYLES = {"compliant": "green", "behind": "yellow", "ahead": "blue", "unknown": "magenta", "missing": "red",
          "unreachable": "red", "unmanaged": "dim", "drift": "yellow"}


def headline(report: ComplianceReport) -> str:
    """`1 of 9 managed hosts compliant (11.1%); 8 not compliant, 0 unreachable, ...; 0 unmanaged`."""
    s = report.summary()
    return (f"{s['compliant_hosts']} of {s['managed']} managed hosts compliant ({pct_text(s['compliant_percent'])}); "
            f"{s['noncompliant_hosts']} not compliant, {s['unreachable']} unreachable, "
            f"{s['critical_behind_hosts']} behind on critical images; {s['unmanaged']} unmanaged")


def _source(report: ComplianceReport) -> str:
    return f"snapshot {report.snapshot}" if report.source == "snapshot" else "live inventory"


def render_text(report: ComplianceReport, console: Console) -> None:
    console.print(f"[bold]Fleet compliance[/bold] of {escape(report.workspace)} "
                  f"({escape(_source(report))}, {report.generated_at})")
    console.print(escape(headline(report)))
    # Only the statuses that occur get a column, so the table fits a terminal.
    shown = [st for st in STATUSES if st == "compliant" or report.component_counts[st]]
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("baseline / component", no_wrap=True)
    table.add_column("target", overflow="fold")
    for st in shown:
        table.add_column(st, justify="right", style=STYLES[st])
    table.add_column("% compliant", justify="right")
    for b in report.baselines:
        table.add_row(f"[bold]{escape(b.name)}[/bold]", f"[dim]{b.compliant_hosts}/{b.hosts} hosts compliant[/dim]",
                      *([""] * (len(shown) + 1)), end_section=False)
        for r in b.rows:
            name = "  " + escape(r.component) + (" [red]critical[/red]" if r.critical else "")
            table.add_row(name, escape(r.target), *(str(r.counts[st]) for st in shown),
                          r.compliant_text, end_section=r is b.rows[-1])
    console.print()
    console.print(table)
    if any(b.settings for b in report.baselines):
        console.print()
        console.print(_settings_table(report))
    attention = [h for h in report.hosts if h.status != "compliant"]
    if attention:
        console.print()
        console.print("[bold]Hosts needing attention[/bold] (behind on critical images first)")
        for h in attention:
            console.print(f"  [{STYLES[h.status]}]{h.status:<11}[/{STYLES[h.status]}] {escape(_host_line(h))}")
    fallbacks = fallback_lines(report)
    if fallbacks:
        console.print()
        console.print(f"[yellow]{FALLBACK_NOTE}[/yellow]")
        for line in fallbacks:
            console.print(f"  {escape(line)}")


FALLBACK_NOTE = ("* read from a fallback, not FirmwareInventory (the status rests on the resource's own version "
                 "property):")


def fallback_lines(report: ComplianceReport) -> list[str]:
    """`host: key (ComputerSystem.BiosVersion)` for every component read from a fallback."""
    return [f"{h.name}: " + ", ".join(f"{c.key} {c.current or '?'} ({c.source})" for c in h.fallbacks)
            for h in report.hosts if h.fallbacks]


def _settings_table(report: ComplianceReport) -> Table:
    """BIOS settings beside the firmware: per baseline and declared attribute, hosts per status."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("baseline / BIOS setting", no_wrap=True)
    table.add_column("declared", no_wrap=True)
    for st in SETTING_STATUSES:
        table.add_column(st, justify="right", style=STYLES[st])
    table.add_column("% compliant", justify="right")
    for b in report.baselines:
        if not b.settings:
            continue
        table.add_row(f"[bold]{escape(b.name)}[/bold]", "", *([""] * (len(SETTING_STATUSES) + 1)), end_section=False)
        for row in b.settings:
            table.add_row("  " + escape(row.attribute), escape(row.target),
                          *(str(row.counts[st]) for st in SETTING_STATUSES), row.compliant_text,
                          end_section=row is b.settings[-1])
    return table


def _host_details(h: HostRow, arrow: str) -> list[str]:
    parts = [f"{c.key} {c.current or '?'} {arrow} {c.target}" for c in h.components if c.status != "compliant"]
    parts += [f"BIOS {s.attribute} {_shown(s.current) if s.current is not None else '?'} {arrow} {_shown(s.target)}"
              for s in h.settings if s.status != "compliant"]
    return parts


def _host_line(h: HostRow) -> str:
    crit = "CRITICAL " if h.critical_behind else ""
    if h.status in ("unreachable", "unmanaged"):
        return f"{crit}{h.name}" + (f": {h.error}" if h.error else "")
    return f"{crit}{h.name} ({h.baseline}): " + "; ".join(_host_details(h, "->"))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: ComplianceReport) -> str:
    s = report.summary()
    out = [f"## Fleet compliance: {pct_text(s['compliant_percent'])} of managed hosts compliant", "",
           f"{_cell(headline(report))}.", "",
           f"Source: {_source(report)}, {report.generated_at}. Workspace `{report.workspace}`.", ""]
    out += ["| baseline | component | target | " + " | ".join(STATUSES) + " | compliant % |",
            "|---|---|---|" + "---:|" * (len(STATUSES) + 1)]
    for b in report.baselines:
        for r in b.rows:
            crit = " **critical**" if r.critical else ""
            out.append(f"| {_cell(b.name)} | {_cell(r.component)}{crit} | {_cell(r.target)} | "
                       + " | ".join(str(r.counts[st]) for st in STATUSES)
                       + f" | {r.compliant_text} |")
    if any(b.settings for b in report.baselines):
        out += ["", "### BIOS settings", "",
                "| baseline | BIOS setting | declared | " + " | ".join(SETTING_STATUSES) + " | compliant % |",
                "|---|---|---|" + "---:|" * (len(SETTING_STATUSES) + 1)]
        for b in report.baselines:
            for row in b.settings:
                out.append(f"| {_cell(b.name)} | {_cell(row.attribute)} | {_cell(row.target)} | "
                           + " | ".join(str(row.counts[st]) for st in SETTING_STATUSES) + f" | {row.compliant_text} |")
    attention = [h for h in report.hosts if h.status != "compliant"]
    if attention:
        out += ["", "### Hosts needing attention", "", "| host | status | baseline | details |", "|---|---|---|---|"]
        for h in attention:
            status = f"**{h.status}, critical**" if h.critical_behind else h.status
            details = "; ".join(_host_details(h, "→")) or (h.error or "")
            out.append(f"| {_cell(h.name)} | {status} | {_cell(h.baseline or '—')} | {_cell(details)} |")
    fallbacks = fallback_lines(report)
    if fallbacks:
        out += ["", f"{_cell(FALLBACK_NOTE)}", ""] + [f"- {_cell(line)}" for line in fallbacks]
    return "\n".join(out) + "\n"
