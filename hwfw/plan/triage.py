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
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from hwfw.config.model import Workspace
from hwfw.inventory.model import SKIP_WITHOUT_MANAGER, WITHOUT_MANAGER, HostInventory, Inventory, Preflight
from hwfw.plan import shape
from hwfw.plan.diff import DiffContext, HostDiff, Selection, classify
from hwfw.state.model import State

__all__ = ["needs_preflight"]


def needs_preflight(workspace: Workspace, state: State, *, targets: Sequence[str] = (),
                    accept_unknown: Iterable[tuple[str, str]] = (),
                    exclude: Sequence[str] = ()) -> Callable[[HostInventory], bool | Preflight]:
    """A predicate: does the plan (with these targets, exclusions and accepted unknowns)
    have steps for this host? Unreachable, unmanaged, ambiguous and unselected hosts
    have none (False). With steps: True when one of its images needs a BMC reset, else
    `WITHOUT_MANAGER`; without: `SKIP_WITHOUT_MANAGER` when none does."""
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
            answer = has_steps[key] = _answer(shape.build(ctx, host, inv, vendor, model, baseline))
        return answer

    return decide


def _answer(sh: shape.Shape) -> bool | Preflight:
    """Steps or not; and whether one of the images the diff found needs a BMC reset
    (also when the shape has no steps yet because its BIOS settings are still unknown:
    the pre-flight round that reads them then reads the Manager too)."""
    bmc_reset = any(it.activation == "bmc-reset" for it in sh.diff.items)
    if not sh.ids:
        return False if bmc_reset else SKIP_WITHOUT_MANAGER
    return True if bmc_reset else WITHOUT_MANAGER
