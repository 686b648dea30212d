"""The `Plan` value: per-host changes, ordered steps, counts and flags, and its JSON form.

A plan is frozen and complete in itself: renderers and the executor read it and never
recompute actions, reasons or order. `Plan.to_json` writes the document described by
schemas/plan.schema.json; `Plan.from_json` reads it back (a saved plan, `--out PLAN`).
The only run-dependent field is `created_at`, which the caller passes in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import networkx as nx

from hwfw.gcpause import no_gc

if TYPE_CHECKING:
    # A DAG of step ids; networkx's classes cannot be subscripted at run time.
    StepGraph: TypeAlias = nx.DiGraph[str]

PLAN_FORMAT = 1

SEVERITIES = ("error", "warning")


class Action(str, enum.Enum):
    """What the plan does to one component instance (rendered, never recomputed)."""

    NOOP = "noop"                    # already at target: success, nothing to do
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"          # refused unless the target allows downgrades
    UNKNOWN = "unknown"              # current version unknown or not comparable: `?`
    MISSING = "missing"              # the baseline names a component the host lacks
    UNREACHABLE = "unreachable"      # the host's BMC did not answer
    ACTIVATE_ONLY = "activate-only"  # already flashed by hwfw, waiting for its reset


class Reason(str, enum.Enum):
    """Why the action was chosen (or refused)."""

    AT_TARGET = "at-target"
    BELOW_TARGET = "below-target"
    ABOVE_TARGET = "above-target"                  # a downgrade the baseline allows
    DOWNGRADE_NOT_ALLOWED = "downgrade-not-allowed"
    VERSION_UNREADABLE = "version-unreadable"      # the BMC reports no version
    VERSION_UNPARSEABLE = "version-unparseable"    # it fits no (forced) scheme
    VERSION_INCOMPARABLE = "version-incomparable"  # no common order with the target
    ACCEPTED_UNKNOWN = "accepted-unknown"          # flashed anyway: accept_unknown
    NOT_PRESENT = "not-present"
    HOST_UNREACHABLE = "host-unreachable"
    PENDING_ACTIVATION = "pending-activation"
    BELOW_MINIMUM = "below-minimum"                # the target breaks a minimum rule
    NO_UPGRADE_PATH = "no-upgrade-path"            # stepping stones leave no route
    NO_IMAGE = "no-image"                          # the repository lacks the version
    INCOMPATIBLE = "incompatible"                  # a compatibility rule cannot hold
    NOT_UPDATEABLE = "not-updateable"              # the BMC says it cannot update it
    NO_UPDATE_METHOD = "no-update-method"          # hwfw cannot send an image to this BMC
    NO_ACTIVATION = "no-activation"                # the reset the image needs is not available
    VERSION_CONFLICT = "version-conflict"          # two sources report different versions


@dataclass(frozen=True, slots=True)
class Image:
    """A repository image: its id and the sha256 apply verifies before sending it."""

    id: str
    sha256: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class Change:
    """One component instance of one host: its action, reason and hops.

    `hops` lists every version flashed, in order; the last is the target. It is empty
    when nothing is flashed (noop, refused, activate-only).
    """

    component: str
    kind: str
    instance: str
    key: str
    action: Action
    reason: Reason
    current: str | None
    target: str
    refused: bool = False
    image: Image | None = None
    hops: tuple[str, ...] = ()
    activation: str | None = None
    apply_time: str | None = None
    rollback: str | None = None
    message: str = ""
    rollback_image: str | None = None   # the repository image that restores `current`, if any

    @property
    def does_work(self) -> bool:
        """True when apply flashes or activates this component."""
        return not self.refused and self.action not in (Action.NOOP, Action.MISSING, Action.UNREACHABLE)

    def to_json(self) -> dict[str, Any]:
        return {"component": self.component, "kind": self.kind, "instance": self.instance, "key": self.key,
                "action": self.action.value, "reason": self.reason.value, "refused": self.refused,
                "from": self.current, "to": self.target,
                "image": self.image.to_json() if self.image else None, "hops": list(self.hops),
                "activation": self.activation, "apply_time": self.apply_time, "rollback": self.rollback,
                "rollback_image": self.rollback_image, "message": self.message}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Change:
        return Change(component=d["component"], kind=d["kind"], instance=d["instance"], key=d["key"],
                      action=Action(d["action"]), reason=Reason(d["reason"]), refused=d["refused"],
                      current=d["from"], target=d["to"], image=_image(d["image"]), hops=tuple(d["hops"]),
                      activation=d["activation"], apply_time=d["apply_time"], rollback=d["rollback"],
                      message=d["message"], rollback_image=d.get("rollback_image"))


class SettingReason(str, enum.Enum):
    """Why a declared BIOS attribute is set, left alone or refused."""

    AS_DECLARED = "as-declared"              # reads as declared: `=`
    DIFFERS = "differs"                      # set at the next reboot: `~`
    NEEDS_TARGET_BIOS = "needs-target-bios"  # only the target BIOS has it: set once that BIOS runs
    UNKNOWN_ATTRIBUTE = "unknown-attribute"  # neither the running nor the target BIOS has it
    REMOVED_BY_TARGET = "removed-by-target"  # the target BIOS no longer has it
    WRONG_TYPE = "wrong-type"
    NOT_ALLOWED = "not-allowed"              # not an allowed value, out of range, bad format
    READ_ONLY = "read-only"
    PASSWORD = "password"                    # password attributes are never managed
    UNREADABLE = "unreadable"                # the BMC's settings or registry could not be read
    NO_REBOOT = "no-reboot"                  # the BMC cannot reboot the host, which applies settings


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One declared BIOS attribute of one host: `set` (`~`) or `noop` (`=`), or refused.

    `current` is None when the running BIOS does not report the attribute; `needs_bios`
    names the BIOS version that must run before it is set (the plan orders it after
    that BIOS is active); `origin` says which declaration the value comes from."""

    attribute: str
    action: str                       # "set" | "noop"
    reason: SettingReason
    current: str | int | bool | None
    target: str | int | bool
    refused: bool = False
    origin: str = "baseline"
    needs_bios: str | None = None
    message: str = ""

    @property
    def does_work(self) -> bool:
        return self.action == "set" and not self.refused

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "action": self.action, "reason": self.reason.value,
                "refused": self.refused, "from": self.current, "to": self.target, "origin": self.origin,
                "needs_bios": self.needs_bios, "message": self.message}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> SettingChange:
        return SettingChange(attribute=d["attribute"], action=d["action"], reason=SettingReason(d["reason"]),
                             current=d["from"], target=d["to"], refused=d["refused"], origin=d["origin"],
                             needs_bios=d["needs_bios"], message=d["message"])


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the operator should read: `error` blocks apply, `warning` does not."""

    severity: str
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Resets:
    """How many resets of each kind a host's steps contain."""

    host_reboots: int = 0
    bmc_resets: int = 0
    ac_cycles: int = 0

    def to_json(self) -> dict[str, int]:
        return {"host_reboots": self.host_reboots, "bmc_resets": self.bmc_resets, "ac_cycles": self.ac_cycles}


@dataclass(frozen=True, slots=True)
class HostPlan:
    """Everything the plan says about one host.

    `status` is `managed` (a baseline applies), `unmanaged` (none does) or
    `unreachable`. `inventory` is the component-key -> version snapshot the plan was
    made from; with `fingerprint` it lets a saved plan detect hardware drift.
    """

    name: str
    status: str
    reachable: bool
    baseline: str | None = None
    vendor: str | None = None
    model: str | None = None
    fingerprint: str | None = None
    inventory: Mapping[str, str | None] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    resets: Resets = Resets()
    estimate_seconds: float = 0.0
    critical_path: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    settings: tuple[SettingChange, ...] = ()

    @property
    def errored(self) -> bool:
        """An error finding or a refused change or setting: this host blocks apply."""
        return any(f.severity == "error" for f in self.findings) or any(c.refused for c in self.changes) \
            or any(s.refused for s in self.settings)

    @property
    def settings_to_apply(self) -> dict[str, str | int | bool]:
        """The BIOS attributes apply stages for this host (name -> declared value)."""
        return {s.attribute: s.target for s in self.settings if s.does_work}

    @property
    def updates(self) -> int:
        """Changes apply will flash or activate."""
        return sum(1 for c in self.changes if c.does_work)

    @property
    def refused(self) -> int:
        return sum(1 for c in self.changes if c.refused)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reachable": self.reachable,
                "baseline": self.baseline, "vendor": self.vendor, "model": self.model,
                "fingerprint": self.fingerprint, "inventory": dict(sorted(self.inventory.items())),
                "changes": [c.to_json() for c in self.changes], "resets": self.resets.to_json(),
                "estimate": {"seconds": self.estimate_seconds, "critical_path": list(self.critical_path)},
                "findings": [f.to_json() for f in self.findings], "settings": [s.to_json() for s in self.settings]}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> HostPlan:
        return HostPlan(
            name=d["name"], status=d["status"], reachable=d["reachable"], baseline=d["baseline"],
            vendor=d["vendor"], model=d["model"], fingerprint=d["fingerprint"], inventory=dict(d["inventory"]),
            changes=tuple(Change.from_json(c) for c in d["changes"]), resets=Resets(**d["resets"]),
            estimate_seconds=d["estimate"]["seconds"], critical_path=tuple(d["estimate"]["critical_path"]),
            findings=tuple(Finding(**f) for f in d["findings"]),
            settings=tuple(SettingChange.from_json(s) for s in d.get("settings", ())))


class Step(NamedTuple):
    """One node of the apply DAG. `after` holds the ids it waits for (its predecessors).

    `kind` is flash, activate or verify; an activate step's `activation` is the reset
    (bmc-reset, host-reboot, ac-cycle), `activates` the flash steps it makes run (an
    activate-only component appears as `HOST/pending/KEY`) and `cause` why it is there:
    `immediate` (the flash before it triggers it, e.g. a BMC self-reset: apply waits for
    it and performs it only if it does not happen), `wait` (a rule or a hop needs a
    staged image running) or `final` (what is still staged at the end). A NamedTuple: a
    plan of 10,000 hosts has ~100,000 steps, and tuples are immutable and cheap to create.
    """

    id: str
    host: str
    kind: str
    component: str | None
    from_version: str | None
    to_version: str | None
    image: Image | None
    apply_time: str | None
    activation: str | None
    estimate_seconds: float
    rollback: str | None
    activates: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    cause: str | None = None

    def attrs(self) -> dict[str, Any]:
        """The node attributes of this step in `Plan.graph`."""
        im = self.image
        return {"host": self.host, "kind": self.kind, "component": self.component,
                "from_version": self.from_version, "to_version": self.to_version,
                "image": im.id if im else None, "sha256": im.sha256 if im else None,
                "apply_time": self.apply_time, "activation": self.activation,
                "estimate_seconds": self.estimate_seconds, "rollback": self.rollback, "activates": self.activates,
                "cause": self.cause}

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "host": self.host, "kind": self.kind, "component": self.component,
                "from": self.from_version, "to": self.to_version,
                "image": self.image.to_json() if self.image else None, "apply_time": self.apply_time,
                "activation": self.activation, "estimate_seconds": self.estimate_seconds,
                "rollback": self.rollback, "activates": list(self.activates), "after": list(self.after),
                "cause": self.cause}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Step:
        return Step(id=d["id"], host=d["host"], kind=d["kind"], component=d["component"],
                    from_version=d["from"], to_version=d["to"], image=_image(d["image"]),
                    apply_time=d["apply_time"], activation=d["activation"],
                    estimate_seconds=d["estimate_seconds"], rollback=d["rollback"],
                    activates=tuple(d["activates"]), after=tuple(d["after"]), cause=d["cause"])


def steps_graph(steps: Iterable[Step]) -> StepGraph:
    """The DAG of `steps`, every node carrying `Step.attrs()`.

    Bulk-loaded: nodes first, then their attribute dicts handed over as they are
    (`add_nodes_from` with data would copy each dict twice, a third of the build time
    for 100,000 steps), then all edges with one `add_edges_from`.
    """
    with no_gc():
        steps = list(steps)
        ids = [s.id for s in steps]
        g: StepGraph = nx.DiGraph()
        g.add_nodes_from(ids)
        # networkx's own node table (no stub names it): see the docstring for why.
        g._node.update(zip(ids, [s.attrs() for s in steps], strict=True))  # type: ignore[attr-defined]
        g.add_edges_from([(p, s.id) for s in steps for p in s.after])
        return g


@dataclass(frozen=True, slots=True)
class Drift:
    """A component whose running version differs from what hwfw last recorded."""

    host: str
    key: str
    recorded: str
    actual: str | None

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "key": self.key, "recorded": self.recorded, "actual": self.actual}


@dataclass(frozen=True, slots=True)
class Summary:
    """Fleet-wide counts; `estimate_seconds` is the makespan at `parallelism` hosts."""

    hosts: int = 0
    updates: int = 0
    refused: int = 0
    noops: int = 0
    unknown: int = 0
    missing: int = 0
    unreachable: int = 0
    unmanaged: int = 0
    errors: int = 0
    warnings: int = 0
    steps: int = 0
    host_reboots: int = 0
    bmc_resets: int = 0
    ac_cycles: int = 0
    estimate_seconds: float = 0.0
    parallelism: int = 1
    settings: int = 0

    def line(self) -> str:
        """The summary line, e.g. `Plan: 8 hosts, 19 component updates, 0 refused, 9 host
        reboots, 1 AC power cycle, est. 41 min at parallelism 8` (one line); BIOS
        settings to apply are counted after the component updates when there are some."""
        settings = f", {_n(self.settings, 'BIOS setting')}" if self.settings else ""
        return (f"Plan: {_n(self.hosts, 'host')}, {_n(self.updates, 'component update')}{settings}, "
                f"{self.refused} refused, "
                f"{_n(self.host_reboots, 'host reboot')}, {_n(self.ac_cycles, 'AC power cycle')}, "
                f"est. {minutes_text(self.estimate_seconds)} at parallelism {self.parallelism}")

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Options:
    """The knobs the plan was made with (recorded so `show` can tell)."""

    targets: tuple[str, ...] = ()
    accept_unknown: tuple[tuple[str, str], ...] = ()
    allow_unreachable: bool = False
    parallelism: int = 1
    exclude: tuple[str, ...] = ()
    on_failure: str = "halt-host"   # the failure policy the plan was checked against (rollback readiness)

    def to_json(self) -> dict[str, Any]:
        return {"targets": list(self.targets), "exclude": list(self.exclude),
                "accept_unknown": [list(a) for a in self.accept_unknown],
                "allow_unreachable": self.allow_unreachable, "parallelism": self.parallelism,
                "on_failure": self.on_failure}

    @staticmethod
    def from_json(d: Mapping[str, Any]) -> Options:
        return Options(targets=tuple(d["targets"]), accept_unknown=tuple((a[0], a[1]) for a in d["accept_unknown"]),
                       allow_unreachable=d["allow_unreachable"], parallelism=d["parallelism"],
                       exclude=tuple(d.get("exclude", ())), on_failure=d.get("on_failure", "halt-host"))


@dataclass(frozen=True, slots=True)
class Meta:
    """What a saved plan records about its making; None on a freshly computed plan."""

    created_at: str
    hwfw_version: str
    inputs: Mapping[str, str]


@dataclass(frozen=True)
class Plan:
    """The result of `hwfw plan`: a frozen, deterministic value.

    Invariants: `steps` is a topological order of `graph` grouped by host (hosts in
    name order); `errored` is True when any host has an error finding or a refused
    change; `applyable` when not errored and there is at least one step; `complete`
    when every host of the fleet was planned (no -target, no skipped unreachable host).
    """

    hosts: tuple[HostPlan, ...]
    steps: tuple[Step, ...]
    summary: Summary
    errored: bool
    applyable: bool
    complete: bool
    state_lineage: str
    state_serial: int
    options: Options = Options()
    drift: tuple[Drift, ...] = ()
    meta: Meta | None = None
    _graph: Any = field(default=None, compare=False, repr=False)

    @property
    def graph(self) -> StepGraph:
        """The fleet's step DAG, built from `steps` on first use (the executor walks it;
        rendering and JSON do not need it). Hosts share no edge."""
        if self._graph is None:
            object.__setattr__(self, "_graph", steps_graph(self.steps))
        elif not isinstance(self._graph, nx.DiGraph):  # a deferred builder from the planner
            with no_gc():
                object.__setattr__(self, "_graph", self._graph())
        graph: StepGraph = self._graph
        return graph

    def __getstate__(self) -> dict[str, Any]:
        # The planner's deferred graph builder holds unpicklable closures; a copy
        # rebuilds the graph from `steps` instead.
        state = dict(self.__dict__)
        if not isinstance(state["_graph"], nx.DiGraph):
            state["_graph"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def host(self, name: str) -> HostPlan | None:
        """The plan of host `name`, or None when it is not in the plan."""
        for h in self.hosts:
            if h.name == name:
                return h
        return None

    @property
    def has_changes(self) -> bool:
        """True when apply has something to do (`--detailed-exitcode` exits 2)."""
        return bool(self.steps)

    def errors(self) -> list[str]:
        """Every error of the plan as `host: message`, in host order."""
        out = []
        for h in self.hosts:
            out += [f"{h.name}: {f.message}" for f in h.findings if f.severity == "error"]
            out += [f"{h.name}: {c.key}: {c.message}" for c in h.changes if c.refused]
            out += [f"{h.name}: bios-settings {s.attribute}: {s.message}" for s in h.settings if s.refused]
        return out

    def to_json(self, created_at: str, inputs: Mapping[str, str], hwfw_version: str) -> dict[str, Any]:
        """The plan document (schemas/plan.schema.json); `created_at` is the only run-dependent field."""
        return {
            "format_version": PLAN_FORMAT, "hwfw_version": hwfw_version, "created_at": created_at,
            "applyable": self.applyable, "errored": self.errored, "complete": self.complete,
            "summary": self.summary.to_json(), "options": self.options.to_json(),
            "inputs": dict(sorted(inputs.items())),
            "state": {"lineage": self.state_lineage, "serial": self.state_serial},
            "hosts": [h.to_json() for h in self.hosts], "steps": [s.to_json() for s in self.steps],
            "drift": [d.to_json() for d in self.drift],
        }

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Plan:
        """Read a plan document back; raises ValueError for another format version."""
        if doc.get("format_version") != PLAN_FORMAT:
            raise ValueError(f"plan format_version {doc.get('format_version')!r} is not supported "
                             f"(this hwfw reads format {PLAN_FORMAT}); re-run hwfw plan")
        return Plan(
            hosts=tuple(HostPlan.from_json(h) for h in doc["hosts"]),
            steps=tuple(Step.from_json(s) for s in doc["steps"]),
            summary=Summary(**doc["summary"]), errored=doc["errored"], applyable=doc["applyable"],
            complete=doc["complete"], state_lineage=doc["state"]["lineage"], state_serial=doc["state"]["serial"],
            options=Options.from_json(doc["options"]), drift=tuple(Drift(**d) for d in doc["drift"]),
            meta=Meta(created_at=doc["created_at"], hwfw_version=doc["hwfw_version"], inputs=dict(doc["inputs"])))


def _image(d: Mapping[str, str] | None) -> Image | None:
    return Image(d["id"], d["sha256"]) if d else None


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def minutes_text(seconds: float) -> str:
    """`41 min`, `2 h 5 min`: plan estimates are minutes-grained."""
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
