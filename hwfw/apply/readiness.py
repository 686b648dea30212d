"""Is the BMC back? Is the host through POST? Waiting for both, the way ironic learnt to.

A BMC that resets (self-update, `Manager.Reset`, AC cycle) vanishes for minutes, then
comes back in layers: TCP → HTTP → Redfish root → login works →
System/Manager answer → vendor services ready (Dell Lifecycle Controller). It may flap.
So "back" means `stability_checks` *consecutive* healthy probes, `stability_interval`
apart; any failure starts the count again. Everything runs on the injected clock and
is bounded by `bmc_ready_timeout` (or `post_timeout` for the host).

A probe is healthy when: the service root answers 200 with JSON, a login works (the old
session is gone after a reset, so a 401 triggers one fresh login), the System and the
Manager answer 200 with JSON, and the vendor check (if any) says ready. Each probe
request gets at most PROBE_RETRIES quick retries (the client caps Retry-After at twice
the poll interval), so a lone 503 in a storm is not "down" while a BMC answering 503
to everything is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable

from hwfw.clock import Clock
from hwfw.config.model import Timing
from hwfw.errors import BmcAuthError, BmcError, BmcUnreachable
from hwfw.logs import get_logger
from hwfw.redfish.session import ROOT, RedfishSession
from hwfw.retry import polling

__all__ = ["ProbeResult", "Readiness", "POST_DONE_STATES", "HostState"]

log = get_logger("apply.readiness")

# ComputerSystem.BootProgress.LastState values that mean POST is over (the Redfish
# ComputerSystem schema, DSP8010; bmclib's Supermicro X12 `bootComplete`).
POST_DONE_STATES = frozenset({"SystemHardwareInitializationComplete", "OSBootStarted", "OSRunning",
                              "SetupEntered"})

Progress = Callable[[float | None, str], None]
PROBE_RETRIES = 2


@dataclass(frozen=True, slots=True)
class ProbeResult:
    healthy: bool
    reason: str = ""
    session_lost: bool = False   # our token was refused: the BMC forgot its sessions (it reset)


@dataclass(frozen=True, slots=True)
class HostState:
    power: str | None
    last_state: str | None
    reachable: bool = True

    @property
    def post_done(self) -> bool:
        if self.power != "On":
            return False
        return self.last_state is None or self.last_state in POST_DONE_STATES


@dataclass
class Readiness:
    """Probes and waits for one BMC. `system_uri`/`manager_uri` are what "healthy" reads;
    `vendor_check` is the extra readiness question (Dell: LC status)."""

    session: RedfishSession
    clock: Clock
    timing: Timing
    system_uri: str | None
    manager_uri: str | None
    vendor_check: Callable[[], Awaitable[str | None]] | None = None
    relogin: Callable[[], Awaitable[None]] | None = None
    probes: int = field(default=0)

    @property
    def probe_timeout(self) -> float:
        t = self.timing
        return max(0.2, min(t.request_timeout, max(2 * t.stability_interval, 2 * t.poll_interval, 1.0)))

    async def _get(self, uri: str) -> tuple[int, dict | None]:
        response = await self.session.client.request("GET", uri, check=False, retries=PROBE_RETRIES,
                                                     timeout=self.probe_timeout, ignore_deadline=True)
        if response.status_code >= 400:
            return response.status_code, None
        try:
            doc = response.json()
        except ValueError:
            return response.status_code, None
        return response.status_code, doc if isinstance(doc, dict) else None

    async def probe(self) -> ProbeResult:
        """One layered health check (see the module docstring)."""
        self.probes += 1
        try:
            status, root = await self._get(ROOT)
            if root is None:
                return ProbeResult(False, f"service root: HTTP {status}" if status else "service root unreadable")
            lost = False
            for uri in (self.system_uri, self.manager_uri):
                if not uri:
                    continue
                status, doc = await self._get(uri)
                if status == 401:
                    lost = True
                    if self.relogin is None:
                        return ProbeResult(False, "session refused", session_lost=True)
                    try:
                        await self.relogin()
                    except BmcError as exc:  # includes 401s: BMCs refuse logins for a while after a reset
                        return ProbeResult(False, f"login not possible yet: {exc.message}", session_lost=True)
                    status, doc = await self._get(uri)
                if doc is None:
                    return ProbeResult(False, f"{uri}: HTTP {status}", session_lost=lost)
            if self.vendor_check is not None:
                problem = await self.vendor_check()
                if problem:
                    return ProbeResult(False, problem, session_lost=lost)
            return ProbeResult(True, session_lost=lost)
        except BmcError as exc:
            return ProbeResult(False, exc.message)

    async def wait_gone(self, *, grace: float, progress: Progress | None = None) -> bool:
        """Wait until the BMC shows that it reset: a failed probe, or our session refused.
        Returns False when nothing was seen within `grace` seconds."""
        interval = max(0.001, min(self.timing.poll_interval, self.timing.stability_interval))
        polls = polling(interval).attempts(self.clock, deadline=self.clock.monotonic() + grace)
        while True:
            result = await self.probe_quick()
            if not result.healthy or result.session_lost:
                log.info("%s: BMC went away (%s)", self.session.host, result.reason or "session refused")
                if progress:
                    progress(None, f"BMC resetting ({result.reason or 'sessions dropped'})")
                return True
            wait = polls.next_delay()
            if wait is None:
                return False
            await self.clock.sleep(wait)

    async def probe_quick(self) -> ProbeResult:
        """Cheaper than `probe` and without logging in again: root + one authenticated read."""
        try:
            status, root = await self._get(ROOT)
            if root is None:
                return ProbeResult(False, f"service root: HTTP {status}" if status else "service root unreadable")
            uri = self.manager_uri or self.system_uri
            if uri:
                status, doc = await self._get(uri)
                if status == 401:
                    return ProbeResult(True, "session refused", session_lost=True)
                if doc is None:
                    return ProbeResult(False, f"{uri}: HTTP {status}")
            return ProbeResult(True)
        except BmcError as exc:
            return ProbeResult(False, exc.message)

    async def wait_back(self, *, timeout: float | None = None, progress: Progress | None = None,
                        what: str = "BMC") -> int:
        """Wait for `stability_checks` consecutive healthy probes; returns the probes used.
        Raises BmcUnreachable naming the last problem when `timeout` (default
        bmc_ready_timeout) passes first."""
        t = self.timing
        limit = t.bmc_ready_timeout if timeout is None else timeout
        start = self.clock.monotonic()
        polls = polling(min(t.stability_interval, t.poll_interval)).attempts(self.clock, deadline=start + limit)
        streak = 0
        last = ProbeResult(False, "no answer yet")
        used = 0
        while True:
            last = await self.probe()
            used += 1
            if last.healthy:
                streak += 1
                if streak >= t.stability_checks:
                    log.info("%s: %s ready (%d consecutive healthy answers after %.1fs)", self.session.host, what,
                             streak, self.clock.monotonic() - start)
                    return used
            else:
                if streak:
                    log.info("%s: %s flapped after %d healthy answers: %s", self.session.host, what, streak,
                             last.reason)
                streak = 0
            # Once healthy, the next look waits the longer stability interval.
            wait = polls.next_delay(wait=t.stability_interval if last.healthy else None)
            if wait is None:
                raise BmcUnreachable(
                    f"{what} did not come back within {limit:g}s ({streak}/{t.stability_checks} consecutive healthy "
                    f"answers; last: {last.reason or 'healthy'})",
                    host=self.session.host, url=str(self.session.client.base_url),
                    hint="check the BMC's console or power; raise settings.timing.bmc_ready_timeout if it is "
                         "just slow")
            if progress and not last.healthy:
                progress(None, f"waiting for the {what}: {last.reason}")
            await self.clock.sleep(wait)

    async def host_state(self) -> HostState:
        if not self.system_uri:
            return HostState(None, None, reachable=False)
        try:
            response = await self.session.request("GET", self.system_uri, check=False, retries=0,
                                                  timeout=self.probe_timeout)
        except BmcAuthError:
            raise
        except BmcError:
            return HostState(None, None, reachable=False)
        if response.status_code >= 400:
            return HostState(None, None, reachable=False)
        try:
            doc = response.json()
        except ValueError:
            return HostState(None, None, reachable=False)
        boot = doc.get("BootProgress") if isinstance(doc, dict) else None
        last = boot.get("LastState") if isinstance(boot, dict) else None
        power = doc.get("PowerState") if isinstance(doc, dict) else None
        return HostState(str(power) if power else None, str(last) if last else None)
