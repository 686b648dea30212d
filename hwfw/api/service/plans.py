"""Plans made through the server: made, saved, decided on, applied, resumed.

Only saved plans are ever applied through the API. A plan records who made it, the
Git commit and the state serial it was made from, the digests of the workspace files
(its document's `inputs`) and the rollout to apply it with. It can be applied when its
latest decision is an approval and it is not stale: the files it was made from are
unchanged and the state is still at its serial (the hardware is checked by apply
itself when it reads the BMCs). An interrupted run of a plan is resumed as long as the
files are unchanged: the open intents are settled and the plan's hosts planned again
from where the BMCs are, so nothing is flashed twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hwfw.clock import Clock, utc_now_iso
from hwfw.errors import ConflictError, InvalidRequestError, NotFoundError, PermissionDeniedError
from hwfw.state.serverstore import ApprovalRecord, PlanRecord, RunRecord, ServerStore

from ..plans import PlanDocument
from .runs import RunManager
from .tokens import Principal
from .watch import git_source

if TYPE_CHECKING:
    from hwfw.config.model import Workspace as Config

    from ..workspace import Workspace

__all__ = ["PlanDesk", "rollout_options"]

ROLLOUT_KEYS = ("parallelism", "max_unavailable", "canary", "failure_budget", "window_seconds", "on_failure",
                "allow_pending")


def _author(created_by: str) -> str:
    return created_by.rsplit(" (", 1)[0]


def rollout_options(rollout: dict[str, Any], **extra: Any) -> Any:
    """The ApplyOptions of a saved plan's rollout (auto-approved: the plan was approved)."""
    from hwfw.apply.run import ApplyOptions

    return ApplyOptions(auto_approve=True, parallelism=rollout.get("parallelism"),
                        max_unavailable=rollout.get("max_unavailable"), canary=rollout.get("canary"),
                        failure_budget=rollout.get("failure_budget"), window=rollout.get("window_seconds"),
                        on_failure=rollout.get("on_failure"), allow_pending=bool(rollout.get("allow_pending")),
                        **extra)


def _accept_unknown(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        host, sep, component = value.rpartition(":")
        if not sep or not host or not component:
            raise InvalidRequestError(f"accept_unknown {value!r} is not HOST:COMPONENT",
                                      hint="e.g. \"rack1-*:bios\"")
        out.append((host, component))
    return out


class PlanDesk:
    def __init__(self, workspace: Workspace, store: ServerStore, runs: RunManager, config: Callable[[], Config],
                 clock: Clock, *, two_person_rule: Callable[[], bool]) -> None:
        self.workspace = workspace
        self.store = store
        self.runs = runs
        self.config = config
        self.clock = clock
        self.two_person_rule = two_person_rule

    async def create(self, principal: Principal, body: dict[str, Any]) -> PlanRecord:
        """Make and save a plan (call it inside `runs.live_operation`: it reads the BMCs)."""
        doc = await self.workspace.plan(targets=body.get("targets", ()), exclude=body.get("exclude", ()),
                                        accept_unknown=_accept_unknown(body.get("accept_unknown", [])),
                                        allow_unreachable=bool(body.get("allow_unreachable", False)),
                                        parallelism=(body.get("rollout") or {}).get("parallelism"))
        source = await asyncio.to_thread(git_source, self.workspace.path)
        rollout = {k: v for k, v in (body.get("rollout") or {}).items() if k in ROLLOUT_KEYS and v is not None}
        record = PlanRecord(plan_id=doc.id, created=utc_now_iso(self.clock), created_by=principal.display,
                            state_serial=int(doc.document["state"]["serial"]), document=doc.to_json(),
                            commit=source.commit, rollout=rollout)
        await self.store.save_plan(record)
        await self.runs.audit(principal.display, "plan-created", record.plan_id, commit=source.commit,
                              steps=len(doc.document.get("steps", ())))
        return record

    async def get(self, plan_id: str) -> PlanRecord:
        record = await self.store.get_plan(plan_id)
        if record is None:
            raise NotFoundError(f"no plan {plan_id}", hint="GET /api/firmware/plans lists the saved plans")
        return record

    def document(self, record: PlanRecord) -> PlanDocument:
        return PlanDocument.from_json(record.document)

    async def staleness(self, record: PlanRecord, *, files_only: bool = False) -> list[str]:
        """Why the plan may not be applied as it is (empty: it may)."""
        from hwfw.config.digests import input_digests
        from hwfw.plan.planfile import offline_staleness

        config = await asyncio.to_thread(self.config)
        inputs = await asyncio.to_thread(input_digests, config)
        state = await self.workspace.state.load()
        reasons = offline_staleness(record.document, inputs, state)
        if files_only:
            return [r for r in reasons if not r.startswith("state ")]
        return reasons

    async def approved(self, plan_id: str) -> ApprovalRecord | None:
        decisions = await self.store.approvals(plan_id)
        return decisions[-1] if decisions and decisions[-1].verdict == "approved" else None

    async def view(self, plan_id: str) -> dict[str, Any]:
        record = await self.get(plan_id)
        decisions = await self.store.approvals(plan_id)
        stale = await self.staleness(record)
        return {"plan": record.to_json(), "approvals": [d.to_json() for d in decisions],
                "approved": bool(decisions) and decisions[-1].verdict == "approved", "stale": stale}

    async def summaries(self, limit: int = 50) -> list[dict[str, Any]]:
        out = []
        for record in await self.store.list_plans(limit=limit):
            decisions = await self.store.approvals(record.plan_id)
            out.append({"plan_id": record.plan_id, "created": record.created, "created_by": record.created_by,
                        "commit": record.commit, "summary": record.document.get("summary", {}),
                        "applyable": bool(record.document.get("applyable")),
                        "decision": decisions[-1].verdict if decisions else None})
        return out

    async def decide(self, principal: Principal, plan_id: str, verdict: str, comment: str = "") -> ApprovalRecord:
        record = await self.get(plan_id)
        if self.two_person_rule() and _author(record.created_by) == principal.name:
            raise PermissionDeniedError(f"{principal.display} made plan {plan_id} and cannot also decide on it "
                                        "(settings.server.two_person_rule)", hint="another approver must approve it")
        decision = ApprovalRecord(plan_id, principal.display, utc_now_iso(self.clock), verdict, comment)
        await self.store.add_approval(decision)
        await self.runs.audit(principal.display, f"plan-{verdict}", plan_id, comment=comment)
        return decision

    async def apply(self, principal: Principal, plan_id: str) -> RunRecord:
        record = await self.get(plan_id)
        if await self.approved(plan_id) is None:
            raise ConflictError(f"plan {plan_id} is not approved", hint="an approver must approve it first: POST "
                                                                        f"/api/firmware/plans/{plan_id}/approve")
        if not record.document.get("applyable"):
            raise ConflictError(f"plan {plan_id} cannot be applied: it has errors or nothing to do",
                                hint="make a new plan")
        stale = await self.staleness(record)
        if stale:
            raise ConflictError(f"plan {plan_id} is stale: " + "; ".join(stale),
                                hint="make a new plan (POST /api/firmware/plans) and have it approved")
        run = await self.runs.start_apply(principal, self.document(record), rollout_options(record.rollout),
                                          plan_id=plan_id, rollout=record.rollout)
        await self.runs.audit(principal.display, "run-started", run.run_id, plan_id=plan_id)
        return run

    async def resume(self, principal: Principal, run_id: str) -> RunRecord:
        previous = await self.runs.get(run_id)
        if previous.status != "interrupted" or previous.kind != "apply" or previous.plan_id is None:
            raise ConflictError(f"run {run_id} cannot be resumed: only an interrupted apply of a saved plan can "
                                f"(it is a {previous.kind} run, {previous.status})", hint="start a new run instead")
        record = await self.get(previous.plan_id)
        changed = await self.staleness(record, files_only=True)
        if changed:
            raise ConflictError(f"run {run_id} cannot be resumed: the workspace changed since plan "
                                f"{record.plan_id} was made: " + "; ".join(changed),
                                hint="make a new plan; applying it settles what the interrupted run left open")
        run = await self.runs.start_apply(principal, self.document(record),
                                          rollout_options(record.rollout, refresh_stale=True),
                                          plan_id=record.plan_id, rollout=record.rollout, resumed_from=run_id)
        await self.runs.audit(principal.display, "run-resumed", run.run_id, resumes=run_id, plan_id=record.plan_id)
        return run
