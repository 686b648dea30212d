"""Render a `Plan` for people: rich text for the terminal, markdown for a PR comment.

Renderers read actions, reasons and counts from the plan and never recompute them.
Symbols (Terraform-like): `~` upgrade, `<` downgrade, `?` unknown version, `=` already
at target (dim, collapsed per host), `!` activation, `x` missing or unreachable. BIOS
settings follow the firmware: `~ bios-settings ProcTurboMode Disabled -> Enabled`, `=`
for attributes that read as declared (collapsed per host). Refused changes are red.
Order is the plan's: hosts by name, changes as planned.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from hwfw.inventory.model import shown
from hwfw.plan.model import Action, Change, HostPlan, Plan, Resets, SettingChange, minutes_text

ResetLines = dict[str, list[tuple[str, list[str]]]]  # host -> (reset name, activated keys)

SYMBOLS = {
    Action.UPGRADE: "~", Action.DOWNGRADE: "<", Action.UNKNOWN: "?", Action.NOOP: "=",
    Action.ACTIVATE_ONLY: "!", Action.MISSING: "x", Action.UNREACHABLE: "x",
}
STYLES = {
    Action.UPGRADE: "yellow", Action.DOWNGRADE: "magenta", Action.UNKNOWN: "yellow", Action.NOOP: "dim",
    Action.ACTIVATE_ONLY: "cyan", Action.MISSING: "red", Action.UNREACHABLE: "red",
}


def symbol(c: Change) -> str:
    """The one-character symbol of a change's action."""
    return SYMBOLS[c.action]


def resets_text(r: Resets) -> str:
    """`1 host reboot, 0 BMC resets, 1 AC power cycle`."""
    parts = [_n(r.host_reboots, "host reboot"), _n(r.bmc_resets, "BMC reset"), _n(r.ac_cycles, "AC power cycle")]
    return ", ".join(parts)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _versions(c: Change) -> str:
    cur = c.current if c.current is not None else "?"
    text = f"{cur} -> {c.target}"
    if len(c.hops) > 1:
        text += f" via {', '.join(c.hops[:-1])}"
    return text


def _note(c: Change, rollback: bool = False) -> str:
    """The change's note; `rollback`: say how every change would be rolled back (the plan
    was made for `on_failure: rollback-host`), else only name the irreversible ones."""
    if c.refused:
        return f"refused: {c.message}"
    if c.action is Action.ACTIVATE_ONLY:
        return c.message
    if c.action is Action.UNKNOWN:
        return f"accepted unknown version; {c.apply_time}, {c.activation}"
    if c.apply_time:
        extra = f", rollback: {_rollback(c)}" if rollback or c.rollback == "irreversible" else ""
        return f"{c.apply_time}, {c.activation}{extra}"
    return c.message


SETTINGS_KEY = "bios-settings"


def _setting_key(s: SettingChange) -> str:
    return f"{SETTINGS_KEY} {s.attribute}"


def _value(value: object) -> str:
    if value is None:
        return "(absent)"
    return '""' if value == "" else shown(value)


def _setting_values(s: SettingChange) -> str:
    return f"{_value(s.current)} -> {_value(s.target)}"


def _setting_note(s: SettingChange) -> str:
    if s.refused:
        return f"refused: {s.message}"
    return s.message or ("" if s.origin == "baseline" else f"from {s.origin}")


def _setting_work(h: HostPlan) -> list[SettingChange]:
    return [s for s in h.settings if s.action != "noop" or s.refused]


def _setting_noops(h: HostPlan) -> list[str]:
    return [s.attribute for s in h.settings if s.action == "noop" and not s.refused]
def _rollback(c: Change) -> str:
    if c.rollback == "bmc-previous":
        return "the BMC's previous image" + (f" (or {c.rollback_image})" if c.rollback_image else "")
    if c.rollback == "repository":
        return f"repository image {c.rollback_image}" if c.rollback_image else "repository"
    return str(c.rollback)


def _shows_rollback(plan: Plan) -> bool:
    return plan.options.on_failure == "rollback-host"


def _host_title(h: HostPlan) -> str:
    what = " ".join(x for x in (h.vendor, h.model) if x)
    base = f"baseline {h.baseline}" if h.baseline else "no baseline"
    return f"{base}, {what}" if what else base


# ------------------------------------------------------------------ terminal text

def render_text(plan: Plan, console: Console) -> None:
    """Print the plan grouped per host, then the summary line (the CLI's `plan` output).

    Lines are collected into one Text and printed once: rich costs ~0.1 ms per print
    call, which is seconds for a 10,000-host plan.
    """
    resets = activations(plan)
    lines: list[Text] = []
    noop_hosts = []
    for h in plan.hosts:
        if h.status == "unmanaged":
            lines.append(Text(f"  {h.name}  no baseline selects this host ({_host_title(h)})", style="dim"))
            continue
        work = [c for c in h.changes if c.action is not Action.NOOP or c.refused]
        if not work and not _setting_work(h) and not h.findings and h.status == "managed":
            noop_hosts.append(h)
            continue
        lines += _host_text(h, work, resets, rollback=_shows_rollback(plan))
    if noop_hosts:
        names = ", ".join(h.name for h in noop_hosts)
        lines.append(Text(f"= {_n(len(noop_hosts), 'host')} already at target: {names}", style="dim"))
    if plan.drift:
        lines += [Text(), Text(f"Note: {_n(len(plan.drift), 'component')} changed outside hwfw since it last "
                               "recorded them:", style="bold")]
        lines += [Text(f"  {d.host} {d.key}: recorded {d.recorded}, runs {d.actual or 'nothing'}")
                  for d in plan.drift]
    lines += [Text(), Text(plan.summary.line(), style="bold red" if plan.errored else "bold")]
    if plan.errored:
        lines.append(Text("The plan has errors and cannot be applied; see the hosts above.", style="red"))
    elif not plan.steps:
        lines.append(Text("No changes. Every managed host is at its baseline.", style="green"))
    console.print(Text("\n").join(lines), soft_wrap=True)


def _host_text(h: HostPlan, work: list[Change], resets: ResetLines, *, rollback: bool = False) -> list[Text]:
    head = Text()
    if h.status == "unreachable":
        head.append(f"x {h.name}", style="bold red")
        head.append(f"  unreachable ({_host_title(h)})")
    else:
        head.append(h.name, style="bold")
        head.append(f"  {_host_title(h)}", style="dim")
    out = [head]
    settings = _setting_work(h)
    width = max([len(c.key) for c in work] + [len(_setting_key(s)) for s in settings], default=0)
    for c in work:
        line = Text("  ")
        line.append(f"{symbol(c)} {c.key.ljust(width)}", style="red" if c.refused else STYLES[c.action])
        if c.action is not Action.UNREACHABLE:
            line.append(f"  {_versions(c)}")
        note = _note(c, rollback)
        if note:
            line.append(f"  {note}", style="red" if c.refused else "dim")
        out.append(line)
    noops = [c.key for c in h.changes if c.action is Action.NOOP and not c.refused]
    if noops:
        out.append(Text(f"  = {_n(len(noops), 'component')} at target: {', '.join(noops)}", style="dim"))
    for st in settings:
        line = Text("  ")
        line.append(f"~ {_setting_key(st).ljust(width)}", style="red" if st.refused else "yellow")
        line.append(f"  {_setting_values(st)}")
        note = _setting_note(st)
        if note:
            line.append(f"  {note}", style="red" if st.refused else "dim")
        out.append(line)
    same = _setting_noops(h)
    if same:
        out.append(Text(f"  = {_n(len(same), 'BIOS setting')} as declared: {', '.join(same)}", style="dim"))
    out += [Text(f"  ! {name} activates {', '.join(keys)}", style="cyan") for name, keys in resets.get(h.name, ())]
    if h.status == "managed" and (any(c.does_work for c in h.changes) or any(s.does_work for s in h.settings)):
        est = f", est. {minutes_text(h.estimate_seconds)}" if h.estimate_seconds else ""
        out.append(Text(f"  resets: {resets_text(h.resets)}{est}", style="dim"))
    for f in h.findings:
        out.append(Text(f"  {f.severity}: ", style="red" if f.severity == "error" else "yellow") + Text(f.message))
    return out


def activations(plan: Plan) -> dict[str, list[tuple[str, list[str]]]]:
    """Per host, (reset name, activated component keys) for each of its resets, in plan order."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for s in plan.steps:
        if s.kind == "activate":
            keys = [a.split("/", 2)[2] for a in s.activates]
            out.setdefault(s.host, []).append((s.id.split("/", 2)[2], keys))
    return out


# ------------------------------------------------------------------ markdown

def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(plan: Plan, max_chars: int | None = None) -> str:
    """A PR comment: the summary line, one table per host with work, no-op hosts folded.

    With `max_chars`, the text is cut at a section boundary (a host's table, the drift
    table, a folded list) so that it fits, and ends with a note saying how many hosts
    were left out; the summary line always stays. Comment bodies have a size limit
    (GitHub: 65,536 characters), and a table cut mid-row renders as garbage.
    """
    resets = activations(plan)
    head = [f"**{plan.summary.line()}**", ""]
    if plan.errored:
        head += ["> **Errors:** the plan cannot be applied.", ""]
    sections: list[_Section] = []
    noop_hosts, unmanaged = [], []
    for h in plan.hosts:
        if h.status == "unmanaged":
            unmanaged.append(h.name)
            continue
        work = [c for c in h.changes if c.action is not Action.NOOP or c.refused]
        if not work and not _setting_work(h) and not h.findings and h.status == "managed":
            noop_hosts.append(h)
            continue
        sections.append(_Section(_host_markdown(h, work, resets, rollback=_shows_rollback(plan)), hosts=1))
    if plan.drift:
        drift = ["#### Drift (changed outside hwfw)", "", "| Host | Component | Recorded | Running |",
                 "|---|---|---|---|"]
        drift += [f"| {d.host} | {_cell(d.key)} | {_cell(d.recorded)} | {_cell(d.actual or '-')} |"
                  for d in plan.drift]
        sections.append(_Section([*drift, ""], hosts=0, name="the drift table"))
    if noop_hosts:
        folded = [f"<details><summary>{_n(len(noop_hosts), 'host')} already at target</summary>", ""]
        folded += [f"- {h.name} ({_host_title(h)}): {_n(len(h.changes), 'component')} at target" for h in noop_hosts]
        sections.append(_Section([*folded, "", "</details>", ""], hosts=len(noop_hosts)))
    if unmanaged:
        sections.append(_Section([f"<details><summary>{_n(len(unmanaged), 'host')} without a baseline</summary>", "",
                                  ", ".join(unmanaged), "", "</details>", ""], hosts=len(unmanaged)))
    return _fit(head, sections, max_chars)


@dataclass(frozen=True)
class _Section:
    lines: list[str]
    hosts: int  # how many hosts the section shows
    name: str = ""  # how the cut note names a section that shows no host

    @property
    def size(self) -> int:  # characters, each line with its newline
        return sum(len(line) + 1 for line in self.lines)


def _fit(head: list[str], sections: list[_Section], max_chars: int | None) -> str:
    """`head` and as many whole sections, in order, as fit in `max_chars` with the cut note."""
    whole = _document(head + [line for s in sections for line in s.lines])
    if max_chars is None or len(whole) <= max_chars:
        return whole
    reserve = len(_cut_note(sections, max_chars)) + 1  # no shorter note is ever longer than this
    out = list(head)
    size = sum(len(line) + 1 for line in head)
    for i, section in enumerate(sections):
        if size + section.size + reserve > max_chars:
            return _document([*out, _cut_note(sections[i:], max_chars)])
        out += section.lines
        size += section.size
    return whole  # not reached: the whole did not fit


def _document(lines: list[str]) -> str:
    return "\n".join(lines).rstrip() + "\n"


def _cut_note(left_out: list[_Section], max_chars: int) -> str:
    hosts = sum(s.hosts for s in left_out)
    what = [_n(hosts, "more host")] if hosts else []
    what += [s.name for s in left_out if s.name]
    return (f"> **{' and '.join(what)} left out** to keep this under {max_chars:,} characters: "
            "run `hwfw plan` for the full plan.")


def _host_markdown(h: HostPlan, work: list[Change], resets: ResetLines, *, rollback: bool = False) -> list[str]:
    if h.status == "unreachable":
        head = f"#### `x` {h.name}: unreachable"
    else:
        est = f", est. {minutes_text(h.estimate_seconds)}" if h.estimate_seconds else ""
        head = f"#### {h.name} ({_host_title(h)}): {resets_text(h.resets)}{est}"
    out = [head, ""]
    rows: list[str] = []
    for c in work:
        sym = f"`{symbol(c)}`" + (" **refused**" if c.refused else "")
        cur = c.current if c.current is not None else "?"
        to = c.target if len(c.hops) <= 1 else f"{c.target} (via {', '.join(c.hops[:-1])})"
        rows.append(f"| {sym} | {_cell(c.key)} | {_cell(cur)} | {_cell(to)} | {_cell(_note(c, rollback))} |")
    noops = [c.key for c in h.changes if c.action is Action.NOOP and not c.refused]
    if noops:
        rows.append(f"| `=` | {_cell(', '.join(noops))} | | | at target |")
    for st in _setting_work(h):
        sym = "`~`" + (" **refused**" if st.refused else "")
        rows.append(f"| {sym} | {_cell(_setting_key(st))} | {_cell(_value(st.current))} | {_cell(_value(st.target))} | "
                    f"{_cell(_setting_note(st))} |")
    same = _setting_noops(h)
    if same:
        rows.append(f"| `=` | {_cell(SETTINGS_KEY + ' ' + ', '.join(same))} | | | as declared |")
    for name, keys in resets.get(h.name, ()):
        rows.append(f"| `!` | {_cell(name)} | | | activates {_cell(', '.join(keys))} |")
    if rows:
        out += ["| | Component | From | To | Notes |", "|---|---|---|---|---|", *rows, ""]
    for f in h.findings:
        out.append(f"- **{f.severity}**: {_cell(f.message)}")
    if h.findings:
        out.append("")
    return out
