"""`hwfw compliance`: the JSON report follows its schema and counts right; the HTML page,
rendered by headless Chromium, shows the same numbers as the JSON (live lab, simulator)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import pytest

from hwfw.compliance.status import STATUSES
from tests.compliance.support import hwfw, lab_snapshot
from tests.helpers import REPO_ROOT

SCHEMA = json.loads((REPO_ROOT / "schemas" / "compliance.schema.json").read_text())
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_json_report_from_a_snapshot(lab_copy: Path, tmp_path: Path) -> None:
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(lab_snapshot(lab_copy, **{"lab-dell-03": {"bios": "1.11.0"},
                                                         "lab-gen-02": {"bmc": None}})))  # type: ignore[dict-item]
    run = hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "json")
    assert run.code == 0, run.stderr
    doc = json.loads(run.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    rows = {(b["name"], c["component"]): c for b in doc["baselines"] for c in b["components"]}
    assert rows[("dell-r750", "bmc")]["counts"] == {**dict.fromkeys(STATUSES, 0), "behind": 2}
    assert rows[("dell-r650", "bios")]["counts"]["ahead"] == 1
    assert rows[("contoso-edge", "bmc")]["counts"] == {**dict.fromkeys(STATUSES, 0), "behind": 1, "unknown": 1}
    assert rows[("dell-r750", "bios")]["percent"]["compliant"] == 50.0
    summary = doc["summary"]
    assert (summary["hosts"], summary["managed"], summary["compliant_hosts"], summary["unreachable"]) == (9, 9, 0, 0)
    assert summary["components"]["behind"] == 15 and summary["component_total"] == 22  # dell-03 bios is ahead
    assert doc["source"] == {"kind": "snapshot", "snapshot": str(snap)}
    # Hosts needing attention come first; the host behind nowhere but ahead comes after them.
    order = [h["name"] for h in doc["hosts"]]
    assert order.index("lab-dell-03") > order.index("lab-smc-02")


def test_critical_images_sort_first_and_text_and_markdown_agree(lab_copy: Path, tmp_path: Path) -> None:
    text = (lab_copy / "repository.yaml").read_text()
    (lab_copy / "repository.yaml").write_text(text.replace(
        "    source: images/hpe-cpld-0x14.bin", "    critical: true\n    source: images/hpe-cpld-0x14.bin"))
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(lab_snapshot(lab_copy)))
    doc = json.loads(hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "json").stdout)
    assert doc["hosts"][0]["name"] == "lab-hpe-01" and doc["hosts"][0]["critical_behind"] is True
    assert doc["summary"]["critical_behind_hosts"] == 1
    md = hwfw("compliance", str(lab_copy), "--inventory", str(snap), "--format", "markdown").stdout
    assert "| hpe-dl380-gen10 | cpld **critical** | 0x14 | 0 | 1 | 0 | 0 | 0 | 0 | 0% |" in md
    assert "| lab-hpe-01 | **behind, critical** |" in md
    txt = hwfw("compliance", str(lab_copy), "--inventory", str(snap)).stdout
    assert "0 of 9 managed hosts compliant (0%)" not in txt and "1 of 9 managed hosts compliant (11.1%)" in txt
    assert "CRITICAL lab-hpe-01" in txt


# ---------------------------------------------------------------- HTML in Chromium

class _Dom(HTMLParser):
    """A tiny DOM: every element with its attributes, its text and its children."""

    VOID: ClassVar[frozenset[str]] = frozenset({"meta", "link", "br", "hr", "img", "input", "rect", "path",
                                                "line", "circle"})

    def __init__(self) -> None:
        super().__init__()
        self.root: dict[str, Any] = {"tag": "#root", "attrs": {}, "children": [], "text": ""}
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = {"tag": tag, "attrs": dict(attrs), "children": [], "text": ""}
        self.stack[-1]["children"].append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1]["children"].append({"tag": tag, "attrs": dict(attrs), "children": [], "text": ""})

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for node in self.stack:
            node["text"] += data


def _walk(node: dict[str, Any]) -> Any:
    yield node
    for child in node["children"]:
        yield from _walk(child)


def render_dom(html_file: Path, tmp_path: Path, fragment: str = "") -> dict[str, Any]:
    """The DOM Chromium ends up with after loading the page and running its script."""
    assert CHROMIUM is not None
    result = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}",
                             "--dump-dom", html_file.as_uri() + fragment],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Dom()
    dom.feed(result.stdout)
    return dom.root


@pytest.mark.slow
def test_html_report_renders_the_json_numbers_in_chromium(lab_copy: Path, tmp_path: Path) -> None:
    assert CHROMIUM is not None, "needs Chromium: apt-get install chromium chromium-driver (.ci/run does)"
    # Live: every host is sim://, so hwfw starts the lab's simulated BMCs for each command.
    report = tmp_path / "report.html"
    as_json = hwfw("compliance", str(lab_copy), "--format", "json")
    as_html = hwfw("compliance", str(lab_copy), "--format", "html", "--out", str(report))
    assert (as_json.code, as_html.code) == (0, 0), as_json.stderr + as_html.stderr
    doc = json.loads(as_json.stdout)
    assert doc["source"]["kind"] == "live"
    assert (doc["summary"]["hosts"], doc["summary"]["compliant_hosts"]) == (9, 1)  # the lab is behind
    text = report.read_text()
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert "https://" not in text and "<link" not in text and "src=" not in text

    dom = render_dom(report, tmp_path, "#sort=host:desc")
    nodes = list(_walk(dom))
    body = next(n for n in nodes if n["tag"] == "body")
    assert body["attrs"]["data-ready"] == "true"  # the page's script ran
    # Fleet summary cards.
    metrics = {n["attrs"]["data-metric"]: n["text"].split()[0] for n in nodes if "data-metric" in n["attrs"]}
    s = doc["summary"]
    assert metrics == {"hosts": str(s["hosts"]), "compliant_percent": f"{s['compliant_percent']:g}%",
                       "noncompliant_hosts": str(s["noncompliant_hosts"]),
                       "critical_behind_hosts": str(s["critical_behind_hosts"]),
                       "unreachable": str(s["unreachable"]), "unmanaged": str(s["unmanaged"])}
    # Chart bars and the table: per baseline and component, every status count.
    bars = {(n["attrs"]["data-baseline"], n["attrs"]["data-component"]): n for n in nodes
            if n["tag"] == "g" and "data-component" in n["attrs"]}
    cells = {(n["attrs"]["data-baseline"], n["attrs"]["data-component"]): n for n in nodes
             if n["tag"] == "tr" and "data-component" in n["attrs"]}
    expected = {(b["name"], c["component"]): c for b in doc["baselines"] for c in b["components"]}
    assert set(bars) == set(cells) == set(expected)
    for key, c in expected.items():
        assert {st: int(bars[key]["attrs"][f"data-{st}"]) for st in STATUSES} == c["counts"], key
        shown = {td["attrs"]["data-status"]: td["text"].strip() for td in cells[key]["children"]
                 if "data-status" in td["attrs"]}
        assert {st: int(shown[st]) for st in STATUSES} == c["counts"], key
        assert shown["percent"] == (f"{c['percent']['compliant']:g}%" if c["total"] else "—")
    # Host table: every host once, sorted by the script (name, descending) as the URL asked.
    table = next(n for n in nodes if n["attrs"].get("id") == "hosts")
    assert table["attrs"]["data-sorted"] == "host:desc"
    rows = [n for n in _walk(table) if n["tag"] == "tr" and "data-host" in n["attrs"]]
    assert [r["attrs"]["data-host"] for r in rows] == sorted((h["name"] for h in doc["hosts"]), reverse=True)
    assert {r["attrs"]["data-host"]: r["attrs"]["data-status"] for r in rows} == \
        {h["name"]: h["status"] for h in doc["hosts"]}
    host_th = next(n for n in _walk(table) if n["tag"] == "th" and n["attrs"].get("data-key") == "host")
    assert host_th["attrs"]["aria-sort"] == "descending"
