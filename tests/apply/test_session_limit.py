"""A BMC whose session table is full (issue 17 item 8): named for what it is, waited for
where the workspace allows it, and left out on its own with `allow_unreachable`.

Against the embedded simulator through `run_apply`, like test_executor_faults.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from hwfw.apply.events import HOST_CONVERGED, HOST_SKIPPED
from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.config import load_workspace
from hwfw.errors import BmcSessionLimit
from hwfw.redfish.session import session_limit_error

from .test_executor_faults import apply, lab_with, statuses

pytestmark = pytest.mark.slow


def _error(status: int, message_id: str, severity: str = "Critical") -> httpx.Response:
    body = {"error": {"code": "Base.1.7.GeneralError", "message": "A general error has occurred.",
                      "@Message.ExtendedInfo": [{"MessageId": message_id, "Message": "full", "Severity": severity}]}}
    return httpx.Response(status, json=body, headers={"retry-after": "30"},
                          request=httpx.Request("POST", "https://bmc/redfish/v1/SessionService/Sessions"))


@pytest.mark.parametrize("message_id", ["Base.1.8.SessionLimitExceeded", "IDRAC.2.4.RAC0218",
                                        "Base.1.4.CreateLimitReachedForResource"])
def test_the_vendors_session_limit_answers_are_recognised(message_id: str) -> None:
    # a real iDRAC answers 503 with RAC0218 at Informational severity under a GeneralError wrapper
    err = session_limit_error("h1", "https://bmc/redfish/v1/SessionService/Sessions",
                              _error(503, message_id, "Informational"))
    assert isinstance(err, BmcSessionLimit)
    assert err.message_id == message_id and err.retry_after == "30"
    assert "session limit reached" in err.message and message_id in str(err)
    assert session_limit_error("h1", "u", _error(503, "Base.1.8.ServiceTemporarilyUnavailable")) is None
    assert session_limit_error("h1", "u", _error(401, "Base.1.8.NoValidSession")) is None


def test_allow_unreachable_skips_only_the_host_whose_session_table_is_full(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {"lab-dell-03": {"sessions_full": True}}, monkeypatch)
    result = apply(ws, targets=("lab-dell-03", "lab-hpe-02"), allow_unreachable=True)
    assert statuses(result) == {"lab-dell-03": HOST_SKIPPED, "lab-hpe-02": HOST_CONVERGED}
    skipped = result.summary.hosts["lab-dell-03"].message
    assert "host cannot be read (session limit)" in skipped and "RAC0218" in skipped
    assert "host is unreachable" not in skipped
    assert result.exit_code == 1      # a host left out is not a success
    assert not result.extra["sim"].query("lab-dell-03", "image-received")
    assert result.extra["sim"].query("lab-hpe-02", "image-received")


def test_a_login_waits_for_a_free_session_slot_where_the_workspace_allows_it(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ws_dir = lab_with(tmp_path, {}, monkeypatch, settings={"timing": {"session_limit_wait": "60s"}})
    ws = load_workspace(ws_dir)
    assert ws.settings.timing.session_limit_wait == 60.0
    box: dict[str, Any] = {}

    def fill(conn: Any) -> None:
        # another tool left the session table full; its sessions idle out after a virtual minute
        bmc = conn.fleet.fleet.bmcs["lab-gen-01"]
        bmc.sessions.timeout = 60.0
        while len(bmc.sessions.live()) < bmc.sessions.limit:
            bmc.sessions.create("admin")
        box["fillers"] = {s.id for s in bmc.sessions.live()}
        box["events"] = conn.fleet.fleet.events

    result = asyncio.run(run_apply(ws, ApplyOptions(auto_approve=True, targets=("lab-gen-01",)), observe=fill))
    assert result.summary is not None, result.message
    assert statuses(result) == {"lab-gen-01": HOST_CONVERGED}
    events = box["events"].query("lab-gen-01")
    expired = [e for e in events if e["type"] == "session-closed" and e["id"] in box["fillers"]]
    assert expired and all(e["reason"] == "expired" for e in expired)
    first_login = next(e for e in events if e["type"] == "session-opened" and e["id"] not in box["fillers"])
    assert first_login["seq"] > expired[0]["seq"]     # hwfw got in once a slot freed
