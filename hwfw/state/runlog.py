"""The run log of a workspace in a file: `RUNTIME_DIR/runs.json`, the RunLog of
hwfw.state.serverstore until `hwfw serve`'s stores (SQLite, PostgreSQL) take it over.

One JSON document holding the last `KEEP` runs, replaced atomically under a POSIX lock
of its own (`runs.lock`, never the workspace lock: recording a run must not wait for
an apply); `update_run` is a compare-and-set on the record's `version`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from hwfw.errors import StaleStateError, StateError
from hwfw.state.files import atomic_write_json
from hwfw.state.serverstore import RunRecord

__all__ = ["FileRunLog"]

KEEP = 200


class FileRunLog:
    """See the module docstring."""

    def __init__(self, runtime_dir: Path) -> None:
        self.path = runtime_dir / "runs.json"
        self._lock_path = runtime_dir / "runs.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> list[dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read the run log {self.path}: {exc}",
                             hint="it only lists runs; move it aside and hwfw starts a new one") from exc
        runs = doc.get("runs") if isinstance(doc, dict) else None
        return [r for r in runs if isinstance(r, dict)] if isinstance(runs, list) else []

    def _write(self, runs: list[dict[str, Any]]) -> None:
        atomic_write_json(self.path, {"format_version": 1, "runs": runs[-KEEP:]})

    def _create(self, run: RunRecord) -> None:
        with self._locked():
            runs = [r for r in self._read() if r.get("run_id") != run.run_id]
            runs.append(asdict(run))
            self._write(runs)

    def _update(self, run: RunRecord, expected_version: int) -> RunRecord:
        with self._locked():
            runs = self._read()
            for i, doc in enumerate(runs):
                if doc.get("run_id") == run.run_id:
                    if doc.get("version") != expected_version:
                        raise StaleStateError(f"run {run.run_id} changed meanwhile (version {doc.get('version')}, "
                                              f"expected {expected_version})", hint="read it again")
                    new = replace(run, version=expected_version + 1)
                    runs[i] = asdict(new)
                    self._write(runs)
                    return new
        raise StateError(f"no run {run.run_id} in {self.path}", hint="list them with: hwfw run list")

    def _get(self, run_id: str) -> RunRecord | None:
        for doc in self._read():
            if doc.get("run_id") == run_id:
                return _record(doc)
        return None

    async def create_run(self, run: RunRecord) -> None:
        await asyncio.to_thread(self._create, run)

    async def update_run(self, run: RunRecord, *, expected_version: int) -> RunRecord:
        return await asyncio.to_thread(self._update, run, expected_version)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await asyncio.to_thread(self._get, run_id)

    async def list_runs(self, *, limit: int = 50) -> list[RunRecord]:
        docs = await asyncio.to_thread(self._read)
        return [_record(d) for d in reversed(docs)][:limit]


def _record(doc: dict[str, Any]) -> RunRecord:
    fields = set(RunRecord.__dataclass_fields__)
    return RunRecord(**{k: v for k, v in doc.items() if k in fields})
