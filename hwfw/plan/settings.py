"""BIOS settings in the plan: one change per declared attribute, one configure step per host.

Pure, like the rest of the planner. For each attribute the host's baseline declares
(`Baseline.settings_for`), against the attribute registry of the BIOS it runs and, when
the plan replaces that BIOS, the registry of the target BIOS version (from any host of
the same vendor and model that runs it, in this inventory or snapshot):

* equal to the current value: `=` (`as-declared`);
* different: `~` (`differs`), staged with all the host's other differing attributes in
  one configure step (one PATCH, one vendor job) and applied by the next host reboot;
* known only by the target BIOS: `~` (`needs-target-bios`), and the configure step
  waits until that BIOS is active;
* known by neither, removed by the target BIOS, of the wrong type, not an allowed
  value, read-only or a password: refused, with the reason (the host blocks apply).

Reboot sharing (the README's sequence section; activation.py rule 7): the configure
step shares a host reboot with the firmware when that is safe, that is when the plan
does not replace the BIOS, or when every attribute exists in both the running and the
target BIOS (the target's registry is known). Then it is staged right before the last
flash whose own reset reboots the host (an `Immediate` BIOS, NIC or CPLD image), or
after every flash, sharing the final host reboot. Otherwise it waits for the new BIOS
to be active (a host reboot first, when the BIOS is staged) and needs a reboot of its
own unless a later `Immediate` flash reboots the host anyway; the changes say why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from hwfw import versions
from hwfw.config.model import Baseline, Host, SettingValue
from hwfw.inventory.model import (
    NOT_ALLOWED,
    PASSWORD_ATTR,
    READ_ONLY,
    UNKNOWN,
    WRONG_TYPE,
    AttributeRegistry,
    BiosSettings,
    shown,
)
from hwfw.plan.diff import DiffContext, HostDiff, Item, Wait
from hwfw.plan.model import SettingChange, SettingReason

__all__ = ["CONFIGURE_KEY", "SETTINGS_SECONDS", "diff_settings", "place", "shape_signature"]

CONFIGURE_KEY = "bios-settings"
SETTINGS_SECONDS = 30.0  # one PATCH (and a vendor job): reading the registry and staging
_BY_RULE = {UNKNOWN: SettingReason.UNKNOWN_ATTRIBUTE, WRONG_TYPE: SettingReason.WRONG_TYPE,
            NOT_ALLOWED: SettingReason.NOT_ALLOWED, READ_ONLY: SettingReason.READ_ONLY,
            PASSWORD_ATTR: SettingReason.PASSWORD}
_SETTINGS_VERSION = versions.parse("bios-settings", "opaque")


def shape_signature(host: Host, baseline: Baseline, bios: BiosSettings | None) -> tuple[Any, ...]:
    """What the settings part of a plan reads about a host (part of its shape key)."""
    if not baseline.declares_settings:
        return ()
    declared = baseline.settings_for(host)
    if bios is None:
        return (tuple(sorted((k, repr(v.value), v.origin) for k, v in declared.items())), None)
    current = tuple((k, repr(bios.attributes.get(k, _ABSENT))) for k in sorted(declared))
    return (tuple(sorted((k, repr(v.value), v.origin) for k, v in declared.items())), bios.registry, bios.error,
            current)


_ABSENT = object()


def diff_settings(ctx: DiffContext, hd: HostDiff, host: Host, baseline: Baseline) -> None:
    """Add the host's setting changes, and its configure item when something differs."""
    declared = baseline.settings_for(host)
    if not declared or hd.inv is None:
        return
    bios = hd.inv.bios
    running = ctx.inventory.registries.get(bios.registry) if bios is not None and bios.registry else None
    if bios is None or running is None:
        why = _unreadable(hd, bios)
        hd.settings += [SettingChange(v.name, "set", SettingReason.UNREADABLE, None, v.value, refused=True,
                                      origin=v.origin, message=why) for v in declared.values()]
        return
    flash = _bios_item(hd)
    target_version = flash.to_version if flash is not None else None
    target = _target_registry(ctx, hd, target_version) if target_version else None
    changes = [_change(v, bios, running, target_version, target) for v in declared.values()]
    hd.settings += changes
    work = [c for c in changes if c.does_work]
    caps = hd.inv.capabilities
    if work and caps is not None and caps.activations is not None and "host-reboot" not in caps.activations:
        why = ("the BMC offers no ComputerSystem.Reset to reboot the host, and the BIOS applies staged settings "
               "only at a reboot")
        hd.settings[:] = [replace(c, refused=True, reason=SettingReason.NO_REBOOT, message=why)
                          if c.does_work else c for c in hd.settings]
        return
    if not work or any(c.refused for c in changes):
        return
    _warn_locks(hd, declared, bios, target or running, work)
    needs = [c.attribute for c in work if c.reason is SettingReason.NEEDS_TARGET_BIOS]
    item = _configure_item(work)
    if flash is not None and (needs or target is None):
        why = (f"{', '.join(needs)} exist{'s' if len(needs) == 1 else ''} only from BIOS {target_version} on"
               if needs else f"the attribute registry of BIOS {target_version} is unknown: no host in the "
                             "inventory runs it")
        item.waits.append(Wait(flash, True, f"BIOS settings after BIOS {target_version} is active: {why}"))
        note = f"staged after BIOS {target_version} is active ({why})"
        hd.settings[:] = [replace(c, message=note) if c.does_work and not c.message else c for c in hd.settings]
    hd.configure = item


def _unreadable(hd: HostDiff, bios: BiosSettings | None) -> str:
    if hd.inv is not None and hd.inv.protocol == "ipmi":
        return "BIOS settings cannot be read over IPMI; give the host a Redfish address"
    if bios is None:
        return "the BIOS settings were not read (the BMC has no Bios resource)"
    return f"cannot check BIOS settings: {bios.error or 'the attribute registry was not read'}"


def _bios_item(hd: HostDiff) -> Item | None:
    """The last flash (or staged, activate-only image) of the BIOS, if the plan replaces it."""
    items = [it for t in hd.tracks.get("bios", ()) for it in t.items if it.last]
    return items[-1] if items else None


def _target_registry(ctx: DiffContext, hd: HostDiff, version: str) -> AttributeRegistry | None:
    scheme = hd.profile.scheme("bios") if hd.profile is not None else None
    try:
        want = versions.parse(version, scheme)
    except versions.InvalidVersion:
        return None
    for r in ctx.inventory.registries.values():
        if r.vendor == hd.vendor and r.model == hd.model and r.bios_version:
            try:
                if versions.parse(r.bios_version, scheme) == want:
                    return r
            except versions.InvalidVersion:
                continue
    return None


def _change(v: SettingValue, bios: BiosSettings, running: AttributeRegistry, target_version: str | None,
            target: AttributeRegistry | None) -> SettingChange:
    current = bios.attributes.get(v.name)

    def refused(reason: SettingReason, message: str) -> SettingChange:
        return SettingChange(v.name, "set", reason, current, v.value, refused=True, origin=v.origin, message=message)

    def ok(needs: str | None = None, note: str = "") -> SettingChange:
        if needs is None and v.name in bios.attributes and current == v.value:
            return SettingChange(v.name, "noop", SettingReason.AS_DECLARED, current, v.value, origin=v.origin)
        reason = SettingReason.NEEDS_TARGET_BIOS if needs else SettingReason.DIFFERS
        return SettingChange(v.name, "set", reason, current, v.value, origin=v.origin, needs_bios=needs, message=note)

    known_now = v.name in running.attributes
    if target_version is None or (known_now and target is None):
        problem = running.problem(v.name, v.value)
        if problem is not None:
            return refused(_BY_RULE[problem.rule], _text(problem.message, problem.expected))
        return ok()
    if target is not None and v.name not in target.attributes:
        if known_now:
            return refused(SettingReason.REMOVED_BY_TARGET,
                           f"{v.name}: BIOS {target_version}, which the plan installs, no longer has it")
        problem = target.problem(v.name, v.value)
        assert problem is not None
        return refused(SettingReason.UNKNOWN_ATTRIBUTE,
                       _text(f"{v.name}: neither the running BIOS {running.bios_version} nor BIOS {target_version} "
                             "has this attribute", problem.expected))
    if target is not None:
        problem = target.problem(v.name, v.value)
        if problem is not None:
            return refused(_BY_RULE[problem.rule], _text(problem.message, problem.expected))
        if known_now:
            return ok()
        return ok(target_version, f"only BIOS {target_version} has it: set once that BIOS is active")
    # Unknown to the running BIOS and no registry of the target: it may come with it.
    return ok(target_version, f"not in the running BIOS {running.bios_version}; expected from BIOS "
                              f"{target_version} (its registry is unknown here) and checked once that BIOS is active")


def _text(message: str, expected: str) -> str:
    return f"{message} (expected {expected})"


def _warn_locks(hd: HostDiff, declared: Mapping[str, SettingValue], bios: BiosSettings, registry: AttributeRegistry,
                work: Sequence[SettingChange]) -> None:
    """Registry dependencies that keep a declared attribute from changing in the state the
    declarations produce (e.g. Dell ProcTurboMode unless SysProfile is Custom)."""
    desired = {**bios.attributes, **{k: v.value for k, v in declared.items()}}
    for c in work:
        for d in registry.locks(c.attribute, desired):
            hd.warn("bios-setting-locked",
                    f"BIOS setting {c.attribute} is {d.prop} while {d.source} is "
                    f"{'' if d.condition == 'EQU' else 'not '}{shown(d.value)} (attribute registry dependency); "
                    f"the BIOS will refuse it: declare {d.source} too")
        a = registry.attributes.get(c.attribute)
        v = declared[c.attribute]
        if a is not None and a.unique and not v.origin.startswith("hosts "):
            hd.warn("bios-setting-unique",
                    f"BIOS setting {c.attribute} is unique per system (IsSystemUniqueProperty) but declared for "
                    f"every host of {v.origin}; declare it in an overrides entry with hosts:")


def _configure_item(work: Sequence[SettingChange]) -> Item:
    summary = ", ".join(f"{c.attribute}={shown(c.target)}" for c in work)
    it = Item(key=CONFIGURE_KEY, kind=CONFIGURE_KEY, hop=0, last=True, from_version=None, to_version=summary,
              version=_SETTINGS_VERSION, entry=None, activation="host-reboot", apply_time="OnReset", rollback=None,
              flash_seconds=SETTINGS_SECONDS, rank=(1 << 30, CONFIGURE_KEY, CONFIGURE_KEY, 0),
              step_kind="configure")
    it.node = f"configure/{CONFIGURE_KEY}"
    it.verify = f"verify/{CONFIGURE_KEY}"
    return it


def place(order: list[Item], item: Item | None) -> list[Item]:
    """The flash order with the configure item inserted (module docstring): right before
    the last flash after its waits whose own reset reboots the host, else last."""
    if item is None:
        return order
    start = 0
    for w in item.waits:
        if w.required in order:
            start = max(start, order.index(w.required) + 1)
    at = len(order)
    for i in range(len(order) - 1, start - 1, -1):
        it = order[i]
        if not it.preflashed and it.apply_time == "Immediate" and it.activation in ("host-reboot", "ac-cycle"):
            at = i
            break
    return [*order[:at], item, *order[at:]]
