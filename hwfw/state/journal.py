"""Append-only journals under the workspace's run-time directory.

* The intent log (`intents.jsonl`): before any request that changes a BMC, hwfw appends
  and fsyncs an intent (host, component, action, image sha256, run id). A later record
  resolves it. On resume, every intent without a resolution is settled from the BMC's
  own tasks, jobs and inventory before anything else is sent, so a kill between "the
  BMC accepted the image" and "the state was written" never causes a second flash.
  A note (`note`) adds details to an open intent as it progresses (e.g. "the reset was
  requested"); `open_intents` shows each open intent with its notes merged in.
* The audit log (`audit.jsonl`, schemas/audit.schema.json): one record per completed
  action, for people: who changed what, from which version to which, with which image.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from hwfw.clock import utc_now_iso
from hwfw.state.files import append_json_line, read_json_lines
from hwfw.state.lock import operator


class IntentLog:
    """`durable=False`: records reach the page cache, not the disk, before a call returns
    (they survive hwfw being killed, not a power loss): for records written where a
    wait for the disk would widen the window they are meant to close."""

    def __init__(self, path: Path, *, durable: bool = True) -> None:
        self.path = path
        self.durable = durable

    def open(self, *, run_id: str, host: str, component: str, action: str,
             image_sha256: str | None = None, **details: Any) -> str:
        intent_id = uuid.uuid4().hex[:16]
        append_json_line(self.path, {"intent": intent_id, "run_id": run_id, "time": utc_now_iso(),
                                     "host": host, "component": component, "action": action,
                                     "image_sha256": image_sha256, "details": details}, fsync=self.durable)
        return intent_id

    def resolve(self, intent_id: str, outcome: str, **details: Any) -> None:
        append_json_line(self.path, {"resolves": intent_id, "time": utc_now_iso(), "outcome": outcome,
                                     "details": details}, fsync=self.durable)

    def note(self, intent_id: str, **details: Any) -> None:
        """Add `details` to an open intent (what happened since it was written)."""
        append_json_line(self.path, {"notes": intent_id, "time": utc_now_iso(), "details": details},
                         fsync=self.durable)

    def open_intents(self) -> list[dict[str, Any]]:
        """Intents with no resolution yet, oldest first, with their notes merged into `details`."""
        records = read_json_lines(self.path)
        resolved = {r["resolves"] for r in records if "resolves" in r}
        notes: dict[str, dict[str, Any]] = {}
        for r in records:
            if "notes" in r and isinstance(r.get("details"), dict):
                notes.setdefault(r["notes"], {}).update(r["details"])
        out = []
        for r in records:
            if "intent" in r and r["intent"] not in resolved:
                if r["intent"] in notes:
                    r = {**r, "details": {**(r.get("details") or {}), **notes[r["intent"]]}}
                out.append(r)
        return out


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, *, run_id: str, host: str, component: str, action: str, outcome: str,
               before: str | None = None, after: str | None = None, image_sha256: str | None = None,
               message: str | None = None) -> None:
        entry = {"run_id": run_id, "time": utc_now_iso(), "host": host, "component": component,
                 "action": action, "before": before, "after": after, "image_sha256": image_sha256,
                 "outcome": outcome, "operator": operator()}
        if message:
            entry["message"] = message
        append_json_line(self.path, entry)

    def entries(self) -> list[dict[str, Any]]:
        return read_json_lines(self.path)
