"""Moving state between backends, and reading or replacing it by hand.

* `migrate(src, dst)`: the state document (byte for byte: lineage and serial kept)
  and both journals, under both locks. Refused when the destination holds another
  lineage, or a newer serial of the same one. Journal records the destination already
  has are not copied again, so a migration that was interrupted can be run again.
* `pull(backend)`: the stored document, for inspection.
* `push(backend, data)`: a repaired document. It must be of the stored lineage and
  carry the stored serial (nobody wrote since the pull); it is stored with serial + 1,
  so a plan saved before the repair is stale. `force` skips both checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hwfw.errors import StateError
from hwfw.state.backend import JOURNALS, StateBackend
from hwfw.state.store import encode_state, parse_state_document


@dataclass
class Moved:
    lineage: str = ""
    serial: int = 0
    records: dict[str, int] = field(default_factory=dict)   # journal -> records copied


def _key(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


async def migrate(src: StateBackend, dst: StateBackend) -> Moved:
    """Copy everything from `src` to `dst` (see the module docstring)."""
    async with src.lock("migrate"), dst.lock("migrate"):
        data = await src.read_document()
        journals = {name: await src.journal(name) for name in JOURNALS}
        if data is None and not any(journals.values()):
            raise StateError(f"nothing to migrate: {src.describe()} holds no state and no journal",
                             hint="run hwfw apply first, or migrate the other way")
        moved = Moved()
        if data is not None:
            doc = parse_state_document(data, f"in {src.describe()}")
            await _check_destination(doc, dst)
            await dst.replace_document(doc)
            if await dst.read_document() != data:
                raise StateError(f"the state read back from {dst.describe()} differs from the one written",
                                 hint="the source is unchanged; report this")
            moved.lineage, moved.serial = doc["lineage"], int(doc["serial"])
        for name, records in journals.items():
            have = {_key(r) for r in await dst.journal(name)}
            missing = [r for r in records if _key(r) not in have]
            await dst.append_journal(name, missing)
            moved.records[name] = len(missing)
        return moved


async def _check_destination(doc: dict[str, Any], dst: StateBackend) -> None:
    existing = await dst.read_document()
    if existing is None:
        return
    there = parse_state_document(existing, f"in {dst.describe()}")
    if there["lineage"] != doc["lineage"]:
        raise StateError(f"{dst.describe()} already holds state of another lineage ({there['lineage']}, serial "
                         f"{there['serial']}); this one is {doc['lineage']}",
                         hint="migrating would lose it: point settings.backend at another workspace or schema, "
                              "or move that state away first (hwfw state pull)")
    if int(there["serial"]) > int(doc["serial"]):
        raise StateError(f"{dst.describe()} holds a newer serial ({there['serial']}) of this lineage than the "
                         f"source ({doc['serial']})", hint="migrate the other way")


async def pull(backend: StateBackend) -> bytes:
    data = await backend.read_document()
    if data is None:
        raise StateError(f"no state yet in {backend.describe()}", hint="hwfw apply writes the first one")
    return data


async def push(backend: StateBackend, data: bytes, where: str, *, force: bool = False) -> dict[str, Any]:
    """Store the document `data` (read from `where`); return what was stored."""
    doc = parse_state_document(data, where)
    async with backend.lock("push"):
        current = await backend.read_document()
        serial = int(doc["serial"])
        if current is not None:
            stored = parse_state_document(current, f"in {backend.describe()}")
            if not force and stored["lineage"] != doc["lineage"]:
                raise StateError(f"{where} has lineage {doc['lineage']}, the stored state {stored['lineage']}",
                                 hint="push a document pulled from this workspace (or --force to replace it)")
            if not force and int(stored["serial"]) != serial:
                raise StateError(f"{where} is at serial {serial}, the stored state at {stored['serial']}: it "
                                 "changed since the pull",
                                 hint="pull again and redo the edit (or --force to overwrite that change)")
            serial = max(serial, int(stored["serial"]))
        new = {**doc, "serial": serial + 1}
        await backend.replace_document(new)
        return json.loads(encode_state(new))
