"""Append-only journals under the workspace's run-time directory.

* The intent log (`intents.jsonl`): before any request that changes a BMC, hwfw appends
  and fsyncs an intent (host, component, action, image sha256, run id). A later record
  resolves it. On resume, every intent without a resolution is settled from the BMC's
  own tasks, jobs and inventory before anything else is sent, so a kill between "the
  BMC accepted the image" and "the state was written" never causes a second flash.
* The audit log (`audit.jsonl`, schemas/audit.schema.json): one record per completed
  action, for people: who changed what, from which version to which, with which image.

The records are built by the functions below, so every backend (these files, or the
PostgreSQL tables of hwfw.state.postgres) stores the same documents.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Iterable

from hwfw.clock import utc_now_iso
from hwfw.state.files import append_json_line, read_json_lines
from hwfw.state.lock import operator


def intent_record(*, run_id: str, host: str, component: str, action: str, image_sha256: str | None = None,
                  **details: Any) -> dict[str, Any]:
    """A new intent (its id in `intent`)."""
    return {"intent": uuid.uuid4().hex[:16], "run_id": run_id, "time": utc_now_iso(), "host": host,
            "component": component, "action": action, "image_sha256": image_sha256, "details": details}


def resolution_record(intent_id: str, outcome: str, **details: Any) -> dict[str, Any]:
    return {"resolves": intent_id, "time": utc_now_iso(), "outcome": outcome, "details": details}


def audit_entry(*, run_id: str, host: str, component: str, action: str, outcome: str, before: str | None = None,
                after: str | None = None, image_sha256: str | None = None,
                message: str | None = None) -> dict[str, Any]:
    entry = {"run_id": run_id, "time": utc_now_iso(), "host": host, "component": component,
             "action": action, "before": before, "after": after, "image_sha256": image_sha256,
             "outcome": outcome, "operator": operator()}
    if message:
        entry["message"] = message
    return entry


def unresolved(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The intents among `records` that no later record resolves, oldest first."""
    records = list(records)
    resolved = {r["resolves"] for r in records if "resolves" in r}
    return [r for r in records if "intent" in r and r["intent"] not in resolved]


class IntentLog:
    """`durable=False`: records reach the page cache, not the disk, before a call returns
    (they survive hwfw being killed, not a power loss): for records written where a
    wait for the disk would widen the window they are meant to close."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.durable = durable

    def open(self, *, run_id: str, host: str, component: str, action: str,
             image_sha256: str | None = None, **details: Any) -> str:
        record = intent_record(run_id=run_id, host=host, component=component, action=action,
                               image_sha256=image_sha256, **details)
        append_json_line(self.path, record, fsync=self.durable)
        return str(record["intent"])

    def resolve(self, intent_id: str, outcome: str, **details: Any) -> None:
        append_json_line(self.path, resolution_record(intent_id, outcome, **details), fsync=self.durable)

    def open_intents(self) -> list[dict[str, Any]]:
        """Intents with no resolution yet, oldest first."""
        return unresolved(read_json_lines(self.path))

    def records(self) -> list[dict[str, Any]]:
        return read_json_lines(self.path)


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, *, run_id: str, host: str, component: str, action: str, outcome: str,
               before: str | None = None, after: str | None = None, image_sha256: str | None = None,
               message: str | None = None) -> None:
        append_json_line(self.path, audit_entry(run_id=run_id, host=host, component=component, action=action,
                                                outcome=outcome, before=before, after=after,
                                                image_sha256=image_sha256, message=message))

    def entries(self) -> list[dict[str, Any]]:
        return read_json_lines(self.path)
