"""State records. The file format is schemas/state.schema.json.

`lineage` is set once when a state is created; `serial` grows by one on every write,
so a saved plan can tell whether the state changed since it was made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

STATE_FORMAT = 1
STATUSES = ("ok", "pending-activation", "failed", "rolled-back", "in-progress")


@dataclass(frozen=True, slots=True)
class ComponentRecord:
    """What hwfw last did to one component instance of one host."""

    version: str
    status: str
    image_sha256: str | None = None
    image_id: str | None = None
    previous_version: str | None = None
    updated_at: str | None = None
    run_id: str | None = None
    task_uri: str | None = None
    activation: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (
            ("version", self.version), ("status", self.status), ("image_sha256", self.image_sha256),
            ("image_id", self.image_id), ("previous_version", self.previous_version),
            ("updated_at", self.updated_at), ("run_id", self.run_id), ("task_uri", self.task_uri),
            ("activation", self.activation), ("error", self.error)) if v is not None}


@dataclass(frozen=True, slots=True)
class State:
    lineage: str
    serial: int = 0
    hwfw_version: str = ""
    hosts: Mapping[str, Mapping[str, ComponentRecord]] = field(default_factory=dict)
    checkpoints: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def record(self, host: str, key: str) -> ComponentRecord | None:
        return self.hosts.get(host, {}).get(key)

    def pending(self, host: str) -> dict[str, ComponentRecord]:
        """Components flashed by hwfw whose new version waits for an activation."""
        return {k: r for k, r in self.hosts.get(host, {}).items() if r.status == "pending-activation"}


EMPTY_STATE = State(lineage="", serial=0)
