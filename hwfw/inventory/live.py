"""Reading the live inventory of a workspace's hosts (the I/O edge of plan)."""

from __future__ import annotations

from typing import Sequence

from hwfw.clock import Clock, SystemClock
from hwfw.config.model import Workspace
from hwfw.connect import connect
from hwfw.inventory.collect import collect
from hwfw.inventory.model import Inventory


async def read_live_inventory(workspace: Workspace, *, targets: Sequence[str] = (), insecure: bool = False,
                              clock: Clock | None = None) -> Inventory:
    """Connect to every (targeted) host and read its inventory; never changes a BMC."""
    async with connect(workspace, insecure=insecure, targets=targets, clock=clock or SystemClock()) as conn:
        return await collect(list(conn.hosts.values()), settings=workspace.settings, clock=conn.clock,
                             insecure=insecure, concurrency=workspace.settings.plan_concurrency)
