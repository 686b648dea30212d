"""Reading and writing the state file (schemas/state.schema.json).

The state file is the only hwfw file with a top-level `lineage` key. Writes are atomic
(see files.py) and bump `serial`; the lineage is set once, on the first write. A write
is a compare-and-set: it must be based on the serial (and lineage) stored now, else it
is refused with StaleStateError instead of silently undoing another process's write.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import orjson

from hwfw import __version__
from hwfw.errors import StaleStateError, StateError
from hwfw.state.files import atomic_write_bytes
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


def json_copy(value: Any) -> Any:
    """A deep copy of a JSON-shaped value, as a write and a read of it would give (a
    third of `copy.deepcopy`'s time for the state's checkpoints at 5,000 hosts)."""
    return orjson.loads(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS))


def encode_state(doc: Mapping[str, Any]) -> bytes:
    """The bytes of a state document, as every backend stores it (and `state pull` prints):
    indented with two spaces, keys sorted, UTF-8, one newline at the end."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
                        | orjson.OPT_NON_STR_KEYS)


def parse_state_document(data: bytes | str, where: str) -> dict[str, Any]:
    """A state document checked against schemas/state.schema.json; `where` names it in errors."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise StateError(f"cannot read state {where}: {exc}",
                         hint="restore it from backup; hwfw never writes it partially") from exc
    from hwfw.config.schema import is_valid  # late: avoids importing schemas for plain reads

    if not isinstance(doc, dict) or not is_valid("state", doc):
        raise StateError(f"state {where} does not match schemas/state.schema.json",
                         hint="it was edited by hand or by another tool; restore it from backup")
    return doc


def next_state(state: State) -> State:
    """What a write of `state` stores: serial + 1, a new lineage if it has none."""
    return replace(state, lineage=state.lineage or str(uuid.uuid4()), serial=state.serial + 1,
                   hwfw_version=__version__)


def check_successor(stored_lineage: str, stored_serial: int, state: State, where: str) -> None:
    """Refuse a write of `state` unless it is based on what is stored now."""
    if stored_lineage and state.lineage and stored_lineage != state.lineage:
        raise StaleStateError(f"state {where} has lineage {stored_lineage}, this write lineage {state.lineage}",
                              hint="the state was replaced by another workspace's; check settings.backend "
                                   "and `hwfw state pull`")
    if stored_serial != state.serial:
        raise StaleStateError(
            f"state {where} is at serial {stored_serial}, but this write is based on serial {state.serial}: "
            "another hwfw process wrote it in between",
            hint="run the command again (it reads the state afresh); re-make a saved plan with hwfw plan --out")


class StateStore:
    """The state file of one workspace."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # (inode, mtime, size) -> (lineage, serial) of the file as last read or written:
        # every write replaces the file (a new inode), so an unchanged stat means nobody
        # wrote since and the CAS check needs no re-read of a large file.
        self._seen: tuple[tuple[int, int, int], str, int] | None = None

    def load(self) -> State:
        """The current state; an empty state (no lineage yet) when there is no file."""
        if not self.path.exists():
            return State(lineage="", serial=0, hwfw_version=__version__)
        try:
            data = self.path.read_bytes()
            stat = os.stat(self.path)
        except OSError as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}",
                             hint="restore it from backup; hwfw never writes it partially") from exc
        state = state_from_json(parse_state_document(data, f"file {self.path}"))
        self._seen = (_key(stat), state.lineage, state.serial)
        return state

    def read_bytes(self) -> bytes | None:
        """The state document as stored (None: no state yet)."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def stored(self) -> tuple[str, int]:
        """(lineage, serial) stored now; ("", 0) when there is no file."""
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return "", 0
        if self._seen is not None and self._seen[0] == _key(stat):
            return self._seen[1], self._seen[2]
        try:
            doc = json.loads(self.path.read_bytes())
            return str(doc["lineage"]), int(doc["serial"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StateError(f"cannot read state file {self.path}: {exc}",
                             hint="restore it from backup; hwfw never writes it partially") from exc

    def write(self, state: State) -> State:
        """Write `state` with serial + 1 (and a new lineage if it has none); return it.

        Refused (StaleStateError) unless the file still holds `state.serial`."""
        lineage, serial = self.stored()
        check_successor(lineage, serial, state, f"file {self.path}")
        new = next_state(state)
        self.write_document(state_to_json(new))
        return new

    def write_document(self, doc: Mapping[str, Any]) -> None:
        """Store a whole document as it is (migrate, push): no serial bump."""
        atomic_write_bytes(self.path, encode_state(doc))
        self._seen = (_key(os.stat(self.path)), str(doc["lineage"]), int(doc["serial"]))


def _key(stat: os.stat_result) -> tuple[int, int, int]:
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
