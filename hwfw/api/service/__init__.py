"""hwfw as a long-running service: what `hwfw serve` is made of, without HTTP.

`FirmwareService` (core.py) is the facade; its parts are usable on their own:
`EventHub` (hub.py), `RunRecorder` (recorder.py), `RunProgress` (progress.py),
`RunManager` (runs.py), `PlanDesk` (plans.py), `FleetView` (fleet.py),
`WorkspaceWatcher` (watch.py), `Scheduler` (tasks.py), tokens and roles (tokens.py).
"""

from __future__ import annotations

from .admin import create_api_token, list_api_tokens, revoke_api_token, server_settings
from .core import FirmwareService, local_principal
from .hub import DROPPED, EventHub, HubMessage, Subscription
from .progress import HOST_STATE, RunProgress
from .recorder import RunRecorder
from .runs import Streamed
from .tasks import Scheduler
from .tokens import ACTIONS, ROLES, Principal

__all__ = ["ACTIONS", "DROPPED", "HOST_STATE", "ROLES", "EventHub", "FirmwareService", "HubMessage", "Principal",
           "RunProgress", "RunRecorder", "Scheduler", "Streamed", "Subscription", "create_api_token", "list_api_tokens",
           "local_principal", "revoke_api_token", "server_settings"]
