"""follow_task against each task-monitor dialect (protocol brief 1.7 and section 0)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hwfw.clock import FakeClock
from hwfw.errors import BmcError
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.tasks import TaskRef, follow_task, task_ref_from_response
from tests.redfish.fakebmc import FakeBmc, Response, serve

ACTION = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


def task(state: str, pct: int = 0, uri: str = "/redfish/v1/TaskService/Tasks/7", **extra: Any) -> dict[str, Any]:
    return {"@odata.id": uri, "@odata.type": "#Task.v1_7_4.Task", "Id": uri.rsplit("/", 1)[1],
            "TaskState": state, "PercentComplete": pct, **extra}


def follow(bmc: FakeBmc, accepted: Response, *, timeout: float = 600, poll: float = 5) -> Any:
    clock = FakeClock()
    bmc.fault("POST", ACTION, accepted)

    async def body() -> Any:
        async with serve(bmc) as server:
            client = RedfishClient(server.url, host="bmc-1", clock=clock, options=ClientOptions())
            async with RedfishSession(client, "admin", "secret-pw") as s:
                response = await s.post(ACTION, {"ImageURI": "http://images/bmc.bin"})
                outcome = await follow_task(s, response, clock=clock, timeout=timeout, poll_interval=poll)
            assert bmc.sessions == {}
            return outcome, clock.monotonic()
    return asyncio.run(body())


def test_spec_monitor_202_then_final_response() -> None:
    bmc = FakeBmc()
    mon = "/redfish/v1/TaskService/TaskMonitors/3"
    bmc.fault("GET", mon, Response(202, task("Running", 10), headers={"Retry-After": "2"}),
              Response(202, task("Running", 60), headers={"Retry-After": "2"}),
              Response(200, {"@Message.ExtendedInfo": [{"MessageId": "Base.1.8.Success"}]}))
    outcome, elapsed = follow(bmc, Response(202, task("New"), headers={"Location": mon}))
    assert outcome.ok is True and outcome.state == "Completed" and outcome.status == 200
    assert outcome.messages[0].message_id == "Base.1.8.Success"
    assert elapsed == pytest.approx(4)  # honoured Retry-After: 2 twice


def test_openbmc_204_once_then_404() -> None:
    bmc = FakeBmc()
    mon = "/redfish/v1/TaskService/TaskMonitors/0"
    bmc.fault("GET", mon, Response(202, task("Running", 50, uri="/redfish/v1/TaskService/Tasks/0")), Response(204))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": mon}))
    assert outcome.ok is True and outcome.status == 204


def test_dell_location_is_a_task_answering_200() -> None:
    bmc = FakeBmc()
    jid = "/redfish/v1/TaskService/Tasks/JID_005950769310"
    bmc.fault("GET", jid, Response(200, task("Running", 20, uri=jid)), Response(200, task("Running", 80, uri=jid)),
              Response(200, task("Completed", 100, uri=jid, Messages=[
                  {"MessageId": "IDRAC.2.8.PR19", "Message": "Job completed successfully."}])))
    outcome, elapsed = follow(bmc, Response(202, None, headers={"Location": jid}), poll=10)
    assert outcome.ok is True and outcome.task_uri == jid and outcome.percent == 100
    assert outcome.message_id == "IDRAC.2.8.PR19"
    assert elapsed == pytest.approx(20)


def test_dell_user_intervention_ends_the_wait() -> None:
    bmc = FakeBmc()
    jid = "/redfish/v1/TaskService/Tasks/JID_1"
    bmc.fault("GET", jid, Response(200, task("UserIntervention", 100, uri=jid, Messages=[
        {"MessageId": "IDRAC.2.8.SUP0516", "Message": "Virtual AC cycle required."}])))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": jid}))
    assert outcome.ok is True and outcome.needs_action and outcome.state == "UserIntervention"


def test_supermicro_task_uri_in_the_body() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/4"
    accepted = {"Accepted": {"code": "Base.v1_4_0.Accepted", "@Message.ExtendedInfo": [
        {"MessageId": "SMC.1.0.OemSimpleupdateAcceptedMessage", "MessageArgs": [t],
         "RelatedProperties": ["BiosVerifyAccepted"]}]}}
    placeholder = [{"MessageId": "", "Message": "", "MessageArgs": [], "Severity": ""}]
    bmc.fault("GET", t, Response(200, task("Running", 2, uri=t, Messages=placeholder)),
              Response(200, task("Completed", 100, uri=t, Messages=placeholder)))
    outcome, _ = follow(bmc, Response(202, accepted))
    assert outcome.ok is True and outcome.task_uri == t and outcome.messages == ()


def test_exception_reports_the_failing_message() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/9"
    bmc.fault("GET", t, Response(200, task("Exception", 40, uri=t, TaskStatus="Critical", Messages=[
        {"MessageId": "Update.1.0.VerificationFailed", "Message": "Image rejected.", "MessageSeverity": "Critical"}])))
    outcome, _ = follow(bmc, Response(202, task("New", uri=t), headers={"Location": t}))
    assert outcome.ok is False and outcome.message_id == "Update.1.0.VerificationFailed"
    assert outcome.detail == "Image rejected."


def test_unknown_state_keeps_polling_until_the_deadline() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/5"
    bmc.fault("GET", t, *[Response(200, task("Mystery", 50, uri=t))] * 50)
    with pytest.raises(BmcError) as info:
        follow(bmc, Response(202, None, headers={"Location": t}), timeout=60, poll=10)
    assert "did not finish within 60s" in str(info.value) and "Mystery" in str(info.value)


def test_monitor_vanishing_falls_back_to_the_task_then_reports_gone() -> None:
    bmc = FakeBmc()
    mon, t = "/redfish/v1/TaskService/TaskMonitors/8", "/redfish/v1/TaskService/Tasks/8"
    bmc.fault("GET", mon, Response(202, task("Running", 30, uri=t)), Response(404))
    bmc.fault("GET", t, Response(200, task("Running", 90, uri=t)), Response(404), Response(404))
    outcome, _ = follow(bmc, Response(202, task("New", uri=t), headers={"Location": mon}))
    assert outcome.ok is None and outcome.percent == 90 and "verify" in outcome.detail


def test_task_tolerates_a_bmc_outage() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/2"
    down = Response(503, raw=b"<html>rebooting</html>", headers={"Content-Type": "text/html"})
    bmc.fault("GET", t, Response(200, task("Running", 10, uri=t)), *[down] * 6,
              Response(200, task("Completed", 100, uri=t)))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": t}))
    assert outcome.ok is True


def test_synchronous_answer_needs_no_polling() -> None:
    bmc = FakeBmc()
    outcome, elapsed = follow(bmc, Response(204))
    assert outcome.ok is True and elapsed == 0


def test_task_ref_parsing() -> None:
    class S:  # the parts of a session task_ref_from_response uses
        class client:
            @staticmethod
            def uri_of(u: str) -> str:
                return u.split("://", 1)[-1].split("/", 1)[-1].join(["/", ""]) if "://" in u else u

    import httpx
    r = httpx.Response(202, headers={"Location": "/redfish/v1/TaskService/TaskMonitors/1"},
                       json=task("New", uri="/redfish/v1/TaskService/Tasks/1"))
    ref = task_ref_from_response(S(), r)  # type: ignore[arg-type]
    assert ref == TaskRef(monitor="/redfish/v1/TaskService/TaskMonitors/1", task="/redfish/v1/TaskService/Tasks/1")
