"""`rollback-host`: put a host whose step failed back to its checkpoint, and verify it.

BIOS settings hwfw applied go back to their checkpointed values first (staged to be
applied by the rollback's host reboot). Every component that changed is flashed back to
its checkpoint version, in reverse flash order (what was flashed last is undone first):
from the repository's image of that version, else from the BMC's own previous image
where the vendor keeps one
(`HostDriver.flash_previous`, e.g. Dell's `Previous-` members). Then as few resets as
those images need, then a version read of each. Whether a rollback is possible at all
is already a plan-time fact (each change's `rollback`; a `rollback-impossible` warning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hwfw.apply import checkpoint as cpmod
from hwfw.apply.events import HOST_FAILED, HOST_ROLLED_BACK, SKIP_ROLLED_BACK, STEP_FAILED, STEP_PENDING, HostOutcome
from hwfw.apply.scheduler import DISRUPTIVE_ACTIVATIONS
from hwfw.errors import HwfwError
from hwfw.plan.activation import _resets_for
from hwfw.plan.model import Image, Step
from hwfw.state.model import ComponentRecord

if TYPE_CHECKING:
    from hwfw.apply.executor import HostRun

__all__ = ["rollback_host"]


async def rollback_host(run: HostRun) -> HostOutcome:
    """Flash every changed component back to its checkpoint version (reverse flash
    order), reset as few times as those images need, and verify."""
    assert run.driver is not None
    first_failure = run.failure or ""
    running = await run.driver.read_versions()
    todo, problems = cpmod.restores(run.checkpoint, running, run.ledger.hosts.get(run.host, {}),
                                    run.ex.workspace, run.vendor, run.model)
    if problems:
        return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback impossible: " + "; ".join(problems))
    run.halt = (HOST_ROLLED_BACK, SKIP_ROLLED_BACK)
    run.finish_outcome(HOST_ROLLED_BACK, "")  # mark the rest of the plan skipped
    kinds = set()
    try:
        if await run.settings.stage_restore(run.checkpoint):
            kinds.add("host-reboot")
    except HwfwError as exc:
        return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback of the BIOS settings failed: "
                                               f"{exc.message}")
    for r in todo:
        step = _flash_step(run.host, r)
        run.events.step_started(run.host, step)
        out = await run._send_flash(step, r.key, r.version, r.entry, rollback=True)
        run.events.step_finished(run.host, step, out)
        if out.status == STEP_FAILED:
            return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback of {r.key} ({_via(r)}) failed: "
                                                   f"{out.message}")
        if out.status == STEP_PENDING and r.activation != "none":
            kinds.add(r.activation)
    for kind in _resets_for(kinds):
        if kind in DISRUPTIVE_ACTIVATIONS and not run.holds_slot:
            decision = await run.ex.gate.slot(run.host)
            if not decision.go:
                return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback needs a {kind}: {decision.reason}")
            run.holds_slot = True
        step = Step(id=f"{run.host}/rollback/activate/{kind}", host=run.host, kind="activate", component=None,
                    from_version=None, to_version=None, image=None, apply_time=None, activation=kind,
                    estimate_seconds=0.0, rollback=None)
        run.events.step_started(run.host, step)
        out = await run._reset(step, kind, [r.key for r in todo])
        run.events.step_finished(run.host, step, out)
        if out.status == STEP_FAILED:
            return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback {kind} failed: {out.message}")
    return await _verify(run, todo, first_failure)


def _via(r: cpmod.Restore) -> str:
    return f"repository image {r.entry.id}" if r.entry is not None else "the BMC's previous image"


def _flash_step(host: str, r: cpmod.Restore) -> Step:
    return Step(id=f"{host}/rollback/flash/{r.key}", host=host, kind="flash", component=r.key,
                from_version=r.current, to_version=r.version,
                image=Image(r.entry.id, r.entry.sha256) if r.entry is not None else None,
                apply_time="Immediate" if r.activation in ("none", "bmc-reset") else "OnReset",
                activation=r.activation, estimate_seconds=0.0, rollback=r.via)


async def _verify(run: HostRun, todo: list[cpmod.Restore], first_failure: str) -> HostOutcome:
    assert run.driver is not None
    running = await run.driver.read_versions()
    now = run.ledger.now()
    bad = []
    for r in todo:
        if cpmod.same_version(running.get(r.key), r.version, r.scheme):
            run.ledger.put(run.host, r.key, ComponentRecord(
                version=r.version, status="rolled-back", image_sha256=r.entry.sha256 if r.entry else None,
                image_id=r.entry.id if r.entry else None, previous_version=r.current, updated_at=now,
                run_id=run.ex.options.run_id, error=first_failure))
        else:
            bad.append(f"{r.key} runs {running.get(r.key)!r}, checkpoint {r.version!r}")
    bad += await run.settings.restore_problems(run.checkpoint)
    if bad:
        await run.ledger.commit()
        return run.finish_outcome(HOST_FAILED, f"{first_failure}; rollback did not verify: " + "; ".join(bad))
    run._close_checkpoint(HOST_ROLLED_BACK)
    await run.ledger.commit()
    restored = ", ".join(f"{r.key} {r.version} from {_via(r)}" for r in todo)
    await run.ledger.audit(host=run.host, component="host", action="rollback", outcome="rolled-back",
                           message=f"{restored}; after: {first_failure}" if restored else first_failure)
    run.failure = None
    return run.finish_outcome(HOST_ROLLED_BACK, f"rolled back to the checkpoint after: {first_failure}")
