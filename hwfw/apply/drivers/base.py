"""The driver core: one host's `HostDriver`, composed of small parts.

    Bmc         the session and what discovery found (bmc.py)
    Quirks      what the vendor's BMC does differently (quirks.py; one module per vendor)
    Flasher     update methods from the vendor's table, task following (flashing.py)
    Activator   resets, power and readiness waits (activation.py)
    Settler     what became of an intent a crash left open (settling.py)
    Configurator BIOS settings: read, stage with the vendor's mechanism (settings.py)
    Watchdog    the IPMI watchdog around update reboots, when enabled (watchdog.py)

Each vendor driver class is this core with its vendor's `Quirks` class. Every poll
tolerates 401 (re-login), 404 (fallback), 5xx and connection errors (the BMC may be
resetting itself), and every wait is on the injected clock and bounded by a deadline
from `settings.timing`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from hwfw.apply.checkpoint import split_key
from hwfw.apply.driver import (
    ActivationReport,
    BiosReading,
    FlashRequest,
    FlashResult,
    HostStatus,
    InFlight,
    PreflightReport,
    Progress,
    StagedSettings,
)
from hwfw.apply.drivers import preflight as pre
from hwfw.apply.drivers.activation import Activator, Expectation
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.drivers.quirks import Quirks
from hwfw.apply.drivers.settings import Configurator
from hwfw.apply.drivers.settling import Settler
from hwfw.apply.drivers.watchdog import Watchdog
from hwfw.clock import Clock
from hwfw.config.model import RepositoryEntry, Settings
from hwfw.errors import ApplyError
from hwfw.inventory.collect import ResolvedHost
from hwfw.plan.model import Step
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from hwfw.vendors.base import VendorAdapter

__all__ = ["RedfishDriver", "driver_client_options"]

_EFFECTIVELY_FOREVER = 10 * 365 * 86400.0


def driver_client_options(settings: Settings) -> ClientOptions:
    """Client options for a driver session: no per-BMC deadline (a driver lives for a whole
    run; every operation has its own), and retry pacing scaled to the workspace's poll
    interval so a simulator at 1000x speed and a real BMC are both paced sensibly."""
    t = settings.timing
    base = ClientOptions.from_settings(settings)
    return replace(base, deadline=_EFFECTIVELY_FOREVER,
                   retry_after_max=max(0.05, min(120.0, 2 * t.poll_interval)),
                   backoff_base=max(0.005, min(0.5, t.poll_interval / 4)),
                   backoff_max=max(0.05, min(30.0, 3 * t.poll_interval)))


def _quiet(percent: float | None, message: str) -> None:
    pass


class RedfishDriver:
    """A `HostDriver` for one Redfish BMC; `quirks_class` names the vendor's quirks."""

    quirks_class: type[Quirks] = Quirks
    vendor = Quirks.vendor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.vendor = cls.quirks_class.vendor

    def __init__(self, rh: ResolvedHost, *, settings: Settings, clock: Clock, client: RedfishClient,
                 adapter: VendorAdapter, image_server: Any = None, root: Mapping[str, Any] | None = None) -> None:
        self.bmc = Bmc(rh, settings=settings, clock=clock, client=client, adapter=adapter,
                       image_server=image_server)
        self.quirks = self.quirks_class(self.bmc)
        self.flasher = Flasher(self.bmc, self.quirks)
        self.activator = Activator(self.bmc, self.quirks)
        self.settler = Settler(self.bmc, self.quirks, self.activator)
        self.configurator = Configurator(self.bmc, self.quirks)
        self.watchdog = Watchdog(self.bmc, settings.watchdog) if settings.watchdog.enabled else None
        self.host = rh.name
        self.settings = settings
        self.timing = settings.timing
        self.clock = clock
        self._expect: Expectation | None = None
        self._opened = False
        # Told (one line) when opening has to wait for a BMC that is still resetting.
        self.on_wait: Callable[[str], None] | None = None

    # ------------------------------------------------------------------ what tests and callers read
    @property
    def session(self) -> RedfishSession:
        return self.bmc.session

    @property
    def client(self) -> RedfishClient:
        return self.bmc.client

    @property
    def system_uri(self) -> str | None:
        return self.bmc.system_uri

    @property
    def manager_uri(self) -> str | None:
        return self.bmc.manager_uri

    @property
    def on_accepted(self) -> Callable[[str], None] | None:
        """Called with the task/job URI as soon as the BMC accepted an image."""
        return self.flasher.on_accepted

    @on_accepted.setter
    def on_accepted(self, listener: Callable[[str], None] | None) -> None:
        self.flasher.on_accepted = listener

    @property
    def on_reset_requested(self) -> Callable[[str], Awaitable[None]] | None:
        """Awaited once an activation's reset is under way (the rest is only waiting)."""
        return self.bmc.on_reset_requested

    @on_reset_requested.setter
    def on_reset_requested(self, listener: Callable[[str], Awaitable[None]] | None) -> None:
        self.bmc.on_reset_requested = listener

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> RedfishDriver:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.bmc.close(*exc_info)

    async def open(self) -> None:
        """Log in and discover; a BMC that is still coming back from a reset is waited for
        with the readiness rules used after hwfw's own resets (stable, then a fresh login)."""
        if self._opened:
            return
        waited = await self.bmc.open_when_ready(self.on_wait)
        try:
            if waited:
                await self.activator.wait_bmc_back(self.activator.readiness(), _quiet)
        except BaseException:
            await self.bmc.close(None, None, None)
            raise
        self._opened = True

    # ------------------------------------------------------------------ HostDriver
    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool,
                        known_settings: Mapping[str, Any] | None = None) -> PreflightReport:
        return await pre.preflight(self.bmc, self.quirks, known_tasks=known_tasks, allow_pending=allow_pending,
                                   known_settings=known_settings)

    @staticmethod
    def image_size_problem(report: PreflightReport, size: int) -> str | None:
        """For the executor: why an image of `size` bytes cannot be sent to this BMC."""
        return pre.image_size_problem(report, size)

    async def read_versions(self) -> dict[str, str | None]:
        return await self.bmc.read_versions()

    async def in_flight(self) -> list[InFlight]:
        return await self.quirks.in_flight()

    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        self._expect = None  # an expectation belongs to the flash right before its activation
        await self.activator.ensure_ready(progress)
        result = await self.flasher.flash(request, progress)
        self._expect = self.flasher.expectation
        return result

    async def flash_previous(self, step: Step, progress: Progress) -> FlashResult:
        """See HostDriver.flash_previous: the vendor's quirks find the image
        (`Quirks.previous_image`); SimpleUpdate installs it, like an uploaded one."""
        self._expect = None
        key = step.component or ""
        kind, instance = split_key(key)
        version = step.to_version or ""
        await self.activator.ensure_ready(progress)
        uri = await self.quirks.previous_image(key, kind, version)
        if uri is None:
            raise ApplyError(f"{self.host}: {key}: the BMC keeps no previous image of {version}",
                             hint="add that version's image to the repository to roll back from it")
        entry = RepositoryEntry(id=f"the BMC's previous image {uri.rstrip('/').rsplit('/', 1)[-1]}",
                                vendor=self.vendor, component=kind, version=version, models=(), source=uri,
                                sha256="", method="simple-update")
        request = FlashRequest(run_id="", step=step, kind=kind, instance=instance, entry=entry,
                               image_path=Path(os.devnull))
        result = await self.flasher.install_held(request, uri, progress, method="bmc-previous")
        self._expect = self.flasher.expectation
        return result

    async def activate(self, activation: str, progress: Progress) -> ActivationReport | None:
        expected, self._expect = self._expect, None
        if self.watchdog is None or activation != "host-reboot":
            await self.activator.activate(activation, progress, expected)
            return None
        armed = await self.watchdog.arm()
        if armed.armed:
            progress(None, f"IPMI watchdog armed ({armed.action} after {armed.timeout:g}s)")
            # A hang is power-cycled by the BMC at the end of the countdown; the POST wait
            # allows for that and one more POST.
            self.activator.post_allowance = armed.timeout / max(self.timing.time_scale, 1e-9)
        try:
            await self.activator.activate(activation, progress, expected)
        finally:
            self.activator.post_allowance = 0.0
            report = await self.watchdog.disarm(armed)
        warnings: tuple[str, ...] = (report.problem,) if report.problem else ()
        if report.fired:
            warnings += ("the BMC's watchdog expired and power-cycled the host during the reboot (a hang in POST?)",)
        return ActivationReport(watchdog=report.to_json(), warnings=warnings)

    async def set_power(self, state: str, progress: Progress) -> None:
        await self.activator.set_power(state, progress)

    async def read_bios_settings(self) -> BiosReading:
        return await self.configurator.read()

    async def stage_bios_settings(self, values: Mapping[str, Any], progress: Progress) -> StagedSettings:
        if self._expect is not None and (self._expect.done or await self.activator.expectation_met(self._expect)):
            # The reset the BMC made by itself for the flash before is over (its image
            # runs): settings staged now need a reboot of their own. (That flash's
            # activation step found the image running and sent nothing, so the
            # expectation is still here; the next activation must not take it.)
            self._expect = None
        await self.activator.ensure_ready(progress)
        return await self.configurator.stage(values, progress)

    async def discard_bios_settings(self, job_uri: str | None) -> None:
        await self.configurator.mechanism.discard(self.configurator, job_uri)

    async def staged_settings_job(self) -> str | None:
        return await self.configurator.mechanism.staged_job(self.configurator)

    async def host_status(self) -> HostStatus:
        st = await self.activator.readiness().host_state()
        system = await self.bmc.optional(self.system_uri)
        doc = system or {}
        status = found if isinstance(found := doc.get("Status"), dict) else {}
        health = status.get("HealthRollup") or status.get("Health")
        post_done = bool(st.reachable and st.post_done)
        hpe = (doc.get("Oem") or {}).get("Hpe") if isinstance(doc.get("Oem"), dict) else None
        if isinstance(hpe, dict) and isinstance(hpe.get("PostState"), str):
            # iLO's own POST state (HPE iLO RESTful API, ComputerSystem Oem.Hpe.PostState)
            post_done = post_done and hpe["PostState"] in ("FinishedPost", "InPostDiscoveryComplete")
        return HostStatus(power=st.power, post_done=post_done, last_state=st.last_state,
                          health=str(health) if health else None)
    async def task_failure(self, task_uri: str | None, key: str) -> str | None:
        """See HostDriver.task_failure."""
        return await self.settler.failure_of(task_uri, key)

    async def wait_ready(self) -> None:
        """Wait until the BMC is stably back (the readiness rules used after a reset),
        then log in again; raises BmcUnreachable after `bmc_ready_timeout`."""
        await self.activator.wait_bmc_back(self.activator.readiness(), _quiet)

    async def settle_intent(self, intent: Mapping[str, Any]) -> str:
        """See HostDriver.settle_intent. Intent `details` used: `to_version` (or `to`/
        `version`), `task_uri` (when the run recorded `on_accepted`), `filename`; for a
        `configure` intent, `values` (the BIOS attributes it staged)."""
        if intent.get("action") == "configure":
            return await self.configurator.settle(intent)
        return await self.settler.settle(intent)
