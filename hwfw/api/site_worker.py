"""`serve_worker`: run an `hwfw worker` for one site of a workspace (hwfw.engine.temporal.worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from hwfw import invocation
from hwfw.cancel import CancelToken
from hwfw.errors import HwfwError

from .temporal import TemporalTarget
from .workspace import open_workspace

__all__ = ["WorkerInfo", "serve_worker"]


class WorkerInfo:
    """What a worker serves, for its banner: the site, its hosts and the queues it polls."""

    def __init__(self, site: str | None, hosts: list[str], queues: list[str], address: str, namespace: str) -> None:
        self.site, self.hosts, self.queues = site, hosts, queues
        self.address, self.namespace = address, namespace


async def serve_worker(path: str | Path = ".", *, site: str | None = None, state_writer: bool = False,
                       temporal: TemporalTarget | None = None, insecure: bool = False,
                       ca_bundle: str | Path | None = None, concurrency: int | None = None,
                       cancel: CancelToken | None = None,
                       on_ready: Callable[[WorkerInfo], None] | None = None) -> None:
    """Serve the site's steps (its hosts' BMCs), the workflows, and with `state_writer`
    the workspace state, until `cancel` is requested."""
    from hwfw.engine.temporal.site import site_hosts
    from hwfw.engine.temporal.worker import run_worker

    ws = open_workspace(path, insecure=insecure, ca_bundle=ca_bundle)
    config = ws.load()
    sites = sorted({h.site for h in config.hosts if h.site})
    if site is not None and site not in sites:
        raise HwfwError(f"no host of the inventory has site {site!r}",
                        hint=f"sites of this inventory: {', '.join(sites) or 'none (run the worker without --site)'}")
    address, namespace = (temporal or TemporalTarget()).resolve(config.settings)
    stop = asyncio.Event()
    unsubscribe = cancel.subscribe(lambda _n: stop.set()) if cancel is not None else None
    hosts = site_hosts(config, site)

    def ready(queues: list[str]) -> None:
        if on_ready is not None:
            on_ready(WorkerInfo(site, hosts, queues, address, namespace))

    try:
        with invocation.using(ws.path):
            await run_worker(config, site=site, address=address, namespace=namespace, state_writer=state_writer,
                             insecure=insecure, concurrency=concurrency, stop=stop, on_ready=ready)
    finally:
        if unsubscribe is not None:
            unsubscribe()
