"""Recording a run started outside the server (the CLI) in the workspace's run store.

The same store the server uses (hwfw.state.serverstore): the run's record (engine
`local`, owner this process, created_by the user) and every event, numbered, so `hwfw
serve` lists the CLI's runs beside its own and can follow one while it goes on, and the
`hwfw run` commands can read them. Recording never breaks the run: a store that cannot
be opened or written is logged once and the run goes on unrecorded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hwfw.clock import Clock, utc_now_iso
from hwfw.config.model import Settings
from hwfw.config.model import Workspace as Config
from hwfw.logs import get_logger, redactor
from hwfw.state.lock import operator
from hwfw.state.serverstore import RunRecord, ServerStore, open_server_store

from ..engines import LocalEngine
from .recorder import RunRecorder

__all__ = ["RecordedRun", "record_apply"]

log = get_logger("api.record")


class RecordedRun:
    """`async with RecordedRun(settings, run_id, "apply") as recorder:` ... `await finish(...)`.

    `recorder` is the event sink to add to the run's (None when the store could not be
    opened: the run goes on unrecorded)."""

    def __init__(self, settings: Settings, run_id: str, kind: str, *, hosts: tuple[str, ...] = (),
                 clock: Clock | None = None) -> None:
        self.settings = settings
        self.run_id = run_id
        self.kind = kind
        self.hosts = hosts
        self.clock = clock
        self.store: ServerStore | None = None
        self.record: RunRecord | None = None
        self.recorder: RunRecorder | None = None

    async def __aenter__(self) -> RunRecorder | None:
        now = utc_now_iso(self.clock)
        try:
            self.store = open_server_store(self.settings)
            record = RunRecord(run_id=self.run_id, plan_id=None, status="running", kind=self.kind, engine="local",
                               created=now, started=now, created_by=operator(), hosts=self.hosts,
                               owner=LocalEngine().owner())
            await self.store.create_run(record)
            self.record = record
            self.recorder = RunRecorder(self.run_id, self.store)
        except Exception as exc:
            log.warning("run %s is not recorded in the run store: %s", self.run_id, redactor(str(exc)))
            await self._close()
        return self.recorder

    async def finish(self, status: str, *, summary: dict[str, Any] | None = None, message: str = "") -> None:
        if self.store is None or self.record is None or self.recorder is None:
            return
        try:
            await self.recorder.flush()
            hosts = self.hosts or tuple(sorted(self.recorder.progress.hosts))
            self.record = await self.store.update_run(dataclasses.replace(
                self.record, status=status, finished=utc_now_iso(self.clock), hosts=hosts,
                summary=summary or self.recorder.progress.summary or {}, message=redactor(message)[:4000]),
                expected_version=self.record.version)
        except Exception as exc:
            log.warning("run %s: its end was not recorded: %s", self.run_id, redactor(str(exc)))

    async def __aexit__(self, *exc: object) -> None:
        if self.record is not None and self.record.status == "running":
            await self.finish("interrupted", message="the run stopped before it ended")
        await self._close()

    async def _close(self) -> None:
        store, self.store = self.store, None
        if store is not None:
            try:
                await store.aclose()
            except Exception:
                pass


def record_apply(config: Config, run_id: str, clock: Clock) -> RecordedRun:
    """`Workspace.apply(..., record=record_apply)`: the apply recorded in the workspace's run store."""
    return RecordedRun(config.settings, run_id, "apply", clock=clock)
