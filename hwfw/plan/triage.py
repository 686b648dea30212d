"""Which hosts the plan has work for, judged host by host while the fleet is read.

Reading a BMC's pre-flight facts (job queue, task list, pending BIOS settings, licence
probe) costs requests that only matter for a host apply will touch. `needs_preflight`
gives the inventory reader (hwfw.inventory.collect) a predicate that answers, for one
host's inventory read without those facts, whether the plan would give the host any
step: the same diff, rules and step graph as `plan()`, shape by shape (each distinct
host shape is planned once per run, as in the planner). Pure, like the planner.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence

from hwfw.config.model import Workspace
from hwfw.inventory.model import HostInventory, Inventory
from hwfw.plan import shape
from hwfw.plan.diff import DiffContext, HostDiff, Selection, classify
from hwfw.state.model import State

__all__ = ["needs_preflight"]


def needs_preflight(workspace: Workspace, state: State, *, targets: Sequence[str] = (),
                    accept_unknown: Iterable[tuple[str, str]] = (),
                    exclude: Sequence[str] = ()) -> Callable[[HostInventory], bool]:
    """A predicate: does the plan (with these targets, exclusions and accepted unknowns)
    have steps for this host? Unreachable, unmanaged, ambiguous and unselected hosts
    have none."""
    accepted = tuple(sorted((str(h), str(c)) for h, c in accept_unknown))
    selection = Selection(targets, accepted, exclude)
    ctx = DiffContext(workspace, Inventory(hosts={}), state, selection)
    hosts = {h.name: h for h in workspace.hosts}
    has_steps: dict[Hashable, bool] = {}

    def decide(inv: HostInventory) -> bool:
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
            answer = has_steps[key] = bool(shape.build(ctx, host, inv, vendor, model, baseline).ids)
        return answer

    return decide
