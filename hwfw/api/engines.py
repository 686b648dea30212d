"""Engines: what executes a run. The server (and later `hwfw run`) starts runs through
this interface only, so a run on another engine looks the same as a local one.

An `Engine` starts an apply of a saved plan or a repository sync and returns a
`RunHandle` (hwfw.api.runs: run id, kind, engine, cancel, done, wait). It also says
whether a run recorded as running is still alive (`alive(record)`): when the server
starts, a run whose engine says no is marked interrupted and can be resumed.

`LocalEngine` runs the operation in this process, as an asyncio task; a run belongs to
the process (`owner`: pid, host and the process's start time, so a reused pid is not
mistaken for it). Another engine (a workflow service) registers under its own name
and keeps its runs alive across restarts of the server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from hwfw.cancel import CancelToken
from hwfw.state.lock import acting_as
from hwfw.state.serverstore import RunRecord

from .runs import ApplyRun, EventTarget, RunHandle, SyncRun

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions

    from .plans import PlanDocument
    from .workspace import Workspace

__all__ = ["Engine", "LocalEngine", "default_engines", "process_identity"]


class Engine(Protocol):
    name: str

    def owner(self) -> dict[str, Any] | None:
        """What a run record's `owner` is set to for runs this engine starts here."""
        ...

    def start_apply(self, workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, *,
                    on_event: EventTarget | None, cancel: CancelToken, principal: str) -> RunHandle: ...

    def start_sync(self, workspace: Workspace, *, run_id: str, all_images: bool, on_event: EventTarget | None,
                   cancel: CancelToken, principal: str) -> RunHandle: ...

    def alive(self, run: RunRecord) -> bool:
        """Is the run recorded as running still executing somewhere?"""
        ...


def process_identity(pid: int) -> str | None:
    """The start time of process `pid` (clock ticks since boot, from /proc), or None when
    there is no such process: a pid plus this names one process, even after pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


class LocalEngine:
    """Runs in this process (see the module docstring)."""

    name = "local"

    def owner(self) -> dict[str, Any] | None:
        pid = os.getpid()
        return {"pid": pid, "host": socket.gethostname(), "started": process_identity(pid) or ""}

    def start_apply(self, workspace: Workspace, plan: PlanDocument | None, options: ApplyOptions, *,
                    on_event: EventTarget | None, cancel: CancelToken, principal: str) -> ApplyRun:
        with acting_as(principal):   # the run's task inherits it: its locks and audit entries name the principal
            return workspace.start_apply(plan, options, on_event=on_event, cancel=cancel)

    def start_sync(self, workspace: Workspace, *, run_id: str, all_images: bool, on_event: EventTarget | None,
                   cancel: CancelToken, principal: str) -> SyncRun:
        async def start() -> Any:
            return await workspace.sync_repository(all_images=all_images, on_event=on_event, cancel=cancel,
                                                   run_id=run_id)

        with acting_as(principal):
            return SyncRun(run_id, cancel, start)

    def alive(self, run: RunRecord) -> bool:
        owner = run.owner or {}
        if owner.get("host") != socket.gethostname() or not isinstance(owner.get("pid"), int):
            return False
        return process_identity(owner["pid"]) == owner.get("started")


def default_engines() -> Mapping[str, Engine]:
    """The engines this hwfw has, by name."""
    return {"local": LocalEngine()}
