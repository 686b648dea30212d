"""Helpers for check/compliance tests: run the CLI in-process, read every output format back."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml_rs
from click.testing import CliRunner

from hwfw.cli import cli
from hwfw.errors import HwfwError
from hwfw.inventory.model import AttributeRegistry, BiosSettings, ComponentState, HostInventory, Inventory
from tests.helpers import line_col_of

FORMATS = ("text", "json", "junit", "sarif", "github")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


def hwfw(*args: str) -> Run:
    """`hwfw ARGS` in this process (the same click command the console script runs).

    Like `hwfw.cli.main`, an `HwfwError` becomes its message on stderr and exit 1; any
    other exception is a bug and propagates.
    """
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        if not isinstance(result.exception, HwfwError):
            raise result.exception
        return Run(result.exception.exit_code, result.stdout, result.stderr + f"Error: {result.exception}\n")
    return Run(result.exit_code, result.stdout, result.stderr)


def check_all_formats(workspace: Path, *extra: str) -> dict[str, Run]:
    return {fmt: hwfw("check", str(workspace), "--format", fmt, *extra) for fmt in FORMATS}


@dataclass(frozen=True)
class Expect:
    """A finding every format must show: rule, severity, file (workspace-relative), position, text."""

    rule: str
    file: str
    line: int
    column: int
    text: str
    severity: str = "error"
    host: str | None = None

    @staticmethod
    def at(rule: str, ws: Path, file: str, needle: str, text: str, *, offset: int = 0, severity: str = "error",
           host: str | None = None) -> Expect:
        line, col = line_col_of(ws / file, needle, offset)
        return Expect(rule, file, line, col, text, severity, host)


def assert_everywhere(runs: dict[str, Run], ws: Path, cwd: Path, e: Expect) -> None:
    """The finding is in text, JSON, JUnit, SARIF and GitHub output, at the same place."""
    shown = (ws / e.file).relative_to(cwd).as_posix()
    where = f"{shown}:{e.line}:{e.column}"
    # text: FILE:LINE:COL: severity: [host: ]message [rule]
    lines = [ln for ln in runs["text"].stdout.splitlines() if ln.startswith(f"{where}: {e.severity}: ")]
    assert any(e.text in ln and ln.endswith(f"[{e.rule}]") for ln in lines), \
        f"text: no {where} {e.rule} {e.text!r} in:\n{runs['text'].stdout}"
    # json
    doc = json.loads(runs["json"].stdout)
    hits = [f for f in doc["findings"] if f["rule"] == e.rule and f["file"] == e.file and f["line"] == e.line
            and f["column"] == e.column and f["severity"] == e.severity and e.text in f["message"]
            and (e.host is None or f["host"] == e.host)]
    assert hits, f"json: no {e} in {json.dumps(doc['findings'], indent=1)}"
    # junit: the error is in the failure of its check's test case (warnings in system-out)
    root = ET.fromstring(runs["junit"].stdout)
    element = "failure" if e.severity == "error" else "system-out"
    bodies = [el.text or "" for el in root.iter(element)]
    assert any(f"{where}: {e.severity}: " in b and e.text in b and f"[{e.rule}]" in b for b in bodies), \
        f"junit: no {where} {e.rule} in {bodies}"
    # sarif
    run = json.loads(runs["sarif"].stdout)["runs"][0]
    results = [r for r in run["results"] if r["ruleId"] == e.rule and r["level"] == e.severity
               and e.text in r["message"]["text"]]
    assert any(_sarif_at(r, e) for r in results), f"sarif: no {e} in {json.dumps(results, indent=1)}"
    # github: ::error file=F,line=L,col=C,title=hwfw RULE::message
    level = {"error": "error", "warning": "warning", "note": "notice"}[e.severity]
    prefix = f"::{level} file={shown},line={e.line},col={e.column},title=hwfw {e.rule}"
    assert any(ln.startswith(prefix) and _gh_unescape(ln.split("::", 2)[2]).find(e.text) >= 0
               for ln in runs["github"].stdout.splitlines()), f"github: no {prefix} in:\n{runs['github'].stdout}"


def _sarif_at(result: dict[str, Any], e: Expect) -> bool:
    phys = result["locations"][0]["physicalLocation"]
    return (phys["artifactLocation"] == {"uri": e.file, "uriBaseId": "%SRCROOT%"}
            and phys["region"] == {"startLine": e.line, "startColumn": e.column})


def _gh_unescape(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def assert_exit_everywhere(runs: dict[str, Run], code: int) -> None:
    assert {fmt: r.code for fmt, r in runs.items()} == dict.fromkeys(FORMATS, code), \
        {fmt: (r.code, r.stderr[-500:]) for fmt, r in runs.items()}


def junit_failures(xml_text: str) -> tuple[int, int]:
    """(failures attribute of <testsuites>, number of <failure> elements)."""
    root = ET.fromstring(xml_text)
    return int(root.get("failures", "-1")), sum(1 for _ in root.iter("failure"))


def lab_snapshot(lab: Path, **overrides: dict[str, str]) -> dict[str, Any]:
    """An inventory snapshot of the lab as its simulator would report it (from fleet.yaml),
    without starting the simulator. `overrides[host] = {component key: version}`.

    BIOS settings are those of configured hosts: each host's attributes read as its
    baseline declares them, where its BIOS has them (others keep their defaults), with
    the attribute registry of each BIOS version from the simulator's catalogs."""
    from hwfw.config import load_workspace

    ws = load_workspace(lab)
    fleet = yaml_rs.loads((lab / "fleet.yaml").read_text())
    inventory = yaml_rs.loads((lab / "inventory.yaml").read_text())
    hosts, registries = {}, {}
    for h in inventory["hosts"]:
        spec = fleet["hosts"][h["bmc"].removeprefix("sim://")]
        comps = []
        for kind, version in spec["firmware"].items():
            if isinstance(version, dict):
                comps += [ComponentState(kind, inst, v) for inst, v in version.items()]
            else:
                comps.append(ComponentState(kind, kind, version))
        changes = overrides.get(h["name"], {})
        comps = [ComponentState(c.kind, c.instance, changes.get(c.key, c.version)) for c in comps]
        bios = _configured_bios(ws, h["name"], h["vendor"], h["model"], spec["firmware"]["bios"], registries)
        hosts[h["name"]] = HostInventory(host=h["name"], reachable=True, vendor=h["vendor"], model=h["model"],
                                         serial=f"SN-{h['name']}", components=tuple(comps), bios=bios)
    return Inventory(hosts=hosts, registries=registries).to_json("2025-01-01T00:00:00Z")


def _configured_bios(ws: Any, name: str, vendor: str, model: str, version: str,
                     registries: dict[str, AttributeRegistry]) -> BiosSettings:
    from hwfw.sim.bios.catalogs import CATALOGS
    from hwfw.sim.bios.registry import Registry

    host = ws.host(name)
    baseline = next(b for b in ws.baselines if b.select.matches(host))
    sim = Registry(CATALOGS[vendor], model, version)
    declared = {k: v.value for k, v in baseline.settings_for(host).items() if k in sim.attrs}
    current = sim.current(declared, {"model": model, "bios_version": version, "serial": f"SN-{name}"})
    registry = AttributeRegistry.from_redfish(sim.body("/registry", current), vendor=vendor, model=model,
                                              bios_version=version)
    registries[registry.key] = registry
    return BiosSettings(attributes=current, registry=registry.key, registry_id=registry.registry_id)
