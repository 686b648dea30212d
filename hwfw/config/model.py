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

    def could_match(self, host: Host) -> bool:
        """Might this selector pick `host` once its BMC reports vendor and model? A
        missing vendor or model hint matches anything."""
        if self.vendor and host.vendor and host.vendor != self.vendor:
            return False
        if self.models and host.model and not any(fnmatch.fnmatchcase(host.model, p) for p in self.models):
            return False
        if any(host.labels.get(k) != val for k, val in self.labels.items()):
            return False
        return not self.hosts or any(fnmatch.fnmatchcase(host.name, pat) for pat in self.hosts)


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


SettingScalar = str | int | bool


@dataclass(frozen=True, slots=True)
class SettingValue:
    """One declared BIOS attribute value and where it was declared.

    `path` is the YAML path of the value in the baselines file (for locating problems);
    `origin` says in words which declaration it is (`baseline`, `labels role=gpu`,
    `hosts lab-dell-03`)."""

    name: str
    value: SettingScalar
    origin: str = "baseline"
    path: tuple[str | int, ...] = field(default=(), compare=False)


# How specific a declaration is: a more specific one wins (README, "BIOS settings").
BASELINE_LEVEL, LABELS_LEVEL, HOSTS_LEVEL = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SettingsOverride:
    """An entry of a baseline's `overrides`: settings for the hosts it selects.

    Selecting by `hosts` (names or globs) is more specific than by `labels`; an entry
    with both counts as a `hosts` entry (it names hosts)."""

    index: int
    bios_settings: tuple[SettingValue, ...]
    hosts: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=frozen_map)

    @property
    def level(self) -> int:
        return HOSTS_LEVEL if self.hosts else LABELS_LEVEL

    def selects(self, host: Host) -> bool:
        if self.hosts and not any(fnmatch.fnmatchcase(host.name, pat) for pat in self.hosts):
            return False
        return all(host.labels.get(k) == v for k, v in self.labels.items())


@dataclass(frozen=True, slots=True)
class Baseline:
    name: str
    select: Selector
    components: tuple[ComponentTarget, ...]
    description: str = ""
    location: SourceLocation | None = field(default=None, compare=False)
    bios_settings: tuple[SettingValue, ...] = ()
    overrides: tuple[SettingsOverride, ...] = ()

    @property
    def declares_settings(self) -> bool:
        return bool(self.bios_settings) or any(o.bios_settings for o in self.overrides)

    def settings_layers(self, host: Host) -> list[tuple[int, tuple[SettingValue, ...]]]:
        """The declarations that apply to `host`, least specific first: (level, values)."""
        layers = [(BASELINE_LEVEL, self.bios_settings)] if self.bios_settings else []
        chosen = [o for o in self.overrides if o.selects(host)]
        layers += [(o.level, o.bios_settings) for o in sorted(chosen, key=lambda o: (o.level, o.index))]
        return layers

    def settings_for(self, host: Host) -> dict[str, SettingValue]:
        """The BIOS settings declared for `host`: the baseline's, then `labels` overrides,
        then `hosts` overrides, a more specific declaration replacing a less specific one.
        (Two declarations of one level that disagree are a validation error.)"""
        out: dict[str, SettingValue] = {}
        for _, values in self.settings_layers(host):
            for v in values:
                out[v.name] = v
        return out


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
    # How long a login may wait for a free slot on a BMC whose session table is full
    # (0: report the host at once). Idle sessions expire after the BMC's SessionTimeout.
    session_limit_wait: float = 0.0

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
class WatchdogSettings:
    """The IPMI watchdog hwfw arms while a host reboots for an update (off by default).

    `timeout` None: `timing.graceful_shutdown_timeout + timing.post_timeout`."""

    enabled: bool = False
    action: str = "power-cycle"
    timeout: float | None = None

    def countdown(self, timing: Timing) -> float:
        """Seconds from the reset request until the BMC acts, as real hardware counts them."""
        base = self.timeout if self.timeout is not None else timing.graceful_shutdown_timeout + timing.post_timeout
        return base * timing.time_scale


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
class ServerSettings:
    """`hwfw serve` (settings.server): where it listens, TLS, approvals and limits."""

    listen: str = "127.0.0.1:8080"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    two_person_rule: bool = False
    max_request_bytes: int = 1024 * 1024
    session_lifetime: float = 8 * 3600.0
    watch_interval: float = 2.0
    auth_failures_per_minute: int = 10
    engine: str = "local"               # local | temporal; when not given, settings.engine
    apply_in: str = "process"           # process | thread: where the local engine runs an apply
    scan_interval: float = 3600.0       # 0: no scheduled scan
    scan_jitter: float = 300.0
    public_url: str | None = None
    lock_alert_after: float = 2 * 3600.0


@dataclass(frozen=True, slots=True)
class NotificationTarget:
    """One place alerts go (settings.notifications). Holds where the Apprise URL comes
    from, never a secret: `url` may only reference secrets as `${ENV_VAR}`."""

    name: str
    url: str | None = None
    url_env: str | None = None
    url_file: Path | None = None
    events: tuple[str, ...] | None = None   # None: every kind
    min_severity: str = "info"
    timeout: float = 10.0
    retries: int = 3
    dedup_window: float = 3600.0
    queue_size: int = 100


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
    server: ServerSettings = field(default_factory=ServerSettings)
    notifications: tuple[NotificationTarget, ...] = ()
    watchdog: WatchdogSettings = field(default_factory=WatchdogSettings)
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

    def may_declare_settings(self, host: Host) -> bool:
        """Could a baseline that declares BIOS settings select `host`? (Inventory reads
        the BIOS settings and registry of those hosts only.)"""
        return any(b.declares_settings and b.select.could_match(host) for b in self.baselines)

    def baselines_for(self, host: Host, vendor: str | None = None,
                      model: str | None = None) -> list[Baseline]:
        return [b for b in self.baselines if b.select.matches(host, vendor, model)]

    def rel(self, path: Path) -> str:
        """A path as shown to users: relative to the workspace where possible."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)
