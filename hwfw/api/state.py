"""What hwfw recorded about a workspace: state, lock, releasing a stuck lock, and moving
the state between backends.

This is the one module of the API that opens the state. It goes through the backend
`settings.backend` names (hwfw.state.backend: the local files under `.hwfw/`, or a
PostgreSQL database shared by a team), opened inside the event loop that uses it. Every
method is a coroutine: a remote backend answers over the network.
"""

from __future__ import annotations

import builtins
import fnmatch
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hwfw.config.model import Workspace as Config
from hwfw.errors import HwfwError, StateError
from hwfw.state.backend import open_backend
from hwfw.state.lock import LockInfo
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import state_to_json

__all__ = ["Migrated", "StateAccess", "StateRow", "StateView", "read_state"]


@asynccontextmanager
async def read_state(config: Config, *, operation: str, lock: bool = True) -> AsyncIterator[State]:
    """The workspace's state, with the workspace lock held for the block (unless `lock`
    is False): a plan reads state and hardware as one consistent picture."""
    async with open_backend(config.settings) as backend, backend.lock(operation) if lock else nullcontext():
        yield await backend.load()


@dataclass(frozen=True, slots=True)
class StateRow:
    """One recorded component: `hwfw state list` prints one per line."""

    host: str
    component: str
    record: ComponentRecord

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "component": self.component, **self.record.to_json()}


# (key in `state show`, section of the state document) for the per-host records apply
# keeps beside the components (schemas/state.schema.json).
HOST_SECTIONS = (("bios_settings", "bios_settings"), ("validation", "validations"), ("watchdog", "watchdog"))


def _section_hosts(st: State) -> set[str]:
    return {h for _, section in HOST_SECTIONS for h in st.extra.get(section) or {}}


@dataclass(frozen=True)
class StateView:
    """The state (or what it says about the hosts matching `host`) and the lock, if held."""

    state: State
    host: str | None = None
    lock: LockInfo | None = None
    hosts: tuple[str, ...] = field(default=())

    def records(self, host: str) -> dict[str, ComponentRecord]:
        return dict(self.state.hosts.get(host, {}))

    def checkpoint(self, host: str) -> dict[str, Any] | None:
        cp = (self.state.checkpoints.get("hosts") or {}).get(host)
        return dict(cp) if cp else None

    def host_sections(self, host: str) -> dict[str, Any]:
        """What the state holds about `host` besides its components: the BIOS settings
        hwfw staged or applied, the last post-configuration validation, the watchdog."""
        out = {}
        for key, section in HOST_SECTIONS:
            value = (self.state.extra.get(section) or {}).get(host)
            if value is not None:
                out[key] = value
        return out

    def to_json(self) -> dict[str, Any]:
        """The whole state document; for one host name, that host's records, checkpoint and
        BIOS settings, validation and watchdog records; for a glob, those of every host it
        matches."""
        doc = state_to_json(self.state)
        if self.host is None:
            return doc
        if self.hosts == (self.host,):
            return {"lineage": self.state.lineage, "serial": self.state.serial, "host": self.host,
                    "components": doc["hosts"].get(self.host, {}), "checkpoint": self.checkpoint(self.host),
                    **self.host_sections(self.host)}
        return {"lineage": self.state.lineage, "serial": self.state.serial, "hosts": {
            h: {"components": doc["hosts"].get(h, {}), "checkpoint": self.checkpoint(h), **self.host_sections(h)}
            for h in self.hosts}}


@dataclass(frozen=True)
class Migrated:
    """`migrate()`: where from, where to, what was moved, and the backend type set now."""

    source: str
    destination: str
    lineage: str
    serial: int
    records: dict[str, int]
    configured: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "destination": self.destination, "lineage": self.lineage,
                "serial": self.serial, "records": dict(self.records), "configured": self.configured}


class StateAccess:
    """`workspace.state`: list, show, lock_info, force_unlock, migrate, pull, push."""

    def __init__(self, load: Callable[[], Config]) -> None:
        self._load = load

    async def load(self) -> State:
        async with open_backend(self._load().settings) as backend:
            return await backend.load()

    async def list(self) -> list[StateRow]:
        """Every recorded component, by host then component."""
        st = await self.load()
        return [StateRow(h, k, r) for h, comps in sorted(st.hosts.items()) for k, r in sorted(comps.items())]

    async def show(self, host: str | None = None) -> StateView:
        """The records and checkpoints of every host, or of the hosts matching `host` (a
        name or a glob); HwfwError when nothing recorded matches."""
        async with open_backend(self._load().settings) as backend:
            st, lock = await backend.load(), await backend.lock_info()
        if host is None:
            return StateView(st, None, lock, tuple(sorted(set(st.hosts) | _section_hosts(st))))
        known = sorted(set(st.hosts) | set(st.checkpoints.get("hosts") or {}) | _section_hosts(st))
        matching = tuple(h for h in known if fnmatch.fnmatchcase(h, host))
        if not matching:
            raise HwfwError(f"the state has no host {host}",
                            hint="hwfw state list shows the hosts hwfw has recorded; a host gets records the "
                                 "first time apply touches it")
        return StateView(st, host, lock, matching)

    async def audit_entries(self, *, host: str | None = None, limit: int = 200) -> builtins.list[dict[str, Any]]:
        """The newest `limit` entries of the audit log (schemas/audit.schema.json), of
        one host or of all, newest first."""
        async with open_backend(self._load().settings) as backend:
            entries = await backend.journal("audit")
        if host is not None:
            entries = [e for e in entries if e.get("host") == host]
        return list(reversed(entries[-limit:])) if limit > 0 else []

    async def lock_info(self) -> LockInfo | None:
        async with open_backend(self._load().settings) as backend:
            return await backend.lock_info()

    async def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        """Remove the lock `lock_id` left by a holder that cannot release it (never a live
        one on this host; one held from another host, or on PostgreSQL a live holder's
        database session, only with `force`)."""
        async with open_backend(self._load().settings) as backend:
            return await backend.force_unlock(lock_id, force=force)

    async def migrate(self, to: str) -> Migrated:
        """Move the state and the intent and audit logs to `to` ("postgres" or "local")
        from the other one, without loss (lineage and serial kept); refused when the
        destination holds state of another lineage. Then settings.backend.type must name
        the destination (`configured` says what it names now)."""
        from hwfw.state.transfer import migrate

        settings = self._load().settings
        if not (settings.backend.dsn_env or settings.backend.dsn_file):
            raise StateError("settings.backend names no PostgreSQL database to migrate to or from",
                             hint="add dsn_env: HWFW_PG_DSN (or dsn_file: PATH) to settings.backend in hwfw.yaml; "
                                  "the type may stay local until the migration is done")
        source = "local" if to == "postgres" else "postgres"
        async with open_backend(settings, kind=source) as src, open_backend(settings, kind=to) as dst:
            moved = await migrate(src, dst)
            return Migrated(src.describe(), dst.describe(), moved.lineage, moved.serial, dict(moved.records),
                            settings.backend.type)

    async def pull(self) -> bytes:
        """The stored state document, byte for byte."""
        from hwfw.state.transfer import pull

        async with open_backend(self._load().settings) as backend:
            return await pull(backend)

    async def push(self, path: Path, *, force: bool = False) -> dict[str, Any]:
        """Replace the stored state by the document in `path` (pulled, then repaired): it
        must carry the stored lineage and serial unless `force`; stored with serial + 1."""
        from hwfw.state.transfer import push

        data = path.read_bytes()
        async with open_backend(self._load().settings) as backend:
            return await push(backend, data, f"file {path}", force=force)
