"""Activation semantics: which reset makes a flashed image run, and how resets are shared.

hwfw separates *flashing* (the image is written, or staged, by the BMC) from
*activation* (the new version starts running). The rules, exactly as the planner
applies them:

1. **Activation kind.** Each flashed image needs one kind of reset before it runs: the
   repository entry's `activation` when set, else the component default: `bmc` ->
   `bmc-reset`; `bios`, `nic`, `raid`, `drive`, `backplane`, `me`, `gpu` ->
   `host-reboot`; `cpld` -> `ac-cycle`; `psu` -> `none` (applies live; on Dell the
   Lifecycle Controller applies PSU firmware during POST, so `host-reboot`). A vendor's
   record in `hwfw.vendor_registry` may change a kind's default. Unknown kinds default
   to `host-reboot`. `none` means the image runs as soon as it is flashed.
2. **Apply time.** An image is flashed `OnReset` (staged: it waits for a reset) when
   it can be staged: the repository entry lists `OnReset` in `apply_times` (or lists
   nothing) and the BMC advertises `OnReset` (or advertises nothing). Otherwise it is
   flashed `Immediate`: its reset follows the flash at once. BMC images (and any image
   activated by a `bmc-reset`) are always `Immediate`: the BMC applies them and resets
   itself, so every BMC flash is followed by its own `bmc-reset` step. `none` images
   are `Immediate` and need no reset. A staged BMC image therefore only exists when an
   earlier run left one pending (state `pending-activation`).
3. **What a reset activates.** A reset activates *every* image staged before it whose
   activation kind it covers: a `bmc-reset` covers `bmc-reset`; a `host-reboot` covers
   `host-reboot`; an `ac-cycle` covers everything (`ac-cycle`, `host-reboot` and
   `bmc-reset`), because removing AC power restarts the BMC and the host as well. One
   reset therefore activates several staged updates.
4. **Order.** The vendor sequence orders flashing (components it does not list go
   after, alphabetically). A compatibility rule with `active: true` (the default)
   needs the required version *running* before the dependent component is flashed: if
   it is still staged, the plan inserts, right before that flash, the weakest reset
   that activates it (its own kind). A rule with `active: false` only needs the
   required version flashed first. Rules override the sequence: a required component
   is moved ahead of the one that needs it, as late as the sequence allows. Each
   stepping-stone hop is flashed *and activated* (and verified) before the next hop.
5. **Reboot minimisation** follows from 3 and 4: staged updates wait and share a reset.
   At the end of a host's chain the remaining staged images are activated by one
   `ac-cycle` if any of them needs one (it activates the rest too); otherwise by one
   `bmc-reset` and/or one `host-reboot`. Where a wait needs images of several kinds
   active at once, one `ac-cycle` is used if one of them needs it, else one reset per
   kind (`bmc-reset` first).
6. **Serialisation.** Within a host, flashes and resets form one chain: a BMC runs one
   update or one reset at a time and never resets in the middle of a flash. Each
   component is verified (inventory re-read) after the reset that made its version
   run and before the host's next reset; a flash that waits on a rule or a hop waits
   for that verification, so a version that did not come up stops its dependents.

7. **BIOS settings.** A host's BIOS settings are one configure step, scheduled like an
   `OnReset` image of activation `host-reboot` (so an `ac-cycle` applies them too).
   Where it goes in the flash order decides whether it shares a reset; that placement
   is hwfw/plan/settings.py's: right before the last flash whose own reset reboots the
   host, or after every flash; after the new BIOS is active (a `wait` on the BIOS flash,
   which rule 4 turns into a reset) when an attribute exists only in the target BIOS or
   the target's registry is unknown.

Examples (tests/plan/test_activation.py): BIOS, NIC and CPLD behind, all staged
OnReset, CPLD needing an AC power cycle, no rules: 0 host reboots + 1 AC power cycle.
The same with a rule "NIC needs the new BIOS active": 1 host reboot (before the NIC
flash) + 1 AC power cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hwfw.vendor_registry import record_for

if TYPE_CHECKING:
    from hwfw.config.model import RepositoryEntry
    from hwfw.inventory.model import Capabilities
    from hwfw.plan.diff import Item

RESET_KINDS = ("bmc-reset", "host-reboot", "ac-cycle")

DEFAULT_ACTIVATION = {
    "bmc": "bmc-reset", "bios": "host-reboot", "nic": "host-reboot", "raid": "host-reboot",
    "drive": "host-reboot", "backplane": "host-reboot", "me": "host-reboot", "gpu": "host-reboot",
    "cpld": "ac-cycle", "psu": "none",
}
# A vendor's exceptions to DEFAULT_ACTIVATION are in its `hwfw.vendor_registry` record.
FALLBACK_ACTIVATION = "host-reboot"

# Which staged activation kinds each reset makes run (rule 3).
COVERS: dict[str, frozenset[str]] = {
    "bmc-reset": frozenset({"bmc-reset"}),
    "host-reboot": frozenset({"host-reboot"}),
    "ac-cycle": frozenset({"ac-cycle", "host-reboot", "bmc-reset"}),
}


def activation_kind(kind: str, vendor: str | None, entry: RepositoryEntry | None) -> str:
    """Rule 1: the reset an image of `kind` needs before it runs."""
    if entry is not None and entry.activation:
        return entry.activation
    record = record_for(vendor)
    override = record.activation.get(kind) if record is not None else None
    return override if override is not None else DEFAULT_ACTIVATION.get(kind, FALLBACK_ACTIVATION)


def apply_time(kind: str, activation: str, entry: RepositoryEntry | None,
               capabilities: Capabilities | None) -> str:
    """Rule 2: `OnReset` when the image can be staged on this BMC, else `Immediate`."""
    if kind == "bmc" or activation in ("none", "bmc-reset"):
        return "Immediate"
    if entry is not None and entry.apply_times and "OnReset" not in entry.apply_times:
        return "Immediate"
    if capabilities is not None and capabilities.apply_times and "OnReset" not in capabilities.apply_times:
        return "Immediate"
    return "OnReset"


@dataclass(slots=True, eq=False)
class Reset:
    """One reset step of a host: its kind, per-kind number and the images it activates.

    `cause`: `immediate` (the flash before it triggers it, e.g. a BMC self-reset),
    `wait` (a rule or hop needs a staged image running) or `final` (end of the chain).
    """

    kind: str
    number: int
    cause: str
    activates: list[Item] = field(default_factory=list)
    node: str = ""


def schedule(items: Sequence[Item]) -> list[Item | Reset]:
    """The host's chain (rules 3-5): flashes in the given order with resets inserted.

    `items` is the flash order; activate-only items (`preflashed`) are staged from the
    start. Sets each item's `activated_by` (None when it runs on flashing).
    """
    chain: list[Item | Reset] = []
    pending: list[Item] = [it for it in items if it.preflashed]
    counters: dict[str, int] = {}

    def reset(kind: str, cause: str) -> None:
        covered = COVERS[kind]
        number = counters[kind] = counters.get(kind, 0) + 1
        r = Reset(kind, number, cause, [p for p in pending if p.activation in covered])
        pending[:] = [p for p in pending if p.activation not in covered]
        for it in r.activates:
            it.activated_by = r
        chain.append(r)

    for it in items:
        if it.preflashed:
            continue
        needed = {w.required.activation for w in it.waits
                  if w.active and w.required.activation != "none" and w.required.activated_by is None}
        for kind in _resets_for(needed):
            reset(kind, "wait")
        chain.append(it)
        if it.activation == "none":
            continue
        if it.apply_time == "Immediate":
            pending.append(it)
            reset(it.activation, "immediate")
        else:
            pending.append(it)
    for kind in _resets_for({p.activation for p in pending}):
        reset(kind, "final")
    return chain


def _resets_for(kinds: Iterable[str]) -> list[str]:
    """The fewest resets that activate images of all `kinds` (rule 5)."""
    kinds = set(kinds)
    if not kinds:
        return []
    if "ac-cycle" in kinds:
        return ["ac-cycle"]
    return [k for k in ("bmc-reset", "host-reboot") if k in kinds]


def count_resets(chain: Iterable[Item | Reset]) -> dict[str, int]:
    """Number of resets per kind in a chain."""
    out = dict.fromkeys(RESET_KINDS, 0)
    for ev in chain:
        if isinstance(ev, Reset):
            out[ev.kind] += 1
    return out
