"""Handing a confirmed plan over to Temporal (the `hand_over` of hwfw.apply.run.run_apply).

While the workspace lock is still held, the run's host file is written for the state
writer (control.py): the hosts refused or skipped before the run first, with their
outcomes, then every host with steps in plan order, with its site, model and steps.
What the rollout workflow is started with is returned in `result.extra["rollout"]`;
the caller starts it once `run_apply` has released the lock.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from hwfw.apply.events import HOST_REFUSED, HOST_SKIPPED, HostOutcome
from hwfw.apply.run import ApplyOptions, ApplyResult, Handover
from hwfw.apply.scheduler import shapes_of
from hwfw.config.model import Workspace
from hwfw.plan.model import HostPlan

from .control import write_host_file
from .model import SUMMARY_HOSTS, HostSpec, Knobs, RolloutInput, step_timing

__all__ = ["hand_over"]


def _deadline(handover: Handover) -> float | None:
    """The window's end on the run's clock, as epoch seconds (what workflows measure)."""
    deadline = handover.rollout.deadline
    if deadline is None:
        return None
    return time.time() + (deadline - handover.clock.monotonic())


def host_plan(hp: HostPlan | None) -> dict[str, Any] | None:
    """What a site's pieces read of the host's plan (its changes: rollback and the
    post-configuration read-back; its BIOS settings: configure, verify, validate, restore),
    without the inventory snapshot and findings the planner kept."""
    if hp is None:
        return None
    return replace(hp, inventory={}, findings=(), fingerprint=None, critical_path=()).to_json()


def host_specs(workspace: Workspace, handover: Handover) -> list[HostSpec]:
    plan = handover.plan
    specs = [HostSpec(host=h, site=None, vendor=None, model=None, steps=[],
                      preset=HostOutcome(HOST_REFUSED, why).to_json())
             for h, why in sorted(handover.settled.blocked.items())]
    specs += [HostSpec(host=h, site=None, vendor=None, model=None, steps=[],
                       preset=HostOutcome(HOST_SKIPPED, why).to_json())
              for h, why in sorted(handover.skipped.items())]
    blocked = set(handover.settled.blocked)
    for host, shape in shapes_of(s for s in plan.steps if s.host not in blocked).items():
        hp, cfg = plan.host(host), workspace.host(host)
        specs.append(HostSpec(host=host, site=cfg.site if cfg else None, vendor=hp.vendor if hp else None,
                              model=hp.model if hp else None, steps=[s.to_json() for s in shape.steps],
                              plan=host_plan(hp)))
    return specs


async def hand_over(workspace: Workspace, options: ApplyOptions, handover: Handover, *,
                    tuning: dict[str, Any] | None = None) -> ApplyResult:
    """Write the run's host file; return the rollout's input (see the module docstring).
    `tuning` overrides RolloutInput fields (children, history, per_load: tests)."""
    specs = host_specs(workspace, handover)
    write_host_file(workspace, handover.run_id, specs)
    r = handover.rollout
    settings = workspace.settings
    names = [s.host for s in specs] if len(specs) <= SUMMARY_HOSTS else []
    inp = RolloutInput(
        run_id=handover.run_id, lineage=handover.state.lineage, serial=handover.state.serial, hosts=len(specs),
        knobs=Knobs(parallelism=r.parallelism, max_unavailable=r.max_unavailable, canary=r.canary,
                    failure_budget=r.failure_budget, deadline=_deadline(handover), time_scale=r.time_scale),
        on_failure=options.on_failure or settings.policies.on_failure, allow_pending=options.allow_pending,
        sync=options.sync, timing=step_timing(settings), steps=sum(len(s.steps) for s in specs), names=names,
        **(tuning or {}))
    return ApplyResult(0, "", plan=handover.plan, run_id=handover.run_id, extra={"rollout": inp})
