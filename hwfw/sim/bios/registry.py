"""BIOS attribute registries: typed attributes per platform and BIOS version.

A vendor `Catalog` lists every attribute the simulated BIOS family knows, each with
the BIOS version it first appears in (per model). `Registry` is the catalog resolved
for one machine's model and *running* BIOS: the attributes that BIOS has, the
dependencies between them, and the checks a BIOS (or a BMC that validates early)
applies to a requested value. It renders the DMTF `AttributeRegistry` resource
(DSP0266; AttributeRegistry schema: Attributes, Dependencies, Menus).

Dependencies are `Map` entries of one shape, enough for the vendors' profile locks:
"attribute X is ReadOnly/GrayOut/Hidden while attribute Y is (not) value V". A
`Profile` is the behaviour behind such a lock on Dell and HPE: while the profile
attribute is not its custom value, the BIOS sets the dependent attributes itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from hwfw import versions

ENUM, STRING, INTEGER, BOOLEAN, PASSWORD = "Enumeration", "String", "Integer", "Boolean", "Password"


@dataclass(frozen=True, slots=True)
class Attr:
    """One BIOS attribute as the registry declares it.

    `since`: model (or "*" for any model) -> first BIOS version that has the attribute;
    empty = every version. `reports`: a read-only fact the BIOS fills in itself
    ("model", "bios_version", "serial") instead of a stored value.
    """

    name: str
    type: str
    default: Any
    display: str
    menu: str = "./"
    values: tuple[str, ...] = ()
    value_display: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    reset_required: bool = True
    lower: int | None = None
    upper: int | None = None
    increment: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    since: Mapping[str, str] = field(default_factory=dict)
    unique: bool = False
    reports: str | None = None
    help: str = ""


@dataclass(frozen=True, slots=True)
class Dependency:
    """`target`'s `prop` becomes True while `source` compares (`condition`) to `value`."""

    target: str
    source: str
    value: Any
    condition: str = "NEQ"
    prop: str = "ReadOnly"

    def active(self, state: Mapping[str, Any]) -> bool:
        equal = state.get(self.source) == self.value
        return equal if self.condition == "EQU" else not equal

    def body(self) -> dict[str, Any]:
        return {"DependencyFor": self.target, "Type": "Map", "Dependency": {
            "MapFrom": [{"MapFromAttribute": self.source, "MapFromProperty": "CurrentValue",
                         "MapFromCondition": self.condition, "MapFromValue": self.value}],
            "MapToAttribute": self.target, "MapToProperty": self.prop, "MapToValue": True}}


@dataclass(frozen=True, slots=True)
class Profile:
    """A system/workload profile: anything but `custom` makes the BIOS set `values`."""

    attr: str
    custom: str
    values: Mapping[str, Mapping[str, Any]]

    def forced(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        chosen = state.get(self.attr)
        return {} if chosen == self.custom else self.values.get(str(chosen), {})


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything one vendor's simulated BIOS family knows."""

    vendor: str
    owning_entity: str
    odata_type: str
    registry_id: Callable[[str, str], str]          # (model, bios version) -> registry Id
    registry_version: Callable[[str, str], str]     # (model, bios version) -> RegistryVersion
    attributes: tuple[Attr, ...]
    dependencies: tuple[Dependency, ...] = ()
    profile: Profile | None = None
    menus: tuple[tuple[str, str], ...] = ()          # (MenuName, DisplayName), MenuPath ./MenuName
    related_prefix: str = "#/Attributes/"            # HPE names attributes "#/Name"
    current_value_in_registry: bool = False
    display_current_value: bool = False              # registry CurrentValue shows ValueDisplayName


def at_least(version: str, first: str) -> bool:
    """version >= first by hwfw's version rules; False when the two cannot be compared."""
    try:
        return bool(versions.parse(version) >= versions.parse(first))
    except (versions.IncomparableVersions, ValueError):
        return False


def has_attribute(attr: Attr, model: str, bios_version: str) -> bool:
    if not attr.since:
        return True
    first = attr.since.get(model, attr.since.get("*"))
    return first is not None and at_least(bios_version, first)


Problem = tuple[str, tuple[Any, ...]]  # (Base message key, message args)


class Registry:
    """A catalog resolved for one model and running BIOS version."""

    def __init__(self, catalog: Catalog, model: str, bios_version: str) -> None:
        self.catalog = catalog
        self.model = model
        self.bios_version = bios_version
        self.id = catalog.registry_id(model, bios_version)
        self.attrs = {a.name: a for a in catalog.attributes if has_attribute(a, model, bios_version)}
        self.dependencies = tuple(d for d in catalog.dependencies if d.target in self.attrs and d.source in self.attrs)
        profile = catalog.profile
        self.profile = profile if profile is not None and profile.attr in self.attrs else None

    # ------------------------------------------------------------ values
    def defaults(self) -> dict[str, Any]:
        return {name: a.default for name, a in self.attrs.items()}

    def current(self, stored: Mapping[str, Any], facts: Mapping[str, str]) -> dict[str, Any]:
        """The Attributes a BIOS of this version reports, from the stored values."""
        out: dict[str, Any] = {}
        for name, a in self.attrs.items():
            if a.type == PASSWORD:
                out[name] = None  # password attributes always read back null
            elif a.reports:
                out[name] = facts.get(a.reports, a.default)
            else:
                out[name] = stored.get(name, a.default)
        return out

    def related(self, name: str) -> str:
        return f"{self.catalog.related_prefix}{name}"

    # ------------------------------------------------------------ checks
    def problem(self, name: str, value: Any) -> Problem | None:
        """What is wrong with setting `name` to `value`, ignoring dependencies."""
        attr = self.attrs.get(name)
        if attr is None:
            return ("PropertyUnknown", (name,))
        shown = _shown(value)
        if attr.read_only or attr.reports:
            return ("PropertyNotWritable", (name,))
        if attr.type == BOOLEAN:
            return None if isinstance(value, bool) else ("PropertyValueTypeError", (shown, name))
        if attr.type == INTEGER:
            return _integer_problem(attr, value, shown)
        if not isinstance(value, str):
            return ("PropertyValueTypeError", (shown, name))
        if attr.type == ENUM:
            return None if value in attr.values else ("PropertyValueNotInList", (shown, name))
        if attr.max_length is not None and len(value) > attr.max_length:
            return ("PropertyValueFormatError", (shown, name))
        if attr.pattern is not None and re.fullmatch(attr.pattern, value) is None:
            return ("PropertyValueFormatError", (shown, name))
        return None

    def locked(self, name: str, state: Mapping[str, Any]) -> bool:
        """True when a dependency makes `name` unchangeable given the attribute `state`."""
        return any(d.target == name and d.prop in ("ReadOnly", "GrayOut") and d.active(state)
                   for d in self.dependencies)

    # ------------------------------------------------------------ the resource
    def body(self, uri: str, current: Mapping[str, Any]) -> dict[str, Any]:
        cat = self.catalog
        return {"@odata.id": uri, "@odata.type": cat.odata_type, "Id": self.id, "Name": "BIOS Attribute Registry",
                "Description": f"BIOS attributes of the {self.model} with BIOS {self.bios_version}",
                "Language": "en", "RegistryVersion": cat.registry_version(self.model, self.bios_version),
                "OwningEntity": cat.owning_entity,
                "SupportedSystems": [{"ProductName": self.model, "SystemId": re.sub(r"[^A-Za-z0-9]", "", self.model),
                                      "FirmwareVersion": self.bios_version}],
                "RegistryEntries": {"Attributes": [self._entry(a, current) for a in self.attrs.values()],
                                    "Dependencies": [d.body() for d in self.dependencies],
                                    "Menus": self._menus()}}

    def _entry(self, a: Attr, current: Mapping[str, Any]) -> dict[str, Any]:
        entry: dict[str, Any] = {"AttributeName": a.name, "DisplayName": a.display, "HelpText": a.help or a.display,
                                 "MenuPath": a.menu, "Type": a.type, "ReadOnly": a.read_only or a.reports is not None,
                                 "ResetRequired": a.reset_required, "Hidden": False, "GrayOut": False}
        if a.type != PASSWORD:
            entry["DefaultValue"] = a.default
        if self.catalog.current_value_in_registry and a.type != PASSWORD:
            value = current.get(a.name)
            entry["CurrentValue"] = a.value_display.get(value, value) if self.catalog.display_current_value \
                and isinstance(value, str) else value
        if a.type == ENUM:
            entry["Value"] = [{"ValueName": v, "ValueDisplayName": a.value_display.get(v, v)} for v in a.values]
        if a.type == INTEGER:
            entry.update({k: v for k, v in (("LowerBound", a.lower), ("UpperBound", a.upper),
                                            ("ScalarIncrement", a.increment)) if v is not None})
        if a.type in (STRING, PASSWORD):
            entry.update({k: v for k, v in (("MaxLength", a.max_length), ("ValueExpression", a.pattern))
                          if v is not None})
        if a.unique:
            entry["IsSystemUniqueProperty"] = True
        return entry

    def _menus(self) -> list[dict[str, Any]]:
        return [{"MenuName": name, "DisplayName": display, "DisplayOrder": i, "MenuPath": f"./{name}",
                 "ReadOnly": False, "GrayOut": False}
                for i, (name, display) in enumerate(self.catalog.menus, start=1)]


def _integer_problem(attr: Attr, value: Any, shown: str) -> Problem | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return ("PropertyValueTypeError", (shown, attr.name))
    if (attr.lower is not None and value < attr.lower) or (attr.upper is not None and value > attr.upper):
        return ("PropertyValueOutOfRange", (shown, attr.name))
    if attr.increment and attr.lower is not None and (value - attr.lower) % attr.increment:
        return ("PropertyValueOutOfRange", (shown, attr.name))
    return None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
