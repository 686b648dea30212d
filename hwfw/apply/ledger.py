"""Everything an apply run writes down: state, intents and audit, in the right order.

The contract with a crash (SIGKILL included) at any instant:

1. before a request that changes a BMC, an intent is appended and made durable
   (fsynced to the file, or committed to the database);
2. after the driver returns, the state is replaced atomically (group commit:
   concurrent hosts share one write, each waits until its own change is durable);
3. only then is the intent resolved.

So a reader after a crash finds either an open intent (settled from the BMC itself
on resume) or a state that already says what happened. Where it is written is the
workspace's state backend (hwfw.state.backend: local files or PostgreSQL); local file
writes run in a worker thread, so a 200-host run does not stall the event loop on fsync.

The BMC sessions a run holds open are journalled the same way in a local file of
their own (`sessions.jsonl` under the run-time directory, whatever the backend: the
machine that ran hwfw is the one that can log them out), so the intent log keeps
meaning "requests that change a BMC".
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from hwfw.clock import Clock, utc_now_iso
from hwfw.config.model import Settings
from hwfw.errors import StateError
from hwfw.state.backend import StateBackend
from hwfw.state.files import GITIGNORE, make_runtime_dir  # noqa: F401 (GITIGNORE: re-exported)
from hwfw.state.journal import AuditLog, IntentLog
from hwfw.state.local import LocalBackend
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import json_copy


def ensure_runtime_dir(settings: Settings) -> Path:
    """Create `.hwfw/` (settings.runtime_dir) with a `.gitignore` holding `*`."""
    return make_runtime_dir(settings.runtime_dir)


def intent_log(settings: Settings) -> IntentLog:
    return IntentLog(settings.runtime_dir / "intents.jsonl")


def session_log(settings: Settings) -> IntentLog:
    """The sessions a run holds open on BMCs (hwfw/apply/sessions.py), in intent-log form.
    Written at once, in the event loop and without fsync: a session exists on the BMC
    from its login until this record is written, and a kill in between leaks it."""
    return IntentLog(settings.runtime_dir / "sessions.jsonl", durable=False)


def audit_log(settings: Settings) -> AuditLog:
    return AuditLog(settings.runtime_dir / "audit.jsonl")


class Ledger:
    """The run's view of the state, the intent log and the audit log.

    `Ledger(settings, ...)` reads the local files at once; with another backend, open
    it in the running event loop: `await Ledger.open(backend, settings, run_id, clock)`."""

    def __init__(self, settings: Settings, run_id: str, clock: Clock, state: State | None = None, *,
                 offload: bool = True, backend: StateBackend | None = None) -> None:
        ensure_runtime_dir(settings)
        self.settings = settings
        self.sessions = session_log(settings)
        if backend is None:
            if settings.backend.type != "local":
                raise StateError(f"the {settings.backend.type} state backend is read inside the event loop",
                                 hint="a bug: use `await Ledger.open(backend, ...)`")
            backend = LocalBackend(settings, offload=offload)
        self.backend = backend
        self.run_id = run_id
        self.clock = clock
        if state is None:
            if not isinstance(backend, LocalBackend):
                raise StateError("the state must be read first", hint="a bug: use `await Ledger.open(...)`")
            state = backend.store.load()
        st = state
        self.lineage, self.serial, self.hwfw_version = st.lineage, st.serial, st.hwfw_version
        self.hosts: dict[str, dict[str, ComponentRecord]] = {h: dict(c) for h, c in st.hosts.items()}
        self.checkpoints: dict[str, Any] = json_copy(dict(st.checkpoints))
        self.extra: dict[str, Any] = json_copy(dict(st.extra))
        self._gen = 0          # bumped by every change
        self._written = 0      # the generation the file holds
        self._lock = asyncio.Lock()
        self.writes = 0

    @classmethod
    async def open(cls, backend: StateBackend, settings: Settings, run_id: str, clock: Clock) -> Ledger:
        """A ledger over `backend`, its state read now (in the running event loop)."""
        return cls(settings, run_id, clock, await backend.load(), backend=backend)

    # -- reading
    @property
    def state(self) -> State:
        return State(lineage=self.lineage, serial=self.serial, hwfw_version=self.hwfw_version,
                     hosts={h: dict(c) for h, c in self.hosts.items()},
                     checkpoints=json_copy(self.checkpoints), extra=json_copy(self.extra))

    def record(self, host: str, key: str) -> ComponentRecord | None:
        return self.hosts.get(host, {}).get(key)

    def now(self) -> str:
        return utc_now_iso(self.clock)

    # -- changing (in memory; `commit` makes it durable)
    def put(self, host: str, key: str, record: ComponentRecord) -> None:
        self.hosts.setdefault(host, {})[key] = record
        self._gen += 1

    def update(self, host: str, key: str, **changes: Any) -> ComponentRecord | None:
        rec = self.record(host, key)
        if rec is None:
            return None
        new = replace(rec, **changes)
        self.put(host, key, new)
        return new

    def checkpoint(self, host: str) -> dict[str, Any] | None:
        """The host's checkpoint (state `checkpoints.hosts.HOST`), if any."""
        return self.checkpoints.get("hosts", {}).get(host)

    def set_checkpoint(self, host: str, checkpoint: Mapping[str, Any]) -> None:
        self.checkpoints.setdefault("hosts", {})[host] = dict(checkpoint)
        self._gen += 1

    def touch(self) -> None:
        """Mark the in-memory state changed (after editing `checkpoints` in place)."""
        self._gen += 1

    def put_extra(self, key: str, value: Any) -> None:
        self.extra[key] = value
        self._gen += 1

    async def commit(self) -> None:
        """Return once every change made before this call is in the state file."""
        mine = self._gen
        await asyncio.shield(self._commit(mine))

    async def _commit(self, mine: int) -> None:
        async with self._lock:
            if self._written >= mine:
                return
            gen = self._gen
            snapshot = self.state
            new = await self.backend.write(snapshot)
            self.lineage, self.serial, self.hwfw_version = new.lineage, new.serial, new.hwfw_version
            self._written = gen
            self.writes += 1

    # -- journals
    async def open_intent(self, *, host: str, component: str, action: str, image_sha256: str | None = None,
                          **details: Any) -> str:
        return await asyncio.shield(self.backend.open_intent(
            run_id=self.run_id, host=host, component=component, action=action, image_sha256=image_sha256,
            **details))

    async def resolve(self, intent_id: str, outcome: str, **details: Any) -> None:
        await asyncio.shield(self.backend.resolve_intent(intent_id, outcome, **details))

    async def open_intents(self) -> list[dict[str, Any]]:
        return await self.backend.open_intents()

    async def audit(self, *, host: str, component: str, action: str, outcome: str, before: str | None = None,
                    after: str | None = None, image_sha256: str | None = None, message: str | None = None) -> None:
        await asyncio.shield(self.backend.audit(
            run_id=self.run_id, host=host, component=component, action=action, outcome=outcome, before=before,
            after=after, image_sha256=image_sha256, message=message or None))
