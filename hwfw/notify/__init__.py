"""Notifications: alerts from run events and fleet scans, delivered through Apprise.

`alerts` decides what is worth telling (pure), `targets` resolves where to (secrets by
reference, redacted), `delivery` sends without ever holding up the work (bounded
queues, timeouts, retries with backoff, duplicate suppression), `sink` listens to the
event protocol. docs/alerts-and-metrics.md describes the whole.
"""

from __future__ import annotations

from .alerts import ALERT_KINDS, SEVERITIES, Alert, AlertRules, FleetWatch, lock_alert, test_alert
from .delivery import DELIVERY_OUTCOMES, Notifier, send_once
from .sink import NotificationSink
from .targets import ResolvedTarget, resolve_target

__all__ = ["ALERT_KINDS", "DELIVERY_OUTCOMES", "SEVERITIES", "Alert", "AlertRules", "FleetWatch",
           "NotificationSink", "Notifier", "ResolvedTarget", "lock_alert", "resolve_target", "send_once",
           "test_alert"]
