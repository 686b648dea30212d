"""What `hwfw serve` persists besides the workspace state: plans, approvals, runs and
their events, API tokens and the server's audit trail.

The store is picked by `settings.backend` like the state: `local` keeps one SQLite
database beside the state (`.hwfw/server.db`, hwfw.state.serverdb), `postgres` the
team's database (hwfw.state.postgres.server, tables from migration 0002, each keyed by
the workspace row). `open_server_store(settings)` opens the right one.

Rules every implementation keeps, so the server behaves the same on both:

* records are JSON documents validated against schemas/ before they are stored
  (plan-record, approval, run, api-token, server-audit);
* a run's status changes by compare-and-set on its `version`: a stale update raises
  StaleStateError;
* events are append-only with a per-run sequence number starting at 1, so a client that
  reconnects asks for `events(run_id, after=last_seen)` and misses nothing. The writer
  numbers them (`append_events` with the numbers, in order) or the store does
  (`append_event`); a number stored twice is refused;
* the workspace lock is still `StateBackend.lock`: a run holds it while it executes.

Runs started by the CLI are recorded too (engine `local`, created_by user@host, owner
the process: hwfw.api.service.record), and so are rollouts on Temporal (engine
`temporal`, no owner: hwfw.api.history): `hwfw run list|show|cancel|attach` and the
server list every run of the workspace from this one store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, Sequence

from hwfw.config.model import Settings
from hwfw.config.schema import is_valid, validate
from hwfw.errors import StateError

__all__ = ["RUN_STATUSES", "TERMINAL", "ApprovalRecord", "AuditRecord", "PlanRecord", "RunRecord", "ServerStore",
           "TokenRecord", "check_record", "open_server_store"]

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "interrupted")
TERMINAL = frozenset({"succeeded", "failed", "interrupted"})


def check_record(kind: str, doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` when it matches schemas/<kind>.schema.json; StateError naming the first problem otherwise."""
    if not is_valid(kind, doc):
        problems = validate(kind, doc, None)
        first = problems[0].render() if problems else "invalid"
        raise StateError(f"refusing to store a {kind} record that does not match schemas/{kind}.schema.json: "
                         f"{first}", hint="a bug: please report it")
    return doc


class _Document:
    """A record as its JSON document and back (field names are the document's keys)."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Any:
        return cls(**doc)


@dataclass(frozen=True, slots=True)
class PlanRecord(_Document):
    plan_id: str
    created: str                      # RFC 3339 UTC
    created_by: str                   # the principal
    state_serial: int                 # the state the plan was made against (staleness)
    document: dict[str, Any]          # the saved plan (what `hwfw plan --out` writes)
    commit: str | None = None         # Git commit of the checkout
    rollout: dict[str, Any] = field(default_factory=dict)



@dataclass(frozen=True, slots=True)
class ApprovalRecord(_Document):
    plan_id: str
    approver: str
    decided: str
    verdict: str                      # "approved" | "rejected"
    comment: str = ""


@dataclass(frozen=True, slots=True)
class RunRecord(_Document):
    run_id: str
    plan_id: str | None
    status: str                       # one of RUN_STATUSES
    started: str | None = None
    finished: str | None = None
    version: int = 1                  # bumped by every update (compare-and-set)
    summary: dict[str, Any] = field(default_factory=dict)
    kind: str = "apply"               # "apply" | "sync"
    engine: str = "local"             # what executes it: hwfw.api.engines, or "temporal" (a rollout workflow)
    created: str = ""
    created_by: str = ""
    hosts: tuple[str, ...] = ()
    rollout: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    resumed_from: str | None = None
    owner: dict[str, Any] | None = None   # {"pid", "host", "started"} of the local process running it

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["hosts"] = list(self.hosts)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunRecord:
        return cls(**{**doc, "hosts": tuple(doc.get("hosts", ()))})


@dataclass(frozen=True, slots=True)
class TokenRecord(_Document):
    token_id: str
    name: str
    role: str                         # viewer | operator | approver
    digest: str                       # sha256 of the secret part, hex
    created: str
    created_by: str
    revoked: str | None = None



@dataclass(frozen=True, slots=True)
class AuditRecord(_Document):
    time: str
    principal: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)
    seq: int = 0                      # given by the store



class ServerStore(Protocol):
    """Persistence of `hwfw serve` (see the module docstring)."""

    kind: str                         # "sqlite" | "postgres"

    def describe(self) -> str: ...

    async def save_plan(self, plan: PlanRecord) -> None: ...

    async def get_plan(self, plan_id: str) -> PlanRecord | None: ...

    async def list_plans(self, *, limit: int = 50) -> list[PlanRecord]: ...

    async def add_approval(self, approval: ApprovalRecord) -> None: ...

    async def approvals(self, plan_id: str) -> list[ApprovalRecord]: ...

    async def create_run(self, run: RunRecord) -> None: ...

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(self, *, limit: int = 50, statuses: Sequence[str] = ()) -> list[RunRecord]: ...

    async def append_event(self, run_id: str, event: dict[str, Any]) -> int: ...

    async def append_events(self, run_id: str, events: Sequence[tuple[int, dict[str, Any]]]) -> None: ...

    async def events(self, run_id: str, *, after: int = 0, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]: ...

    async def last_seq(self, run_id: str) -> int: ...

    async def add_token(self, token: TokenRecord) -> None: ...

    async def get_token(self, token_id: str) -> TokenRecord | None: ...

    async def list_tokens(self) -> list[TokenRecord]: ...

    async def revoke_token(self, token_id: str, when: str) -> TokenRecord | None: ...

    async def add_audit(self, record: AuditRecord) -> int: ...

    async def audit(self, *, limit: int = 200, target: str | None = None) -> list[AuditRecord]: ...

    async def aclose(self) -> None: ...


def plan_doc(plan: PlanRecord) -> dict[str, Any]:
    return check_record("plan-record", plan.to_json())


def run_doc(run: RunRecord) -> dict[str, Any]:
    return check_record("run", run.to_json())


def open_server_store(settings: Settings) -> ServerStore:
    """The store `settings.backend` names, not yet connected (opened on first use;
    close it with `aclose()`)."""
    if settings.backend.type == "postgres":
        from hwfw.state.postgres.server import PostgresServerStore

        return PostgresServerStore(settings)
    from hwfw.state.serverdb import SqliteServerStore

    return SqliteServerStore(settings.runtime_dir / "server.db")
