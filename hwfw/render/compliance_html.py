"""The compliance report as ONE self-contained HTML file: inline CSS, inline SVG, inline JS.

Nothing is fetched when the page is viewed (no fonts, scripts or images from a
network), so it can be mailed, attached to a ticket or opened from a CI artifact.
Without JavaScript every number is still there; the script only sorts the host table
(click a column header, or open the page with `#sort=COLUMN:asc|desc`) and marks the
body `data-ready="true"` once it ran.

Accessibility: real headings and landmarks, the chart is an `img` with a text
description and a per-segment `<title>`, the same numbers are in a table, status is
never shown by colour alone (labels everywhere), sort buttons are keyboard-operable
and the sorted column carries `aria-sort`. Every number has a `data-*` twin so tests can
read the rendered page back.
"""

from __future__ import annotations

from html import escape
from typing import Any

from hwfw.compliance.report import SETTING_STATUSES, ComplianceReport, ComponentRow, HostRow, pct_text, percent
from hwfw.compliance.status import STATUSES
from hwfw.inventory.model import shown

COLOURS = {"compliant": "#1a7f37", "behind": "#bc4c00", "ahead": "#0969da", "unknown": "#6e7781",
           "missing": "#8250df", "unreachable": "#cf222e", "unmanaged": "#57606a"}
_ORDER = {s: i for i, s in enumerate(("behind", "missing", "unknown", "unreachable", "ahead", "compliant",
                                      "unmanaged"))}

CSS = """
:root { --fg:#1f2328; --muted:#59636e; --line:#d1d9e0; --bg:#ffffff; --panel:#f6f8fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width:1180px; margin:0 auto; padding:24px 32px 48px; }
header h1 { font-size:24px; margin:0 0 4px; }
header p { margin:0; color:var(--muted); }
h2 { font-size:18px; margin:32px 0 12px; }
.kpis { display:grid; grid-template-columns:repeat(6,1fr); gap:12px; margin:20px 0 0; padding:0; }
.kpi { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:0; }
.kpi dt { font-size:13px; color:var(--muted); }
.kpi dd { margin:2px 0 0; font-size:26px; font-weight:650; font-variant-numeric:tabular-nums; }
.kpi dd small { font-size:14px; font-weight:500; color:var(--muted); }
.kpi.alert dd { color:#cf222e; }
.legend { display:flex; flex-wrap:wrap; gap:6px 18px; margin:0 0 8px; padding:0; list-style:none; font-size:13px; }
.legend li { display:flex; align-items:center; gap:6px; }
.swatch { width:12px; height:12px; border-radius:3px; display:inline-block; }
figure { margin:0; }
.overall { margin:14px 0 0; }
.overall svg { display:block; border-radius:4px; overflow:hidden; }
.cards { display:grid; grid-template-columns:repeat(2,minmax(0,1fr)); gap:14px; align-items:start; }
.card { border:1px solid var(--line); border-radius:8px; padding:12px 16px 8px; }
.card figcaption { display:flex; align-items:baseline; gap:10px; margin:0 0 6px; color:inherit; font-size:14px; }
.card h3 { font-size:16px; margin:0; }
figcaption { color:var(--muted); font-size:13px; margin-top:4px; }
svg text { font-family:inherit; }
table { border-collapse:collapse; width:100%; font-variant-numeric:tabular-nums; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:13px; color:var(--muted); font-weight:600; white-space:nowrap; }
tbody th { font-size:15px; color:var(--fg); }
td.num, th.num { text-align:right; }
th button { all:unset; cursor:pointer; border-radius:4px; padding:2px 4px; margin:-2px -4px; }
th button:focus-visible { outline:2px solid #0969da; outline-offset:1px; }
th button::after { content:" \\2195"; color:#afb8c1; }
th[aria-sort=ascending] button::after { content:" \\2191"; color:var(--fg); }
th[aria-sort=descending] button::after { content:" \\2193"; color:var(--fg); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; color:#fff; }
.crit { color:#cf222e; font-weight:650; }
.muted { color:var(--muted); }
details { margin-top:12px; }
summary { cursor:pointer; color:#0969da; }
code { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:13px; }
footer { margin-top:32px; color:var(--muted); font-size:13px; }
@media (max-width:900px) { .kpis { grid-template-columns:repeat(3,1fr); } .cards { grid-template-columns:1fr; }
  main { padding:16px; } }
"""

SCRIPT = """
(function () {
  var table = document.getElementById("hosts");
  var body = table.tBodies[0];
  var heads = table.tHead.rows[0].cells;
  function key(row, col, numeric) {
    var v = row.cells[col].getAttribute("data-value");
    return numeric ? parseFloat(v) : v.toLowerCase();
  }
  function sortBy(col, dir) {
    var th = heads[col], numeric = th.getAttribute("data-type") === "number";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a, col, numeric), y = key(b, col, numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      if (c === 0) { c = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order")); }
      return dir === "descending" ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    table.setAttribute("data-sorted", th.getAttribute("data-key") + ":" + (dir === "ascending" ? "asc" : "desc"));
    document.getElementById("sort-status").textContent =
      "Sorted by " + th.textContent.trim() + ", " + dir + ".";
  }
  Array.prototype.forEach.call(heads, function (th, col) {
    var button = th.querySelector("button");
    if (!button) { return; }
    button.addEventListener("click", function () {
      sortBy(col, th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending");
    });
  });
  var m = /sort=([a-z-]+):(asc|desc)/.exec(window.location.hash);
  if (m) {
    Array.prototype.forEach.call(heads, function (th, col) {
      if (th.getAttribute("data-key") === m[1]) { sortBy(col, m[2] === "asc" ? "ascending" : "descending"); }
    });
  }
  document.body.setAttribute("data-ready", "true");
})();
"""


def render_html(report: ComplianceReport, hwfw_version: str) -> str:
    s = report.summary()
    title = f"Firmware compliance — {report.workspace}"
    source = (f"Snapshot <code>{escape(report.snapshot or '')}</code>" if report.source == "snapshot"
              else "Live inventory")
    when = report.generated_at.replace("T", " ").replace("Z", " UTC")
    parts = [
        "<!doctype html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="hwfw {escape(hwfw_version)}">',
        f"<title>{escape(title)}</title>", f"<style>{CSS}</style>", "</head>",
        f'<body data-ready="false" data-generated="{escape(report.generated_at)}">', "<main>",
        "<header>", f"<h1>{escape(title)}</h1>",
        f"<p>{source} of {_hosts_text(s['hosts'])}, read {escape(when)}</p>", "</header>",
        _kpis(s), _overall(s),
        '<section aria-labelledby="by-component">',
        '<h2 id="by-component">Compliance by baseline and component</h2>',
        _legend(), _chart(report), _component_table(report), "</section>",
        _settings_section(report),
        '<section aria-labelledby="host-heading">',
        '<h2 id="host-heading">Hosts</h2>',
        ('<p class="muted" id="sort-status" aria-live="polite">Hosts behind on critical images first, '
         "then by status. Click a column header to sort.</p>"),
        _host_table(report), _fallback_note(report), "</section>",
        (f"<footer>Generated by hwfw {escape(hwfw_version)} (<code>hwfw compliance --format html</code>). "
         "Statuses: compliant = runs the target; behind/ahead = older/newer than the target; unknown = version "
         "unreadable or not comparable; missing = component absent; unreachable = BMC did not answer.</footer>"),
        "</main>", f"<script>{SCRIPT}</script>", "</body>", "</html>",
    ]
    return "\n".join(parts) + "\n"


def _kpis(s: dict[str, Any]) -> str:
    cards = [
        ("hosts", "Hosts", str(s["hosts"]), f"{s['managed']} managed", False),
        ("compliant_percent", "Compliant", pct_text(s["compliant_percent"]),
         f"{s['compliant_hosts']} of {s['managed']}", False),
        ("noncompliant_hosts", "Not compliant", str(s["noncompliant_hosts"]), "hosts", s["noncompliant_hosts"] > 0),
        ("critical_behind_hosts", "Behind on critical", str(s["critical_behind_hosts"]), "hosts",
         s["critical_behind_hosts"] > 0),
        ("unreachable", "Unreachable", str(s["unreachable"]), "hosts", s["unreachable"] > 0),
        ("unmanaged", "Unmanaged", str(s["unmanaged"]), "no baseline", False),
    ]
    out = ['<dl class="kpis">']
    for key, label, value, sub, alert in cards:
        out.append(f'<div class="kpi{" alert" if alert else ""}"><dt>{escape(label)}</dt>'
                   f'<dd data-metric="{key}"><span class="value">{escape(value)}</span> '
                   f"<small>{escape(sub)}</small></dd></div>")
    out.append("</dl>")
    return "".join(out)


def _legend() -> str:
    items = "".join(f'<li><span class="swatch" style="background:{COLOURS[st]}" aria-hidden="true"></span>{st}</li>'
                    for st in STATUSES)
    return f'<ul class="legend" aria-label="Legend">{items}</ul>'


def _hosts_text(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def _overall(s: dict[str, Any]) -> str:
    """One bar for every component of every host: the fleet at a glance."""
    counts, total = s["components"], s["component_total"]
    width, bar_h = 1000, 14
    out, x = [], 0.0
    for st in STATUSES:
        n = counts[st]
        if not n:
            continue
        w = width * n / total
        out.append(f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="{bar_h}" fill="{COLOURS[st]}">'
                   f"<title>{n} {st} ({s['component_percent'][st]}%)</title></rect>")
        x += w
    parts = ", ".join(f"{counts[st]} {st}" for st in STATUSES if counts[st]) or "none"
    return (f'<figure class="overall"><svg viewBox="0 0 {width} {bar_h}" width="100%" height="{bar_h}" '
            f'preserveAspectRatio="none" role="img" aria-label="All components: {escape(parts)}" '
            f'xmlns="http://www.w3.org/2000/svg">{"".join(out)}</svg>'
            f"<figcaption>All {total} baseline components across the fleet: {escape(parts)}.</figcaption></figure>")


def _chart(report: ComplianceReport) -> str:
    """One card per baseline, one stacked bar per component (inline SVG)."""
    cards = []
    for i, b in enumerate(report.baselines):
        width, label_w, right_w, bar_h, row_h = 520, 205, 50, 18, 30
        bar_w = width - label_w - right_w
        rows = [_bar(r, y * row_h + 4, label_w, bar_w, bar_h, width) for y, r in enumerate(b.rows)]
        height = max(len(b.rows), 1) * row_h
        desc = "; ".join(f"{r.component} {r.target}: " + ", ".join(f"{r.counts[st]} {st}" for st in STATUSES
                                                                    if r.counts[st])
                         for r in b.rows) or "no components"
        standing = (f"{b.compliant_hosts} of {_hosts_text(b.hosts)} compliant · "
                    f"{pct_text(percent(b.compliant_hosts, b.hosts))}" if b.hosts else "no hosts")
        cards.append(
            f'<figure class="card" data-baseline="{escape(b.name)}">'
            f'<figcaption><h3>{escape(b.name)}</h3><span class="muted">{standing}</span></figcaption>'
            f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" aria-labelledby="b{i}-t b{i}-d" '
            f'xmlns="http://www.w3.org/2000/svg"><title id="b{i}-t">{escape(b.name)}: hosts per status, per '
            f'component</title><desc id="b{i}-d">{escape(desc)}</desc>{"".join(rows)}</svg></figure>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _bar(r: ComponentRow, y: int, label_w: int, bar_w: int, bar_h: int, width: int) -> str:
    total = r.total
    data = " ".join(f'data-{st}="{r.counts[st]}"' for st in STATUSES)
    crit = ' <tspan fill="#cf222e" font-weight="650">critical</tspan>' if r.critical else ""
    out = [(f'<g class="bar" data-baseline="{escape(r.baseline)}" data-component="{escape(r.component)}" '
            f'data-total="{total}" {data}>'),
           (f'<text x="0" y="{y + 14}" font-size="14" fill="#1f2328">{escape(r.component)}'
            f'<tspan fill="#59636e" font-size="12" dx="7">{escape(_short(r.target))}</tspan>{crit}'
            f"<title>{escape(r.component)} {escape(r.target)}</title></text>")]
    x = float(label_w)
    if total == 0:
        out.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="{bar_h}" rx="3" fill="#eaeef2"/>'
                   f'<text x="{label_w + 8}" y="{y + 13}" font-size="12" fill="#59636e">no hosts</text>')
    for st in STATUSES:
        n = r.counts[st]
        if not n:
            continue
        w = bar_w * n / total
        out.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{COLOURS[st]}">'
                   f"<title>{escape(f'{r.baseline} {r.component}: {n} {st} ({percent(n, total)}%)')}</title></rect>")
        if w >= 22:
            out.append(f'<text x="{x + w / 2:.1f}" y="{y + 13}" font-size="12" font-weight="600" fill="#fff" '
                       f'text-anchor="middle" aria-hidden="true">{n}</text>')
        x += w
    pct = r.compliant_text
    out.append(f'<text x="{width}" y="{y + 14}" font-size="13" text-anchor="end" fill="#1f2328">{pct}</text></g>')
    return "".join(out)


def _component_table(report: ComplianceReport) -> str:
    head = "".join(f'<th class="num" scope="col">{st}</th>' for st in STATUSES)
    rows = []
    for b in report.baselines:
        for r in b.rows:
            cells = "".join(f'<td class="num" data-status="{st}">{r.counts[st]}</td>' for st in STATUSES)
            crit = ' <span class="crit">critical</span>' if r.critical else ""
            rows.append(f'<tr data-baseline="{escape(b.name)}" data-component="{escape(r.component)}">'
                        f'<th scope="row">{escape(b.name)}</th><td>{escape(r.component)}{crit}</td>'
                        f"<td><code>{escape(r.target)}</code></td>{cells}"
                        f'<td class="num" data-status="percent">{r.compliant_text}'
                        "</td></tr>")
    return ("<details><summary>Show the numbers as a table</summary>"
            '<table id="components"><caption class="muted" style="text-align:left">Hosts per status, '
            'per baseline component</caption><thead><tr><th scope="col">baseline</th><th scope="col">component</th>'
            f'<th scope="col">target</th>{head}<th class="num" scope="col">compliant</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></details>")


def _settings_section(report: ComplianceReport) -> str:
    """BIOS settings beside the firmware: per baseline and declared attribute."""
    if not any(b.settings for b in report.baselines):
        return ""
    head = "".join(f'<th class="num" scope="col">{st}</th>' for st in SETTING_STATUSES)
    rows = []
    for b in report.baselines:
        for r in b.settings:
            cells = "".join(f'<td class="num" data-status="{st}">{r.counts[st]}</td>' for st in SETTING_STATUSES)
            rows.append(f'<tr data-baseline="{escape(b.name)}" data-setting="{escape(r.attribute)}">'
                        f'<th scope="row">{escape(b.name)}</th><td>{escape(r.attribute)}</td>'
                        f"<td><code>{escape(r.target)}</code></td>{cells}"
                        f'<td class="num" data-status="percent">{r.compliant_text}</td></tr>')
    return ('<section aria-labelledby="by-setting"><h2 id="by-setting">BIOS settings by baseline</h2>'
            '<table id="settings"><caption class="muted" style="text-align:left">Hosts whose attribute reads as '
            "declared (compliant), differs (drift) or could not be checked (unknown)</caption><thead><tr>"
            '<th scope="col">baseline</th><th scope="col">BIOS setting</th><th scope="col">declared</th>'
            f'{head}<th class="num" scope="col">compliant</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            "</section>")


def _fallback_note(report: ComplianceReport) -> str:
    """Components read from a fallback (not FirmwareInventory), listed under the hosts."""
    rows = [f"<li>{escape(h.name)}: " + ", ".join(f"{escape(c.key)} {escape(c.current or '?')} "
                                                   f"(<code>{escape(c.source or '?')}</code>)" for c in h.fallbacks)
            + "</li>" for h in report.hosts if h.fallbacks]
    if not rows:
        return ""
    return ('<p id="fallbacks">Read from a fallback, not FirmwareInventory (the status rests on the '
            f"resource's own version property):</p><ul>{''.join(rows)}</ul>")


def _host_table(report: ComplianceReport) -> str:
    cols = [("host", "Host", "text"), ("baseline", "Baseline", "text"), ("model", "Model", "text"),
            ("status", "Status", "number"), ("behind", "Components not at target", "text"),
            ("critical", "Critical", "number")]
    head = "".join(f'<th scope="col" data-key="{k}" data-type="{t}"><button type="button">{label}</button></th>'
                   for k, label, t in cols)
    rows = [_host_row(h, i) for i, h in enumerate(report.hosts)]
    return (f'<table id="hosts" data-sorted="default"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _host_row(h: HostRow, order: int) -> str:
    off = [c for c in h.components if c.status != "compliant"]
    parts = [f"{c.key} {c.current or '?'} → {c.target}" + (" (critical)" if c.critical else "") for c in off]
    parts += [f"BIOS {s.attribute} {shown(s.current) if s.current is not None else '?'} → {shown(s.target)}"
              for s in h.settings if s.status != "compliant"]
    detail = "; ".join(parts) or (h.error or "—")
    status_rank = _ORDER[h.status] - (1 if h.critical_behind else 0)
    badge = f'<span class="badge" style="background:{COLOURS[h.status]}">{h.status}</span>'
    crit = '<span class="crit">yes</span>' if h.critical_behind else '<span class="muted">no</span>'
    return (f'<tr data-host="{escape(h.name)}" data-status="{h.status}" data-order="{order}">'
            f'<th scope="row" data-value="{escape(h.name)}">{escape(h.name)}</th>'
            f'<td data-value="{escape(h.baseline or "")}">{escape(h.baseline or "—")}</td>'
            f'<td data-value="{escape(h.model or "")}">{escape(h.model or "—")}</td>'
            f'<td data-value="{status_rank}">{badge}</td>'
            f'<td data-value="{escape(detail)}">{escape(detail)}</td>'
            f'<td data-value="{0 if h.critical_behind else 1}">{crit}</td></tr>')
