"""Extension point: what `hwfw serve` will persist besides the workspace state.

The server (not built yet) keeps plans, approvals, runs and each run's events. It
will start with SQLite and must be able to use the team's PostgreSQL database instead,
so its persistence is this protocol, implemented once per store:

* SQLite: a module of the server (single node, one file beside the workspace);
* PostgreSQL: `hwfw/state/postgres/server.py`, on the same pool and workspace row as
  `PostgresBackend` (its tables added by the next numbered migration,
  `hwfw/state/migrations/0002_server.sql`: `plans`, `approvals`, `runs`, `run_events`,
  each keyed by `workspace_id`).

Rules every implementation keeps, so the server behaves the same on both:

* records are JSON documents validated against schemas/ before they are stored;
* a run's status changes by compare-and-set on its `version` (like the state's serial:
  a stale update raises StaleStateError, the API answers 412 to a stale If-Match);
* events are append-only with a per-run sequence number starting at 1, so a client that
  reconnects asks for `events(run_id, after=last_seen)` and misses nothing;
* the workspace lock is still `StateBackend.lock`: a run holds it while it executes.

Nothing in hwfw implements this yet; `tests/test_layers.py` already reserves the
`server` layer above `api`. Its run part, `RunLog`, is implemented already: runs of
both engines are recorded there (hwfw.state.runlog keeps them in a file until the
server's stores exist), and `hwfw run list|show|cancel` read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class PlanRecord:
    plan_id: str
    created: str                      # RFC 3339 UTC
    created_by: str                   # user@host, or the API user
    state_serial: int                 # the state the plan was made against (staleness)
    document: dict[str, Any]          # the saved plan (what `hwfw plan --out` writes)


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    plan_id: str
    approver: str
    decided: str
    verdict: str                      # "approved" | "rejected"
    comment: str = ""


RUN_STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    plan_id: str | None
    status: str                       # one of RUN_STATUSES
    started: str | None = None
    finished: str | None = None
    version: int = 1                  # bumped by every update (compare-and-set)
    summary: dict[str, Any] = field(default_factory=dict)
    kind: str = "apply"
    engine: str = "local"             # "local" (the process in `owner`) or "temporal" (a rollout workflow)
    owner: dict[str, Any] | None = None   # {"pid", "host", "started"} of the local process running it


class RunLog(Protocol):
    """The run records of a workspace: the run part of ServerStore (every ServerStore is
    a RunLog). `update_run` is a compare-and-set on `version` (StaleStateError)."""

    async def create_run(self, run: RunRecord) -> None: ...

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, *, limit: int = 50) -> list[RunRecord]: ...


class ServerStore(Protocol):
    """Persistence of `hwfw serve` (see the module docstring)."""

    async def save_plan(self, plan: PlanRecord) -> None: ...

    async def get_plan(self, plan_id: str) -> PlanRecord | None: ...

    async def list_plans(self, *, limit: int = 50) -> list[PlanRecord]: ...

    async def add_approval(self, approval: ApprovalRecord) -> None: ...

    async def approvals(self, plan_id: str) -> list[ApprovalRecord]: ...

    async def create_run(self, run: RunRecord) -> None: ...

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, *, limit: int = 50) -> list[RunRecord]: ...

    async def append_event(self, run_id: str, event: dict[str, Any]) -> int: ...

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]: ...

    async def aclose(self) -> None: ...
