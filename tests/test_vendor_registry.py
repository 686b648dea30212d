"""The vendor registry (hwfw/vendor_registry.py) is the one source of vendor facts.

Every vendor it names has an inventory adapter, an apply driver and a simulator
profile; the simulator's own list and the CLI choices name the same vendors; no JSON
Schema lists vendor names (the loader checks them against the registry); the planner's
vendor facts come from the records.
"""

from __future__ import annotations

import ast
import functools
import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from hwfw import vendor_registry
from hwfw.apply.drivers import RedfishDriver, driver_class_for
from hwfw.cli import cli
from hwfw.config import check_workspace, load_workspace
from hwfw.config.model import ACTIVATIONS, COMPONENT_KINDS
from hwfw.config.vendorfields import VENDOR_FIELDS
from hwfw.plan import activation, estimate
from hwfw.sim.profiles import SimProfile, profiles, service_class
from hwfw.sim.service.base import BmcService
from hwfw.vendor_registry import (
    DEFAULT_VENDOR,
    VENDOR_NAMES,
    VENDORS,
    Detection,
    VendorRecord,
    record_for,
    vendor_for_iana,
)
from hwfw.vendors import adapter_class, adapter_named
from hwfw.vendors.base import StandardAdapter
from tests.helpers import REPO_ROOT, edit

RECORDS = {r.name: r for r in VENDORS}


# --------------------------------------------------------------------------- the records


def test_records_are_well_formed() -> None:
    assert len(RECORDS) == len(VENDORS), "duplicate vendor names"
    assert all(name.isidentifier() and name == name.lower() for name in RECORDS)
    assert DEFAULT_VENDOR in RECORDS and RECORDS[DEFAULT_VENDOR].detection == Detection()
    numbers = [n for r in VENDORS for n in r.iana_ids]
    assert len(numbers) == len(set(numbers)), "an IANA number names two vendors"
    for r in VENDORS:
        assert set(r.flash_seconds) <= set(COMPONENT_KINDS), r.name
        assert set(r.activation) <= set(COMPONENT_KINDS) and set(r.activation.values()) <= set(ACTIVATIONS), r.name
        assert set(r.reset_seconds) <= set(activation.RESET_KINDS), r.name
        assert r.no_previous_image <= set(COMPONENT_KINDS), r.name
        assert all(s > 0 for s in (*r.flash_seconds.values(), *r.reset_seconds.values())), r.name


def test_every_vendor_has_an_adapter_a_driver_and_a_simulator_profile() -> None:
    for r in VENDORS:
        adapter = adapter_class(r)
        assert issubclass(adapter, StandardAdapter) and adapter.name == r.name, r.name
        assert adapter_named(r.name).name == r.name
        driver = driver_class_for(r.name)
        assert issubclass(driver, RedfishDriver) and driver.vendor == r.name, r.name
        assert (REPO_ROOT / "hwfw" / "apply" / "drivers" / f"{r.name}.py").is_file(), r.name
        service = service_class(r.name)
        assert issubclass(service, BmcService) and service.VENDOR == r.name, r.name


def test_an_unknown_vendor_gets_the_generic_driver() -> None:
    assert driver_class_for("no-such-vendor") is driver_class_for(DEFAULT_VENDOR)


# --------------------------------------------------------------------------- the copies


def test_the_simulator_lists_the_same_vendors() -> None:
    assert list(profiles()) == list(VENDOR_NAMES)


def test_the_simulator_lists_its_profile_modules() -> None:
    """A simulator profile is its module: every module of hwfw/sim/profiles that defines a
    PROFILE is listed, under its module's name, alphabetically with the fallback last."""
    package = REPO_ROOT / "hwfw" / "sim" / "profiles"
    modules = sorted(p.stem for p in package.glob("*.py") if "\nPROFILE = SimProfile(" in p.read_text())
    listed = profiles()
    assert sorted(listed) == modules and len(modules) >= 4
    assert all(isinstance(p, SimProfile) and p.name == name for name, p in listed.items())
    assert [p.name for p in listed.values() if p.fallback] == [list(listed)[-1]] == [DEFAULT_VENDOR]
    assert list(listed)[:-1] == sorted(list(listed)[:-1])


def test_one_iana_table_the_simulator_agrees_with() -> None:
    for name, profile in profiles().items():
        manufacturer = profile.ipmi_ids[0]
        if manufacturer:
            assert manufacturer in RECORDS[name].iana_ids, name
            assert vendor_for_iana(manufacturer) == name
        else:
            assert not RECORDS[name].iana_ids, name
    assert vendor_for_iana(0) is None


def test_the_simulator_keeps_a_login_context_exactly_where_the_record_says_so() -> None:
    # True: the vendor's BMCs keep it; False: they do not; None: no public record (any)
    for name in profiles():
        mode = service_class(name).TABLE["session_context"]
        fact = RECORDS[name].session_context
        assert mode in ("stored", "ignored", "refused"), name
        if fact is not None:
            assert (mode == "stored") is fact, name
        else:
            assert mode != "stored", f"{name}: a simulator must not keep what no public record says the BMC keeps"


def _vendor_properties(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """(JSON path, schema) of every property named `vendor`, `vendors` or `profile` in a schema."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "properties" and isinstance(value, dict):
                found += [(f"{here}/{name}", sub) for name, sub in value.items()
                          if name in ("vendor", "vendors", "profile")]
            found += _vendor_properties(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _vendor_properties(value, f"{path}/{i}")
    return found


def _vendor_name_lists(node: Any, path: str = "") -> list[str]:
    """JSON paths of every enum holding a vendor name, and of every set of properties
    named after vendors."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}/{key}"
            if key == "enum" and isinstance(value, list) and set(value) & set(RECORDS):
                found.append(f"{here}: {value}")
            elif key == "properties" and isinstance(value, dict) and set(value) & set(RECORDS):
                found.append(f"{here}: {sorted(value)}")
            found += _vendor_name_lists(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _vendor_name_lists(value, f"{path}/{i}")
    return found


def test_no_schema_lists_vendor_names() -> None:
    """Adding a vendor changes no schema: the names come from the registry, checked on load."""
    found = []
    for path in sorted((REPO_ROOT / "schemas").glob("*.schema.json")):
        found += [f"schemas/{path.name} {where}" for where in _vendor_name_lists(json.loads(path.read_text()))]
    assert not found, "\n".join(found)


def test_every_vendor_field_is_a_string_the_loader_checks() -> None:
    """The fields that used to list the vendors (baselines, inventory, repository, three in
    compatibility, sequences, the fleet's profile) are plain strings whose description
    says where the names come from, and the loader's check covers each of them."""
    counted, wrong = {}, []
    for kind in VENDOR_FIELDS:
        doc = json.loads((REPO_ROOT / "schemas" / f"{kind}.schema.json").read_text())
        # The fleet's `if`/`then` keeps the variant option to the generic profile: a rule
        # about variants, not a list of the vendors.
        fields = [(where, s) for where, s in _vendor_properties(doc) if "/then/" not in where]
        counted[kind] = len(fields)
        for where, s in fields:
            if s.get("type") not in ("string", "object") or {"enum", "const", "properties"} & set(s):
                wrong.append(f"schemas/{kind}.schema.json {where}: {s}")
            elif not re.search(r"vendor registry|simulator's profiles", s.get("description", "")):
                wrong.append(f"schemas/{kind}.schema.json {where}: the description does not say where the names come "
                             "from")
    assert not wrong, "\n".join(wrong)
    assert counted == {kind: len(paths) for kind, paths in VENDOR_FIELDS.items()}
    assert sum(counted.values()) >= 8, counted


def test_the_loader_rejects_an_unknown_vendor(lab_copy: Path) -> None:
    edit(lab_copy / "repository.yaml", "    description: iDRAC9 firmware\n    vendor: dell\n    component: bmc\n"
         '    version: "7.10.30.00"\n    models: ["PowerEdge R750"]',
         "    description: iDRAC9 firmware\n    vendor: lenovo\n    component: bmc\n"
         '    version: "7.10.30.00"\n    models: ["PowerEdge R750"]')
    workspace, problems = check_workspace(lab_copy)
    assert workspace is None
    assert [(p.code, p.message, p.location.line if p.location else None) for p in problems] == [
        ("unknown-vendor", "images[0].vendor: unknown vendor 'lenovo'", 9)]


LENOVO_WORKSPACE = (
    ("inventory.yaml", "hosts:\n", "hosts:\n  - name: xcc-01\n    bmc: https://192.0.2.10\n    vendor: lenovo\n"
     "    model: ThinkSystem SR650 V2\n    credentials: {username_env: XCC_USER, password_env: XCC_PASSWORD}\n"),
    ("baselines.yaml", "\n  contoso-edge:\n", '\n  lenovo-sr650:\n    select: {vendor: lenovo, models: ["ThinkSystem '
     'SR650 V2"]}\n    components:\n      bmc: {version: "1.20"}\n\n  contoso-edge:\n'),
    ("repository.yaml", "images:\n", "images:\n  - id: lenovo-sr650-xcc-1.20\n    vendor: lenovo\n    component: bmc\n"
     '    version: "1.20"\n    models: ["ThinkSystem SR650 V2"]\n    source: https://downloads.example/xcc-1.20.uxz\n'
     f"    sha256: {'ab' * 32}\n"),
    ("compatibility.yaml", "minimums:\n", "minimums:\n  - id: lenovo-xcc-minimum\n    vendor: lenovo\n"
     '    component: bmc\n    version: ">=1.0"\n'),
    ("sequences.yaml", "  dell: [bios, raid, nic, drive, psu, cpld, bmc]\n",
     "  dell: [bios, raid, nic, drive, psu, cpld, bmc]\n  lenovo: [bmc, bios]\n"),
)


def test_a_vendor_record_is_all_a_workspace_needs(lab_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workspace naming a vendor the schemas have never heard of validates as soon as the
    registry has its record: no schema (and no other file hwfw reads) changes."""
    assert not [p.name for p in (REPO_ROOT / "schemas").glob("*.json") if "lenovo" in p.read_text().lower()]
    for file, old, new in LENOVO_WORKSPACE:
        edit(lab_copy / file, old, new)
    _, problems = check_workspace(lab_copy)
    assert sorted((p.code, p.location.file.rsplit("/", 1)[-1] if p.location else "") for p in problems) == sorted(
        ("unknown-vendor", file) for file, _, _ in LENOVO_WORKSPACE)

    lenovo = VendorRecord(name="lenovo", iana_ids=(19046,))
    monkeypatch.setattr(vendor_registry, "VENDORS", (*VENDORS[:-1], lenovo, VENDORS[-1]))
    monkeypatch.setattr(vendor_registry, "VENDOR_NAMES", (*VENDOR_NAMES[:-1], "lenovo", VENDOR_NAMES[-1]))
    result = CliRunner().invoke(cli, ["validate", str(lab_copy), "--format", "json"])
    assert (result.exit_code, json.loads(result.stdout)) == (0, []), result.output
    workspace = load_workspace(lab_copy)
    assert [h.vendor for h in workspace.hosts if h.name == "xcc-01"] == ["lenovo"]
    assert workspace.sequences.vendors["lenovo"] == ("bmc", "bios")


def _docstrings(tree: ast.AST) -> set[int]:
    return {id(node.body[0].value) for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}


def _json_names(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        return any(key == name or (key != "description" and _json_names(value, name)) for key, value in node.items())
    if isinstance(node, list):
        return any(_json_names(value, name) for value in node)
    return bool(node == name)


@functools.cache
def _code_strings(root: Path) -> dict[str, frozenset[str]]:
    """Per module of `root`/hwfw, its string literals outside docstrings."""
    out = {}
    for path in sorted((root / "hwfw").rglob("*.py")):
        tree = ast.parse(path.read_text())
        prose = _docstrings(tree)
        out[str(path.relative_to(root))] = frozenset(
            node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose)
    return out


def files_naming(name: str) -> set[str]:
    """Files of hwfw/ and schemas/ whose code or data holds `name` (as `git grep -lw`
    would find it, without the comments, docstrings and descriptions that only mention
    it): a string literal or JSON value or key equal to it, or a module named after it."""
    found = set()
    for rel, strings in _code_strings(REPO_ROOT).items():
        stem = Path(rel).stem
        if stem == name or stem.startswith(f"{name}_") or name in strings:
            found.add(rel)
    for path in sorted((REPO_ROOT / "schemas").glob("*.json")):
        if _json_names(json.loads(path.read_text()), name):
            found.add(str(path.relative_to(REPO_ROOT)))
    return found


def _documented_files() -> tuple[list[str], list[str]]:
    """(the files a new vendor touches, the optional ones), as docs/adding-a-vendor.md lists them."""
    text = (REPO_ROOT / "docs" / "adding-a-vendor.md").read_text()
    section = text.split("## The files a new vendor touches", 1)[1].split("\n## ", 1)[0]
    required = re.findall(r"^\d\. `([^`]+)`", section, re.M)
    optional = re.findall(r"^- `([^`]+)`", section, re.M)
    return required, optional


def test_only_the_listed_files_name_a_vendor() -> None:
    """The docs' list of the files a new vendor touches is the code's: each vendor is named
    in the four listed files, and elsewhere only in files the docs call optional. The
    generic record is the fallback, whose name is also every default (quirks, services)."""
    required, optional = _documented_files()
    assert len(required) == 4, required
    assert optional, "the docs list no optional files"
    for r in VENDORS:
        if r.name == DEFAULT_VENDOR:
            continue
        touched = files_naming(r.name)
        mine = {path.replace("<name>", r.name) for path in required}
        allowed = mine | {path.replace("<name>", r.name) for path in optional}
        assert mine <= touched, (r.name, sorted(mine - touched))
        # A vendor's profile may be split into modules of its own (hwfw/sim/profiles/dell_jobs.py).
        extra = {p for p in touched - allowed if not p.startswith(f"hwfw/sim/profiles/{r.name}_")}
        assert not extra, f"{r.name} is named in files docs/adding-a-vendor.md does not list: {sorted(extra)}"


def test_the_scan_finds_a_vendor_name_in_code_and_in_schemas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """files_naming sees a name in code and in a schema, and not in prose."""
    (tmp_path / "hwfw" / "x").mkdir(parents=True)
    (tmp_path / "schemas").mkdir()
    (tmp_path / "hwfw" / "x" / "a.py").write_text('"""Mentions acme."""\n# acme\nVENDOR = "acme"\n')
    (tmp_path / "hwfw" / "x" / "b.py").write_text('"""Mentions acme."""\n# acme\n')
    (tmp_path / "hwfw" / "x" / "acme.py").write_text("")
    (tmp_path / "schemas" / "a.schema.json").write_text('{"properties": {"vendor": {"enum": ["acme"]}}}')
    (tmp_path / "schemas" / "b.schema.json").write_text('{"description": "acme"}')
    monkeypatch.setattr(f"{__name__}.REPO_ROOT", tmp_path)
    assert files_naming("acme") == {"hwfw/x/a.py", "hwfw/x/acme.py", "schemas/a.schema.json"}


def _choices(command: click.Command, option: str) -> list[str]:
    (param,) = [p for p in command.params if p.name == option]
    assert isinstance(param.type, click.Choice)
    return list(param.type.choices)


def test_cli_choices_come_from_the_lists() -> None:
    from hwfw.cli.repo import repo
    from hwfw.cli.sim import sim

    assert isinstance(repo, click.Group) and isinstance(sim, click.Group)
    assert _choices(repo.commands["add"], "vendor") == list(VENDOR_NAMES)
    assert _choices(sim.commands["make-image"], "vendor") == list(profiles())


# --------------------------------------------------------------------------- the planner asks the records


def test_the_planner_names_no_vendor() -> None:
    """Vendor facts reach the planner through records: no vendor name in hwfw/plan."""
    found = []
    for path in sorted((REPO_ROOT / "hwfw" / "plan").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in RECORDS:
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {node.value!r}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_planner_facts_follow_the_record(name: str) -> None:
    r = RECORDS[name]
    for kind in COMPONENT_KINDS:
        assert activation.activation_kind(kind, name, None) == r.activation.get(
            kind, activation.DEFAULT_ACTIVATION.get(kind, activation.FALLBACK_ACTIVATION))
        assert estimate.flash_seconds(name, kind, None) == r.flash_seconds.get(
            kind, estimate.FLASH_SECONDS.get(kind, estimate.DEFAULT_FLASH_SECONDS))
    for kind in activation.RESET_KINDS:
        assert estimate.reset_seconds(name, kind, False) == r.reset_seconds.get(kind, estimate.RESET_SECONDS[kind])


def test_an_unknown_vendor_gets_the_defaults() -> None:
    assert record_for("no-such-vendor") is None and record_for(None) is None
    assert activation.activation_kind("psu", "no-such-vendor", None) == activation.DEFAULT_ACTIVATION["psu"]
    assert estimate.flash_seconds(None, "bmc", None) == estimate.FLASH_SECONDS["bmc"]
