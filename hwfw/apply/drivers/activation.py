"""Activations and the waits around them: BMC reset, host reboot, AC power cycle (with
the IPMI fallback), host power, and "is it back yet".

- **One reset per activation.** A reset request is sent at most once (never retried
  after the BMC may have acted on it). When the flash already triggered the reset
  (a BMC self-update: `Expectation`), the activation only waits. A graceful restart
  that never started is escalated to a forced one: still one reset of the host.
- **"Back" means stable.** `stability_checks` consecutive healthy answers across the
  System and the Manager, `stability_interval` apart, then a fresh login
  (readiness.py). POST is done when PowerState is On and BootProgress says so.
- **Every wait is on the injected clock and bounded** by a deadline from
  `settings.timing`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import httpx

from hwfw.apply.driver import Progress
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.readiness import HostState, Readiness
from hwfw.errors import ApplyError, BmcError, BmcUnreachable, IpmiError
from hwfw.logs import get_logger
from hwfw.redfish.errors import error_for_response, extended_info, is_connect_failure
from hwfw.redfish.tasks import json_object
from hwfw.retry import Attempts, polling
from hwfw.vendors.base import action_targets

if TYPE_CHECKING:
    from hwfw.apply.drivers.quirks import Quirks

__all__ = ["Activator", "Expectation", "ResetRequest"]

log = get_logger("apply.drivers")


@dataclass
class Expectation:
    """A reset the BMC performs by itself after a flash (BMC self-update, host-side jobs
    the BMC reboots for). `done`: it already happened during the flash (the new version
    was seen running), so the activation only checks readiness."""

    kind: str                 # bmc-reset | host-reboot
    since: float
    seen: bool = False
    done: bool = False
    key: str | None = None    # the component flashed and the version it should run afterwards
    target: str | None = None
    token: str | None = None  # our session token when the flash ended (a reset makes the BMC forget it)


@dataclass(frozen=True, slots=True)
class ResetRequest:
    """A vendor's own reset action (e.g. a virtual AC cycle): where, what, and what to say."""

    target: str
    body: Mapping[str, Any]
    what: str                 # e.g. "DellOemChassis.ExtendedReset PowerCycle"
    progress: str


class Activator:
    """Resets and readiness waits of one host (see the module docstring)."""

    def __init__(self, bmc: Bmc, quirks: Quirks) -> None:
        self.bmc = bmc
        self.quirks = quirks
        self.host = bmc.host
        self.clock = bmc.clock
        self.timing = bmc.timing
        # Extra seconds a POST wait allows while the IPMI watchdog guards the reboot: a
        # hang is power-cycled by the BMC at the end of its countdown, then POSTs again.
        self.post_allowance = 0.0

    def readiness(self) -> Readiness:
        return self.bmc.readiness(vendor_check=self.quirks.ready_problem)

    async def ensure_ready(self, progress: Progress | None = None) -> None:
        """Before changing anything: the BMC answers fully (it may still be finishing a reset
        nobody waited for, e.g. a self-update that already shows its version), with a
        session that has not used up its re-logins."""
        rd = self.readiness()
        first = await rd.probe()
        if not first.healthy:
            log.info("%s: BMC not ready (%s); waiting before sending anything", self.host, first.reason)
            await rd.wait_back(progress=progress)
        if first.session_lost or not first.healthy or self.bmc.session.relogins >= 2:
            await self.bmc.fresh_login()

    async def activate(self, activation: str, progress: Progress, expected: Expectation | None) -> None:
        if activation in ("none", "", None):
            return
        steps = {"bmc-reset": self.bmc_reset, "host-reboot": self.host_reboot, "ac-cycle": self.ac_cycle}
        if activation not in steps:
            raise ApplyError(f"{self.host}: unknown activation {activation!r}")
        await steps[activation](progress, expected)

    async def wait_requested(self, activation: str, progress: Progress) -> None:
        """A reset an interrupted run already requested: wait for it to end, sending
        nothing (the BMC stably back after a BMC reset or AC cycle; the host through POST
        after a host-side one, once its reboot started within the graceful-shutdown time)."""
        rd = self.readiness()
        if activation in ("bmc-reset", "ac-cycle"):
            await self.wait_bmc_back(rd, progress)
        if activation in ("host-reboot", "ac-cycle"):
            if not await self._wait_host(rd, self.timing.graceful_shutdown_timeout, _reboot_started):
                log.info("%s: no reboot under way; checking that the host is up", self.host)
            await self.wait_post(rd, progress, started=True)

    # ------------------------------------------------------------------ BMC reset
    def _self_reset_grace(self) -> float:
        t = self.timing
        return max(t.poll_interval, min(t.bmc_ready_timeout / 2, 10 * t.stability_interval))

    def _went_away_grace(self) -> float:
        t = self.timing
        return max(t.poll_interval, min(t.bmc_ready_timeout / 2, max(10 * t.stability_interval, 60.0)))

    async def expectation_met(self, expected: Expectation) -> bool | None:
        """Did the self-reset already happen (the new version runs)? Someone may have read
        the BMC between the flash and this activation and absorbed the evidence. None
        when the BMC did not say (the read failed: busy, 503, still starting)."""
        if not expected.key or not expected.target:
            return False
        try:
            versions = await self.bmc.read_versions()
        except BmcError as exc:
            log.info("%s: cannot read the running version yet: %s", self.host, exc.message)
            return None
        current = versions.get(expected.key)
        return current is not None and current.strip() == expected.target.strip()

    async def bmc_reset(self, progress: Progress, expected: Expectation | None) -> None:
        rd = self.readiness()
        mine = expected if expected is not None and expected.kind == "bmc-reset" else None
        unsure = False
        if mine is not None and not mine.done and not mine.seen:
            met = await self.expectation_met(mine)
            mine.done, unsure = bool(met), met is None
        if mine is not None and mine.done:
            progress(None, "the BMC already reset itself during the update; checking it is stable")
            await self.bmc.reset_requested("the BMC's own reset after its update")
            await self.wait_bmc_back(rd, progress)
            return
        if mine is not None:
            progress(None, "the BMC applies its new firmware and resets itself; waiting")
            if mine.seen or await self._self_reset_seen(rd, mine, progress, unsure=unsure):
                await self.bmc.reset_requested("the BMC's own reset after its update")
                await self.wait_bmc_back(rd, progress)
                return
            log.info("%s: the BMC did not reset itself within %.1fs; resetting it", self.host,
                     self._self_reset_grace())
        elif expected is None:
            quick = await rd.probe_quick()
            if not quick.healthy:
                # Already going down (e.g. a self-update finishing after a resumed run): that
                # reset is the activation; a Manager.Reset on top would be a second one.
                progress(None, f"the BMC is already resetting ({quick.reason}); waiting")
                await self.bmc.reset_requested("a BMC reset already under way")
                await self.wait_bmc_back(rd, progress)
                return
        try:
            await self.reset_manager(progress)
        except BmcUnreachable:
            # The request never reached the BMC (post_reset re-raises only connect failures).
            # A BMC that went down since the probe above is resetting by itself: as in the
            # check above, that reset is the activation.
            quick = await rd.probe_quick()
            if quick.healthy:
                raise
            progress(None, f"the BMC went down before the reset request reached it ({quick.reason}); waiting")
            await self.bmc.reset_requested("a BMC reset already under way")
            await self.wait_bmc_back(rd, progress)
            return
        if not await rd.wait_gone(grace=self._went_away_grace(), progress=progress):
            raise ApplyError(f"{self.host}: the BMC accepted Manager.Reset but never went away",
                             hint="check the BMC; the new firmware may not be active")
        await self.wait_bmc_back(rd, progress)

    async def _self_reset_seen(self, rd: Readiness, expected: Expectation, progress: Progress, *,
                               unsure: bool = False) -> bool:
        """Wait up to the self-reset grace for evidence that the BMC reset itself: it went
        away or refused our session. A read between the flash and now may have logged in
        again after that reset (it answered 401, the session re-logged in) and so absorbed
        the evidence, while failing itself (the BMC half up): then our session token has
        changed, and the version running decides; a version the BMC would not tell
        (`unsure`, e.g. a 503) is asked again each poll, never taken as "not yet"."""
        polls = self._polls(self._self_reset_grace())
        token = expected.token
        while True:
            if await rd.wait_gone(grace=0.0, progress=progress):
                return True
            if unsure or self.bmc.session.token != token:
                token = self.bmc.session.token
                met = await self.expectation_met(expected)
                if met:
                    log.info("%s: the BMC already reset itself (a re-login absorbed it; the new version runs)",
                             self.host)
                    return True
                unsure = met is None
            wait = polls.next_delay()
            if wait is None:
                return False
            await self.clock.sleep(wait)

    def _polls(self, timeout: float, interval: float | None = None) -> Attempts:
        """Polls of a state change, `interval` apart (default: the shorter of the poll and
        stability intervals) for `timeout` seconds from now."""
        if interval is None:
            interval = max(0.001, min(self.timing.poll_interval, self.timing.stability_interval))
        return polling(interval).attempts(self.clock, deadline=self.clock.monotonic() + timeout)

    async def wait_bmc_back(self, rd: Readiness, progress: Progress, what: str = "BMC") -> None:
        await rd.wait_back(progress=progress, what=what)
        await self.bmc.fresh_login()
        progress(None, f"{what} is back")

    async def reset_manager(self, progress: Progress) -> None:
        action = action_targets(self.bmc.manager).get("Reset")
        if not action or not self.bmc.manager_uri:
            raise ApplyError(f"{self.host}: the Manager has no Reset action; the BMC cannot be reset over Redfish")
        allowed = [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]
        reset_type = next((t for t in ("GracefulRestart", "ForceRestart") if t in allowed), None) if allowed \
            else "GracefulRestart"
        if reset_type is None:
            raise ApplyError(f"{self.host}: Manager.Reset allows only {', '.join(allowed)}")
        await self.post_reset(str(action["target"]), {"ResetType": reset_type}, f"Manager.Reset {reset_type}")
        progress(None, f"BMC reset requested ({reset_type})")

    async def post_reset(self, target: str, body: Mapping[str, Any], what: str) -> httpx.Response | None:
        """Send one reset request. Retries only when the BMC certainly did not act (connect
        failure, 503 answered before processing); raises on refusal. A connection that
        breaks after the request went out counts as sent (a BMC that power-cycles itself
        may not finish its answer): returns None then, and nobody sends a second reset."""
        try:
            response = await self.bmc.session.request("POST", target, json_body=dict(body), check=False)
        except BmcUnreachable as exc:
            if exc.__cause__ is not None and is_connect_failure(exc.__cause__):
                raise
            log.warning("%s: %s: the answer was lost (%s); assuming the BMC acted on it", self.host, what,
                        exc.message)
            await self.bmc.reset_requested(what)
            return None
        if response.status_code >= 400:
            raise error_for_response(self.host, "POST", str(response.request.url), response, what=f"{what} refused")
        info = extended_info(json_object(response))
        bad = next((m for m in info if (m.severity or "").lower() == "critical"), None)
        if bad:
            raise ApplyError(f"{self.host}: {what} refused: {bad.message or bad.message_id} [{bad.message_id}]")
        log.info("%s: %s sent", self.host, what)
        await self.bmc.reset_requested(what)
        return response

    # ------------------------------------------------------------------ host reboot
    async def host_reboot(self, progress: Progress, expected: Expectation | None) -> None:
        rd = self.readiness()
        if expected is not None and expected.kind == "host-reboot":
            if not expected.done and await self.expectation_met(expected):
                expected.done = True   # (None, not read: the POST wait below decides)
            await self.bmc.reset_requested("the host reboot the BMC performs for its update")
            if expected.done:
                progress(None, "the BMC already rebooted the host during the update; checking POST is done")
                await self.wait_post(rd, progress, started=True)
                return
            progress(None, "the BMC reboots the host itself to apply the update; waiting")
            await self.wait_post(rd, progress, started=expected.seen, grace=self.timing.post_timeout)
            return
        target, allowed = self.bmc.system_reset_action()
        if not target:
            raise ApplyError(f"{self.host}: the System has no Reset action; cannot reboot the host over Redfish")
        await self.ensure_ready(progress)
        state = await rd.host_state()
        if state.power == "Off":
            rt = first_allowed(allowed, "On", "ForceOn")
            await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
            progress(None, f"host was off: powering it on ({rt}) to run the staged update")
            await self.wait_post(rd, progress, started=True)
            return
        graceful = "GracefulRestart" in allowed or not allowed
        rt = "GracefulRestart" if graceful else first_allowed(allowed, "ForceRestart", "PowerCycle")
        await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
        progress(None, f"host reboot requested ({rt})")
        started = await self._wait_host(rd, self.timing.graceful_shutdown_timeout if graceful
                                        else self.timing.post_timeout, _reboot_started)
        if not started and graceful and "ForceRestart" in allowed:
            log.info("%s: the OS ignored GracefulRestart for %.1fs; forcing the restart", self.host,
                     self.timing.graceful_shutdown_timeout)
            progress(None, "graceful restart ignored; forcing it (ForceRestart)")
            await self.post_reset(target, {"ResetType": "ForceRestart"}, "ComputerSystem.Reset ForceRestart")
            started = await self._wait_host(rd, self.timing.post_timeout, _reboot_started)
        if not started:
            raise ApplyError(f"{self.host}: the host did not start rebooting after {rt}",
                             hint="check the host's console; the staged update has not run")
        await self.wait_post(rd, progress, started=True)

    async def _wait_host(self, rd: Readiness, timeout: float, done: Any, interval: float | None = None) -> bool:
        """Poll the host's state until `done(state)` or `timeout` seconds passed."""
        polls = self._polls(timeout, interval)
        while True:
            if done(await rd.host_state()):
                return True
            wait = polls.next_delay()
            if wait is None:
                return False
            await self.clock.sleep(wait)

    async def wait_post(self, rd: Readiness, progress: Progress, *, started: bool,
                        grace: float | None = None) -> None:
        """Wait for the host to be On with POST done, `stability_checks` times in a row.
        `started=False`: first wait (up to `grace`) for the reboot to begin."""
        t = self.timing
        polls = self._polls(t.post_timeout + (grace or 0.0) + self.post_allowance)
        if not started and not await self._wait_host(rd, grace or t.post_timeout, _reboot_started):
            log.info("%s: no reboot observed; checking that the host is up", self.host)
        streak = 0
        last = HostState(None, None, reachable=False)
        while True:
            last = await rd.host_state()
            if last.reachable and last.post_done:
                streak += 1
                if streak >= t.stability_checks:
                    progress(None, f"host is up ({last.last_state or last.power})")
                    if await self.quirks.ready_problem() is None:
                        return
                    streak = t.stability_checks - 1
            else:
                streak = 0
            wait = polls.next_delay(wait=t.stability_interval if streak else None)
            if wait is None:
                raise ApplyError(f"{self.host}: the host did not finish POST within {t.post_timeout:g}s "
                                 f"(power {last.power or '?'}, boot progress {last.last_state or '?'})",
                                 hint="check the host console; raise settings.timing.post_timeout if it is slow")
            await self.clock.sleep(wait)

    # ------------------------------------------------------------------ AC cycle
    async def ac_cycle(self, progress: Progress, expected: Expectation | None = None) -> None:
        rd = self.readiness()
        try:
            await self.ensure_ready(progress)
        except BmcUnreachable:
            pass  # Redfish is gone for good: the IPMI fallback below may still cycle the power
        state = await rd.host_state()
        was_on = state.power != "Off"
        if not await self.send_ac_cycle(progress, reachable=state.reachable):
            await self.ipmi_power("cycle", progress)
        seen = await self._wait_cycle_evidence(rd, self._went_away_grace())
        if seen == "bmc":
            progress(None, "power removed: BMC and host are down")
            await self.wait_bmc_back(rd, progress)
        elif seen is None:
            log.info("%s: neither the BMC nor the host showed the power cycle within %.1fs", self.host,
                     self._went_away_grace())
        if was_on:
            await self.wait_post(rd, progress, started=seen is not None, grace=self.timing.post_timeout)

    async def _wait_cycle_evidence(self, rd: Readiness, grace: float) -> str | None:
        """After a power cycle request: "bmc" when the BMC went away (a real AC cycle),
        "host" when only the host power-cycled (a DC cycle, e.g. IPMI), None if nothing."""
        polls = self._polls(grace)
        while True:
            quick = await rd.probe_quick()
            if not quick.healthy or quick.session_lost:
                return "bmc"
            if _reboot_started(await rd.host_state()):
                return "host"
            wait = polls.next_delay()
            if wait is None:
                return None
            await self.clock.sleep(wait)

    async def send_ac_cycle(self, progress: Progress, *, reachable: bool) -> bool:
        """Request a full power cycle over Redfish (the vendor's own action first); False
        when Redfish cannot (then IPMI)."""
        if not reachable:
            return False
        request = await self.quirks.ac_cycle_request()
        if request is None:
            target, allowed = self.bmc.system_reset_action()
            rt = next((t for t in ("FullPowerCycle", "PowerCycle") if t in allowed), None)
            if not target or rt is None:
                return False
            request = ResetRequest(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}",
                                   f"AC power cycle requested ({rt})")
        try:
            await self.post_reset(request.target, request.body, request.what)
        except BmcUnreachable:
            return False
        progress(None, request.progress)
        return True

    async def ipmi_power(self, action: str, progress: Progress) -> None:
        """The IPMI fallback (chassis control) when Redfish cannot do it."""
        from hwfw.ipmi.client import power

        address, port = self.bmc.rh.ipmi_endpoint()
        rh = self.bmc.rh
        try:
            await power(address, port, rh.username or "", rh.password or "", action,
                        timeout=self.timing.request_timeout, host=self.host)
        except IpmiError as exc:
            raise ApplyError(f"{self.host}: power {action} over Redfish is not possible and IPMI failed: "
                             f"{exc.message}", hint="enable IPMI-over-LAN on the BMC or power-cycle it by hand") \
                from exc
        progress(None, f"IPMI chassis power {action} sent")
        await self.bmc.reset_requested(f"IPMI chassis power {action}")

    # ------------------------------------------------------------------ power
    async def set_power(self, state: str, progress: Progress) -> None:
        want = state.capitalize() if state.lower() in ("on", "off") else state
        if want not in ("On", "Off"):
            raise ApplyError(f"{self.host}: unknown power state {state!r} (On or Off)")
        rd = self.readiness()
        current = await rd.host_state()
        if current.reachable and current.power == want:
            return
        target, allowed = self.bmc.system_reset_action()
        if not current.reachable or not target:
            await self.ipmi_power("on" if want == "On" else "softoff", progress)
            return
        t = self.timing
        if want == "On":
            rt = first_allowed(allowed, "On", "ForceOn", "PushPowerButton")
            await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
            if not await self._wait_host(rd, t.post_timeout, _power_is("On"), t.poll_interval):
                raise ApplyError(f"{self.host}: the host did not power on within {t.post_timeout:g}s")
            return
        if "GracefulShutdown" in allowed or not allowed:
            await self.post_reset(target, {"ResetType": "GracefulShutdown"}, "ComputerSystem.Reset GracefulShutdown")
            progress(None, "graceful shutdown requested")
            if await self._wait_host(rd, t.graceful_shutdown_timeout, _power_is("Off"), t.poll_interval):
                return
            progress(None, "graceful shutdown timed out; forcing power off")
        rt = first_allowed(allowed, "ForceOff")
        await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
        if not await self._wait_host(rd, t.post_timeout, _power_is("Off"), t.poll_interval):
            raise ApplyError(f"{self.host}: the host did not power off")


def _reboot_started(st: HostState) -> bool:
    return st.reachable and (st.power != "On" or (st.last_state is not None and not st.post_done))


def _power_is(want: str) -> Any:
    return lambda st: st.reachable and st.power == want


def first_allowed(allowed: list[str], *choices: str) -> str:
    if not allowed:
        return choices[0]
    for c in choices:
        if c in allowed:
            return c
    raise ApplyError(f"none of {', '.join(choices)} is an allowed ResetType ({', '.join(allowed)})")
