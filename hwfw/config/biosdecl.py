"""BIOS settings declared in baselines: building them, and the checks that need no BMC.

A baseline's `bios_settings` apply to every host it selects; its `overrides` entries
add or replace values for the hosts they select, by `labels` or by `hosts` (names or
globs). Precedence, least to most specific: the baseline, `labels` entries, `hosts`
entries (an entry with both keys is a `hosts` entry); a more specific value replaces a
less specific one. Two entries of the same level that select one host and give one
attribute different values are a conflict: an error at both lines, naming the host.

Checks against the BMC's attribute registry (unknown attribute, type, allowed values,
read-only) need a registry: `hwfw plan` makes them against the live one and `hwfw check
--inventory SNAPSHOT` against a snapshot's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hwfw.config import model as m
from hwfw.errors import Problem

if TYPE_CHECKING:
    from hwfw.config.loader import LoadContext

__all__ = ["check_passwords", "check_settings", "overrides_of", "settings_of"]

# BIOS password attributes (AdminPassword, SetupPassword, SysPassword...): CamelCase, so
# the general secret-key rule (`_password`, `-password`) does not see them.
_PASSWORD_NAME = re.compile(r"(?i)(password|passwd|passphrase|secret)$")


def settings_of(values: Mapping[str, Any] | None, path: tuple[str | int, ...],
                origin: str) -> tuple[m.SettingValue, ...]:
    """`bios_settings` as typed values, each with its YAML path (the schema checked the types)."""
    return tuple(m.SettingValue(name=str(k), value=v, origin=origin, path=(*path, str(k)))
                 for k, v in (values or {}).items())


def overrides_of(baseline: str, entries: list[Mapping[str, Any]] | None) -> tuple[m.SettingsOverride, ...]:
    out = []
    for i, o in enumerate(entries or ()):
        hosts = tuple(o.get("hosts") or ())
        labels = dict(o.get("labels") or {})
        origin = ("hosts " + ",".join(hosts)) if hosts else \
            ("labels " + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
        path = ("baselines", baseline, "overrides", i, "bios_settings")
        out.append(m.SettingsOverride(index=i, hosts=hosts, labels=m.frozen_map(labels),
                                      bios_settings=settings_of(o.get("bios_settings"), path, origin)))
    return tuple(out)


def check_settings(ctx: LoadContext, ws: m.Workspace) -> None:
    """Per inventory host: two declarations of the same level that disagree (both lines)."""
    reported: set[tuple[tuple[str | int, ...], tuple[str | int, ...]]] = set()
    for b in ws.baselines:
        if not any(o.bios_settings for o in b.overrides):
            continue
        for host in ws.hosts:
            if not b.select.matches(host):
                continue
            seen: dict[tuple[int, str], m.SettingValue] = {}
            for level, values in b.settings_layers(host):
                for v in values:
                    first = seen.setdefault((level, v.name), v)
                    if first is v or first.value == v.value or (first.path, v.path) in reported:
                        continue
                    reported.add((first.path, v.path))
                    _conflict(ctx, host, first, v)


def check_passwords(ctx: LoadContext, ws: m.Workspace) -> None:
    """A BIOS password in a baseline is a literal secret (and hwfw never manages them)."""
    for b in ws.baselines:
        for v in (*b.bios_settings, *(x for o in b.overrides for x in o.bios_settings)):
            if _PASSWORD_NAME.search(v.name) and not isinstance(v.value, bool) and str(v.value).strip():
                ctx.error("baselines", list(v.path), f"literal secret in YAML: {v.name!r} holds a value",
                          code="literal-secret", key=True,
                          expected="no BIOS passwords in the workspace: hwfw does not manage them (they read "
                                   "back null); set them with Bios.ChangePassword")


def _conflict(ctx: LoadContext, host: m.Host, a: m.SettingValue, b: m.SettingValue) -> None:
    where_a, where_b = ctx.loc("baselines", list(a.path)), ctx.loc("baselines", list(b.path))
    for this, other, at in ((a, b, where_a), (b, a, where_b)):
        related = ((where_b if at is where_a else where_a, f"the other value, {_shown(other.value)}, "
                    f"from {other.origin}"),) if where_a and where_b else ()
        ctx.problems.append(Problem(
            f"conflicting BIOS setting {this.name} for host {host.name!r}: {_shown(this.value)} ({this.origin}) "
            f"and {_shown(other.value)} ({other.origin}) are equally specific",
            at, code="conflicting-setting", related=related,
            expected="one value per attribute and host at each level (a hosts: entry overrides a labels: entry, "
                     "which overrides the baseline)"))


def _shown(value: m.SettingScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)
