"""What a simulated BIOS keeps: stored attribute values, the pending (staged) values,
and the outcome of the last application (`@Redfish.Settings` Time/ETag/Messages).

Stored values are kept by attribute name across BIOS updates: an attribute the new
BIOS no longer has stops being reported, one it adds reports its default until set.
`apply` is what the BIOS does with the pending values at POST: check each against the
registry of the BIOS that is running then, evaluate profile locks on the state the
whole change set produces (so `SysProfile: Custom` and `ProcTurboMode` in one change
set work), let the profile set its dependents, and report what it refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from hwfw.sim.bios.registry import PASSWORD, Registry


@dataclass
class Rejection:
    """One pending attribute the BIOS refused: the Base message key and its args."""

    name: str
    value: Any
    key: str
    args: tuple[Any, ...]


@dataclass
class Outcome:
    applied: dict[str, Any] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)


@dataclass
class BiosState:
    stored: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)
    applied_at: float = 0.0
    etag: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    reset_pending: bool = False
    passwords: dict[str, str] = field(default_factory=dict)
    revision: int = 0

    def stage(self, attrs: Mapping[str, Any], replace: bool = False) -> None:
        if replace:
            self.pending = {}
        self.pending.update(attrs)
        self.revision += 1

    def clear_pending(self) -> dict[str, Any]:
        dropped, self.pending = self.pending, {}
        self.revision += 1
        return dropped

    def apply(self, registry: Registry, current: Mapping[str, Any]) -> Outcome:
        """Apply the pending values the way the BIOS does at POST; clears `pending`."""
        out = Outcome()
        accepted: dict[str, Any] = {}
        for name, value in self.pending.items():
            problem = registry.problem(name, value)
            if problem is None:
                accepted[name] = value
            else:
                out.rejected.append(Rejection(name, value, problem[0], problem[1]))
        effective = {**current, **accepted}
        forced = dict(registry.profile.forced(effective)) if registry.profile else {}
        final = {**effective, **{k: v for k, v in forced.items() if k in registry.attrs}}
        for name, value in accepted.items():
            if registry.attrs[name].type == PASSWORD:
                self.passwords[name] = str(value)
                out.applied[name] = value
                continue
            if registry.locked(name, final):
                final[name] = forced.get(name, current.get(name))
            if final[name] == value:
                out.applied[name] = value
            else:
                out.rejected.append(Rejection(name, value, "PropertyNotWritable", (name,)))
        for name, value in final.items():
            attr = registry.attrs[name]
            if attr.reports is None and attr.type != PASSWORD:
                self.stored[name] = value
        self.pending = {}
        self.revision += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "pending": self.pending, "applied_at": self.applied_at, "etag": self.etag,
                "messages": self.messages, "reset_pending": self.reset_pending, "passwords": self.passwords,
                "revision": self.revision}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], fallback: BiosState) -> BiosState:
        """A saved state; `fallback` when `d` is not one (older state files)."""
        if not isinstance(d, Mapping) or "stored" not in d:
            return fallback
        return cls(dict(d.get("stored") or {}), dict(d.get("pending") or {}), float(d.get("applied_at", 0.0)),
                   str(d.get("etag", "")), list(d.get("messages") or []), bool(d.get("reset_pending", False)),
                   dict(d.get("passwords") or {}), int(d.get("revision", 0)))
