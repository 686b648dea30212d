"""The driver core: one host's `HostDriver`, composed of small parts.

    Bmc         the session and what discovery found (bmc.py)
    Quirks      what the vendor's BMC does differently (quirks.py; one module per vendor)
    Flasher     update methods from the vendor's table, task following (flashing.py)
    Activator   resets, power and readiness waits (activation.py)
    Settler     what became of an intent a crash left open (settling.py)

Each vendor driver class is this core with its vendor's `Quirks` class. Every poll
tolerates 401 (re-login), 404 (fallback), 5xx and connection errors (the BMC may be
resetting itself), and every wait is on the injected clock and bounded by a deadline
from `settings.timing`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from hwfw.apply.driver import FlashRequest, FlashResult, InFlight, PreflightReport, Progress
from hwfw.apply.drivers import preflight as pre
from hwfw.apply.drivers.activation import Activator, Expectation
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.drivers.quirks import Quirks
from hwfw.apply.drivers.settling import Settler
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.inventory.collect import ResolvedHost
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
        self.settler = Settler(self.bmc, self.quirks)
        self.host = rh.name
        self.settings = settings
        self.timing = settings.timing
        self.clock = clock
        self._expect: Expectation | None = None
        self._opened = False

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

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> RedfishDriver:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.bmc.close(*exc_info)

    async def open(self) -> None:
        if not self._opened:
            await self.bmc.open()
            self._opened = True

    # ------------------------------------------------------------------ HostDriver
    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool) -> PreflightReport:
        return await pre.preflight(self.bmc, self.quirks, known_tasks=known_tasks, allow_pending=allow_pending)

    @staticmethod
    def image_size_problem(report: PreflightReport, size: int) -> str | None:
        """For the executor: why an image of `size` bytes cannot be sent to this BMC."""
        return pre.image_size_problem(report, size)

    async def read_versions(self) -> dict[str, str | None]:
        return await self.bmc.read_versions()

    async def in_flight(self) -> list[InFlight]:
        return await pre.in_flight(self.bmc, self.quirks)

    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        self._expect = None  # an expectation belongs to the flash right before its activation
        await self.activator.ensure_ready(progress)
        result = await self.flasher.flash(request, progress)
        self._expect = self.flasher.expectation
        return result

    async def activate(self, activation: str, progress: Progress) -> None:
        expected, self._expect = self._expect, None
        await self.activator.activate(activation, progress, expected)

    async def set_power(self, state: str, progress: Progress) -> None:
        await self.activator.set_power(state, progress)

    async def settle_intent(self, intent: Mapping[str, Any]) -> str:
        """See HostDriver.settle_intent. Intent `details` used: `to_version` (or `to`/
        `version`), `task_uri` (when the run recorded `on_accepted`), `filename`."""
        return await self.settler.settle(intent)
