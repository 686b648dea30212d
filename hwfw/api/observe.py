"""Notifications and metrics of the work done in this process.

`RunObservers` are the event listeners a run started by `Workspace.apply` gets besides
the caller's own: a `NotificationSink` when settings.notifications has targets, and
`RunMetrics` when a metrics file is asked for (`--metrics-file`). `close()` waits for
queued notifications at most the longest target timeout (a run is never held longer),
then writes the metrics file (atomically).

`make_notifier` builds the notifier of a workspace's targets: a target whose URL cannot
be resolved is left out with a warning (or raises, `strict`, for `hwfw notify test`); a
delivery that fails for good becomes an entry of the workspace's audit log (component
`notifications`, action `notify`, outcome `failed`), the target shown only by its
privacy URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfw.clock import Clock, utc_now_iso
from hwfw.errors import HwfwError, NotFoundError
from hwfw.events import EventSink
from hwfw.logs import get_logger, redactor
from hwfw.metrics import HwfwMetrics, RunMetrics
from hwfw.notify import Alert, FleetWatch, NotificationSink, Notifier, ResolvedTarget, resolve_target, send_once
from hwfw.notify.alerts import test_alert
from hwfw.state.backend import open_backend

if TYPE_CHECKING:
    from hwfw.config.model import Settings
    from hwfw.config.model import Workspace as Config

__all__ = ["RunObservers", "drain_seconds", "make_notifier", "notify_report", "send_test", "vendors_of"]

log = get_logger("api.observe")


def _targets(config: Config, *, strict: bool, only: str | None = None) -> list[ResolvedTarget]:
    chosen = [t for t in config.settings.notifications if only is None or t.name == only]
    if only is not None and not chosen:
        names = ", ".join(t.name for t in config.settings.notifications) or "none"
        raise NotFoundError(f"no notification target {only!r} in settings.notifications (targets: {names})",
                          hint="hwfw notify test without --target tries every target")
    out = []
    for target in chosen:
        try:
            out.append(resolve_target(target))
        except HwfwError as exc:
            if strict:
                raise
            log.warning("notifications to %s are off for this run: %s", target.name, redactor(exc.message))
    return out


def _audit_failed(settings: Settings) -> Any:
    async def record(target: ResolvedTarget, alert: Alert, message: str) -> None:
        async with open_backend(settings) as backend:
            await backend.audit(run_id=alert.run_id or "-", host=alert.host or "*", component="notifications",
                                action="notify", outcome="failed", message=redactor(message))
    return record


def make_notifier(config: Config, *, clock: Clock, workspace_name: str, metrics: HwfwMetrics | None = None,
                  strict: bool = False, only: str | None = None) -> Notifier | None:
    """The notifier of the workspace's targets, not started; None when there are none."""
    targets = _targets(config, strict=strict, only=only)
    if not targets:
        return None
    context: dict[str, Any] = {"workspace": workspace_name}
    if config.settings.server.public_url:
        context["link"] = config.settings.server.public_url

    def counted(target: ResolvedTarget, alert: Alert, outcome: str) -> None:
        if metrics is not None:
            metrics.note_notification(target.name, outcome)

    return Notifier(targets, clock=clock, on_result=counted, on_failed=_audit_failed(config.settings),
                    context=context)


def vendors_of(config: Config) -> dict[str, str | None]:
    """Host name -> vendor (as the inventory says; None when it leaves it to discovery)."""
    return {h.name: h.vendor for h in config.hosts}


def drain_seconds(notifier: Notifier) -> float:
    return max((t.config.timeout for t in notifier.targets), default=0.0)


class RunObservers:
    """See the module docstring."""

    def __init__(self, config: Config, *, clock: Clock, workspace_name: str, metrics_file: Path | None) -> None:
        self.metrics = HwfwMetrics() if metrics_file is not None else None
        self.metrics_file = metrics_file
        self.notifier = make_notifier(config, clock=clock, workspace_name=workspace_name, metrics=self.metrics)
        self._stop_counting = self.metrics.count_bmc_requests(vendors_of(config)) if self.metrics else None

    @property
    def sinks(self) -> list[EventSink]:
        out: list[EventSink] = []
        if self.notifier is not None:
            out.append(NotificationSink(self.notifier))
        if self.metrics is not None:
            out.append(RunMetrics(self.metrics))
        return out

    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()

    async def close(self) -> None:
        if self._stop_counting is not None:
            self._stop_counting()
        if self.notifier is not None:
            await self.notifier.close(drain=drain_seconds(self.notifier))
        if self.metrics is not None and self.metrics_file is not None:
            try:
                self.metrics.write_textfile(self.metrics_file)
            except OSError as exc:
                raise HwfwError(f"cannot write the metrics file {self.metrics_file}: {exc.strerror}",
                                hint="--metrics-file names a file in a writable directory (node_exporter's "
                                     "--collector.textfile.directory)") from None


async def notify_report(config: Config, report: dict[str, Any], *, clock: Clock, workspace_name: str) -> None:
    """Alerts for the hosts of a compliance report behind a critical image (a CLI
    `hwfw compliance`), delivered before returning (at most the longest target timeout)."""
    notifier = make_notifier(config, clock=clock, workspace_name=workspace_name)
    if notifier is None:
        return
    notifier.start()
    for alert in FleetWatch().feed(report, utc_now_iso(clock)):
        notifier.submit(alert)
    await notifier.close(drain=drain_seconds(notifier))


async def send_test(config: Config, *, clock: Clock, workspace_name: str,
                    target: str | None = None) -> list[dict[str, Any]]:
    """`hwfw notify test`: one test message to each target (or the one named), one
    attempt each; [{"target", "url" (privacy form), "ok", "error"}]."""
    notifier = make_notifier(config, clock=clock, workspace_name=workspace_name, strict=True, only=target)
    if notifier is None:
        raise HwfwError("no notification targets: settings.notifications is empty",
                          hint="add a target (docs/alerts-and-metrics.md), then run hwfw notify test again")
    out = []
    for resolved in notifier.targets:
        alert = notifier.with_context(test_alert(resolved.name, utc_now_iso(clock)))
        ok, why = await send_once(resolved, alert, resolved.config.timeout)
        if not ok:
            await _audit_failed(config.settings)(resolved, alert, f"test notification to {resolved.name} "
                                                                  f"({resolved.display}) failed: {why}")
        out.append({"target": resolved.name, "url": resolved.display, "ok": ok, "error": None if ok else why})
    return out

