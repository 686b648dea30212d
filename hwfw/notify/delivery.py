"""Delivery: alerts to their targets, never in the way of the work that raised them.

`Notifier.submit(alert)` returns at once: the alert goes on each matching target's
bounded queue (full: dropped, counted and logged). One worker task per target sends
them in order through Apprise, each attempt limited by the target's `timeout`, with
`retries` more attempts after a backoff on the injected clock (hwfw/retry.py). An alert
whose key was sent to a target within its `dedup_window` is not sent again. A delivery
that fails for good is logged (the target shown by its privacy URL) and reported to
`on_failed` (the audit log); `on_result` sees every outcome (metrics).

Apprise is synchronous underneath; each attempt runs in a daemon thread, so a hanging
receiver costs one parked thread until Apprise's own connect/read timeouts (set to the
target's timeout) end it, never the event loop, never the process's exit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hwfw.clock import Clock, SystemClock
from hwfw.logs import get_logger, redactor
from hwfw.retry import Backoff, RetryPolicy

from .alerts import Alert, severity_rank
from .targets import ResolvedTarget

__all__ = ["DELIVERY_OUTCOMES", "Notifier", "send_once"]

log = get_logger("notify")

# Outcomes reported to on_result (and counted by the metrics).
DELIVERY_OUTCOMES = ("sent", "failed", "dropped", "suppressed")
BACKOFF = Backoff(base=2.0, factor=2.0, cap=60.0, jitter=0.5)

ResultHook = Callable[[ResolvedTarget, Alert, str], None]
FailedHook = Callable[[ResolvedTarget, Alert, str], Awaitable[None]]


def _apprise_type(severity: str) -> str:
    return {"info": "info", "warning": "warning"}.get(severity, "failure")


def _notify_blocking(url: str, alert: Alert) -> tuple[bool, str]:
    import apprise

    logs: list[str] = []
    ap = apprise.Apprise()
    if not ap.add(url):
        return False, "Apprise cannot use the URL"
    with apprise.LogCapture(level=apprise.logging.WARNING) as capture:
        ok = bool(ap.notify(title=alert.title, body=_body(alert), notify_type=_apprise_type(alert.severity)))
        logs = [line for line in capture.getvalue().splitlines() if line.strip()]
    return ok, redactor(logs[-1] if logs else "the service refused the notification")


def _body(alert: Alert) -> str:
    lines = [alert.body] if alert.body else []
    for key in ("workspace", "host", "run_id"):
        value = alert.to_json().get(key)
        if value:
            lines.append(f"{key}: {value}")
    link = alert.fields.get("link")
    if link:
        lines.append(str(link))
    return "\n".join(lines)


def _settle(future: asyncio.Future[tuple[bool, str]], result: tuple[bool, str]) -> None:
    if not future.done():
        future.set_result(result)


async def send_once(target: ResolvedTarget, alert: Alert, timeout: float) -> tuple[bool, str]:
    """One attempt: (delivered, why not), within `timeout` seconds whatever the receiver does."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[bool, str]] = loop.create_future()

    def work() -> None:
        try:
            result = _notify_blocking(target.url, alert)
        except Exception as exc:   # Apprise plugins raise on odd answers: a failed attempt
            result = (False, redactor(f"{type(exc).__name__}: {exc}"))
        loop.call_soon_threadsafe(_settle, future, result)

    threading.Thread(target=work, name=f"hwfw-notify-{target.name}", daemon=True).start()
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"


@dataclass
class _Channel:
    target: ResolvedTarget
    queue: asyncio.Queue[Alert]
    sent: dict[str, float] = field(default_factory=dict)    # key -> clock.monotonic() when sent
    worker: asyncio.Task[None] | None = None
    busy: bool = False


class Notifier:
    """See the module docstring. `start()` on the running loop, `close()` at the end."""

    def __init__(self, targets: Sequence[ResolvedTarget], *, clock: Clock | None = None,
                 on_result: ResultHook | None = None, on_failed: FailedHook | None = None,
                 context: dict[str, Any] | None = None) -> None:
        self.clock = clock or SystemClock()
        self.on_result = on_result
        self.on_failed = on_failed
        self.context = dict(context or {})      # fields every alert carries: workspace, link
        self._channels = [_Channel(t, asyncio.Queue(t.config.queue_size)) for t in targets]
        self.counts: dict[str, int] = {o: 0 for o in DELIVERY_OUTCOMES}

    @property
    def targets(self) -> list[ResolvedTarget]:
        return [c.target for c in self._channels]

    def start(self) -> None:
        for channel in self._channels:
            if channel.worker is None:
                channel.worker = asyncio.ensure_future(self._work(channel))

    def wants(self, target: ResolvedTarget, alert: Alert) -> bool:
        cfg = target.config
        return (alert.kind == "test" or cfg.events is None or alert.kind in cfg.events) and \
            severity_rank(alert.severity) >= severity_rank(cfg.min_severity)

    def submit(self, alert: Alert, *, only: str | None = None) -> None:
        """Queue `alert` for every target that wants it (or only the target named `only`). Never blocks."""
        alert = self.with_context(alert)
        for channel in self._channels:
            if (only is not None and channel.target.name != only) or (only is None and
                                                                       not self.wants(channel.target, alert)):
                continue
            try:
                channel.queue.put_nowait(alert)
            except asyncio.QueueFull:
                self._result(channel.target, alert, "dropped")
                log.warning("notification %s to %s dropped: %d alerts already wait for this target",
                            alert.kind, channel.target.display, channel.queue.qsize())

    def with_context(self, alert: Alert) -> Alert:
        if not self.context:
            return alert
        fields = {**self.context, **alert.fields}
        base = self.context.get("link")
        if base:
            fields["link"] = base.rstrip("/") + (f"/#/runs/{alert.run_id}" if alert.run_id else
                                                 f"/#/hosts/{alert.host}" if alert.host else "/")
        return Alert(alert.kind, alert.severity, alert.title, alert.body, alert.key, alert.time, alert.run_id,
                     alert.host, fields)

    def _result(self, target: ResolvedTarget, alert: Alert, outcome: str) -> None:
        self.counts[outcome] += 1
        if self.on_result is not None:
            try:
                self.on_result(target, alert, outcome)
            except Exception:
                log.warning("notification result hook failed", exc_info=True)

    async def _work(self, channel: _Channel) -> None:
        while True:
            alert = await channel.queue.get()
            channel.busy = True
            try:
                await self._deliver(channel, alert)
            except asyncio.CancelledError:
                raise
            except Exception:   # a bug here must not stop later deliveries
                log.warning("notification to %s failed unexpectedly", channel.target.display, exc_info=True)
            finally:
                channel.busy = False
                channel.queue.task_done()

    async def _deliver(self, channel: _Channel, alert: Alert) -> None:
        target, cfg = channel.target, channel.target.config
        now = self.clock.monotonic()
        last = channel.sent.get(alert.key)
        if last is not None and now - last < cfg.dedup_window:
            self._result(target, alert, "suppressed")
            return
        attempts = RetryPolicy(retries=cfg.retries, backoff=BACKOFF).attempts(self.clock)
        while True:
            ok, why = await send_once(target, alert, cfg.timeout)
            if ok:
                channel.sent[alert.key] = self.clock.monotonic()
                self._result(target, alert, "sent")
                return
            delay = attempts.next_delay()
            if delay is None:
                break
            log.info("notification %s to %s failed (%s); retrying in %.1f s", alert.kind, target.display, why, delay)
            await self.clock.sleep(delay)
        message = f"notification {alert.kind} to {target.name} ({target.display}) failed after " \
                  f"{attempts.retries + 1} attempts: {why}"
        log.warning("%s", redactor(message))
        self._result(target, alert, "failed")
        if self.on_failed is not None:
            try:
                await self.on_failed(target, alert, redactor(message))
            except Exception:
                log.warning("could not record the failed notification in the audit log", exc_info=True)

    def idle(self) -> bool:
        return all(c.queue.empty() and not c.busy for c in self._channels)

    async def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds (wall time: the process is ending) for every queue to empty."""
        async def joined() -> None:
            for channel in self._channels:
                await channel.queue.join()
        try:
            await asyncio.wait_for(joined(), timeout)
            return True
        except TimeoutError:
            return False

    async def close(self, drain: float = 0.0) -> None:
        """Stop the workers, after waiting up to `drain` seconds for what is queued.
        What is left is logged as not delivered."""
        if drain > 0 and not self.idle():
            await self.drain(drain)
        for channel in self._channels:
            left = channel.queue.qsize() + (1 if channel.busy else 0)
            if left:
                log.warning("%d notifications to %s not delivered: hwfw is ending", left, channel.target.display)
            if channel.worker is not None:
                channel.worker.cancel()
        for channel in self._channels:
            if channel.worker is not None:
                try:
                    await channel.worker
                except asyncio.CancelledError:
                    pass
                channel.worker = None
