"""hwfw's packages form layers: each imports only packages of lower layers.

The checker reads every `.py` file under a package with `ast` and collects every
import, wherever it is written: at module level, inside functions (lazy imports),
under `if TYPE_CHECKING:` and in `importlib.import_module("hwfw....")` calls with a
literal (or f-string) module name. TYPE_CHECKING imports count: a lower layer whose
signatures name a higher layer's types depends on that layer as much as one that
calls it, and the two would otherwise drift into a cycle the moment someone needs the
type at run time.

A *unit* is what sits directly under `hwfw/`: a subpackage (`hwfw/plan`) or a
top-level module (`hwfw/errors.py`); `hwfw/__init__.py` is the unit `hwfw`. Modules
inside one unit may import each other freely. Between units:

- a unit imports only units of strictly lower layers (units of one layer are
  independent of each other, which also rules out every cycle);
- `ONLY_IMPORTS`: some units may import nothing but the listed units;
- `ONLY_IMPORTED_BY`: some units may be imported only by the listed units;
- every unit must be placed in `LAYERS` (a new package has to be put somewhere).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

# Lowest first. Names that do not exist yet (api, server) reserve their place.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = tuple((name, frozenset(units)) for name, units in (
    ("foundation (base)", {"hwfw", "errors"}),
    ("foundation", {"logs", "clock", "versions", "resources", "gcpause", "ipmi_deviceid", "vendor_registry",
                    "cancel", "invocation", "bmcstats", "aio"}),
    ("foundation (on logs and clock)", {"events", "retry"}),
    ("config", {"config"}),
    ("services", {"state", "repository", "redfish", "ipmi", "sim"}),
    ("vendors", {"vendors"}),
    ("inventory", {"inventory"}),
    ("connect", {"connect"}),
    ("plan", {"plan"}),
    ("operations", {"apply", "compliance"}),
    ("observers", {"notify", "metrics"}),
    # Engines other than the local one run the operations elsewhere (Temporal workflows).
    ("engines", {"engine"}),
    ("api", {"api"}),
    ("presentation", {"render"}),
    ("front ends", {"cli", "server"}),
    ("entry point", {"__main__"}),
))

FOUNDATION = LAYERS[0][1] | LAYERS[1][1]
# Every foundation layer (what any unit may import).
ALL_FOUNDATION = FOUNDATION | LAYERS[2][1]

# The simulator knows nothing of the client: foundation and config only, and not the
# client's vendor registry (the simulator keeps its own list, so a wrong fact in one
# is caught by the other; tests/test_vendor_registry.py compares them).
#
# The front ends (the CLI, the HTTP server) are thin: they parse, call the public API
# (hwfw.api) and render (hwfw.render). Nothing of config, plan, apply, inventory,
# connect, repository, state or compliance directly: whatever a front end needs, the
# API offers, so the CLI and the server can never drift apart.
FRONT_END_IMPORTS = ALL_FOUNDATION | {"api", "render"}
ONLY_IMPORTS: dict[str, frozenset[str]] = {
    "sim": (FOUNDATION - {"vendor_registry"}) | {"config"},
    "cli": FRONT_END_IMPORTS,
    "server": FRONT_END_IMPORTS,
}
# `connect` is the one place that starts the simulator for sim:// hosts; `api` has
# hwfw.api.sim for `hwfw sim`. Text, markdown and HTML for people are drawn only for the
# front ends.
ONLY_IMPORTED_BY: dict[str, frozenset[str]] = {
    "sim": frozenset({"connect", "api"}),
    "render": frozenset({"cli", "server"}),
}


@dataclass(frozen=True, slots=True)
class Edge:
    """One import of unit `target` by a file of unit `source`."""

    source: str
    target: str
    path: Path
    line: int
    module: str

    def where(self, root: Path) -> str:
        return f"{self.path.relative_to(root.parent)}:{self.line}"


def module_name(root: Path, path: Path) -> tuple[str, bool]:
    """Dotted name of the module in `path` and whether it is a package `__init__`."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def unit_of(root: Path, module: str) -> str | None:
    """The unit a dotted module name belongs to, or None when it is not under `root`."""
    parts = module.split(".")
    if parts[0] != root.name:
        return None
    if len(parts) == 1:
        return root.name
    return parts[1]


def _imported_modules(root: Path, node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module.split(".") if is_package else module.split(".")[:-1]
            package = package[:len(package) - (node.level - 1)]
            base = ".".join(package + ([base] if base else []))
        if base == root.name:
            # `from hwfw import versions` imports the module hwfw.versions (unit
            # versions); `from hwfw import __version__` the package itself.
            return [f"{base}.{a.name}" if _is_unit(root, a.name) else base for a in node.names]
        return [base]
    if isinstance(node, ast.Call) and _is_import_call(node) and node.args:
        literal = _literal_prefix(node.args[0])
        return [literal] if literal and literal.count(".") >= 1 else []
    return []


def _is_unit(root: Path, name: str) -> bool:
    return (root / f"{name}.py").is_file() or (root / name / "__init__.py").is_file()


def _is_import_call(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("import_module", "__import__")


def _literal_prefix(arg: ast.expr) -> str | None:
    """The module name of `"hwfw.x.y"`, or of `f"hwfw.x.{name}"` up to the placeholder."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
        prefix = str(arg.values[0].value)
        return prefix.rsplit(".", 1)[0] if "." in prefix else None
    return None


def import_edges(root: Path) -> list[Edge]:
    """Every import between two units of the package at `root`, with file and line."""
    edges = []
    for path in sorted(root.rglob("*.py")):
        module, is_package = module_name(root, path)
        source = unit_of(root, module)
        assert source is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target_module in _imported_modules(root, node, module, is_package):
                target = unit_of(root, target_module)
                if target is not None and target != source:
                    edges.append(Edge(source, target, path, getattr(node, "lineno", 0), target_module))
    return edges


def units(root: Path) -> set[str]:
    """Every unit of the package at `root`."""
    found = {root.name}
    for path in root.iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            found.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").is_file():
            found.add(path.name)
    return found


def violations(root: Path, layers: tuple[tuple[str, frozenset[str]], ...] = LAYERS, *,
               only_imports: dict[str, frozenset[str]] | None = None,
               only_imported_by: dict[str, frozenset[str]] | None = None) -> list[str]:
    """One line per broken rule, each naming the file and line of the import."""
    only_imports = ONLY_IMPORTS if only_imports is None else only_imports
    only_imported_by = ONLY_IMPORTED_BY if only_imported_by is None else only_imported_by
    level = {unit: i for i, (_, members) in enumerate(layers) for unit in members}
    problems = [f"{root.name}/{unit}: not placed in any layer (add it to LAYERS)"
                for unit in sorted(units(root) - set(level))]
    for e in import_edges(root):
        if e.source not in level or e.target not in level:
            continue
        here, there = layers[level[e.source]][0], layers[level[e.target]][0]
        if level[e.target] > level[e.source]:
            problems.append(f"{e.where(root)}: upward import of {e.module} ({e.source}, layer {here!r} "
                            f"imports {e.target}, layer {there!r})")
        elif level[e.target] == level[e.source]:
            problems.append(f"{e.where(root)}: sideways import of {e.module} ({e.source} and {e.target} "
                            f"share layer {here!r} and must stay independent)")
        if e.source in only_imports and e.target not in only_imports[e.source]:
            problems.append(f"{e.where(root)}: {e.source} may import only "
                            f"{', '.join(sorted(only_imports[e.source]))}; not {e.module}")
        if e.target in only_imported_by and e.source not in only_imported_by[e.target]:
            problems.append(f"{e.where(root)}: {e.target} may be imported only by "
                            f"{', '.join(sorted(only_imported_by[e.target]))}; not by {e.source}")
    return problems


# --------------------------------------------------------------------------- hwfw


def test_hwfw_imports_only_downwards() -> None:
    problems = violations(REPO_ROOT / "hwfw")
    assert not problems, "layer violations:\n  " + "\n  ".join(problems)


def test_plan_does_no_io() -> None:
    """The planner is pure: no network, processes, event loop or clock; from hwfw it reads
    only data types (config, inventory and state models) and foundation helpers."""
    root = REPO_ROOT / "hwfw"
    allowed = ("hwfw.config.model", "hwfw.inventory.model", "hwfw.state.model", "hwfw.plan")
    forbidden_units = {"clock", "logs", "resources"}
    forbidden_stdlib = {"asyncio", "socket", "subprocess", "ssl", "httpx", "aiohttp", "urllib.request", "shutil"}
    problems = []
    for path in sorted((root / "plan").rglob("*.py")):
        module, is_package = module_name(root, path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported_modules(root, node, module, is_package):
                where = f"{path.relative_to(REPO_ROOT)}:{node.lineno}"  # type: ignore[attr-defined]
                unit = unit_of(root, target)
                if target.split(".")[0] in forbidden_stdlib or target in forbidden_stdlib:
                    problems.append(f"{where}: {target}")
                elif unit is not None and unit not in FOUNDATION - forbidden_units \
                        and not target.startswith(allowed):
                    problems.append(f"{where}: {target}")
    assert not problems, "I/O in the planner:\n  " + "\n  ".join(problems)


def test_every_existing_unit_is_placed() -> None:
    placed = set().union(*(members for _, members in LAYERS))
    assert units(REPO_ROOT / "hwfw") <= placed


# --------------------------------------------------------------------------- the checker itself


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hwfw"
    for rel, text in {"__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TOY_LAYERS = (("low", frozenset({"hwfw", "low"})), ("mid", frozenset({"mid", "side"})), ("top", frozenset({"top"})))


def test_checker_accepts_downward_imports(tmp_path: Path) -> None:
    root = _package(tmp_path, {
        "low.py": "X = 1\n",
        "mid/__init__.py": "from hwfw.low import X\nfrom hwfw import low\n",
        "top.py": "import hwfw.mid\nfrom . import low\n",
    })
    assert violations(root, TOY_LAYERS, only_imports={}, only_imported_by={}) == []


@pytest.mark.parametrize(("where", "text", "line"), [
    ("module level", "import os\n\nfrom hwfw.top import thing\n", 3),
    ("inside a function", "def f():\n    from hwfw.top import thing\n    return thing\n", 2),
    ("TYPE_CHECKING block", "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import hwfw.top\n", 4),
    ("relative import", "def f():\n    from ..top import thing\n", 2),
    ("from the package", "from hwfw import top\n", 1),
    ("import_module", "import importlib\n\nM = importlib.import_module('hwfw.top')\n", 3),
    ("import_module f-string", "import importlib\n\ndef f(n):\n    return importlib.import_module(f'hwfw.top.{n}')\n",
     4),
])
def test_checker_reports_an_upward_import_with_file_and_line(tmp_path: Path, where: str, text: str,
                                                             line: int) -> None:
    root = _package(tmp_path, {"top/__init__.py": "thing = 1\n", "mid/__init__.py": "", "mid/deep.py": text})
    problems = violations(root, TOY_LAYERS, only_imports={}, only_imported_by={})
    assert len(problems) == 1, (where, problems)
    assert problems[0].startswith(f"hwfw/mid/deep.py:{line}: upward import of hwfw.top"), problems


def test_checker_reports_a_cycle_between_units_of_one_layer(tmp_path: Path) -> None:
    root = _package(tmp_path, {"mid/__init__.py": "from hwfw.side import b\n",
                               "side.py": "def b():\n    from hwfw.mid import a\n"})
    problems = violations(root, TOY_LAYERS, only_imports={}, only_imported_by={})
    assert [p.split(": ")[0] for p in problems] == ["hwfw/mid/__init__.py:1", "hwfw/side.py:2"]
    assert all("sideways import" in p for p in problems)


def test_checker_reports_unplaced_units_and_restricted_edges(tmp_path: Path) -> None:
    root = _package(tmp_path, {"low.py": "", "mid/__init__.py": "import hwfw.low\n",
                               "top.py": "import hwfw.mid\n", "stray.py": ""})
    problems = violations(root, TOY_LAYERS, only_imports={"mid": frozenset({"hwfw"})},
                          only_imported_by={"mid": frozenset({"side"})})
    assert problems == [
        "hwfw/stray: not placed in any layer (add it to LAYERS)",
        "hwfw/mid/__init__.py:1: mid may import only hwfw; not hwfw.low",
        "hwfw/top.py:1: mid may be imported only by side; not by top",
    ]
