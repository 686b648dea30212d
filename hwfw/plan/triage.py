"""Which hosts the plan has work for, judged host by host while the fleet is read.

Reading a BMC's pre-flight facts (job queue, task list, pending BIOS settings, licence
probe) costs requests that only matter for a host apply will touch. `needs_preflight`
gives the inventory reader (hwfw.inventory.collect) a predicate that answers, for one
host's inventory read without those facts, whether the plan would give the host any
step: the same diff, rules and step graph as `plan()`, shape by shape (each distinct
host shape is planned once per run, as in the planner). Pure, like the planner.

It also says when the Manager can be left out of those reads: the plan uses only its
Reset action, to refuse an image that needs a BMC reset the BMC does not offer. Which
images need one (their activation kind) depends on the repository and the vendor, not
on anything the pre-flight round reads, and capabilities read there can only refuse
changes, never add one; so a host none of whose planned images needs a BMC reset plans
the same without it (`apply` reads the Manager again before touching the host).
Likewise the licence probe: the plan reports a missing licence only where a planned
flash needs it, so a host whose flashes the vendor's licence-free method covers is not
probed (the reader probes after all if the BMC turns out not to offer that method).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from hwfw.config.model import Workspace
from hwfw.inventory.model import HostInventory, Inventory, Preflight
from hwfw.plan import shape
from hwfw.plan.diff import DiffContext, HostDiff, Selection, classify
from hwfw.state.model import State
from hwfw.vendor_registry import record_or_default

__all__ = ["needs_preflight"]


def needs_preflight(workspace: Workspace, state: State, *, targets: Sequence[str] = (),
                    accept_unknown: Iterable[tuple[str, str]] = (),
                    exclude: Sequence[str] = ()) -> Callable[[HostInventory], bool | Preflight]:
    """A predicate: does the plan (with these targets, exclusions and accepted unknowns)
    have steps for this host? Unreachable, unmanaged, ambiguous and unselected hosts
    have none (False). With steps: True, or a `Preflight` that leaves out the Manager
    (no image needs a BMC reset) or the licence probe (no flash needs the licence);
    without steps, a `Preflight` of no round says the same for a round BIOS settings
    force."""
    accepted = tuple(sorted((str(h), str(c)) for h, c in accept_unknown))
    selection = Selection(targets, accepted, exclude)
    ctx = DiffContext(workspace, Inventory(hosts={}), state, selection)
    hosts = {h.name: h for h in workspace.hosts}
    has_steps: dict[Hashable, bool | Preflight] = {}

    def decide(inv: HostInventory) -> bool | Preflight:
        host = hosts.get(inv.host)
        if host is None or not selection.host(host.name):
            return False
        ctx.inventory = Inventory(hosts={inv.host: inv})
        got = classify(ctx, host)
        if isinstance(got, HostDiff):
            return False
        inv, vendor, model, baseline = got
        key = shape.shape_key(ctx, host, inv, vendor, model, baseline)
        answer = has_steps.get(key)
        if answer is None:
            answer = has_steps[key] = _answer(shape.build(ctx, host, inv, vendor, model, baseline), vendor)
        return answer

    return decide


def _answer(sh: shape.Shape, vendor: str | None) -> bool | Preflight:
    """Steps or not; whether one of the images the diff found needs a BMC reset; and
    whether one of its flashes needs the vendor's update licence where the BMC offers
    its licence-free method (as `planner._relevant` judges the licence finding). The
    images count also when the shape has no steps yet because its BIOS settings are
    still unknown: the pre-flight round that reads them then reads what they need."""
    bmc_reset = any(it.activation == "bmc-reset" for it in sh.diff.items)
    kinds = frozenset(it.kind for it in sh.diff.items if it.step_kind == "flash" and not it.preflashed)
    record = record_or_default(vendor)
    free = (record.licence_free_method,) if record.licence_free_method else ()
    licence = record.needs_licence(kinds, free)
    need = Preflight(round=bool(sh.ids), manager=bmc_reset, licence=licence)
    if need.manager and need.licence:
        return need.round
    return need
