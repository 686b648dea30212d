"""What a vendor adapter is, and the standard (DMTF) behaviour every adapter starts from.

An adapter turns the resources one BMC served into hwfw's typed inventory:

- `detect(root, manager)`: how sure it is that this BMC is its vendor's (0-100), from
  the detection hints of its `hwfw.vendor_registry` record;
- `ignore_reason(member)` / `decide(member)` / `map_member(member)`: FirmwareInventory
  member -> `ComponentState`, skipping non-running copies (backup, golden, staged,
  previous) and deciding the kind from the member's own evidence (never its position);
- `components(facts)`: every member mapped, one component per physical device
  (`identity`), plus fallbacks; `explain(facts)` says why, member by member;
- `capabilities(facts)`: update methods, apply times, limits, reset types;
- `preflight_sources(facts)` + `preflight(facts, extra)`: which extra resources to read
  (job queues, task lists, BIOS settings) and the facts apply checks before touching
  the host. `facts` may lack the Manager and the UpdateService (hwfw plan reads them
  only for hosts with changes, together with these sources): then the sources are
  named by the URIs the vendor's BMCs use, and collect.py checks them against the
  documents once read (a wrong guess costs one more round trip, never a wrong fact);
  `bios_settings_uri(bios_uri)` likewise names where the pending BIOS settings
  usually are, so they are read together with the Bios resource.

`StandardAdapter` implements all of it from the DMTF schemas; vendor modules override
only what their BMCs do differently, each quirk with a comment naming where it was seen.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hwfw.vendor_registry import DEFAULT_VENDOR, Detection, record_for
from hwfw.vendors.evidence import Decision, classify, flag, kind_from_related, kind_from_text, related_uris
from hwfw.vendors.model import Capabilities, ComponentState, PreflightFacts
from hwfw.vendors.sources import fallback_states, inventory_source, same_version, with_conflict

__all__ = [
    "BmcFacts",
    "Decision",
    "StandardAdapter",
    "VendorAdapter",
    "action_targets",
    "apply_time_support",
    "classify",
    "detection_score",
    "first_link",
    "link",
]

Doc = Mapping[str, Any]

# Pre-flight sources an adapter may ask for (collect.py reads them): a collection's
# members by default; the BIOS pending-settings diff; or, for names starting with
# PROBE, one GET whose error (if any) is recorded in `BmcFacts.errors`.
SOURCE_TASKS = "tasks"
SOURCE_BIOS_SETTINGS = "bios-settings"
PROBE = "probe:"


@dataclass(frozen=True, slots=True)
class BmcFacts:
    """The raw documents read from one BMC, handed to adapter hooks.

    `firmware_inventory` is None when the service has no FirmwareInventory (then the
    adapter falls back to Manager.FirmwareVersion and ComputerSystem.BiosVersion).
    `errors` holds (what, message) for optional reads that failed, e.g. a Supermicro
    licence refusal; they become pre-flight facts, not failures.
    """

    root: Doc
    systems: tuple[Doc, ...] = ()
    managers: tuple[Doc, ...] = ()
    update_service: Doc | None = None
    firmware_inventory: tuple[Doc, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def system(self) -> Doc:
        return self.systems[0] if self.systems else {}

    @property
    def manager(self) -> Doc:
        return self.managers[0] if self.managers else {}


class VendorAdapter(Protocol):
    """The hooks collect.py calls; see the module docstring."""

    name: str

    def detect(self, root: Doc, manager: Doc | None) -> int: ...

    def ignore_member(self, member: Doc) -> bool: ...

    def map_member(self, member: Doc) -> ComponentState | None: ...

    def components(self, facts: BmcFacts) -> tuple[ComponentState, ...]: ...

    def explain(self, facts: BmcFacts) -> list[str]: ...

    def capabilities(self, facts: BmcFacts) -> Capabilities: ...

    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]: ...

    def bios_settings_uri(self, bios_uri: str) -> str: ...

    def preflight(self, facts: BmcFacts) -> PreflightFacts: ...


SINGLETONS = frozenset({"bmc", "bios", "cpld", "me"})
NO_EVIDENCE = "no property names a component kind"
Reader = Callable[[Doc], "Decision | None"]


def link(doc: Doc | None, *path: str) -> str | None:
    """`doc[path...]["@odata.id"]`, or None when any step is missing."""
    cur: Any = doc
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    if isinstance(cur, dict):
        cur = cur.get("@odata.id")
    return cur if isinstance(cur, str) else None


def first_link(doc: Doc | None, *path: str) -> str | None:
    """The first `@odata.id` of the link array at `doc[path...]` (e.g. a System's
    `Links.ManagedBy`), or None."""
    cur: Any = doc
    for key in path:
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    if isinstance(cur, list) and cur:
        return link(cur[0]) if isinstance(cur[0], dict) else None
    return None


def below(parent: str | None, child: str) -> str | None:
    """`parent/child` (without a doubled slash), or None without a parent."""
    return f"{parent.rstrip('/')}/{child}" if parent else None


def action_targets(doc: Doc | None) -> dict[str, Doc]:
    """Every action of a resource keyed by short name, value = the action object.

    Standard actions lose their resource prefix (`#UpdateService.SimpleUpdate` ->
    `SimpleUpdate`); OEM ones keep `Type.Action` (`DellUpdateService.Install`,
    `HpeiLOUpdateServiceExt.AddFromUri`), whether listed directly under `Oem` (Dell) or
    under a vendor key (`Oem.Hpe`). Targets are always read from here, never assumed.
    """
    out: dict[str, Doc] = {}
    actions = doc.get("Actions") if isinstance(doc, dict) else None
    if not isinstance(actions, dict):
        return out
    for key, value in actions.items():
        if key == "Oem" and isinstance(value, dict):
            _oem_actions(value, out, 0)
        elif isinstance(value, dict) and isinstance(value.get("target"), str):
            out[key.rsplit("#", 1)[-1].rsplit(".", 1)[-1]] = value
    return out


def _oem_actions(obj: Mapping[str, Any], out: dict[str, Doc], depth: int) -> None:
    for key, value in obj.items():
        if not isinstance(value, dict) or depth > 2:
            continue
        if isinstance(value.get("target"), str):
            out[key.rsplit("#", 1)[-1]] = value
        else:
            _oem_actions(value, out, depth + 1)


def apply_time_support(doc: Doc | None) -> list[str]:
    """`@Redfish.OperationApplyTimeSupport.SupportedValues` wherever it is placed:
    inside an action object (Dell), as a property annotation such as
    `MultipartHttpPushUri@Redfish.OperationApplyTimeSupport` (bmcweb), or on the
    resource; plus the deprecated `HttpPushUriOptions.HttpPushUriApplyTime` allowable values."""
    found: list[str] = []

    def add(values: Any) -> None:
        if isinstance(values, list):
            for v in values:
                if isinstance(v, str) and v not in found:
                    found.append(v)

    def walk(obj: Any, depth: int) -> None:
        if depth > 4 or not isinstance(obj, dict):
            return
        for key, value in obj.items():
            if key.endswith("@Redfish.OperationApplyTimeSupport") and isinstance(value, dict):
                add(value.get("SupportedValues"))
            elif key == "ApplyTime@Redfish.AllowableValues":
                add(value)
            elif isinstance(value, dict) and key not in ("FirmwareInventory", "SoftwareInventory"):
                walk(value, depth + 1)
    walk(doc, 0)
    return found


def _allowable(action: Doc | None, param: str) -> list[str]:
    if not isinstance(action, dict):
        return []
    values = action.get(f"{param}@Redfish.AllowableValues")
    return [str(v) for v in values] if isinstance(values, list) else []


def _status(doc: Doc, key: str) -> str | None:
    status = doc.get("Status")
    value = status.get(key) if isinstance(status, dict) else None
    return str(value) if value else None


def detection_score(hints: Detection, root: Doc, manager: Doc | None) -> int:
    """How strongly `hints` claim this BMC (see `hwfw.vendor_registry.Detection`)."""
    vendor = str(root.get("Vendor", "")).lower()
    if vendor in hints.vendor_names or any(word in vendor for word in hints.vendor_words):
        return 100
    oem = root.get("Oem")
    if isinstance(oem, dict) and any(key in oem for key in hints.oem_keys):
        return 90
    m = manager or {}
    manufacturer, model = str(m.get("Manufacturer", "")).lower(), str(m.get("Model", "")).lower()
    if any(word in manufacturer for word in hints.manufacturer_words) \
            or any(word in model for word in hints.model_words):
        return 80
    return 0


class StandardAdapter:
    """DMTF-schema behaviour; the generic adapter and the base of every vendor's."""

    name = DEFAULT_VENDOR

    # ----------------------------------------------------------------- detection
    def detect(self, root: Doc, manager: Doc | None) -> int:
        """The registry record's hints decide; the default adapter claims every BMC, weakly."""
        if self.name == DEFAULT_VENDOR:
            return 1
        record = record_for(self.name)
        return detection_score(record.detection, root, manager) if record is not None else 0

    # ----------------------------------------------------------------- components
    def ignore_reason(self, member: Doc) -> str | None:
        """Why this member is not running firmware (None: it is)."""
        # Standard v1_12 flags: a staged image is not the running one.
        if member.get("Active") is False:
            return "Active is false: not the running image"
        if member.get("Staged") is True:
            return "Staged is true: waiting to be activated"
        state = _status(member, "State")
        if state in ("StandbySpare", "Disabled", "Absent"):
            return f"Status.State is {state}"
        return None

    def ignore_member(self, member: Doc) -> bool:
        return self.ignore_reason(member) is not None

    def readers(self) -> tuple[Reader, ...]:
        """Evidence, strongest first: what the member links to, then its Id and Name."""
        return (kind_from_related, lambda m: kind_from_text(Id=m.get("Id"), Name=m.get("Name")))

    def decide(self, member: Doc) -> Decision:
        """The member's kind from the first reader that finds evidence; `other` if none."""
        for reader in self.readers():
            decision = reader(member)
            if decision is not None:
                return decision
        return Decision("other", NO_EVIDENCE)

    def kind_of(self, member: Doc) -> str:
        return self.decide(member).kind

    def instance_of(self, member: Doc, kind: str) -> str:
        """Singletons are their kind; other devices are named by their Id."""
        return kind if kind in SINGLETONS else str(member.get("Id") or member.get("Name") or kind)

    def identity(self, member: Doc, state: ComponentState) -> tuple[Any, ...] | None:
        """What makes two running members one physical device (None: only itself).

        Standard: the same kind and version, linked to the same devices by RelatedItem."""
        uris = related_uris(member)
        return ("related", state.kind, state.version, tuple(sorted(u.rstrip("/") for u in uris))) if uris else None

    def preference(self, member: Doc) -> tuple[Any, ...]:
        """Among members of one device, the one that says most about it comes first."""
        return (not related_uris(member), not member.get("SoftwareId"), member_order(member))

    def map_member(self, member: Doc) -> ComponentState | None:
        if self.ignore_member(member):
            return None
        return self._state(member, self.decide(member).kind)

    def _state(self, member: Doc, kind: str) -> ComponentState:
        version = member.get("Version")
        updateable = flag(member.get("Updateable"))
        software_id = member.get("SoftwareId")
        return ComponentState(
            kind=kind, instance=self.instance_of(member, kind),
            version=str(version).strip() if version not in (None, "") else None,
            name=str(member.get("Name") or member.get("Id") or ""),
            # HPE often omits Updateable; absent means "not stated", treated as updateable.
            updateable=updateable if updateable is not None else True,
            software_id=str(software_id) if software_id not in (None, "") else None,
            uri=member.get("@odata.id") if isinstance(member.get("@odata.id"), str) else None,
            source=inventory_source(member))

    def components(self, facts: BmcFacts) -> tuple[ComponentState, ...]:
        """One component per physical device of FirmwareInventory, plus the fallbacks:
        Manager.FirmwareVersion (bmc) and ComputerSystem.BiosVersion (bios) when the
        inventory is missing, empty or lacks them. The member order never matters."""
        return self._resolve(facts)[0]

    def explain(self, facts: BmcFacts) -> list[str]:
        """One line per member (and fallback): the component it became and the evidence,
        why it was skipped, or which member it duplicates (`hwfw inventory -vv`)."""
        return self._resolve(facts)[1]

    def _resolve(self, facts: BmcFacts) -> tuple[tuple[ComponentState, ...], list[str]]:
        notes: list[str] = []
        kept: dict[Any, tuple[Doc, ComponentState, Decision]] = {}
        for member in sorted(facts.firmware_inventory or (), key=member_order):
            reason = self.ignore_reason(member)
            if reason is not None:
                notes.append(f"{_label(member)}: skipped ({reason})")
                continue
            decision = self.decide(member)
            state = self._state(member, decision.kind)
            device = self.identity(member, state)
            slot = ("device", device) if device is not None else ("member", member_order(member))
            held = kept.get(slot)
            if held is not None:
                first, second = sorted((held[0], member), key=self.preference)
                notes.append(f"{_label(second)}: same device as {_label(first)}, kept once")
                if first is held[0]:
                    continue
            kept[slot] = (member, state, decision)
        out: dict[str, ComponentState] = {}
        for member, state, decision in sorted(kept.values(), key=lambda t: member_order(t[0])):
            key = state.key
            if key in out:
                # Two devices hwfw cannot tell apart by name (two "NIC" without ids): keep both, apart.
                state = _renamed(state, f"{state.instance}#{sum(1 for k in out if k.startswith(key))}")
            out[state.key] = state
            notes.append(f"{_label(member)}: {state.key} {state.version!r} ({decision.reason})")
        for state in self.fallback_components(facts):
            label = state.source.describe() if state.source else state.name
            same_kind = [k for k, c in out.items() if c.kind == state.kind]
            if not same_kind:
                out[state.key] = state
                notes.append(f"{state.uri or 'fallback'}: {state.key} {state.version!r} (no inventory member "
                             f"of this kind; read from {label})")
                continue
            for key in same_kind:
                if state.key == key and not same_version(out[key].version, state.version):
                    out[key] = with_conflict(out[key], state)
                    notes.append(f"{key}: {out[key].conflict}")
        return tuple(out.values()), notes

    def fallback_components(self, facts: BmcFacts) -> Iterable[ComponentState]:
        """Manager.FirmwareVersion (bmc) and ComputerSystem.BiosVersion (bios); see sources.py."""
        return fallback_states(facts.manager, facts.system, link(facts.system, "Bios"))

    # ----------------------------------------------------------------- capabilities
    def update_methods(self, update_service: Doc) -> list[str]:
        methods: list[str] = []
        actions = action_targets(update_service)
        if update_service.get("MultipartHttpPushUri"):
            methods.append("multipart")
        if "SimpleUpdate" in actions:
            methods.append("simple-update")
        if update_service.get("HttpPushUri"):
            methods.append("http-push")
        return methods

    def capabilities(self, facts: BmcFacts) -> Capabilities:
        us = facts.update_service or {}
        actions = action_targets(us)
        simple = actions.get("SimpleUpdate")
        protocols = _allowable(simple, "TransferProtocol")
        info = facts.extra.get("simple-update-actioninfo")
        if not protocols and isinstance(info, dict):
            for p in info.get("Parameters") or ():
                if isinstance(p, dict) and p.get("Name") == "TransferProtocol":
                    protocols = [str(v) for v in p.get("AllowableValues") or ()]
        max_size = us.get("MaxImageSizeBytes")
        sys_reset = _allowable(action_targets(facts.system).get("Reset"), "ResetType")
        mgr_reset = _allowable(action_targets(facts.manager).get("Reset"), "ResetType")
        return Capabilities(
            update_methods=tuple(self.update_methods(us)) if us else (),
            apply_times=tuple(apply_time_support(us)),
            max_image_size=int(max_size) if isinstance(max_size, int) and max_size > 0 else None,
            transfer_protocols=tuple(protocols),
            system_reset_types=tuple(sys_reset), manager_reset_types=tuple(mgr_reset),
            expand=bool(facts.extra.get("expand")),
            session_service=bool(facts.extra.get("session_service", True)),
            activations=self.activations(facts))

    def activations(self, facts: BmcFacts) -> tuple[str, ...]:
        """The resets hwfw can perform on this BMC (see `Capabilities.activations`): a
        BMC reset needs the Manager's Reset action, a host reboot the System's; an AC
        power cycle falls back to IPMI, so it is never ruled out here."""
        out = []
        if action_targets(facts.manager).get("Reset"):
            out.append("bmc-reset")
        if action_targets(facts.system).get("Reset"):
            out.append("host-reboot")
        out.append("ac-cycle")
        return tuple(out)

    # ----------------------------------------------------------------- pre-flight
    def preflight_sources(self, facts: BmcFacts) -> dict[str, str]:
        """Extra collections/resources to read, name -> URI. Default: the task list and
        the BIOS settings (pending attribute changes)."""
        sources: dict[str, str] = {}
        tasks = link(facts.root, "Tasks") or None
        if tasks:
            # Root links the TaskService; its Tasks collection is conventionally below it.
            sources[SOURCE_TASKS] = tasks.rstrip("/") + "/Tasks"
        bios = link(facts.system, "Bios")
        if bios:
            sources[SOURCE_BIOS_SETTINGS] = bios
        return sources

    def bios_settings_uri(self, bios_uri: str) -> str:
        """Where the Bios resource's pending settings (`@Redfish.Settings.SettingsObject`)
        usually are; the Bios resource read together with it says where they really are."""
        return f"{bios_uri.rstrip('/')}/Settings"

    def pending_jobs(self, facts: BmcFacts) -> list[str]:
        return []

    def running_updates(self, facts: BmcFacts) -> list[str]:
        out = []
        for task in facts.extra.get(SOURCE_TASKS) or ():
            state = task.get("TaskState")
            if state in ("New", "Starting", "Running", "Pending", "Suspended", "Interrupted", "Stopping", "Service"):
                out.append(f"{task.get('Id') or task.get('@odata.id')} {task.get('Name') or ''} ({state})".strip())
        for member in facts.firmware_inventory or ():
            if _status(member, "State") == "Updating":
                out.append(f"{member.get('Id')} updating")
        return out

    def preflight(self, facts: BmcFacts) -> PreflightFacts:
        system = facts.system
        health = _status(system, "HealthRollup") or _status(system, "Health")
        bios_pending = facts.extra.get(SOURCE_BIOS_SETTINGS)
        warnings = [f"{what}: {msg}" for what, msg in facts.errors]
        return PreflightFacts(
            power_state=str(system["PowerState"]) if system.get("PowerState") else None,
            health=health,
            pending_jobs=tuple(self.pending_jobs(facts)),
            pending_bios_settings=bool(bios_pending),
            running_updates=tuple(self.running_updates(facts)),
            licence_errors=tuple(self.licence_errors(facts)),
            warnings=tuple(warnings))

    def licence_errors(self, facts: BmcFacts) -> list[str]:
        return []


def _renamed(state: ComponentState, instance: str) -> ComponentState:
    return dataclasses.replace(state, instance=instance)


def member_order(member: Doc) -> tuple[Any, ...]:
    """A total order on members by URI (numbers compared as numbers), so results never
    depend on the order the service listed them in."""
    uri = str(member.get("@odata.id") or member.get("Id") or "").rstrip("/")
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", uri))


def _label(member: Doc) -> str:
    uri = str(member.get("@odata.id") or member.get("Id") or "?")
    name = member.get("Name")
    return f"{uri} {str(name)!r}" if name else uri


def pending_bios_attributes(bios: Doc | None, settings: Doc | None) -> dict[str, Any]:
    """Attributes in the BIOS SettingsObject that differ from the current values."""
    if not isinstance(settings, dict):
        return {}
    pending = settings.get("Attributes")
    if not isinstance(pending, dict) or not pending:
        return {}
    current = bios.get("Attributes") if isinstance(bios, dict) else None
    current = current if isinstance(current, dict) else {}
    return {k: v for k, v in pending.items() if current.get(k) != v}
