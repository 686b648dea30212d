"""Resume after a crash: settle every open intent before anything else is sent.

An open intent is a BMC-changing request whose outcome never reached the state file
(hwfw was killed between "intent written" and "intent resolved"). The host's driver
decides what became of it from the BMC's own tasks, jobs and inventory
(`HostDriver.settle_intent`):

* `done`: the change took effect or is staged: recorded (`ok` when a fresh read shows
  the version running, else `pending-activation`), never sent again;
* `in-flight:URI`: the BMC still works on it: re-attached and followed (re-asked every
  poll interval) until it ends, within the component's deadline;
* `not-sent`: the BMC never got it: resolved; the new plan does it again;
* `failed:MESSAGE`: recorded as failed.

A BMC that does not answer when the run starts (killed right after a firmware task
completed, while the BMC resets itself) is waited for with the readiness rules used
after hwfw's own resets, bounded by `bmc_ready_timeout` (the driver's
`open_when_ready`). An activation the interrupted run had already requested (an
intent marked `requested`, which superseded the first one) is never sent again:
settling waits for the BMC and the host to be back, then reads what runs.

Hosts whose intents cannot be settled (BMC still unreachable after that, task still
running at the deadline) are returned as blocked: the run must not touch them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Collection, Mapping, TypeVar

from hwfw.apply.checkpoint import CLOSED, OPEN, same_version, split_key
from hwfw.apply.driver import HostDriver
from hwfw.apply.events import ApplyEvents
from hwfw.apply.ledger import Ledger
from hwfw.apply.settings_run import settle_configure
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import HwfwError
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.inventory.model import Inventory
from hwfw.logs import get_logger, redactor
from hwfw.plan.model import Plan
from hwfw.redfish.errors import bmc_not_back_yet
from hwfw.retry import polling, retry
from hwfw.state.model import ComponentRecord

log = get_logger("apply.resume")

T = TypeVar("T")

DriverOpener = Callable[[str], "HostDriver | Awaitable[HostDriver]"]


@dataclass
class SettleReport:
    settled: list[tuple[str, str, str]] = field(default_factory=list)   # (host, intent id, verdict)
    blocked: dict[str, str] = field(default_factory=dict)                # host -> why it must not be touched


async def settle_open_intents(ledger: Ledger, drivers: DriverOpener, *, settings: Settings, clock: Clock,
                              hosts: set[str] | None = None, events: ApplyEvents | None = None,
                              concurrency: int = 16) -> SettleReport:
    """Settle the open intents of `hosts` (all when None); returns what happened."""
    events = events or ApplyEvents(None, clock, ledger.run_id)
    by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
    pending = await ledger.open_intents()
    # A kill between an intent and the one that supersedes it (a reset noted as
    # requested) leaves both open: the newer one says more.
    superseded = {str((i.get("details") or {}).get("supersedes")) for i in pending}
    for intent in pending:
        if intent["intent"] in superseded:
            await ledger.resolve(intent["intent"], "superseded", settled=True)
        elif hosts is None or intent["host"] in hosts:
            by_host[intent["host"]].append(intent)
    report = SettleReport()
    if not by_host:
        return report
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(host: str, intents: list[dict[str, Any]]) -> None:
        async with limit:
            try:
                driver = await _when_back(functools.partial(_opened, drivers, host, events), host, settings, clock,
                                          events)
                async with contextlib.AsyncExitStack() as stack:
                    stack.push_async_exit(driver)
                    for intent in intents:
                        verdict = await _settle(ledger, driver, intent, settings, clock, events)
                        report.settled.append((host, intent["intent"], verdict))
                        if verdict.startswith("in-flight:"):
                            report.blocked[host] = (f"an update hwfw started is still running on the BMC "
                                                    f"({verdict[len('in-flight:'):]}); run hwfw apply again later")
                            await _record_in_flight(ledger, intent, verdict)
                            break
            except HwfwError as exc:
                report.blocked[host] = f"cannot settle what the interrupted run left open: {redactor(exc.message)}"
                events.warning(report.blocked[host], host)

    await asyncio.gather(*(one(h, i) for h, i in sorted(by_host.items())))
    await ledger.commit()
    return report


async def settle_intent(ledger: Ledger, driver: HostDriver, intent: Mapping[str, Any], *, settings: Settings,
                        clock: Clock, events: ApplyEvents | None = None) -> str:
    """Settle one intent on an open driver, as `settle_open_intents` settles each: its
    verdict recorded in the ledger (an update still running at the deadline is recorded
    in flight). Also for an intent already resolved whose outcome the caller's records
    may lack (a step retried after its process died just after resolving it)."""
    events = events or ApplyEvents(None, clock, ledger.run_id)
    settle = functools.partial(_settle, ledger, driver, intent, settings, clock, events)
    verdict = await _when_back(settle, str(intent["host"]), settings, clock, events)
    if verdict.startswith("in-flight:"):
        await _record_in_flight(ledger, intent, verdict)
        await ledger.commit()
    return verdict


async def _when_back(op: Callable[[], Awaitable[T]], host: str, settings: Settings, clock: Clock,
                     events: ApplyEvents) -> T:
    """`op()`, again each poll interval for up to bmc_ready_timeout while the BMC is not
    back: the interrupted run may have left it resetting (refusing connections,
    answering 503). The first wait is said once as a warning event (a live view shows
    why the host waits). (A Redfish driver already waits for its BMC with the readiness
    rules when it opens, within the same deadline; this covers any HostDriver.)"""
    timing = settings.timing

    def waiting(exc: Exception, attempt: int, delay: float) -> None:
        log.info("%s: BMC not back yet (%s); retry %d in %.1fs", host, exc, attempt, delay)
        if attempt == 1:
            why = redactor((str(exc).splitlines() or [type(exc).__name__])[0])
            events.warning(f"the BMC does not answer ({why}); waiting up to {timing.bmc_ready_timeout:g} s for it "
                           "to come back before settling what the interrupted run left open", host)

    return await retry(op, clock=clock, policy=polling(timing.poll_interval),
                       deadline=clock.monotonic() + timing.bmc_ready_timeout, retryable=bmc_not_back_yet,
                       on_retry=waiting)


async def _opened(drivers: DriverOpener, host: str, events: ApplyEvents) -> HostDriver:
    """The host's driver, logged in (saying so when it has to wait for the BMC)."""
    d = drivers(host)
    driver = await d if inspect.isawaitable(d) else d
    if hasattr(driver, "on_wait"):
        driver.on_wait = lambda message: events.warning(message, host)
    return await driver.__aenter__()


async def _settle(ledger: Ledger, driver: HostDriver, intent: Mapping[str, Any], settings: Settings, clock: Clock,
                  events: ApplyEvents) -> str:
    """Settle one intent and record its verdict (unless the BMC still works on it). The
    reads come before any write, so a BMC going away midway leaves nothing half done.
    A BMC that stops answering meanwhile (it resets itself: the update the killed run
    started ends that way) is waited for with the readiness rules, and the intent
    settled again, until `bmc_ready_timeout`."""

    async def attempt() -> str:
        verdict = await _follow(driver, intent, settings, clock, events)
        if not verdict.startswith("in-flight:"):
            await _apply_verdict(ledger, driver, intent, verdict)
        return verdict

    async def wait_for_it(exc: Exception, n: int, delay: float) -> None:
        events.warning(f"the BMC stopped answering while settling ({redactor(getattr(exc, 'message', str(exc)))}); "
                       "waiting for it", intent["host"])
        wait_ready = getattr(driver, "wait_ready", None)
        if wait_ready is not None:
            await wait_ready()

    timing = settings.timing
    return await retry(attempt, clock=clock, policy=polling(timing.poll_interval), retryable=bmc_not_back_yet,
                       deadline=clock.monotonic() + timing.bmc_ready_timeout, on_retry=wait_for_it)


async def _follow(driver: HostDriver, intent: Mapping[str, Any], settings: Settings, clock: Clock,
                  events: ApplyEvents) -> str:
    """Ask the driver; while the BMC still works on it, ask again each poll interval."""
    kind = split_key(str(intent.get("component") or ""))[0]
    polls = polling(settings.timing.poll_interval).attempts(
        clock, deadline=clock.monotonic() + settings.timing.deadline_for(kind))
    verdict = await driver.settle_intent(intent)
    if verdict.startswith("in-flight:"):  # said once; the polls that follow are not news
        events.warning(f"re-attached to {intent['action']} of {intent['component']}: {verdict[10:]}; "
                       "following it until it ends", intent["host"])
    while verdict.startswith("in-flight:"):
        wait = polls.next_delay()
        if wait is None:
            break
        await clock.sleep(wait)
        verdict = await driver.settle_intent(intent)
    log.info("%s: intent %s (%s %s) settled: %s", intent["host"], intent["intent"], intent["action"],
             intent["component"], verdict)
    return verdict


async def _record_in_flight(ledger: Ledger, intent: Mapping[str, Any], verdict: str) -> None:
    d = intent.get("details") or {}
    if intent["action"] != "flash" or not d.get("to_version"):
        return
    ledger.put(intent["host"], intent["component"], ComponentRecord(
        version=d["to_version"], status="in-progress", image_sha256=intent.get("image_sha256"),
        image_id=d.get("image_id"), previous_version=d.get("from_version"), updated_at=ledger.now(),
        run_id=intent.get("run_id"), task_uri=verdict[len("in-flight:"):], activation=d.get("activation")))


async def _apply_verdict(ledger: Ledger, driver: HostDriver, intent: Mapping[str, Any], verdict: str) -> None:
    """Record what became of one intent, then resolve it (state first, as always)."""
    host, action, d = intent["host"], intent["action"], intent.get("details") or {}
    now = ledger.now()
    if verdict == "done" and action == "flash" and d.get("to_version"):
        running = await driver.read_versions()
        key, to = intent["component"], str(d["to_version"])
        active = same_version(running.get(key), to)
        status = ("rolled-back" if d.get("rollback") else "ok") if active else "pending-activation"
        ledger.put(host, key, ComponentRecord(
            version=to, status=status, image_sha256=intent.get("image_sha256"), image_id=d.get("image_id"),
            previous_version=d.get("from_version"), updated_at=now, run_id=intent.get("run_id"),
            activation=None if active else d.get("activation"),
            task_uri=None if active else await _adopt_task(driver, key)))
    elif action == "activate":
        # whatever the verdict, the versions running now are the truth about the reset
        running = await driver.read_versions()
        for key in d.get("components") or ():
            rec = ledger.record(host, key)
            if rec is not None and rec.status in ("pending-activation", "in-progress") \
                    and same_version(running.get(key), rec.version):
                ledger.put(host, key, ComponentRecord(
                    version=rec.version, status="ok", image_sha256=rec.image_sha256, image_id=rec.image_id,
                    previous_version=rec.previous_version, updated_at=now, run_id=rec.run_id))
    elif action == "configure":
        await settle_configure(ledger, driver, intent, verdict)
    elif verdict.startswith("failed") and action == "flash" and d.get("to_version"):
        ledger.put(host, intent["component"], ComponentRecord(
            version=d["to_version"], status="failed", image_sha256=intent.get("image_sha256"),
            image_id=d.get("image_id"), previous_version=d.get("from_version"), updated_at=now,
            run_id=intent.get("run_id"), error=redactor(verdict.partition(":")[2]) or "failed"))
    await ledger.commit()
    outcome = verdict.partition(":")[0]
    await ledger.resolve(intent["intent"], outcome, settled=True, verdict=redactor(verdict))
    await ledger.audit(host=host, component=intent["component"], action=f"settle:{action}", outcome=outcome,
                       after=d.get("to_version"), image_sha256=intent.get("image_sha256"),
                       message=f"intent {intent['intent']} of run {intent.get('run_id')}: {redactor(verdict)}")


async def _adopt_task(driver: HostDriver, key: str) -> str | None:
    """The BMC task or job that carries our staged image (the killed run never learnt its
    URI): recorded, so the next pre-flight knows it is ours and not another run's."""
    kind = split_key(key)[0]
    try:
        tasks = await driver.in_flight()
    except HwfwError:
        return None
    return next((t.uri for t in tasks if t.component in (key, kind)), None)


# Read failures a resetting BMC causes (no connection, no answer, 5xx); not refused
# credentials, certificates or a full session table.
_RESETTING = ("connection", "timeout", "bmc", None)


async def reread_resetting(inventory: Inventory, ledger: Ledger, drivers: DriverOpener,
                           hosts: Mapping[str, ResolvedHost], *, insecure: bool, events: ApplyEvents,
                           bios_hosts: Collection[str] = ()) -> Inventory:
    """Hosts an interrupted run was working on (open checkpoint) that did not answer the
    inventory read are most likely resetting (killed right after a firmware task, before
    the BMC was back): wait for each as after hwfw's own resets, then read it again, as
    the first read did (`bios_hosts`: their BIOS settings and attribute registries too;
    the registries already read are kept)."""
    names = sorted(h for h, inv in inventory.hosts.items()
                   if not inv.reachable and inv.error_kind in _RESETTING and h in hosts
                   and (ledger.checkpoint(h) or {}).get("status") == OPEN)
    if not names:
        return inventory

    async def back(name: str) -> bool:
        try:
            d = drivers(name)
            driver = await d if inspect.isawaitable(d) else d
            if hasattr(driver, "on_wait"):
                driver.on_wait = lambda message: events.warning(message, name)
            async with driver:
                return True
        except HwfwError as exc:
            log.info("%s: still not answering: %s", name, exc.message)
            return False

    ready = [n for n, ok in zip(names, await asyncio.gather(*(back(n) for n in names)), strict=True) if ok]
    if not ready:
        return inventory
    fresh = await collect([hosts[n] for n in ready], settings=ledger.settings, clock=ledger.clock, insecure=insecure,
                          bios_hosts=[n for n in ready if n in bios_hosts])
    return Inventory({**inventory.hosts, **fresh.hosts}, {**inventory.registries, **fresh.registries})


def close_converged_checkpoints(ledger: Ledger, plan: Plan, run_id: str) -> list[str]:
    """Close the open checkpoints of hosts that need nothing more: an interrupted run left
    them open and settling finished their work. (An open checkpoint is reused by the next
    run as the host's pre-state; a stale one would send a later rollback to old versions.)"""
    steps = {s.host for s in plan.steps}
    closed = []
    for h in plan.hosts:
        cp = ledger.checkpoint(h.name)
        if cp is None or cp.get("status") != OPEN or h.name in steps or not h.reachable or h.errored \
                or h.status != "managed":
            continue
        ledger.set_checkpoint(h.name, {**cp, "status": CLOSED, "closed": ledger.now(), "outcome": "converged",
                                       "closed_by": run_id})
        closed.append(h.name)
    return closed
