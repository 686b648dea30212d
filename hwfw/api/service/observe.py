"""The server's notifications, metrics and scheduled compliance scan.

`ServiceObservers` listens to the event hub (every run's events, as JSON) with the same
listeners a CLI run gets (hwfw.notify, hwfw.metrics), and runs the scheduled scan:
every `settings.server.scan_interval` (plus up to `scan_jitter` at random) it reads the
fleet and rebuilds the compliance report, unless a run of this server or another
process's apply holds the workspace (then the scan is skipped and counted so). Each
report goes through one `FleetWatch`, so a host that falls behind raises one alert,
not one per scan. A workspace lock held longer than `lock_alert_after` raises
`lock-held` (once per lock). `GET /metrics` is `exposition()`.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hwfw.clock import Clock, utc_now_iso
from hwfw.logs import get_logger
from hwfw.metrics import HwfwMetrics, RunMetrics
from hwfw.metrics import epoch_of as _epoch
from hwfw.notify import FleetWatch, NotificationSink, lock_alert

from ..observe import drain_seconds, make_notifier, vendors_of
from .hub import HubMessage

if TYPE_CHECKING:
    from hwfw.config.model import Workspace as Config

    from .core import FirmwareService

__all__ = ["CONTENT_TYPE_LATEST", "ServiceObservers", "scan_delay"]

log = get_logger("api.observe")


def scan_delay(interval: float, jitter: float, rng: random.Random) -> float:
    """Seconds until the next scheduled scan: the interval plus up to `jitter` at random
    (never negative, never more than the jitter late)."""
    return max(0.0, interval) + rng.uniform(0.0, max(0.0, jitter))


class ServiceObservers:
    def __init__(self, service: FirmwareService, config: Config, clock: Clock,
                 rng: random.Random | None = None) -> None:
        self.service = service
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = HwfwMetrics()
        self.run_metrics = RunMetrics(self.metrics)
        self.notifier = make_notifier(config, clock=clock, workspace_name=str(service.workspace.display),
                                      metrics=self.metrics)
        self.sink = NotificationSink(self.notifier) if self.notifier is not None else None
        self.watch = FleetWatch()
        self.last_scan: dict[str, Any] | None = None
        self._report_seen: int | None = None
        self._stop_listening = service.hub.listen(self._on_message)
        self._stop_counting = self.metrics.count_bmc_requests(vendors_of(config))

    def _on_message(self, message: HubMessage) -> None:
        if message.event is None:
            return
        self.run_metrics.feed_json(message.event)
        if self.sink is not None:
            self.sink.feed_json(message.event)

    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        interval = self.service.settings.server.scan_interval
        if interval > 0:
            self.service.background(self._scan_loop())

    async def stop(self) -> None:
        self._stop_listening()
        self._stop_counting()
        if self.notifier is not None:
            await self.notifier.close(drain=min(5.0, drain_seconds(self.notifier)))

    async def _scan_loop(self) -> None:
        while True:
            server = self.service.settings.server
            await self.clock.sleep(scan_delay(server.scan_interval, server.scan_jitter, self.rng))
            try:
                await self.scheduled_scan()
            except Exception:    # the next scan tries again; this one is logged
                log.warning("scheduled fleet scan failed", exc_info=True)

    async def scheduled_scan(self) -> str:
        """One scheduled scan now: "ok", "failed" or "skipped" (a run holds the workspace)."""
        service = self.service
        now = utc_now_iso(self.clock)
        lock = await service.workspace.state.lock_info()
        if lock is not None:
            self._check_lock(_lock_json(lock), now)
        if lock is not None or service.runs.current() is not None:
            return self._scanned(now, 0.0, "skipped", "a run holds the workspace")
        started = self.clock.monotonic()
        if not await service.scan_fleet():
            return self._scanned(now, 0.0, "skipped", "a run or a live read holds the workspace")
        seconds = self.clock.monotonic() - started
        report = service.fleet.report
        if service.fleet.error is not None or report is None:
            return self._scanned(now, seconds, "failed", service.fleet.error or "no report")
        alerts = self.watch.feed(report, utc_now_iso(self.clock))
        if self.notifier is not None:
            for alert in alerts:
                self.notifier.submit(alert)
        return self._scanned(utc_now_iso(self.clock), seconds, "ok", None, alerts=len(alerts))

    def _scanned(self, time: str, seconds: float, result: str, error: str | None, *, alerts: int = 0) -> str:
        self.metrics.scanned(ended=_epoch(time), seconds=seconds, result=result)
        self.last_scan = {"time": time, "result": result, "seconds": round(seconds, 3), "error": error,
                          "alerts": alerts}
        return result

    def _check_lock(self, lock: dict[str, Any], now: str) -> None:
        held = _epoch(now) - _epoch(str(lock.get("created") or now))
        if held > self.service.settings.server.lock_alert_after and self.notifier is not None:
            self.notifier.submit(lock_alert(lock, held, now))

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format; the fleet gauges follow the last report."""
        report = self.service.fleet.report
        if report is not None and id(report) != self._report_seen:
            self.metrics.fleet_report(report)
            self._report_seen = id(report)
        return generate_latest(self.metrics.registry)


def _lock_json(lock: Any) -> dict[str, Any]:
    return {k: getattr(lock, k, None) for k in ("id", "operation", "who", "pid", "created")}

