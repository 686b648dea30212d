"""`FirmwareManager`: the three calls a provisioning system makes, on top of `Workspace`.

    manager = FirmwareManager("fleet/")
    report = await manager.check_firmware_versions(["rack1-*"])
    result = await manager.update_firmware_batch(["rack1-07"], on_event=print)
    synced = await manager.sync_firmware_repository()

`update_firmware_batch` plans exactly the hosts given and applies that plan without
asking (a provisioning system has no terminal): the same engine, locks, resume and
events as `hwfw apply --auto-approve --target ...`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hwfw.cancel import CancelToken
from hwfw.clock import Clock

from .repository import SyncResult
from .runs import EventTarget
from .workspace import Workspace

if TYPE_CHECKING:
    from hwfw.apply.run import ApplyOptions, ApplyResult
    from hwfw.compliance.report import ComplianceReport

__all__ = ["FirmwareManager"]


class FirmwareManager:
    """A facade over one workspace (a path or an open `Workspace`)."""

    def __init__(self, workspace: str | Path | Workspace, *, insecure: bool = False,
                 ca_bundle: str | Path | None = None, clock: Clock | None = None) -> None:
        self.workspace = workspace if isinstance(workspace, Workspace) else \
            Workspace(workspace, insecure=insecure, ca_bundle=ca_bundle, clock=clock)

    async def check_firmware_versions(self, hosts: Sequence[str] = (), *,
                                      cancel: CancelToken | None = None) -> ComplianceReport:
        """Read the BMCs of `hosts` (names or globs; empty: every host) and compare them
        with their baselines: per host and component compliant, behind, ahead, unknown,
        missing or unreachable."""
        return await self.workspace.compliance(targets=hosts, cancel=cancel)

    async def update_firmware_batch(self, hosts: Sequence[str], options: ApplyOptions | None = None, *,
                                    on_event: EventTarget | None = None,
                                    cancel: CancelToken | None = None) -> ApplyResult:
        """Bring `hosts` (names or globs, at least one) to their baselines, without a
        confirmation; `options` sets the rollout (parallelism, canary, window...).
        Returns the run's result; `exit_code` 0 means every host converged."""
        from hwfw.apply.run import ApplyOptions

        if not hosts:
            raise ValueError("update_firmware_batch needs at least one host (a name or a glob)")
        options = dataclasses.replace(options or ApplyOptions(), targets=tuple(hosts), auto_approve=True)
        return await self.workspace.apply(None, options, on_event=on_event, cancel=cancel)

    async def sync_firmware_repository(self, *, all_images: bool = False, on_event: EventTarget | None = None,
                                       cancel: CancelToken | None = None) -> SyncResult:
        """Fetch every image the baselines reference (every entry with `all_images`) into the cache."""
        return await self.workspace.sync_repository(all_images=all_images, on_event=on_event, cancel=cancel)
