"""Handing a confirmed plan over to Temporal (the `hand_over` of hwfw.apply.run.run_apply).

While the workspace lock is still held, the run's host file is written for the state
writer (control.py): the hosts refused or skipped before the run first, with their
outcomes, then every host with steps in plan order, with its site, model and steps.
What the rollout workflow is started with is returned in `result.extra["rollout"]`;
the caller starts it once `run_apply` has released the lock.
"""

from __future__ import annotations

import time
from typing import Any

from hwfw.apply.events import HOST_REFUSED, HOST_SKIPPED, HostOutcome
from hwfw.apply.run import ApplyOptions, ApplyResult, Handover
from hwfw.apply.scheduler import shapes_of
from hwfw.config.model import Workspace
from hwfw.errors import HwfwError

from .control import write_host_file
from .model import SUMMARY_HOSTS, HostSpec, Knobs, RolloutInput, step_timing

__all__ = ["hand_over"]


def _deadline(handover: Handover) -> float | None:
    """The window's end on the run's clock, as epoch seconds (what workflows measure)."""
    deadline = handover.rollout.deadline
    if deadline is None:
        return None
    return time.time() + (deadline - handover.clock.monotonic())


def _no_bios_settings(handover: Handover) -> None:
    """The host workflows do not carry BIOS settings (the plan's settings, the state's
    `bios_settings` records) between activities yet: refuse such a plan rather than run
    it without them."""
    blocked = set(handover.settled.blocked)
    hosts = sorted(hp.name for hp in handover.plan.hosts if hp.name not in blocked and hp.settings_to_apply)
    if hosts:
        shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
        raise HwfwError(f"the Temporal engine does not apply BIOS settings yet, and the plan sets some on {shown}; "
                        "nothing was sent to any BMC",
                        hint="apply them with --engine local, or leave --target out of those hosts")


def host_specs(workspace: Workspace, handover: Handover) -> list[HostSpec]:
    plan = handover.plan
    _no_bios_settings(handover)
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
                              model=hp.model if hp else None, steps=[s.to_json() for s in shape.steps]))
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
