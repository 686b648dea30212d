"""Diff: baseline targets against one host's inventory -> changes (Action + Reason) and items.

Pure: reads the workspace, the host's inventory and the state; no I/O. An *item* is
one image flash (one stepping-stone hop of one component instance); the graph is built
from items. Versions are never guessed: an unreadable, unparseable or incomparable
current version is `UNKNOWN` (`?`) and refused unless accepted.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hwfw import versions
from hwfw.config.model import Baseline, ComponentTarget, Host, RepositoryEntry, Workspace
from hwfw.inventory.model import ComponentState, HostInventory, Inventory
from hwfw.plan import activation as act
from hwfw.plan import estimate
from hwfw.plan.model import Action, Change, Finding, Image, Reason, SettingChange
from hwfw.plan.profile import NoPath, Profile, TargetInfo
from hwfw.state.model import State
from hwfw.versions import IncomparableVersions, InvalidConstraint, InvalidVersion, Version

if TYPE_CHECKING:
    from hwfw.plan.activation import Reset


HOP_WAIT = "stepping stone"  # Wait.why of a hop waiting for the previous hop
HOST = "{host}"  # placeholder for the host name in texts shared by a shape (see shape.py)


@dataclass(slots=True, frozen=True, eq=False)
class Wait:
    """`required` must be flashed (and running, when `active`) before the item flashes."""

    required: Item
    active: bool
    why: str


@dataclass(slots=True, eq=False)
class Item:
    """One image flash: one hop of one component instance (or an activate-only image).

    Items belong to a host *shape* (see shape.py), so their node ids are relative to the
    host (`flash/bios`); the host name is prefixed when a shape is instantiated.
    """

    key: str
    kind: str
    hop: int
    last: bool
    from_version: str | None
    to_version: str
    version: Version
    entry: RepositoryEntry | None
    activation: str
    apply_time: str
    rollback: str | None
    flash_seconds: float
    rank: tuple[int, str, str, int]
    preflashed: bool = False
    waits: list[Wait] = field(default_factory=list)
    activated_by: Reset | None = None
    node: str = ""
    verify: str = ""
    step_kind: str = "flash"   # "configure": staging BIOS settings (plan/settings.py)


@dataclass(slots=True, eq=False)
class Track:
    """One component instance as rules see it: running now, hops, running at the end."""

    kind: str
    key: str
    current: Version | None
    current_text: str | None
    items: list[Item] = field(default_factory=list)
    final: Version | None = None
    final_text: str | None = None


@dataclass(slots=True, eq=False)
class HostDiff:
    """One host's (or shape's) diff: status, changes, items to flash, rule tracks, findings."""

    host: Host
    inv: HostInventory | None
    status: str
    vendor: str | None = None
    model: str | None = None
    baseline: Baseline | None = None
    profile: Profile | None = None
    changes: list[Change] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    tracks: dict[str, list[Track]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    settings: list[SettingChange] = field(default_factory=list)
    configure: Item | None = None   # the step staging this host's BIOS settings (plan/settings.py)

    def error(self, code: str, message: str) -> None:
        self.findings.append(Finding("error", code, message))

    def warn(self, code: str, message: str) -> None:
        self.findings.append(Finding("warning", code, message))

    @property
    def errored(self) -> bool:
        return any(f.severity == "error" for f in self.findings) or any(c.refused for c in self.changes) \
            or any(s.refused for s in self.settings)


# ---------------------------------------------------------------- selection helpers

class Selection:
    """`targets` (`HOST` or `HOST/COMPONENT`, globs), `exclude` (host globs) and
    `accept_unknown` pairs."""

    def __init__(self, targets: Sequence[str], accept_unknown: Iterable[tuple[str, str]],
                 exclude: Sequence[str] = ()) -> None:
        self.targets = [(t.split("/", 1) + ["*"])[:2] for t in targets]
        self.accept = list(accept_unknown)
        self.exclude = tuple(exclude)

    def host(self, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, x) for x in self.exclude):
            return False
        return not self.targets or any(fnmatch.fnmatchcase(name, h) for h, _ in self.targets)

    def component(self, host: str, names: Sequence[str]) -> bool:
        if not self.targets:
            return True
        return any(fnmatch.fnmatchcase(host, h) and any(fnmatch.fnmatchcase(n, c) for n in names)
                   for h, c in self.targets)

    def signature(self, host: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What of the selection applies to `host` (part of its shape key)."""
        if not self.targets and not self.accept:
            return (), ()
        return (tuple(c for h, c in self.targets if fnmatch.fnmatchcase(host, h)),
                tuple(sorted(c for h, c in self.accept if fnmatch.fnmatchcase(host, h))))

    def accepted(self, host: str, names: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(host, h) and c in names for h, c in self.accept)


@dataclass(slots=True)
class DiffContext:
    """The inputs of a plan run and the per-profile caches shared by its hosts."""

    ws: Workspace
    inventory: Inventory
    state: State
    selection: Selection
    profiles: dict[tuple[str, str | None, str | None], Profile] = field(default_factory=dict)

    def profile(self, baseline: Baseline, vendor: str | None, model: str | None) -> Profile:
        key = (baseline.name, vendor, model)
        p = self.profiles.get(key)
        if p is None:
            p = self.profiles[key] = Profile(self.ws, baseline, vendor, model)
        return p


# ---------------------------------------------------------------- the diff

def classify(ctx: DiffContext, host: Host) -> HostDiff | tuple[HostInventory, str | None, str | None, Baseline]:
    """Unreachable, unmanaged or ambiguous hosts as a finished HostDiff; otherwise the
    inputs of `diff_managed`: inventory, the vendor and model the BMC reported (the
    host's hints otherwise) and the one baseline that selects it."""
    inv = ctx.inventory.get(host.name)
    if inv is None or not inv.reachable:
        return _unreachable(ctx, host, inv)
    vendor, model = inv.vendor or host.vendor, inv.model or host.model
    baselines = ctx.ws.baselines_for(host, vendor, model)
    if len(baselines) == 1:
        return inv, vendor, model, baselines[0]
    hd = HostDiff(host, inv, "managed" if baselines else "unmanaged", vendor, model)
    if baselines:
        names = ", ".join(sorted(b.name for b in baselines))
        hd.error("ambiguous-baseline", f"selected by {len(baselines)} baselines ({names}); "
                 "narrow their select: blocks so exactly one applies")
    hd.findings += preflight(inv)
    return hd


def diff_managed(ctx: DiffContext, host: Host, inv: HostInventory, vendor: str | None, model: str | None,
                 baseline: Baseline) -> HostDiff:
    """Changes, items and rule tracks of a host under its baseline (preflight excluded:
    it is per host, while this result is shared by every host of the same shape)."""
    hd = HostDiff(host, inv, "managed", vendor, model, baseline)
    hd.profile = prof = ctx.profile(baseline, vendor, model)
    claimed: dict[str, str] = {}
    for info in prof.targets:
        t = info.target
        if info.problem:
            hd.error("bad-target", info.problem)
            continue
        instances = sorted((c for c in inv.components if c.kind == t.kind and _matches(t, c)), key=_key)
        if not instances:
            if ctx.selection.component(host.name, (t.id, t.kind)):
                hd.changes.append(Change(t.id, t.kind, "", t.id, Action.MISSING, Reason.NOT_PRESENT, None,
                                         t.version, refused=True,
                                         message=f"the host reports no {t.kind} component"
                                         + (f" matching {t.match!r}" if t.match else "")))
            continue
        for c in instances:
            key = c.key
            if key in claimed:
                hd.error("ambiguous-target", f"{key} is matched by both {claimed[key]!r} and {t.id!r}; "
                         "make their match: patterns disjoint")
                continue
            claimed[key] = t.id
            if ctx.selection.component(host.name, (t.id, t.kind, key)):
                _diff_instance(ctx, hd, prof, info, c)
    if prof.rules:
        _add_untracked(hd, prof)
    return hd


def _key(c: ComponentState) -> str:
    return c.key


def _matches(t: ComponentTarget, c: ComponentState) -> bool:
    return t.match is None or t.matches_instance(c.instance) or bool(c.name and t.matches_instance(c.name))


# Why a host could not be read (HostInventory.error_kind) -> the finding's code and text.
# Each says what to check: a refused password is not a network problem.
UNREADABLE: dict[str | None, tuple[str, str]] = {
    None: ("unreachable", "host is unreachable: {why}"),
    "connection": ("unreachable", "host is unreachable: {why}"),
    "timeout": ("unreachable", "host is unreachable: {why}"),
    "auth": ("auth-failed", "the BMC refused the credentials: {why}; check this host's credentials "
                            "reference (user name, password_env / password_file) and the account"),
    "tls": ("tls-failed", "the BMC's TLS certificate did not verify: {why}; set ca_bundle to the CA that "
                          "signed it, or pass --insecure for a lab"),
    "bmc": ("unreachable", "host is unreachable: {why}"),
    "internal": ("unreachable", "host is unreachable: {why}"),
    # It answers, but its session table is full (other tools' sessions, or a killed run's).
    "session-limit": ("session-limit", "host cannot be read (session limit): {why}"),
}
UNREADABLE_CODES = frozenset(code for code, _ in UNREADABLE.values())


def _unreachable(ctx: DiffContext, host: Host, inv: HostInventory | None) -> HostDiff:
    hd = HostDiff(host, inv, "unreachable", host.vendor, host.model)
    if inv is None:
        why = "no inventory was collected for it"
    else:
        why = inv.error or "the BMC did not answer"
    code, text = UNREADABLE.get(inv.error_kind if inv is not None else None, UNREADABLE[None])
    hd.findings.append(Finding("error", code, text.format(why=why)))
    baselines = ctx.ws.baselines_for(host)
    if len(baselines) == 1:
        hd.baseline = baselines[0]
        for t in hd.baseline.components:
            hd.changes.append(Change(t.id, t.kind, "", t.id, Action.UNREACHABLE, Reason.HOST_UNREACHABLE,
                                     None, t.version, message="not planned: the BMC did not answer"))
    return hd


def _current(text: str | None, scheme: str | None,
             conflict: str | None = None) -> tuple[Version | None, Reason | None, str]:
    if conflict is not None:
        return None, Reason.VERSION_CONFLICT, conflict
    if text is None:
        return None, Reason.VERSION_UNREADABLE, "the BMC reports no version"
    try:
        return versions.parse(text, scheme), None, ""
    except InvalidVersion as exc:
        return None, Reason.VERSION_UNPARSEABLE, str(exc)


def _compare(current: Version | None, target: Version, allow_downgrade: bool,
             reason: Reason | None, detail: str) -> tuple[Action, Reason, str]:
    """Action and reason for a parsed current version (None: `reason` says why)."""
    if current is None:
        assert reason is not None
        return Action.UNKNOWN, reason, detail
    if current == target:
        return Action.NOOP, Reason.AT_TARGET, ""
    try:
        if current < target:
            return Action.UPGRADE, Reason.BELOW_TARGET, ""
    except IncomparableVersions as exc:
        return Action.UNKNOWN, Reason.VERSION_INCOMPARABLE, exc.reason
    return Action.DOWNGRADE, Reason.ABOVE_TARGET if allow_downgrade else Reason.DOWNGRADE_NOT_ALLOWED, ""


def _diff_instance(ctx: DiffContext, hd: HostDiff, prof: Profile, info: TargetInfo, c: ComponentState) -> None:
    t, target = info.target, info.version
    assert target is not None
    current, why, detail = _current(c.version, info.scheme, c.conflict)
    action, reason, detail = _compare(current, target, t.allow_downgrade, why, detail)
    track = Track(c.kind, c.key, current, c.version, final=current, final_text=c.version)
    hd.tracks.setdefault(c.kind, []).append(track)

    def change(reason: Reason, as_action: Action | None = None, **kw: Any) -> Change:
        return Change(t.id, t.kind, c.instance, c.key, as_action or action, reason, c.version, t.version, **kw)

    record = ctx.state.record(hd.host.name, c.key)
    if action is not Action.NOOP and record is not None and record.status == "pending-activation":
        if _same(record.version, target, info.scheme):
            pending = _activate_only(prof, info, c, track, record.activation, change)
            missing = _missing_activation(hd.inv, [pending.activation or ""])
            if missing is not None:
                track.items, track.final, track.final_text = [], current, c.version
                hd.changes.append(change(Reason.NO_ACTIVATION, refused=True, message=missing))
                return
            hd.changes.append(pending)
            hd.items += track.items
            return
        hd.warn("state-pending", f"{c.key}: the state says {record.version} awaits activation; "
                f"{t.version} will be flashed over it")
    if action is Action.UNKNOWN and ctx.selection.accepted(hd.host.name, (t.id, t.kind, c.key)):
        reason = Reason.ACCEPTED_UNKNOWN
    refusal = _cannot_update(hd.inv, action) or _refusal(info, c, action, reason, detail, prof)
    if refusal is not None:
        hd.changes.append(change(refusal[0], refused=True, message=refusal[1]))
        return
    if action is Action.NOOP:
        hd.changes.append(change(reason))
        return
    assert info.entry is not None
    try:
        route = _route(prof, t.kind, current, target, info.entry)
    except NoPath as exc:
        hd.changes.append(change(Reason.NO_UPGRADE_PATH, refused=True, message=exc.message))
        return
    items = _items(hd, prof, c, current, route)
    missing = _missing_activation(hd.inv, [it.activation for it in items])
    if missing is not None:
        hd.changes.append(change(Reason.NO_ACTIVATION, refused=True, message=missing))
        return
    track.items, track.final, track.final_text = items, target, t.version
    hd.items.extend(items)
    mode, back = prof.change_rollback(t.kind, current, [it.entry for it in items])
    hd.changes.append(change(reason, image=Image(info.entry.id, info.entry.sha256),
                             hops=tuple(it.to_version for it in items), activation=items[-1].activation,
                             apply_time=items[-1].apply_time, rollback=mode, rollback_image=back))


def _refusal(info: TargetInfo, c: ComponentState, action: Action, reason: Reason, detail: str,
             prof: Profile) -> tuple[Reason, str] | None:
    """Why this change cannot be planned, or None."""
    t = info.target
    if info.below_minimum:
        return Reason.BELOW_MINIMUM, info.below_minimum
    if action is Action.NOOP:
        return None
    if action is Action.UNKNOWN and reason is Reason.VERSION_CONFLICT:
        return reason, f"{detail}; accept it with --accept-unknown {HOST}:{t.id} to flash {t.version} anyway"
    if action is Action.UNKNOWN and reason is not Reason.ACCEPTED_UNKNOWN:
        shown = c.version if c.version is not None else "?"
        return reason, (f"current version {shown!r} cannot be ordered against {t.version!r} ({detail}); "
                        f"accept it with --accept-unknown {HOST}:{t.id}")
    if reason is Reason.DOWNGRADE_NOT_ALLOWED:
        return reason, (f"{c.version} -> {t.version} is a downgrade; set allow_downgrade: true on {t.id!r} "
                        "in the baseline to allow it")
    if not c.updateable:
        return Reason.NOT_UPDATEABLE, "the BMC reports this component as not updateable (by Redfish)"
    if info.entry is None:
        return Reason.NO_IMAGE, f"the repository has no {t.kind} image of version {t.version} for {_hardware(prof)}"
    return None


def _hardware(prof: Profile) -> str:
    """`dell PowerEdge R750`; what is known of it when the vendor or model is not."""
    if prof.vendor and prof.model:
        return f"{prof.vendor} {prof.model}"
    if prof.vendor or prof.model:
        return f"{prof.vendor or prof.model} (any {'model' if prof.vendor else 'vendor'})"
    return "any vendor and model"


def _cannot_update(inv: HostInventory | None, action: Action) -> tuple[Reason, str] | None:
    """A change this BMC offers no way to send: refused whatever its versions say."""
    caps = inv.capabilities if inv is not None else None
    if action is Action.NOOP or caps is None or caps.update_methods:
        return None
    if inv is not None and inv.protocol == "ipmi":
        return Reason.NO_UPDATE_METHOD, ("the host is read over IPMI, and hwfw updates firmware over Redfish "
                                         "only; manage it with protocol: redfish (or auto) once its BMC "
                                         "answers Redfish")
    return Reason.NO_UPDATE_METHOD, ("the BMC offers no update method hwfw can use (its UpdateService has no "
                                     "SimpleUpdate, MultipartHttpPushUri or HttpPushUri)")


_RESET_ACTIONS = {"bmc-reset": "the Manager has no Reset action", "host-reboot": "the System has no Reset action"}


def _missing_activation(inv: HostInventory | None, activations: Iterable[str]) -> str | None:
    """Why one of `activations` cannot be performed on this BMC (None: all can)."""
    caps = inv.capabilities if inv is not None else None
    if caps is None or caps.activations is None:
        return None
    for activation in activations:
        if activation in _RESET_ACTIONS and activation not in caps.activations:
            return (f"the image needs a {activation} to run, and {_RESET_ACTIONS[activation]}: hwfw could not "
                    "activate it (set the image's `activation:` in the repository if it runs without one)")
    return None


def _route(prof: Profile, kind: str, current: Version | None, target: Version,
           entry: RepositoryEntry) -> list[tuple[Version, RepositoryEntry | None]]:
    if current is not None:
        return prof.path(kind, current, target, entry)
    # Unknown current version (accepted): a stepping stone that targets this version
    # cannot be checked, and hwfw never guesses.
    for s in prof.stones:
        if s.component == kind:
            try:
                hits = prof.constraint(s.target, kind).contains(target)
            except (IncomparableVersions, InvalidConstraint):
                hits = True
            if hits:
                raise NoPath(f"stepping stone rule {s.id!r} needs the current version to match "
                             f"{s.from_!r} before {target} is flashed, but the current version is unknown")
    return [(target, entry)]


def _items(hd: HostDiff, prof: Profile, c: ComponentState, current: Version | None,
           route: list[tuple[Version, RepositoryEntry | None]]) -> list[Item]:
    caps = hd.inv.capabilities if hd.inv else None
    out: list[Item] = []
    prev, prev_text = current, c.version
    for i, (v, e) in enumerate(route):
        last = i == len(route) - 1
        activation = act.activation_kind(c.kind, prof.vendor, e)
        it = Item(key=c.key, kind=c.kind, hop=i, last=last, from_version=prev_text,
                  to_version=v.text, version=v, entry=e, activation=activation,
                  apply_time=act.apply_time(c.kind, activation, e, caps),
                  rollback=prof.rollback(c.kind, prev, e),
                  flash_seconds=estimate.flash_seconds(prof.vendor, c.kind, e.duration if e else None),
                  rank=prof.rank(c.kind, c.key, i))
        suffix = "" if last else f"@{v.text}"
        it.node = f"flash/{c.key}{suffix}"
        it.verify = f"verify/{c.key}{suffix}"
        if out:
            it.waits.append(Wait(out[-1], True, HOP_WAIT))
        out.append(it)
        prev, prev_text = v, v.text
    return out


def _activate_only(prof: Profile, info: TargetInfo, c: ComponentState, track: Track,
                   recorded_activation: str | None, change: Callable[..., Change]) -> Change:
    """hwfw flashed this target already; plan only its activation (never re-flash)."""
    target = info.version
    assert target is not None
    activation = recorded_activation or act.activation_kind(c.kind, prof.vendor, info.entry)
    if activation == "none":
        activation = act.FALLBACK_ACTIVATION  # it is staged, so something must activate it
    it = Item(key=c.key, kind=c.kind, hop=0, last=True, from_version=c.version,
              to_version=info.target.version, version=target, entry=info.entry, activation=activation,
              apply_time="OnReset", rollback=prof.rollback(c.kind, track.current, info.entry),
              flash_seconds=0.0, rank=prof.rank(c.kind, c.key, 0), preflashed=True)
    it.node = f"pending/{c.key}"
    it.verify = f"verify/{c.key}"
    track.items, track.final, track.final_text = [it], target, info.target.version
    mode, back = prof.change_rollback(c.kind, track.current, [info.entry])
    return change(Reason.PENDING_ACTIVATION, Action.ACTIVATE_ONLY,
                  image=Image(info.entry.id, info.entry.sha256) if info.entry else None,
                  activation=activation, apply_time="OnReset", rollback=mode, rollback_image=back,
                  message=f"{info.target.version} is flashed and awaits a {activation}")


def _same(text: str, version: Version, scheme: str | None) -> bool:
    try:
        return versions.parse(text, scheme) == version
    except InvalidVersion:
        return False


def _add_untracked(hd: HostDiff, prof: Profile) -> None:
    """Components the baseline does not manage still count for rules: they stay as they are."""
    assert hd.inv is not None
    seen = {t.key for ts in hd.tracks.values() for t in ts}
    kinds = {r.when.component for r in prof.rules} | {r.requires.component for r in prof.rules}
    for c in hd.inv.components:
        if c.kind in kinds and c.key not in seen:
            v, _, _ = _current(c.version, prof.scheme(c.kind), c.conflict)
            hd.tracks.setdefault(c.kind, []).append(Track(c.kind, c.key, v, c.version, final=v, final_text=c.version))


def preflight(inv: HostInventory, own_settings: Mapping[str, Any] | None = None) -> list[Finding]:
    """Pre-flight facts the BMC reported, as warnings listed under the host. BIOS values
    hwfw staged itself (`own_settings`, from the state) are not reported as pending."""
    pf = inv.preflight
    if pf is None:
        return []
    out: list[tuple[str, str]] = []
    if pf.pending_jobs:
        jobs = ", ".join(pf.pending_jobs)
        out.append(("pending-jobs", f"{len(pf.pending_jobs)} pending BMC job(s): {jobs}; clear them or apply "
                    + "may queue behind them"))
    if pf.running_updates:
        out.append(("running-updates", f"update(s) already running: {', '.join(pf.running_updates)}"))
    if pf.power_state and pf.power_state.lower() == "off":
        out.append(("power-off", "host is powered off; its host reboots will power it on"))
    if pf.health and pf.health.lower() not in ("ok", "healthy"):
        out.append(("health", f"BMC reports health {pf.health}"))
    staged = inv.bios.pending if inv.bios is not None else None
    own = own_settings or {}
    if pf.pending_bios_settings and not (staged and all(k in own and own[k] == v for k, v in staged.items())):
        out.append(("pending-bios-settings", "pending BIOS settings will be applied by the first host reboot"))
    out += [("licence", f"licence: {e}") for e in pf.licence_errors]
    out += [("bmc-warning", w) for w in pf.warnings]
    return [Finding("warning", code, message) for code, message in out]
