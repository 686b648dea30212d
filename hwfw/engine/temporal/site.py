"""The activities of one site: a host's begin, its steps and its finish (hostrun.py).

A `Site` is what one `hwfw worker --site NAME` process keeps while it runs: the
workspace, the BMC addresses and credentials of the site's hosts only, the state
backend (where intents are appended), the image cache and an image server for BMCs
that pull, and the hosts' open drivers (one Redfish session per host, kept across its
steps like the local engine keeps it; closed when the host finishes or stays idle).

Every activity heartbeats while it runs (the last progress message rides along), so a
worker that dies is noticed within the heartbeat timeout and the piece is retried by
another attempt. A retried piece settles first: every intent of this run and host that
no finished piece accounts for is settled from the BMC's own state (hwfw.apply.resume)
before anything is sent, so a flash the dead attempt started is followed, never sent
again. Pieces return outcomes; they raise only when the worker itself is at fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from hwfw.apply.driver import HostDriver
from hwfw.apply.events import (
    HOST_FAILED,
    HOST_REFUSED,
    HOST_SKIPPED,
    SKIP_HALTED,
    STEP_FAILED,
    HostOutcome,
    StepOutcome,
)
from hwfw.apply.executor import describe
from hwfw.apply.resume import settle_intent, settle_open_intents
from hwfw.apply.run import StoreImages, drivers_for
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import Workspace
from hwfw.connect import SIM_SCHEME, Connection, connect
from hwfw.errors import HwfwError
from hwfw.logs import get_logger
from hwfw.state.backend import StateBackend, open_backend

from .hostrun import HostPiece
from .model import HostCall, HostReply

__all__ = ["DriverPool", "Site", "SiteActivities", "site_hosts"]

log = get_logger("engine.temporal.site")

Opener = Callable[[str], "HostDriver | Awaitable[HostDriver]"]
IDLE_SECONDS = 300.0


def site_hosts(workspace: Workspace, site: str | None) -> list[str]:
    """The hosts whose steps this site runs (no site: the hosts without one)."""
    return [h.name for h in workspace.hosts if h.site == site]


@dataclass
class _Open:
    driver: HostDriver
    users: int = 0
    last: float = field(default_factory=time.monotonic)


class DriverPool:
    """Open drivers by (run, host): a host's pieces share one session, as the local
    engine's host task does. A driver a piece left in doubt (an unexpected error) is
    closed; the next piece opens a fresh one."""

    def __init__(self, opener: Opener) -> None:
        self.opener = opener
        self._open: dict[tuple[str, str], _Open] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @contextlib.asynccontextmanager
    async def use(self, run_id: str, host: str) -> AsyncIterator[HostDriver]:
        key = (run_id, host)
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry = self._open.get(key)
            if entry is None:
                made = self.opener(host)
                driver = await made if inspect.isawaitable(made) else made
                await driver.__aenter__()
                entry = self._open[key] = _Open(driver)
            entry.users += 1
        try:
            yield entry.driver
        except (HwfwError, asyncio.CancelledError):
            raise
        except BaseException:
            await self.close(run_id, host, force=True)
            raise
        finally:
            entry.users -= 1
            entry.last = time.monotonic()

    async def close(self, run_id: str, host: str, *, force: bool = False) -> None:
        entry = self._open.get((run_id, host))
        if entry is None or (entry.users and not force):
            return
        self._open.pop((run_id, host), None)
        try:
            await entry.driver.__aexit__(None, None, None)
        except Exception as exc:  # logging out of a BMC that went away is not the run's failure
            log.info("%s: closing its session: %s", host, exc)

    async def sweep(self, idle: float = IDLE_SECONDS) -> None:
        now = time.monotonic()
        for (run_id, host), entry in list(self._open.items()):
            if not entry.users and now - entry.last > idle:
                await self.close(run_id, host)

    async def close_all(self) -> None:
        for run_id, host in list(self._open):
            await self.close(run_id, host, force=True)


class Site:
    """What a site's worker keeps (see the module docstring). `drivers` and `images`
    replace the BMC connection and the image cache (tests, benchmarks)."""

    def __init__(self, workspace: Workspace, site: str | None, *, insecure: bool = False,
                 clock: Clock | None = None, drivers: Opener | None = None, images: Any = None) -> None:
        self.workspace = workspace
        self.site = site
        self.insecure = insecure
        self.clock = clock or SystemClock()
        self.hosts = site_hosts(workspace, site)
        self._drivers = drivers
        self.images = images
        self.fetching: StoreImages | None = None
        self.backend: StateBackend | None = None
        self.pool: DriverPool | None = None
        self.conn: Connection | None = None   # its hosts' BMCs (None when `drivers` replaces them)
        self._earlier: dict[str, asyncio.Future[set[str]]] = {}
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Site:
        stack = self._stack
        self.backend = await stack.enter_async_context(open_backend(self.workspace.settings))
        opener = self._drivers
        if opener is None:
            simulated = [h.name for h in self.workspace.hosts if h.name in self.hosts and h.bmc.startswith(SIM_SCHEME)]
            if simulated:
                raise HwfwError(f"host(s) {', '.join(simulated[:3])} are sim:// hosts: the embedded simulator "
                                  "lives inside one hwfw process, and workers are other processes",
                                  hint="serve the fleet with `hwfw sim serve --write-inventory FILE` and use "
                                       "that inventory (https:// addresses) in the workspace")
            from hwfw.apply.imageserver import ImageServer

            server = await stack.enter_async_context(ImageServer(self.workspace.settings, self.clock,
                                                                 run_id=f"worker-{self.site or 'default'}"))
            if self.hosts:
                self.conn = await stack.enter_async_context(connect(self.workspace, insecure=self.insecure,
                                                                    targets=self.hosts, clock=self.clock))
                opener = drivers_for(self.conn, server)
            else:
                opener = _no_hosts
            self.images = StoreImages(self.workspace, fetch=False, server=server)
            self.fetching = StoreImages(self.workspace, fetch=True, server=server)
        self.pool = DriverPool(opener)
        stack.push_async_callback(self.pool.close_all)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    async def earlier_intents(self, run_id: str) -> set[str]:
        """The hosts with intents of earlier runs still open in this site's log. Read
        once per run: no other run writes the log while this one holds the workspace,
        and the log grows with every step (read at each host's begin, a 5,000-host
        rollout spent a third of its worker's time re-reading it). Settling a host's
        intents takes it out (`settled_earlier`)."""
        known = self._earlier.get(run_id)
        if known is None or (known.done() and (known.cancelled() or known.exception() is not None)):
            known = asyncio.ensure_future(self._read_earlier(run_id))   # a failed read is tried again
            self._earlier = {run_id: known}
        return await asyncio.shield(known)

    async def _read_earlier(self, run_id: str) -> set[str]:
        assert self.backend is not None
        return {i["host"] for i in await self.backend.open_intents() if i.get("run_id") != run_id}

    def settled_earlier(self, run_id: str, host: str) -> None:
        known = self._earlier.get(run_id)
        if known is not None and known.done() and not known.cancelled() and known.exception() is None:
            known.result().discard(host)

    def images_for(self, call: HostCall) -> Any:
        return self.fetching if call.sync and self.fetching is not None else self.images


def _no_hosts(host: str) -> HostDriver:
    raise HwfwError(f"{host} is not a host of this worker's site",
                    hint="check the host's `site:` in the inventory and the worker's --site")


@contextlib.asynccontextmanager
async def heartbeating(every: float, detail: Callable[[], Any]) -> AsyncIterator[None]:
    """Heartbeat every `every` seconds while the body runs (what makes a dead worker,
    and a cancel request, reach this attempt)."""
    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            activity.heartbeat(detail())

    task = asyncio.ensure_future(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class SiteActivities:
    """The site's activities (registered by hwfw.engine.temporal.worker)."""

    def __init__(self, site: Site, *, heartbeat_every: float = 1.0) -> None:
        self.site = site
        self.heartbeat_every = heartbeat_every

    def _piece(self, call: HostCall) -> HostPiece:
        site = self.site
        assert site.backend is not None
        return HostPiece(site.workspace, call, backend=site.backend, images=site.images_for(call), clock=site.clock,
                         hard=call.hard)

    @contextlib.asynccontextmanager
    async def _running(self, piece: HostPiece) -> AsyncIterator[HostDriver]:
        assert self.site.pool is not None
        async with heartbeating(self.heartbeat_every, lambda: piece.collector.progress):
            async with self.site.pool.use(piece.call.run_id, piece.call.host) as driver:
                piece.run.driver = driver
                await self._settle_retry(piece)
                yield driver

    async def _settle_retry(self, piece: HostPiece) -> None:
        """A retried piece: settle what the lost attempt may have left open first."""
        if activity.info().attempt <= 1:
            return
        call, site = piece.call, self.site
        assert site.backend is not None and piece.run.driver is not None
        mine = [i for i in await site.backend.open_intents()
                if i["host"] == call.host and i.get("run_id") == call.run_id and i["intent"] not in call.resolved]
        for intent in mine:
            verdict = await settle_intent(piece.ledger, piece.run.driver, intent, settings=site.workspace.settings,
                                          clock=site.clock, events=piece.events)
            piece.settled.append(verdict)
            piece.events.warning(f"retrying after a lost attempt: its {intent['action']} of {intent['component']} "
                                 f"was settled from the BMC first: {verdict}", call.host)
            if verdict.startswith("in-flight:"):
                raise HwfwError(f"an update the lost attempt started is still running on the BMC "
                                f"({verdict[len('in-flight:'):]})", hint="the next hwfw apply settles it")

    # ------------------------------------------------------------------ begin
    @activity.defn(name="hwfw.host_begin")
    async def host_begin(self, call: HostCall) -> HostReply:
        """Pre-host hook, settle what earlier runs left open, pre-flight, checkpoint."""
        piece = self._piece(call)
        run = piece.run
        if not await run.run_hook("pre_host"):
            piece.finish(run.finish_outcome(HOST_SKIPPED, run.failure or "pre-host hook failed",
                                            reason="pre-host hook failed"))
            return piece.reply()
        try:
            async with self._running(piece):
                blocked = await self._settle_earlier(piece)
                refusal = blocked or await run.begin()
                if refusal:
                    piece.refusal = refusal
                    piece.finish(run.finish_outcome(HOST_REFUSED, refusal, reason="host refused by pre-flight"))
        except HwfwError as exc:
            piece.finish(run.finish_outcome(HOST_FAILED, describe(exc), reason=SKIP_HALTED))
        return piece.reply()

    async def _settle_earlier(self, piece: HostPiece) -> str | None:
        """Intents of earlier runs still open in this site's log (the planning machine
        settled those of its own log): settled before pre-flight, as apply does."""
        site, call = self.site, piece.call
        assert site.backend is not None and site.pool is not None
        if call.host not in await site.earlier_intents(call.run_id):
            return None
        report = await settle_open_intents(piece.ledger, site.pool.opener, settings=site.workspace.settings,
                                           clock=site.clock, hosts={call.host}, events=piece.events)
        piece.settled += [verdict for _, _, verdict in report.settled]
        blocked = report.blocked.get(call.host)
        if blocked is None:
            site.settled_earlier(call.run_id, call.host)
        return blocked

    # ------------------------------------------------------------------ one step
    @activity.defn(name="hwfw.host_step")
    async def host_step(self, call: HostCall) -> HostReply:
        """One step of the host's DAG, whatever its kind."""
        piece = self._piece(call)
        assert call.step is not None
        step = piece.step(call.step)
        mismatch = self._image_mismatch(step)
        try:
            if mismatch:
                out = StepOutcome(STEP_FAILED, mismatch)
                piece.events.step_finished(call.host, step, out)
            else:
                async with self._running(piece):
                    out = await piece.run.run_step(step)
        except HwfwError as exc:
            out = StepOutcome(STEP_FAILED, describe(exc))
            piece.events.step_finished(call.host, step, out)
        piece.outcome = out.to_json()
        return piece.reply()

    def _image_mismatch(self, step: Any) -> str | None:
        """The plan names each image by id and sha256: a worker whose repository gives
        the id another digest would flash something else. Refused."""
        if step.image is None:
            return None
        entry = self.site.workspace.repository.get(step.image.id)
        if entry is None or entry.sha256 != step.image.sha256:
            found = "is not in it" if entry is None else f"has sha256 {entry.sha256[:12]}…"
            return (f"image {step.image.id!r} (sha256 {step.image.sha256[:12]}…) of the plan: this worker's "
                    f"repository {found}; update the worker's copy of the workspace and restart it")
        return None

    # ------------------------------------------------------------------ finish
    @activity.defn(name="hwfw.host_finish")
    async def host_finish(self, call: HostCall) -> HostReply:
        """Roll back or decide, post-host hook, leave power as found and close the checkpoint."""
        piece = self._piece(call)
        run = piece.run
        site = self.site
        assert site.pool is not None
        try:
            if call.outcome is not None:
                piece.finish(await self._after_begin(piece, HostOutcome.from_json(call.outcome)))
                return piece.reply()
            try:
                async with self._running(piece):
                    outcome = await run.conclude()
                    if not call.hard and not await run.run_hook("post_host", outcome.status):
                        outcome = run.finish_outcome(HOST_FAILED, run.failure or "post-host hook failed")
                    if outcome.status == "converged":
                        outcome = await run.close()
            except HwfwError as exc:
                outcome = run.finish_outcome(HOST_FAILED, describe(exc), reason=SKIP_HALTED)
                await run.run_hook("post_host", HOST_FAILED)
            piece.finish(outcome)
            return piece.reply()
        finally:
            await site.pool.close(call.run_id, call.host)

    async def _after_begin(self, piece: HostPiece, outcome: HostOutcome) -> HostOutcome:
        """A host that stopped at its beginning: the post-host hook still runs (as it does
        locally), except after a failed pre-host hook."""
        if outcome.status == HOST_SKIPPED:
            return outcome
        ok = await piece.run.run_hook("post_host", outcome.status)
        if not ok and outcome.status == HOST_REFUSED:
            return piece.run.finish_outcome(HOST_FAILED, piece.run.failure or "post-host hook failed")
        return outcome

    def activities(self) -> list[Callable[..., Any]]:
        return [self.host_begin, self.host_step, self.host_finish]
