"""The state backend: where a workspace's state, lock, intent log and audit log live.

`settings.backend` in hwfw.yaml picks one: `local` (files under `.hwfw/`, the default)
or `postgres` (one database shared by a team: hwfw.state.postgres). Everything that
reads or writes state goes through `StateBackend`, so the apply ledger, resume, the
state commands and plan behave the same on both.

Contract, shared by every implementation:

* State: `load()` / `write(state)`. A write is a compare-and-set on the serial: it is
  refused (StaleStateError) unless the stored serial (and lineage) is the one `state`
  was read at; the stored document gets serial + 1. `read_document()` returns the
  stored bytes (what `hwfw state pull` prints); `replace_document()` stores a document
  as it is (migrate, push), after its own serial/lineage checks.
* Lock: `lock(operation)` is an async context manager holding the workspace lock for
  its body; a second holder fails at once with LockHeldError naming the holder. The
  lock is freed when the holder ends, even by SIGKILL (a POSIX record lock on the
  file; the database session for PostgreSQL). `lock_info()`, `force_unlock()`.
* Journals: intents are durable when `open_intent` returns (fsync; a committed
  transaction); `open_intents()` lists those with no resolution. Audit entries follow
  schemas/audit.schema.json. `journal(name)` / `append_journal(name, records)` move
  whole journals (`intents` or `audit`) for `hwfw state migrate`.

Backends are opened inside the event loop that uses them (`async with
open_backend(settings) as backend:`); a PostgreSQL connection belongs to one loop.

The server's own records (plans, approvals, runs and their events) are not part of
this protocol: see hwfw.state.serverstore for the interface `hwfw serve` implements.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Iterable, Protocol, runtime_checkable

from hwfw.config.model import Settings
from hwfw.state.lock import LockInfo
from hwfw.state.model import State

JOURNALS = ("intents", "audit")


@runtime_checkable
class StateBackend(Protocol):
    kind: str            # "local" | "postgres"

    def describe(self) -> str:
        """Where the state lives, for messages (a DSN with its credentials masked)."""
        ...

    async def aclose(self) -> None: ...

    # -- the state document
    async def load(self) -> State: ...

    async def write(self, state: State) -> State: ...

    async def read_document(self) -> bytes | None: ...

    async def replace_document(self, doc: dict[str, Any]) -> None: ...

    # -- the workspace lock
    def lock(self, operation: str) -> AbstractAsyncContextManager[LockInfo]: ...

    async def lock_info(self) -> LockInfo | None: ...

    async def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo: ...

    # -- journals
    async def open_intent(self, *, run_id: str, host: str, component: str, action: str,
                          image_sha256: str | None = None, **details: Any) -> str: ...

    async def resolve_intent(self, intent_id: str, outcome: str, **details: Any) -> None: ...

    async def open_intents(self) -> list[dict[str, Any]]: ...

    async def audit(self, *, run_id: str, host: str, component: str, action: str, outcome: str,
                    before: str | None = None, after: str | None = None, image_sha256: str | None = None,
                    message: str | None = None) -> None: ...

    async def journal(self, name: str) -> list[dict[str, Any]]: ...

    async def append_journal(self, name: str, records: Iterable[dict[str, Any]]) -> None: ...


def make_backend(settings: Settings, *, kind: str | None = None, offload: bool = True) -> StateBackend:
    """The backend `settings.backend` names (or `kind`, for migrate), not yet connected.

    `offload`: local file writes run in a worker thread (False: inline, for tests on a
    virtual clock)."""
    kind = kind or settings.backend.type
    if kind == "postgres":
        from hwfw.state.postgres import PostgresBackend  # psycopg only when asked for

        return PostgresBackend(settings)
    from hwfw.state.local import LocalBackend

    return LocalBackend(settings, offload=offload)


class open_backend:
    """`async with open_backend(settings) as backend:` ... closed at the end."""

    def __init__(self, settings: Settings, *, kind: str | None = None, offload: bool = True) -> None:
        self.backend = make_backend(settings, kind=kind, offload=offload)

    async def __aenter__(self) -> StateBackend:
        return self.backend

    async def __aexit__(self, *exc: object) -> None:
        await self.backend.aclose()
