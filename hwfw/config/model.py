"""Typed, immutable objects for everything a workspace declares.

The loader builds these from validated YAML; the planner and executor read only these,
never raw dictionaries.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from hwfw.errors import SourceLocation

COMPONENT_KINDS = ("bmc", "bios", "cpld", "nic", "raid", "psu", "drive", "backplane", "me", "gpu")
ACTIVATIONS = ("none", "bmc-reset", "host-reboot", "ac-cycle")

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: float | int | str) -> float:
    """Seconds from a number or text such as `90s`, `10m`, `1h30m`, `250ms`."""
    if isinstance(value, (int, float)):
        return float(value)
    parts = _DURATION_PART.findall(value)
    if not parts or _DURATION_PART.sub("", value).strip():
        raise ValueError(f"invalid duration {value!r}: expected e.g. 90s, 10m, 1h30m")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Short human text: 45s, 6m, 1h 5m."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 1 or seconds == 0 else f"{seconds * 1000:.0f}ms"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    return f"{minutes // 60}h {minutes % 60}m" if minutes % 60 else f"{minutes // 60}h"


def frozen_map(d: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True, slots=True)
class CredentialsRef:
    """Where a BMC's credentials come from. Holds references, never secrets."""

    username: str | None = None
    username_env: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    file: Path | None = None


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    bmc: str
    protocol: str = "redfish"
    vendor: str | None = None
    model: str | None = None
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    credentials: CredentialsRef | None = None
    ca_bundle: Path | None = None
    ipmi_port: int | None = None
    site: str | None = None          # where its BMC is reachable from (a worker per site: `hwfw worker --site`)
    location: SourceLocation | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Selector:
    vendor: str | None = None
    models: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    hosts: tuple[str, ...] = ()

    def matches(self, host: Host, vendor: str | None = None, model: str | None = None) -> bool:
        """Does this selector pick `host`? `vendor`/`model` override the host's hints
        (the planner passes what the BMC itself reported)."""
        v = vendor or host.vendor
        m = model or host.model
        if self.vendor and v != self.vendor:
            return False
        if self.models and not any(fnmatch.fnmatchcase(m or "", pat) for pat in self.models):
            return False
        if any(host.labels.get(k) != val for k, val in self.labels.items()):
            return False
        if self.hosts and not any(fnmatch.fnmatchcase(host.name, pat) for pat in self.hosts):
            return False
        return True


@dataclass(frozen=True, slots=True)
class ComponentTarget:
    """What one baseline wants for one component (or a group of instances of it)."""

    id: str
    kind: str
    version: str
    image: str | None = None
    allow_downgrade: bool = False
    match: str | None = None
    scheme: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)

    def matches_instance(self, instance: str) -> bool:
        return self.match is None or fnmatch.fnmatchcase(instance, self.match)


@dataclass(frozen=True, slots=True)
class Baseline:
    name: str
    select: Selector
    components: tuple[ComponentTarget, ...]
    description: str = ""
    location: SourceLocation | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class VersionCondition:
    component: str
    constraint: str


@dataclass(frozen=True, slots=True)
class CompatRule:
    """`when` holds on a host => `requires` must hold too (and be active, by default)."""

    id: str
    when: VersionCondition
    requires: VersionCondition
    vendor: str | None = None
    models: tuple[str, ...] = ()
    active: bool = True
    source: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)

    def applies_to(self, vendor: str | None, model: str | None) -> bool:
        return _scope_matches(self.vendor, self.models, vendor, model)


@dataclass(frozen=True, slots=True)
class MinimumRule:
    id: str
    component: str
    constraint: str
    vendor: str | None = None
    models: tuple[str, ...] = ()
    source: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)

    def applies_to(self, vendor: str | None, model: str | None) -> bool:
        return _scope_matches(self.vendor, self.models, vendor, model)


@dataclass(frozen=True, slots=True)
class SteppingStone:
    """Versions matching `target` can only be installed over a version matching `from_`."""

    id: str
    component: str
    target: str
    from_: str
    vendor: str | None = None
    models: tuple[str, ...] = ()
    source: str | None = None
    location: SourceLocation | None = field(default=None, compare=False)

    def applies_to(self, vendor: str | None, model: str | None) -> bool:
        return _scope_matches(self.vendor, self.models, vendor, model)


def _scope_matches(rule_vendor: str | None, rule_models: tuple[str, ...],
                   vendor: str | None, model: str | None) -> bool:
    if rule_vendor and rule_vendor != vendor:
        return False
    if rule_models and not any(fnmatch.fnmatchcase(model or "", p) for p in rule_models):
        return False
    return True


@dataclass(frozen=True, slots=True)
class CompatibilityMatrix:
    rules: tuple[CompatRule, ...] = ()
    minimums: tuple[MinimumRule, ...] = ()
    stepping_stones: tuple[SteppingStone, ...] = ()


DEFAULT_SEQUENCE = ("bmc", "bios", "cpld", "nic")


@dataclass(frozen=True, slots=True)
class Sequences:
    default: tuple[str, ...] = DEFAULT_SEQUENCE
    vendors: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def for_vendor(self, vendor: str | None) -> tuple[str, ...]:
        return self.vendors.get(vendor or "", self.default)


@dataclass(frozen=True, slots=True)
class RepositoryEntry:
    id: str
    vendor: str
    component: str
    version: str
    models: tuple[str, ...]
    source: str
    sha256: str
    size: int | None = None
    scheme: str | None = None
    allow_http: bool = False
    signature: str | None = None
    public_key: Path | None = None
    activation: str | None = None
    apply_times: tuple[str, ...] = ()
    method: str = "auto"
    duration: float | None = None
    critical: bool = False
    rollback: str | None = None
    description: str = ""
    location: SourceLocation | None = field(default=None, compare=False)

    def supports_model(self, model: str | None) -> bool:
        return any(fnmatch.fnmatchcase(model or "", p) for p in self.models)


@dataclass(frozen=True, slots=True)
class Repository:
    entries: tuple[RepositoryEntry, ...] = ()

    def get(self, image_id: str) -> RepositoryEntry | None:
        for entry in self.entries:
            if entry.id == image_id:
                return entry
        return None

    def candidates(self, vendor: str | None, component: str, model: str | None) -> list[RepositoryEntry]:
        """Images that could be flashed on this vendor/model's component."""
        return [e for e in self.entries
                if e.component == component and (vendor is None or e.vendor == vendor)
                and e.supports_model(model)]


@dataclass(frozen=True, slots=True)
class Timing:
    """Waits and deadlines; defaults are real-world values from the references."""

    request_timeout: float = 30.0
    connect_timeout: float = 10.0
    host_read_deadline: float = 300.0
    poll_interval: float = 10.0
    stability_checks: int = 3
    stability_interval: float = 30.0
    bmc_ready_timeout: float = 600.0
    post_timeout: float = 1200.0
    graceful_shutdown_timeout: float = 300.0
    upload_timeout_per_mib: float = 2.0
    component_deadlines: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({
        "bmc": 1800.0, "bios": 2700.0, "cpld": 2700.0, "nic": 1800.0}))
    hook_timeout: float = 600.0
    time_scale: float = 1.0

    def deadline_for(self, kind: str) -> float:
        return self.component_deadlines.get(kind, 3600.0)


@dataclass(frozen=True, slots=True)
class Policies:
    on_failure: str = "halt-host"
    refuse_irreversible: bool = False
    allow_unsigned: bool = True
    max_unavailable: str | None = None
    failure_budget: str | None = None
    canary: int = 0


@dataclass(frozen=True, slots=True)
class HostHooks:
    pre_host: tuple[str, ...] = ()
    post_host: tuple[str, ...] = ()
    timeout: float = 600.0


@dataclass(frozen=True, slots=True)
class ImageServerSettings:
    listen: str = "127.0.0.1:0"
    advertise_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_transfers: int = 16


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    speed: float = 1.0
    tls: bool = False
    latency: float = 0.0


@dataclass(frozen=True, slots=True)
class BackendSettings:
    """Where state, lock, intents and audit live: `local` files (default) or `postgres`.

    The connection string is never in YAML: `dsn_env` names an environment variable,
    `dsn_file` a file. `location` is where hwfw.yaml sets the backend, for errors."""

    type: str = "local"
    dsn_env: str | None = None
    dsn_file: Path | None = None
    schema: str = "hwfw"
    workspace: str = "default"
    location: SourceLocation | None = None


ENGINES = ("local", "temporal")


@dataclass(frozen=True, slots=True)
class TemporalSettings:
    """`settings.temporal`: the Temporal service `--engine temporal` and `hwfw worker` use."""

    address: str = "127.0.0.1:7233"
    namespace: str = "default"


@dataclass(frozen=True, slots=True)
class Settings:
    state_path: Path
    runtime_dir: Path
    cache_dir: Path | None = None
    ca_bundle: Path | None = None
    parallelism: int = 10
    requests_per_bmc: int = 4
    plan_concurrency: int | None = None  # BMCs read at once; None: sized to the fleet (hwfw/inventory/sizing.py)
    retries: int = 4
    timing: Timing = field(default_factory=Timing)
    policies: Policies = field(default_factory=Policies)
    hooks: HostHooks = field(default_factory=HostHooks)
    image_server: ImageServerSettings = field(default_factory=ImageServerSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    allowed_sha256: tuple[str, ...] | None = None
    signing_keys: tuple[Path, ...] = ()
    backend: BackendSettings = field(default_factory=BackendSettings)
    engine: str = "local"            # what executes an apply: this process, or Temporal workflows
    temporal: TemporalSettings = field(default_factory=TemporalSettings)


@dataclass(frozen=True, slots=True)
class Workspace:
    """A loaded, validated workspace: the root of everything hwfw reads."""

    root: Path
    files: Mapping[str, Path]
    settings: Settings
    hosts: tuple[Host, ...]
    baselines: tuple[Baseline, ...]
    matrix: CompatibilityMatrix
    sequences: Sequences
    repository: Repository
    fleet_path: Path | None = None

    def host(self, name: str) -> Host | None:
        for h in self.hosts:
            if h.name == name:
                return h
        return None

    def baselines_for(self, host: Host, vendor: str | None = None,
                      model: str | None = None) -> list[Baseline]:
        return [b for b in self.baselines if b.select.matches(host, vendor, model)]

    def rel(self, path: Path) -> str:
        """A path as shown to users: relative to the workspace where possible."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)
