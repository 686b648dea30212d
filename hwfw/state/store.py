"""Reading and writing the state file (schemas/state.schema.json).

The state file is the only hwfw file with a top-level `lineage` key. Writes are atomic
(see files.py) and bump `serial`; the lineage is set once, on the first write.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

from hwfw import __version__
from hwfw.errors import StateError
from hwfw.state.files import atomic_write_json
from hwfw.state.model import STATE_FORMAT, ComponentRecord, State


def state_to_json(state: State) -> dict[str, Any]:
    return {
        "format_version": STATE_FORMAT,
        "lineage": state.lineage,
        "serial": state.serial,
        "hwfw_version": state.hwfw_version,
        "hosts": {host: {key: rec.to_json() for key, rec in sorted(comps.items())}
                  for host, comps in sorted(state.hosts.items())},
        "checkpoints": dict(state.checkpoints),
        **dict(state.extra),
    }


def state_from_json(doc: Mapping[str, Any]) -> State:
    known = {"format_version", "lineage", "serial", "hwfw_version", "hosts", "checkpoints"}
    return State(
        lineage=doc["lineage"], serial=int(doc["serial"]), hwfw_version=doc.get("hwfw_version", ""),
        hosts={host: {key: ComponentRecord(**rec) for key, rec in comps.items()}
               for host, comps in (doc.get("hosts") or {}).items()},
        checkpoints=doc.get("checkpoints") or {},
        extra={k: v for k, v in doc.items() if k not in known})


class StateStore:
    """The state file of one workspace."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> State:
        """The current state; an empty state (no lineage yet) when there is no file."""
        if not self.path.exists():
            return State(lineage="", serial=0, hwfw_version=__version__)
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}",
                             hint="restore it from backup; hwfw never writes it partially") from exc
        from hwfw.config.schema import is_valid  # late: avoids importing schemas for plain reads

        if not isinstance(doc, dict) or not is_valid("state", doc):
            raise StateError(f"state file {self.path} does not match schemas/state.schema.json",
                             hint="it was edited by hand or by another tool; restore it from backup")
        return state_from_json(doc)

    def write(self, state: State) -> State:
        """Write `state` with serial + 1 (and a new lineage if it has none); return it."""
        new = replace(state, lineage=state.lineage or str(uuid.uuid4()), serial=state.serial + 1,
                      hwfw_version=__version__)
        atomic_write_json(self.path, state_to_json(new))
        return new
