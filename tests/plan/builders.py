"""Plain-object builders for planner tests: no files, no network."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hwfw.config.model import (
    Baseline,
    CompatibilityMatrix,
    CompatRule,
    ComponentTarget,
    Host,
    MinimumRule,
    Repository,
    RepositoryEntry,
    Selector,
    Sequences,
    Settings,
    SteppingStone,
    VersionCondition,
    Workspace,
)
from hwfw.inventory.model import Capabilities, ComponentState, HostInventory, Inventory, PreflightFacts
from hwfw.plan import HostPlan, Plan
from hwfw.state.model import ComponentRecord, State

DELL_SEQUENCE = ("bios", "raid", "nic", "drive", "psu", "cpld", "bmc")
MODEL = "PowerEdge R750"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def image(kind: str, version: str, *, vendor: str = "dell", models: tuple[str, ...] = ("*",),
          id: str | None = None, **kw: Any) -> RepositoryEntry:
    iid = id or f"{vendor}-{kind}-{version}"
    return RepositoryEntry(id=iid, vendor=vendor, component=kind, version=version, models=models,
                           source=f"images/{iid}.bin", sha256=sha(iid), **kw)


def target(kind: str, version: str, *, id: str | None = None, **kw: Any) -> ComponentTarget:
    return ComponentTarget(id=id or kind, kind=kind, version=version, **kw)


def baseline(name: str, *targets: ComponentTarget, vendor: str | None = "dell",
             hosts: tuple[str, ...] = ()) -> Baseline:
    return Baseline(name=name, select=Selector(vendor=vendor, hosts=hosts), components=tuple(targets))


def rule(id: str, when: tuple[str, str], requires: tuple[str, str], **kw: Any) -> CompatRule:
    return CompatRule(id=id, when=VersionCondition(*when), requires=VersionCondition(*requires), **kw)


def minimum(id: str, component: str, constraint: str, **kw: Any) -> MinimumRule:
    return MinimumRule(id=id, component=component, constraint=constraint, **kw)


def stone(id: str, component: str, target: str, from_: str, **kw: Any) -> SteppingStone:
    return SteppingStone(id=id, component=component, target=target, from_=from_, **kw)


def host(name: str, vendor: str = "dell", model: str = MODEL) -> Host:
    return Host(name=name, bmc=f"sim://{name}", vendor=vendor, model=model)


def workspace(hosts: Iterable[Host], baselines: Iterable[Baseline], repo: Iterable[RepositoryEntry] = (), *,
              rules: Iterable[CompatRule] = (), minimums: Iterable[MinimumRule] = (),
              stones: Iterable[SteppingStone] = (), vendors: dict[str, tuple[str, ...]] | None = None,
              default: tuple[str, ...] = ("bmc", "bios", "cpld", "nic"), parallelism: int = 10) -> Workspace:
    root = Path("/nonexistent/ws")
    return Workspace(
        root=root, files=MappingProxyType({}),
        settings=Settings(state_path=root / "state.json", runtime_dir=root / ".hwfw", parallelism=parallelism),
        hosts=tuple(hosts), baselines=tuple(baselines),
        matrix=CompatibilityMatrix(rules=tuple(rules), minimums=tuple(minimums), stepping_stones=tuple(stones)),
        sequences=Sequences(default=default, vendors=MappingProxyType(dict(vendors or {}))),
        repository=Repository(entries=tuple(repo)))


def comp(kind: str, version: str | None, instance: str | None = None, name: str = "") -> ComponentState:
    return ComponentState(kind=kind, instance=instance or kind, version=version, name=name)


def inv_host(name: str, *components: ComponentState, vendor: str = "dell", model: str = MODEL,
             reachable: bool = True, apply_times: tuple[str, ...] = ("Immediate", "OnReset"),
             preflight: PreflightFacts | None = None, error: str | None = None) -> HostInventory:
    return HostInventory(host=name, reachable=reachable, vendor=vendor if reachable else None,
                         model=model if reachable else None, serial=f"SN-{name}",
                         components=tuple(components), error=error,
                         capabilities=Capabilities(update_methods=("multipart",), apply_times=apply_times)
                         if reachable else None,
                         preflight=preflight)


def inventory(*hosts: HostInventory) -> Inventory:
    return Inventory(hosts={h.host: h for h in hosts})


def hp(p: Plan, name: str = "h1") -> HostPlan:
    """The plan of host `name` (which must be in the plan)."""
    h = p.host(name)
    assert h is not None, f"{name} is not in the plan"
    return h


def state(records: dict[str, dict[str, ComponentRecord]] | None = None, serial: int = 0) -> State:
    return State(lineage="6c1f9f0e-0000-4000-8000-000000000001", serial=serial, hosts=records or {})
