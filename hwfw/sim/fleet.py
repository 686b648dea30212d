"""The fleet file: which simulated BMCs exist and what hardware they start with.

`load_fleet` validates the YAML with schemas/fleet.schema.json and builds immutable
`HostSpec`s. Everything a real server would have burnt in (serial number, UUID) is
derived from the fleet seed and the host name, so the same fleet file answers the
same on every run and on every machine.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from hwfw.config.model import parse_duration
from hwfw.config.schema import validate
from hwfw.config.vendorfields import vendor_problems
from hwfw.config.yamlio import YamlSyntaxError, load_yaml
from hwfw.errors import ConfigError, Problem
from hwfw.sim.profiles import profile_named, profiles

DEFAULT_CREDENTIALS = MappingProxyType({"admin": "password"})
MULTI_INSTANCE = ("nic", "raid", "psu", "drive", "backplane", "gpu")
DEFAULT_INSTANCE = {"nic": "NIC.Integrated.1-1", "raid": "RAID.Integrated.1-1", "psu": "PSU.Slot.1",
                    "drive": "Disk.Bay.0", "backplane": "Backplane.1", "gpu": "GPU.Slot.1"}


def derive(seed: int, name: str, purpose: str) -> bytes:
    """32 stable pseudo-random bytes for (seed, host, purpose)."""
    return hashlib.sha256(f"{seed}\0{name}\0{purpose}".encode()).digest()


def derive_uuid(seed: int, name: str, purpose: str = "uuid") -> str:
    return str(uuid.UUID(bytes=derive(seed, name, purpose)[:16], version=4))


_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def derive_serial(seed: int, name: str, profile: str) -> str:
    """A vendor-looking serial (`SimProfile` serial form): Dell 7-char service tag, HPE
    CZ..., Supermicro S + digits, generic CSO...; SN... for an unknown profile."""
    spec = profile_named(profile)
    prefix, length = (spec.serial_prefix, spec.serial_length) if spec else ("SN", 8)
    raw = derive(seed, name, "serial")
    alphabet = "0123456789" if spec and spec.serial_digits_only else _ALNUM
    return prefix + "".join(alphabet[b % len(alphabet)] for b in raw[:length])


@dataclass(frozen=True, slots=True)
class Latency:
    """Added network latency in real seconds (never scaled by the virtual clock)."""

    fixed: float = 0.0
    jitter: float = 0.0

    @classmethod
    def parse(cls, value: Any) -> Latency:
        if value is None:
            return cls()
        if isinstance(value, dict):
            return cls(parse_duration(value.get("fixed", 0)), parse_duration(value.get("jitter", 0)))
        return cls(parse_duration(value))


@dataclass(frozen=True, slots=True)
class HostSpec:
    """One simulated host as the fleet file declares it (its factory state)."""

    name: str
    profile: str
    model: str
    serial: str
    uuid: str
    power: str
    firmware: Mapping[str, Mapping[str, str]]  # kind -> instance -> version ("" instance for singletons)
    licenses: Mapping[str, bool]
    faults: Mapping[str, Any]
    timings: Mapping[str, float]
    options: Mapping[str, Any]
    credentials: Mapping[str, str]
    password_change_required: bool
    ipmi_enabled: bool
    ipmi_port: int
    index: int
    bios: Mapping[str, Any] = field(default_factory=dict)  # stored BIOS attribute values it starts with


@dataclass(frozen=True, slots=True)
class FleetSpec:
    path: Path | None
    seed: int
    speed: float
    latency: Latency
    faults: Mapping[str, Any]
    hosts: Mapping[str, HostSpec] = field(default_factory=dict)

    def host(self, name: str) -> HostSpec:
        return self.hosts[name]


def _firmware(data: Mapping[str, Any]) -> Mapping[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {}
    for kind, value in data.items():
        if isinstance(value, dict):
            out[kind] = MappingProxyType({str(k): str(v) for k, v in value.items()})
        elif kind in MULTI_INSTANCE:
            out[kind] = MappingProxyType({DEFAULT_INSTANCE[kind]: str(value)})
        else:
            out[kind] = MappingProxyType({"": str(value)})
    return MappingProxyType(out)


def _credentials(*candidates: Mapping[str, Any] | None) -> tuple[Mapping[str, str], bool]:
    for c in candidates:
        if c:
            return MappingProxyType({c["username"]: c["password"]}), bool(c.get("password_change_required"))
    return DEFAULT_CREDENTIALS, False


def build_fleet(data: Mapping[str, Any], path: Path | None = None) -> FleetSpec:
    """Typed fleet from already-validated data (also used by tests and benchmarks)."""
    seed = int(data.get("seed", 0))
    defaults = data.get("defaults") or {}
    d_timings = {k: parse_duration(v) for k, v in (defaults.get("timings") or {}).items()}
    hosts: dict[str, HostSpec] = {}
    for index, (name, h) in enumerate((data.get("hosts") or {}).items()):
        creds, pcr = _credentials(h.get("credentials"), defaults.get("credentials"))
        ipmi = h.get("ipmi") or {}
        timings = {**d_timings, **{k: parse_duration(v) for k, v in (h.get("timings") or {}).items()}}
        hosts[name] = HostSpec(
            name=name, profile=h["profile"], model=h["model"],
            serial=h.get("serial") or derive_serial(seed, name, h["profile"]),
            uuid=derive_uuid(seed, name), power=h.get("power", "On"),
            firmware=_firmware(h["firmware"]),
            licenses=MappingProxyType({"dcms": True, **(h.get("licenses") or {})}),
            faults=MappingProxyType(dict(h.get("faults") or {})),
            timings=MappingProxyType(timings), options=MappingProxyType(dict(h.get("options") or {})),
            credentials=creds, password_change_required=pcr,
            ipmi_enabled=bool(ipmi.get("enabled", False)), ipmi_port=int(ipmi.get("port", 623)), index=index,
            bios=MappingProxyType(dict(h.get("bios") or {})))
    return FleetSpec(path=path, seed=seed, speed=float(defaults.get("speed", 1.0)),
                     latency=Latency.parse(defaults.get("latency")),
                     faults=MappingProxyType(dict(defaults.get("faults") or {})), hosts=MappingProxyType(hosts))


def load_fleet(path: Path) -> FleetSpec:
    """Read and validate a fleet file; raise ConfigError listing every problem."""
    try:
        data, source = load_yaml(path, str(path))
    except YamlSyntaxError as exc:
        raise ConfigError(list(exc.problems)) from None
    data = data or {}
    # The schema takes any profile name; the simulator's own list says which exist.
    problems = validate("fleet", data, source) + vendor_problems("fleet", data, source, profiles())
    if problems:
        raise ConfigError(problems, hint=f"fix the fleet file {path}")
    fleet = build_fleet(data, path.resolve())
    problems = [Problem(f"hosts.{spec.name}.bios.{name}: {text}", source.location(["hosts", spec.name, "bios", name]),
                        code="invalid-value", expected="a value the host's BIOS attribute registry allows")
                for spec in fleet.hosts.values() for name, text in bios_problems(spec)]
    if problems:
        raise ConfigError(problems, hint=f"fix the fleet file {path}")
    return fleet


def bios_problems(spec: HostSpec) -> list[tuple[str, str]]:
    """(attribute, why) for each starting BIOS value the host's registry refuses."""
    if not spec.bios:
        return []
    from hwfw.sim.bios.catalogs import catalog_for
    from hwfw.sim.bios.registry import Registry

    registry = Registry(catalog_for(spec.profile), spec.model, spec.firmware.get("bios", {}).get("", ""))
    out = []
    for name, value in spec.bios.items():
        problem = registry.problem(name, value)
        if problem is not None:
            out.append((name, f"{problem[0]} for BIOS {registry.bios_version} ({', '.join(map(str, problem[1]))})"))
    return out
