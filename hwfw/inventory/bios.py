"""BIOS attributes as a BMC reports them: the attribute registry of a BIOS version, and
one host's current, pending and last-applied settings.

The registry (DMTF AttributeRegistry schema, DSP0266 "settings" model) types each
attribute: Enumeration (allowed `Value[].ValueName`s), String (length, `ValueExpression`),
Integer (bounds, `ScalarIncrement`), Boolean, Password (always reads null), and marks it
`ReadOnly`, `ResetRequired`, `IsSystemUniqueProperty`; `Dependencies` make an attribute
read-only or grayed out while another has some value (Dell's `SysProfile`, HPE's
`WorkloadProfile`). A registry belongs to a platform *and* a BIOS version, so the
inventory keeps one per vendor, model and BIOS version (`key`), shared by every host
that runs it; a snapshot carries them, so `hwfw check --inventory` and `hwfw plan
--inventory` validate declared settings offline.

`AttributeRegistry.problem(name, value)` is the one check of a declared value, used by
the planner and by `hwfw check`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AttributeDef", "AttributeRegistry", "BiosSettings", "Dependency", "SettingProblem", "SettingsMessage",
           "registry_key", "shown"]

ENUM, STRING, INTEGER, BOOLEAN, PASSWORD = "Enumeration", "String", "Integer", "Boolean", "Password"

# Rule ids of the problems a declared value can have (hwfw check reports them under these ids).
UNKNOWN, WRONG_TYPE, NOT_ALLOWED, READ_ONLY, PASSWORD_ATTR = (
    "bios-unknown-attribute", "bios-wrong-type", "bios-value-not-allowed", "bios-read-only", "bios-password")


def registry_key(vendor: str | None, model: str | None, bios_version: str | None) -> str:
    """How registries are keyed: per vendor, model and BIOS version (never by the
    registry's Id alone: Dell and Supermicro keep one Id across BIOS versions)."""
    return f"{vendor or '?'}/{model or '?'}/{bios_version or '?'}"


def shown(value: Any) -> str:
    """A value as people read it in YAML: true/false, numbers bare, strings as they are."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


@dataclass(frozen=True, slots=True)
class SettingProblem:
    """Why a declared value cannot be set: a rule id, the message and what is expected."""

    rule: str
    message: str
    expected: str


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """One attribute of a registry (the parts hwfw checks and reports)."""

    name: str
    type: str
    read_only: bool = False
    reset_required: bool = True
    hidden: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()
    value_display: tuple[str, ...] = ()
    lower: int | None = None
    upper: int | None = None
    increment: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    default: str | int | bool | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for k in ("read_only", "hidden", "unique"):
            if getattr(self, k):
                out[k] = True
        if not self.reset_required:
            out["reset_required"] = False
        for k in ("values", "value_display"):
            if getattr(self, k):
                out[k] = list(getattr(self, k))
        for k in ("lower", "upper", "increment", "min_length", "max_length", "pattern", "default"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        return out

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> AttributeDef:
        return AttributeDef(
            name=d["name"], type=d["type"], read_only=d.get("read_only", False),
            reset_required=d.get("reset_required", True), hidden=d.get("hidden", False), unique=d.get("unique", False),
            values=tuple(d.get("values", ())), value_display=tuple(d.get("value_display", ())),
            lower=d.get("lower"), upper=d.get("upper"), increment=d.get("increment"), min_length=d.get("min_length"),
            max_length=d.get("max_length"), pattern=d.get("pattern"), default=d.get("default"))


@dataclass(frozen=True, slots=True)
class Dependency:
    """`target`'s `prop` (ReadOnly, GrayOut, Hidden) becomes true while `source` compares
    (EQU/NEQ) to `value`: a registry `Map` dependency of the one-term kind vendors use."""

    target: str
    prop: str
    source: str
    condition: str
    value: Any

    def active(self, state: Mapping[str, Any]) -> bool:
        equal = state.get(self.source) == self.value
        return equal if self.condition == "EQU" else not equal

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "prop": self.prop, "source": self.source, "condition": self.condition,
                "value": self.value}


@dataclass(frozen=True)
class AttributeRegistry:
    """The attributes of one BIOS version of one platform (see the module docstring)."""

    vendor: str | None
    model: str | None
    bios_version: str | None
    registry_id: str | None
    attributes: Mapping[str, AttributeDef]
    dependencies: tuple[Dependency, ...] = ()

    @property
    def key(self) -> str:
        return registry_key(self.vendor, self.model, self.bios_version)

    def problem(self, name: str, value: Any) -> SettingProblem | None:
        """What is wrong with declaring `name: value` for this BIOS (None: nothing)."""
        a = self.attributes.get(name)
        where = f"BIOS {self.bios_version}" if self.bios_version else "this BIOS"
        if a is None:
            close = difflib.get_close_matches(name, list(self.attributes), n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            return SettingProblem(UNKNOWN, f"{name}: the attribute registry of {where} has no such attribute",
                                  f"{hint}an attribute of the registry ({len(self.attributes)} attributes)")
        if a.type == PASSWORD:
            return SettingProblem(PASSWORD_ATTR, f"{name} is a password attribute; hwfw does not manage passwords",
                                  "no password attributes in bios_settings (use Bios.ChangePassword)")
        if a.read_only:
            return SettingProblem(READ_ONLY, f"{name} is read-only in {where}", "only writable attributes")
        return self._type_problem(a, value)

    def _type_problem(self, a: AttributeDef, value: Any) -> SettingProblem | None:
        name, got = a.name, _kind(value)
        if a.type == BOOLEAN:
            return None if isinstance(value, bool) else \
                SettingProblem(WRONG_TYPE, f"{name} is Boolean, the value {shown(value)!r} is {got}", "true or false")
        if a.type == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                return SettingProblem(WRONG_TYPE, f"{name} is Integer, the value {shown(value)!r} is {got}",
                                      f"an integer{_bounds(a)}")
            if (a.lower is not None and value < a.lower) or (a.upper is not None and value > a.upper) or \
                    (a.increment and a.lower is not None and (value - a.lower) % a.increment):
                return SettingProblem(NOT_ALLOWED, f"{name}: {value} is out of range", f"an integer{_bounds(a)}")
            return None
        if not isinstance(value, str):
            return SettingProblem(WRONG_TYPE, f"{name} is {a.type}, the value {shown(value)!r} is {got}",
                                  "a string" + (f": one of {', '.join(a.values)}" if a.values else ""))
        if a.type == ENUM:
            if value in a.values:
                return None
            hint = ""
            if value in a.value_display:
                hint = f"did you mean {a.values[a.value_display.index(value)]!r} (displayed as {value!r})? "
            else:
                close = difflib.get_close_matches(value, list(a.values), n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}? " if close else ""
            return SettingProblem(NOT_ALLOWED, f"{name}: {value!r} is not one of its values",
                                  f"{hint}one of: {', '.join(a.values)}")
        if (a.max_length is not None and len(value) > a.max_length) or \
                (a.min_length is not None and len(value) < a.min_length):
            return SettingProblem(NOT_ALLOWED, f"{name}: {value!r} has {len(value)} characters",
                                  f"{a.min_length or 0} to {a.max_length} characters")
        if a.pattern is not None and not _fullmatch(a.pattern, value):
            return SettingProblem(NOT_ALLOWED, f"{name}: {value!r} does not match {a.pattern!r}",
                                  f"a value matching {a.pattern}")
        return None

    def locks(self, name: str, state: Mapping[str, Any]) -> list[Dependency]:
        """Dependencies that make `name` unchangeable (ReadOnly or GrayOut) in `state`."""
        return [d for d in self.dependencies
                if d.target == name and d.prop in ("ReadOnly", "GrayOut") and d.active(state)]

    def to_json(self) -> dict[str, Any]:
        return {"vendor": self.vendor, "model": self.model, "bios_version": self.bios_version,
                "registry_id": self.registry_id,
                "attributes": [a.to_json() for a in self.attributes.values()],
                "dependencies": [d.to_json() for d in self.dependencies]}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> AttributeRegistry:
        return AttributeRegistry(
            vendor=d.get("vendor"), model=d.get("model"), bios_version=d.get("bios_version"),
            registry_id=d.get("registry_id"),
            attributes={a["name"]: AttributeDef.from_json(a) for a in d.get("attributes", ())},
            dependencies=tuple(Dependency(**x) for x in d.get("dependencies", ())))

    @staticmethod
    def from_redfish(doc: Mapping[str, Any], *, vendor: str | None, model: str | None,
                     bios_version: str | None) -> AttributeRegistry:
        """Parse an AttributeRegistry resource. `bios_version` is used when the registry's
        `SupportedSystems[].FirmwareVersion` does not name the running BIOS."""
        systems = doc.get("SupportedSystems")
        first = systems[0] if isinstance(systems, list) and systems and isinstance(systems[0], dict) else {}
        version = bios_version or _text(first.get("FirmwareVersion"))
        raw = doc.get("RegistryEntries")
        entries: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
        attrs: dict[str, AttributeDef] = {}
        for e in entries.get("Attributes") or ():
            if isinstance(e, dict) and isinstance(e.get("AttributeName"), str):
                a = _attribute(e)
                attrs[a.name] = a
        deps = tuple(d for d in (_dependency(x) for x in entries.get("Dependencies") or ()) if d is not None)
        return AttributeRegistry(vendor=vendor, model=model, bios_version=version,
                                 registry_id=_text(doc.get("Id")), attributes=attrs, dependencies=deps)


def _attribute(e: Mapping[str, Any]) -> AttributeDef:
    values = [v for v in e.get("Value") or () if isinstance(v, dict) and isinstance(v.get("ValueName"), str)]
    default = e.get("DefaultValue")
    return AttributeDef(
        name=e["AttributeName"], type=str(e.get("Type") or STRING), read_only=bool(e.get("ReadOnly") or
                                                                                  e.get("Immutable")),
        reset_required=bool(e.get("ResetRequired", True)), hidden=bool(e.get("Hidden")),
        unique=bool(e.get("IsSystemUniqueProperty")),
        values=tuple(v["ValueName"] for v in values),
        value_display=tuple(str(v.get("ValueDisplayName") or v["ValueName"]) for v in values),
        lower=_int(e.get("LowerBound")), upper=_int(e.get("UpperBound")), increment=_int(e.get("ScalarIncrement")),
        min_length=_int(e.get("MinLength")), max_length=_int(e.get("MaxLength")),
        pattern=e["ValueExpression"] if isinstance(e.get("ValueExpression"), str) else None,
        default=default if isinstance(default, (str, int, bool)) else None)


def _dependency(x: Any) -> Dependency | None:
    """A one-term `Map` dependency (the form vendors publish for profile locks)."""
    if not isinstance(x, dict) or x.get("Type") != "Map" or not isinstance(x.get("Dependency"), dict):
        return None
    dep = x["Dependency"]
    terms = dep.get("MapFrom")
    if not isinstance(terms, list) or len(terms) != 1 or not isinstance(terms[0], dict):
        return None
    t = terms[0]
    if t.get("MapFromCondition") not in ("EQU", "NEQ") or dep.get("MapToValue") is not True:
        return None
    if not isinstance(dep.get("MapToAttribute"), str) or not isinstance(t.get("MapFromAttribute"), str):
        return None
    return Dependency(target=dep["MapToAttribute"], prop=str(dep.get("MapToProperty")),
                      source=t["MapFromAttribute"], condition=t["MapFromCondition"], value=t.get("MapFromValue"))


@dataclass(frozen=True, slots=True)
class SettingsMessage:
    """One `@Redfish.Settings.Messages` entry: its MessageId, the attributes it is about."""

    message_id: str
    message: str = ""
    severity: str = ""
    attributes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """A Success message (or any message of severity OK) is no failure (sushy's rule)."""
        return self.severity.lower() == "ok" or self.message_id.rsplit(".", 1)[-1] == "Success"

    def to_json(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "message": self.message, "severity": self.severity,
                "attributes": list(self.attributes)}

    @staticmethod
    def from_redfish(m: Mapping[str, Any]) -> SettingsMessage:
        related = [str(r) for r in m.get("RelatedProperties") or () if isinstance(r, str)]
        return SettingsMessage(message_id=str(m.get("MessageId") or ""), message=str(m.get("Message") or ""),
                               severity=str(m.get("MessageSeverity") or m.get("Severity") or ""),
                               attributes=tuple(_attribute_of(r) for r in related))


def _attribute_of(pointer: str) -> str:
    """`#/Attributes/ProcTurbo` (DMTF, Dell, Supermicro) or `#/ProcTurbo` (HPE) -> ProcTurbo."""
    return pointer.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class BiosSettings:
    """One host's BIOS settings as its BMC reports them.

    `attributes`: current values (`Bios.Attributes`); `pending`: values waiting in the
    settings object that differ from them; `applied_at` and `messages`: the outcome of
    the last application (`@Redfish.Settings` Time and Messages); `registry`: the key of
    the running BIOS's registry in `Inventory.registries` (None when unreadable)."""

    attributes: Mapping[str, Any] = field(default_factory=dict)
    pending: Mapping[str, Any] = field(default_factory=dict)
    registry: str | None = None
    registry_id: str | None = None
    settings_uri: str | None = None
    apply_times: tuple[str, ...] = ()
    applied_at: str | None = None
    messages: tuple[SettingsMessage, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"attributes": dict(self.attributes), "pending": dict(self.pending), "registry": self.registry,
                "registry_id": self.registry_id, "settings_uri": self.settings_uri,
                "apply_times": list(self.apply_times), "applied_at": self.applied_at,
                "messages": [m.to_json() for m in self.messages], "error": self.error}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> BiosSettings:
        return BiosSettings(
            attributes=dict(d.get("attributes") or {}), pending=dict(d.get("pending") or {}),
            registry=d.get("registry"), registry_id=d.get("registry_id"), settings_uri=d.get("settings_uri"),
            apply_times=tuple(d.get("apply_times") or ()), applied_at=d.get("applied_at"),
            messages=tuple(SettingsMessage(m["message_id"], m.get("message", ""), m.get("severity", ""),
                                           tuple(m.get("attributes", ()))) for m in d.get("messages") or ()),
            error=d.get("error"))


def messages_of(bios: Mapping[str, Any]) -> tuple[SettingsMessage, ...]:
    settings = bios.get("@Redfish.Settings")
    raw = settings.get("Messages") if isinstance(settings, dict) else None
    return tuple(SettingsMessage.from_redfish(m) for m in raw or () if isinstance(m, dict))


def failures_by_attribute(messages: Iterable[SettingsMessage]) -> dict[str, SettingsMessage]:
    """Non-OK messages per attribute they name (HPE puts a Success first: skipped)."""
    out: dict[str, SettingsMessage] = {}
    for m in messages:
        if not m.ok:
            for a in m.attributes:
                out.setdefault(a, m)
    return out


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    return "a string" if isinstance(value, str) else type(value).__name__


def _bounds(a: AttributeDef) -> str:
    if a.lower is None and a.upper is None:
        return ""
    step = f" in steps of {a.increment}" if a.increment else ""
    return f" from {a.lower if a.lower is not None else '-inf'} to {a.upper if a.upper is not None else 'inf'}{step}"


def _fullmatch(pattern: str, value: str) -> bool:
    try:
        return re.fullmatch(pattern, value) is not None
    except re.error:
        return True  # a pattern Python cannot read is the BMC's to enforce, never a guess of ours


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
