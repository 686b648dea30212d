"""Per-host checkpoints: the host as it was before hwfw's first step, and how to go back.

A checkpoint is written to the state file (`checkpoints.hosts[HOST]`) before a host's
first step. It records every component's running version, the power state, and per
changed component its rollback mode from the plan (`bmc-previous`: the BMC keeps the
previous image; `repository`: the repository holds the replaced version;
`irreversible`: neither). It stays `open` until the host converges (or was rolled
back), so a resumed run keeps the *original* pre-state, not a half-updated one.

`restores(...)` turns a checkpoint and a fresh version read into the flashes that put
the host back, in reverse flash-sequence order (what was flashed last is undone first):
the repository's image of the checkpoint version where there is one (the surest way
back), else the BMC's own previous image where the vendor keeps one (Dell's
`Previous-` members); the driver installs that one only if it is the checkpoint
version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from hwfw import versions
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.plan.activation import activation_kind
from hwfw.plan.model import Step
from hwfw.state.model import ComponentRecord
from hwfw.vendor_registry import record_for

OPEN = "open"
CLOSED = "closed"


def split_key(key: str) -> tuple[str, str]:
    """`nic:NIC.Integrated.1-1` -> (`nic`, `NIC.Integrated.1-1`); `bios` -> (`bios`, `bios`)."""
    kind, sep, instance = key.partition(":")
    return (kind, instance) if sep else (key, key)


def same_version(a: str | None, b: str | None, scheme: str | None = None) -> bool:
    """Equal as versions of `scheme` (so `2.10` == `2.10.0` where the scheme says so);
    never guesses: unparseable strings are equal only verbatim (after trimming)."""
    if a is None or b is None:
        return False
    if a.strip() == b.strip():
        return True
    try:
        return versions.parse(a, scheme) == versions.parse(b, scheme)
    except (versions.InvalidVersion, versions.IncomparableVersions):
        return False


def new_checkpoint(*, run_id: str, created: str, running: Mapping[str, str | None], steps: Sequence[Step],
                   power_state: str | None) -> dict[str, Any]:
    """The checkpoint document of one host (schema: state.checkpoints.hosts.*)."""
    modes: dict[str, str | None] = {}
    for s in steps:
        if s.kind == "flash" and s.component and s.component not in modes:
            modes[s.component] = s.rollback
    components = {key: {"version": version, "rollback": modes.get(key)}
                  for key, version in sorted(running.items())}
    return {"status": OPEN, "run_id": run_id, "created": created, "power_state": power_state,
            "powered_on": False, "components": components}


def irreversible_steps(steps: Iterable[Step]) -> list[Step]:
    """Flash steps the plan marks as impossible to undo."""
    return [s for s in steps if s.kind == "flash" and s.rollback == "irreversible"]


@dataclass(frozen=True, slots=True)
class Restore:
    """One flash that puts a component back to its checkpoint version."""

    key: str
    kind: str
    instance: str
    version: str              # the checkpoint version to restore
    current: str | None       # what runs now
    mode: str | None          # the plan's rollback mode
    entry: RepositoryEntry | None   # the repository image; None: the BMC's own previous image
    activation: str           # the reset that makes the restored image run

    @property
    def via(self) -> str:
        return "repository" if self.entry is not None else "bmc-previous"

    @property
    def scheme(self) -> str | None:
        return self.entry.scheme if self.entry is not None else None


def _rank(kind: str, key: str, sequence: Sequence[str]) -> tuple[int, str, str]:
    try:
        return (sequence.index(kind), "", key)
    except ValueError:
        return (len(sequence), kind, key)


def restores(checkpoint: Mapping[str, Any], running: Mapping[str, str | None],
             records: Mapping[str, ComponentRecord], workspace: Workspace, vendor: str | None,
             model: str | None) -> tuple[list[Restore], list[str]]:
    """Flashes that return the host to `checkpoint`, and what cannot be restored.

    A component needs restoring when its running version differs from the checkpoint,
    or when hwfw staged another version on it that a later reset would activate.
    Images come from the repository (any mode: a copy of the replaced version is the
    surest way back), else from the BMC itself where the vendor keeps the replaced
    image (only for a version that became active: a staged one cannot be withdrawn so).
    """
    out: list[Restore] = []
    problems: list[str] = []
    sequence = list(workspace.sequences.for_vendor(vendor))
    wanted = checkpoint.get("components", {})
    for key, cp in wanted.items():
        old = cp.get("version")
        if old is None:
            continue
        rec = records.get(key)
        staged = rec is not None and rec.status in ("pending-activation", "in-progress") \
            and not same_version(rec.version, old)
        if same_version(running.get(key), old) and not staged:
            continue
        kind, instance = split_key(key)
        entry = find_image(workspace, vendor, model, kind, old)
        active = not same_version(running.get(key), old)
        if entry is None and not (active and _keeps_previous(vendor, kind, cp.get("rollback"))):
            mode = cp.get("rollback") or "irreversible"
            problems.append(f"{key}: no image of {old} in the repository to restore it (rollback mode {mode})")
            continue
        out.append(Restore(key, kind, instance, old, running.get(key), cp.get("rollback"), entry,
                           activation_kind(kind, vendor, entry)))
    out.sort(key=lambda r: _rank(r.kind, r.key, sequence), reverse=True)
    return out, problems


def _keeps_previous(vendor: str | None, kind: str, mode: str | None) -> bool:
    record = record_for(vendor)
    return mode == "bmc-previous" or (record is not None and record.keeps_previous_image(kind))


def find_image(workspace: Workspace, vendor: str | None, model: str | None, kind: str,
               version: str) -> RepositoryEntry | None:
    for e in sorted(workspace.repository.candidates(vendor, kind, model), key=lambda e: e.id):
        if same_version(e.version, version, e.scheme):
            return e
    return None
