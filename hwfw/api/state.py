"""What hwfw recorded about a workspace: state, lock, and releasing a stuck lock.

This is the one module of the API that opens the state; it goes through whatever
`hwfw.state` offers for the workspace's settings (today the state file and the lock
file under the run-time directory), so a different state backend changes this module
only. Every method is async: a remote backend answers over the network.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from hwfw.config.model import Workspace as Config
from hwfw.errors import HwfwError
from hwfw.state.lock import LockInfo, WorkspaceLock, force_unlock, read_lock_info
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import StateStore, state_to_json

__all__ = ["StateAccess", "StateRow", "StateView", "read_state"]


@asynccontextmanager
async def read_state(config: Config, *, operation: str, lock: bool = True) -> AsyncIterator[State]:
    """The workspace's state, with the workspace lock held for the block (unless `lock`
    is False): a plan reads state and hardware as one consistent picture."""
    guard = WorkspaceLock(config.settings.runtime_dir, operation) if lock else None
    if guard is not None:
        guard.acquire()
    try:
        yield StateStore(config.settings.state_path).load()
    finally:
        if guard is not None:
            guard.release()


@dataclass(frozen=True, slots=True)
class StateRow:
    """One recorded component: `hwfw state list` prints one per line."""

    host: str
    component: str
    record: ComponentRecord

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "component": self.component, **self.record.to_json()}


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

    def to_json(self) -> dict[str, Any]:
        """The whole state document; for one host name, that host's records and checkpoint."""
        doc = state_to_json(self.state)
        if self.host is None:
            return doc
        if self.hosts == (self.host,):
            return {"lineage": self.state.lineage, "serial": self.state.serial, "host": self.host,
                    "components": doc["hosts"].get(self.host, {}), "checkpoint": self.checkpoint(self.host)}
        return {"lineage": self.state.lineage, "serial": self.state.serial, "hosts": {
            h: {"components": doc["hosts"].get(h, {}), "checkpoint": self.checkpoint(h)} for h in self.hosts}}


class StateAccess:
    """`workspace.state`: list, show, lock_info, force_unlock."""

    def __init__(self, load: Callable[[], Config]) -> None:
        self._load = load

    async def load(self) -> State:
        return StateStore(self._load().settings.state_path).load()

    async def list(self) -> list[StateRow]:
        """Every recorded component, by host then component."""
        st = await self.load()
        return [StateRow(h, k, r) for h, comps in sorted(st.hosts.items()) for k, r in sorted(comps.items())]

    async def show(self, host: str | None = None) -> StateView:
        """The records and checkpoints of every host, or of the hosts matching `host` (a
        name or a glob); HwfwError when nothing recorded matches."""
        config = self._load()
        st = StateStore(config.settings.state_path).load()
        lock = read_lock_info(config.settings.runtime_dir / "lock")
        known = sorted(set(st.hosts) | set(st.checkpoints.get("hosts") or {}))
        if host is None:
            return StateView(st, None, lock, tuple(sorted(st.hosts)))
        matching = tuple(h for h in known if fnmatch.fnmatchcase(h, host))
        if not matching:
            raise HwfwError(f"the state has no host {host}",
                            hint="hwfw state list shows the hosts hwfw has recorded; a host gets records the "
                                 "first time apply touches it")
        return StateView(st, host, lock, matching)

    async def lock_info(self) -> LockInfo | None:
        return read_lock_info(self._load().settings.runtime_dir / "lock")

    async def force_unlock(self, lock_id: str, *, force: bool = False) -> LockInfo:
        """Remove the lock `lock_id` left by a holder that cannot release it (never a live
        one on this host; one held from another host only with `force`)."""
        return force_unlock(self._load().settings.runtime_dir, lock_id, force=force)
