"""Redfish client: transport, sessions, error translation, task following.

    async with RedfishSession(RedfishClient(url, host=name, clock=clock), user, password) as s:
        root = s.root
        systems = await s.members("/redfish/v1/Systems")
"""

from __future__ import annotations

from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.errors import (
    ErrorInfo,
    RedfishMessage,
    message_id_matches,
    parse_error_info,
)
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.tasks import FollowPolicy, TaskOutcome, TaskRef, follow_task, task_ref_from_response
from hwfw.redfish.transport import (
    TransportOptions,
    make_http_client,
    raise_nofile_limit,
    ssl_context,
)

__all__ = [
    "ClientOptions",
    "ErrorInfo",
    "FollowPolicy",
    "RedfishClient",
    "RedfishMessage",
    "RedfishSession",
    "TaskOutcome",
    "TaskRef",
    "TransportOptions",
    "follow_task",
    "make_http_client",
    "message_id_matches",
    "parse_error_info",
    "raise_nofile_limit",
    "ssl_context",
    "task_ref_from_response",
]
