"""Rendering a plan: terminal text (rich) and markdown for pull requests."""

from __future__ import annotations

import io

from rich.console import Console

from hwfw.plan import Plan, plan
from hwfw.render.plan import render_markdown, render_text
from tests.plan.builders import baseline, comp, host, image, inv_host, inventory, state, target, workspace
from tests.plan.test_model import fleet, make


def text(p: Plan) -> str:
    console = Console(width=200, file=io.StringIO(), force_terminal=False, color_system=None)
    render_text(p, console)
    out: str = console.file.getvalue()  # type: ignore[attr-defined]
    return out


def test_text_groups_changes_per_host_with_symbols_resets_and_summary() -> None:
    out = text(make())
    lines = out.splitlines()
    assert lines[0].startswith("lab-dell-01  baseline r750, dell PowerEdge R750")
    # two hops: iDRAC's previous image would undo only the last one, and the repository has no 6.00
    assert "  ~ bmc               6.00 -> 7.10 via 6.10  Immediate, bmc-reset, rollback: irreversible" in lines
    assert any(line.startswith("  ? raid") and "accepted unknown version" in line for line in lines)
    assert "  ! ac-cycle#1 activates bios, raid, nic:NIC.Slot.1-1, cpld" in lines
    assert "  resets: 0 host reboots, 2 BMC resets, 1 AC power cycle, est. 36 min" in lines
    assert "  warning: 1 pending BMC job(s): JID_1; clear them or apply may queue behind them" in lines
    assert any(line.startswith("x lab-dell-03  unreachable") for line in lines)
    assert "= 1 host already at target: lab-dell-02" in lines
    assert "  lab-dell-02 bios: recorded 1.12.0, runs 1.12.1" in lines
    assert lines[-1] == make().summary.line()


def test_text_shows_refusals_and_errors() -> None:
    ws, inv, st = fleet()
    out = text(plan(ws, inv, st))
    assert "  ? raid" in out and "refused: current version '?' cannot be ordered" in out
    assert "The plan has errors and cannot be applied" in out


def test_text_for_a_converged_fleet_says_so() -> None:
    ws = workspace([host("h1")], [baseline("b", target("bios", "2.0"))], [image("bios", "2.0")])
    out = text(plan(ws, inventory(inv_host("h1", comp("bios", "2.0"))), state()))
    assert out.splitlines() == ["= 1 host already at target: h1", "",
                                ("Plan: 1 host, 0 component updates, 0 refused, 0 host reboots, 0 AC power cycles, "
                                 "est. 0 min at parallelism 10"),
                                "No changes. Every managed host is at its baseline."]


def test_markdown_has_the_summary_a_table_per_changed_host_and_folds_noop_hosts() -> None:
    md = render_markdown(make())
    lines = md.splitlines()
    assert lines[0] == f"**{make().summary.line()}**"
    assert ("#### lab-dell-01 (baseline r750, dell PowerEdge R750): 0 host reboots, 2 BMC resets, "
            "1 AC power cycle, est. 36 min") in lines
    assert "| `~` | bmc | 6.00 | 7.10 (via 6.10) | Immediate, bmc-reset, rollback: irreversible |" in lines
    assert "| `!` | ac-cycle#1 | | | activates bios, raid, nic:NIC.Slot.1-1, cpld |" in lines
    assert "<details><summary>1 host already at target</summary>" in lines
    assert "- lab-dell-02 (baseline r750, dell PowerEdge R750): 5 components at target" in lines
    assert "| lab-dell-02 | bios | 1.12.0 | 1.12.1 |" in lines
    assert md.endswith("\n") and "\n\n\n" not in md
