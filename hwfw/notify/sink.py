"""Notifications as a listener of the one event protocol (hwfw/events.py).

`NotificationSink` is an `EventSink` for a run started in this process (the CLI);
`feed_json` takes the same events as JSON (the server's event hub carries them so).
Either way `AlertRules` decides, `Notifier.submit` queues, and `emit` returns at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hwfw.events import Event

from .alerts import AlertRules
from .delivery import Notifier

__all__ = ["NotificationSink"]


class NotificationSink:
    def __init__(self, notifier: Notifier, rules: AlertRules | None = None) -> None:
        self.notifier = notifier
        self.rules = rules or AlertRules()

    def emit(self, event: Event) -> None:
        self.feed_json(event.to_json())

    def feed_json(self, event: Mapping[str, Any]) -> None:
        for alert in self.rules.feed(event):
            self.notifier.submit(alert)
