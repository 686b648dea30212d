"""`hwfw worker`: one process serving a site's steps, the workflows, and (with
`--state-writer`) the workspace state.

A worker only dials out to the Temporal service (no port of its own besides the image
server BMCs pull from); it needs the workspace and the credentials of its site's hosts,
nothing else. Every worker also runs the workflow code (queue `hwfw.control`): it is
deterministic, needs no BMC, and any worker may replay it. Exactly one worker per
workspace writes the state (see control.py); run it where `hwfw apply` runs.

A worker journals its BMC sessions while it runs and, when it starts, logs out those a
killed worker of its site left open (sessions.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from hwfw.clock import Clock, SystemClock
from hwfw.config.model import Workspace
from hwfw.errors import HwfwError
from hwfw.logs import get_logger
from hwfw.redfish.journal import journal_sessions

from .control import StateActivities, StateKeeper
from .model import CHILDREN_IN_FLIGHT, CONTROL_QUEUE, STATE_QUEUE, site_queue, step_timing
from .sessions import WorkerSessions
from .site import Opener, Site, SiteActivities
from .workflows import HostWorkflow, RolloutWorkflow

__all__ = ["connect_client", "run_worker"]

log = get_logger("engine.temporal.worker")


async def connect_client(address: str, namespace: str) -> Client:
    """A client of the Temporal service; a clear error when it cannot be reached."""
    try:
        return await Client.connect(address, namespace=namespace)
    except (RuntimeError, OSError, ValueError) as exc:
        raise HwfwError(f"cannot reach the Temporal service at {address} (namespace {namespace!r}): {exc}",
                        hint="start it (README, \"Across sites\"), or name it with --temporal-address HOST:PORT "
                             "and --namespace NS (or settings.temporal in hwfw.yaml)") from None


async def run_worker(workspace: Workspace, *, site: str | None, address: str, namespace: str,
                     state_writer: bool = False, workflows: bool = True, insecure: bool = False,
                     concurrency: int | None = None, stop: asyncio.Event | None = None,
                     on_ready: Callable[[list[str]], None] | None = None, drivers: Opener | None = None,
                     images: Any = None, clock: Clock | None = None, client: Client | None = None) -> None:
    """Serve until `stop` is set (or the task is cancelled). `on_ready(queues)` is called
    once every queue is polled. `drivers`/`images`/`clock` replace the BMCs, the image
    cache and the clock (tests and benchmarks)."""
    client = client or await connect_client(address, namespace)
    timing = step_timing(workspace.settings)
    # Steps are coroutines waiting on BMCs: a slot costs nothing until used, and a host in
    # flight holds one most of its time (its step waits for a flash or a reboot). Fewer
    # slots than hosts in flight queue steps behind others' waits (200 hosts, 100 slots:
    # 1.9 s median wait per step); two per host of the most one rollout runs at once.
    concurrency = concurrency or 2 * max(CHILDREN_IN_FLIGHT, workspace.settings.parallelism)
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        # the journal is installed before the first login (connecting, every activity: the
        # tasks the Workers below start copy this context) and reset after the last logout
        sessions = WorkerSessions(workspace.settings, site, clock)
        stack.callback(sessions.release)
        stack.enter_context(journal_sessions(sessions.claim()))
        where = await stack.enter_async_context(Site(workspace, site, insecure=insecure, clock=clock,
                                                     drivers=drivers, images=images))
        if where.conn is not None:
            await sessions.logout_dead(where.conn.hosts, insecure=where.conn.insecure)
        steps = SiteActivities(where, heartbeat_every=timing.heartbeat_every)
        shutdown = timedelta(seconds=5)
        workers = [Worker(client, task_queue=site_queue(site), activities=steps.activities(),
                          max_concurrent_activities=concurrency, graceful_shutdown_timeout=shutdown)]
        if workflows:
            workers.append(Worker(client, task_queue=CONTROL_QUEUE, workflows=[RolloutWorkflow, HostWorkflow],
                                  max_cached_workflows=max(1000, concurrency),
                                  graceful_shutdown_timeout=shutdown))
        if state_writer:
            keeper = StateKeeper(workspace)
            stack.push_async_callback(keeper.aclose)
            workers.append(Worker(client, task_queue=STATE_QUEUE, activities=StateActivities(keeper).activities(),
                                  max_concurrent_activities=concurrency, graceful_shutdown_timeout=shutdown))
        for w in workers:
            await stack.enter_async_context(w)
        sweeper = asyncio.ensure_future(_sweep(where))
        stack.callback(sweeper.cancel)
        if on_ready is not None:
            on_ready([w.task_queue for w in workers])
        await (stop.wait() if stop is not None else asyncio.Event().wait())


async def _sweep(site: Site) -> None:
    """Close the sessions of hosts whose pieces went elsewhere (another worker finished them)."""
    while True:
        await asyncio.sleep(60)
        if site.pool is not None:
            with contextlib.suppress(Exception):
                await site.pool.sweep()
