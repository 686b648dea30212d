"""Digests of a workspace's input files: a saved plan records them, and apply compares
them to tell whether the plan is stale (`hwfw.plan.planfile.staleness`)."""

from __future__ import annotations

import hashlib

from hwfw.config.model import Workspace

__all__ = ["input_digests"]


def input_digests(workspace: Workspace) -> dict[str, str]:
    """sha256 of every workspace input file, keyed by its workspace-relative path."""
    out = {}
    for path in sorted(set(workspace.files.values())):
        out[workspace.rel(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
