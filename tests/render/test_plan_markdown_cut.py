"""`render_markdown(plan, max_chars)`: a pull-request comment that fits, cut only between
sections (a host's table, the drift table, a folded list), with a note saying how many
hosts were left out. `hwfw plan --format markdown --max-chars N` is the CLI for it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.plan import Plan, plan
from hwfw.render.plan import render_markdown
from hwfw.state.model import ComponentRecord
from tests.helpers import run_hwfw
from tests.plan.builders import baseline, comp, host, image, inv_host, inventory, state, target, workspace

NOTE = re.compile(r"^> \*\*(?:(\d+) more hosts?)?(?: and )?(the drift table)? left out\*\* to keep this under "
                  r"([\d,]+) characters: run `hwfw plan` for the full plan\.$")


def fleet_plan(behind: int, at_target: int, drift: bool = True) -> Plan:
    """`behind` hosts each with a BIOS and a BMC update, `at_target` hosts with nothing to do."""
    names = [f"h{i:03d}" for i in range(behind + at_target)]
    ws = workspace([host(n) for n in names], [baseline("r750", target("bmc", "7.10"), target("bios", "1.12.1"))],
                   [image("bmc", "7.10"), image("bios", "1.12.1")])
    inv = inventory(*(inv_host(n, comp("bmc", "6.00" if i < behind else "7.10"),
                               comp("bios", "1.10.2" if i < behind else "1.12.1"))
                      for i, n in enumerate(names)))
    records = {names[-1]: {"bios": ComponentRecord("1.12.0", "ok")}} if drift else {}
    return plan(ws, inv, state(records, serial=1))


BIG = fleet_plan(behind=30, at_target=5)
FULL = render_markdown(BIG)
TOTAL_HOSTS = 35


def hosts_shown(text: str) -> int:
    """Host tables plus the hosts listed in the folded 'already at target' list."""
    return len(re.findall(r"^#### h\d+ ", text, re.M)) + len(re.findall(r"^- h\d+ \(", text, re.M))


def test_without_a_limit_or_within_it_nothing_changes() -> None:
    assert render_markdown(BIG, None) == FULL
    assert render_markdown(BIG, len(FULL)) == FULL
    assert hosts_shown(FULL) == TOTAL_HOSTS and "#### Drift" in FULL and not NOTE.search(FULL.splitlines()[-1])


def test_a_cut_keeps_whole_host_tables_and_says_how_many_hosts_are_left_out() -> None:
    out = render_markdown(BIG, 2000)
    lines = out.splitlines()
    assert len(out) <= 2000
    assert lines[0] == FULL.splitlines()[0]  # the summary line always stays
    assert lines[:-1] == FULL.splitlines()[:len(lines) - 1]  # a prefix of the full comment...
    assert lines[-2] == "" and not lines[-3].startswith("#### ")  # ...ending after a whole section
    note = NOTE.match(lines[-1])
    assert note, lines[-1]
    assert int(note.group(1)) == TOTAL_HOSTS - hosts_shown(out) > 0
    assert note.group(2) == "the drift table" and note.group(3) == "2,000"


def test_the_note_names_the_drift_table_alone_when_only_it_and_no_host_is_left_out() -> None:
    p = fleet_plan(behind=3, at_target=0, drift=False)
    full = render_markdown(p)
    assert render_markdown(p, len(full)) == full
    with_drift = fleet_plan(behind=3, at_target=1)
    text = render_markdown(with_drift)
    drift_start = text.index("#### Drift")
    cut = render_markdown(with_drift, drift_start + 150)
    assert hosts_shown(cut) == 3 and cut.splitlines()[-1].startswith("> **1 more host and the drift table left out**")


@settings(max_examples=60, deadline=None)
@given(max_chars=st.integers(min_value=1000, max_value=len(FULL) + 50))
def test_any_limit_is_respected_and_every_host_is_accounted_for(max_chars: int) -> None:
    out = render_markdown(BIG, max_chars)
    assert len(out) <= max_chars
    if out == FULL:
        assert len(FULL) <= max_chars
        return
    lines = out.splitlines()
    assert lines[:-1] == FULL.splitlines()[:len(lines) - 1] and lines[-2] == ""
    note = NOTE.match(lines[-1])
    assert note, lines[-1]
    assert int(note.group(1) or 0) + hosts_shown(out) == TOTAL_HOSTS


@pytest.mark.slow
def test_the_cli_rejects_max_chars_outside_markdown_and_below_1000() -> None:
    bad = run_hwfw("plan", "--format", "json", "--max-chars", "5000")
    assert bad.returncode == 1 and "--max-chars applies only to --format markdown" in bad.stderr
    small = run_hwfw("plan", "--format", "markdown", "--max-chars", "999")
    assert small.returncode == 1 and "--max-chars" in small.stderr and "1000" in small.stderr


@pytest.mark.slow
def test_the_cli_cuts_the_lab_plan(lab_copy: Path) -> None:
    full = run_hwfw("plan", str(lab_copy), "--format", "markdown")
    assert full.returncode == 0, full.stderr
    assert len(full.stdout) > 1500
    cut = run_hwfw("plan", str(lab_copy), "--format", "markdown", "--max-chars", "1500")
    assert cut.returncode == 0, cut.stderr
    assert len(cut.stdout) <= 1500
    note = NOTE.match(cut.stdout.splitlines()[-1])
    assert note and int(note.group(1)) > 0
