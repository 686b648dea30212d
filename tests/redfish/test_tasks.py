"""The task follower against each task-monitor dialect and every BMC misbehaviour it
tolerates: spec monitors, bmcweb's 204, Dell Tasks that 404 when new and are purged
when done (job fallback), Supermicro task URIs in the body and TaskMonitors, iLO's
Oem.Hpe state, Retry-After within bounds, outages, staged and unknown states."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hwfw.clock import FakeClock
from hwfw.errors import BmcError
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.errors import RedfishMessage
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.tasks import FollowPolicy, Observation, TaskRef, TaskTimeout, follow_task, task_ref_from_response
from hwfw.redfish.taskstate import judge_task
from tests.redfish.fakebmc import FakeBmc, Response, serve

ACTION = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"
US = "/redfish/v1/UpdateService"


def task(state: str, pct: int = 0, uri: str = "/redfish/v1/TaskService/Tasks/7", **extra: Any) -> dict[str, Any]:
    return {"@odata.id": uri, "@odata.type": "#Task.v1_7_4.Task", "Id": uri.rsplit("/", 1)[1],
            "TaskState": state, "PercentComplete": pct, **extra}


def follow(bmc: FakeBmc, accepted: Response | TaskRef, *, timeout: float = 600, poll: float = 5,
           progress: list[Observation] | None = None, **policy: Any) -> Any:
    """Follow the answer `accepted` (served for the action POST) or a TaskRef; returns
    (outcome, virtual seconds it took)."""
    clock = FakeClock()
    if isinstance(accepted, Response):
        bmc.fault("POST", ACTION, accepted)

    async def body() -> Any:
        async with serve(bmc) as server:
            client = RedfishClient(server.url, host="bmc-1", clock=clock, options=ClientOptions())
            async with RedfishSession(client, "admin", "secret-pw") as s:
                ref = accepted if isinstance(accepted, TaskRef) else \
                    await s.post(ACTION, {"ImageURI": "http://images/bmc.bin"})
                outcome = await follow_task(s, ref, clock=clock,
                                            policy=FollowPolicy(poll_interval=poll, max_wait=timeout, **policy),
                                            on_progress=progress.append if progress is not None else None)
            assert bmc.sessions == {}
            return outcome, clock.monotonic()
    return asyncio.run(body())


@pytest.mark.slow
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


@pytest.mark.slow
def test_openbmc_204_once_then_404() -> None:
    bmc = FakeBmc()
    mon = "/redfish/v1/TaskService/TaskMonitors/0"
    bmc.fault("GET", mon, Response(202, task("Running", 50, uri="/redfish/v1/TaskService/Tasks/0")), Response(204))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": mon}))
    assert outcome.ok is True and outcome.status == 204


@pytest.mark.slow
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


@pytest.mark.slow
def test_dell_user_intervention_ends_the_wait() -> None:
    bmc = FakeBmc()
    jid = "/redfish/v1/TaskService/Tasks/JID_1"
    bmc.fault("GET", jid, Response(200, task("UserIntervention", 100, uri=jid, Messages=[
        {"MessageId": "IDRAC.2.8.SUP0516", "Message": "Virtual AC cycle required."}])))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": jid}))
    assert outcome.ok is True and outcome.needs_action and outcome.state == "UserIntervention"


@pytest.mark.slow
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


@pytest.mark.slow
def test_supermicro_task_monitor_serves_the_task_to_its_end() -> None:
    """The TaskMonitor answers the Task body: 202 while running, 200 with the final state."""
    bmc = FakeBmc()
    mon, t = "/redfish/v1/TaskMonitor/9f2c", "/redfish/v1/TaskService/Tasks/5"
    bmc.fault("GET", mon, Response(202, task("Running", 30, uri=t), headers={"Location": mon}),
              Response(200, task("Completed", 100, uri=t, Messages=[
                  {"MessageId": "SMC.1.0.OemFirmwareUpdateCompleted", "Message": "BMC Update completed."}])))
    outcome, _ = follow(bmc, TaskRef(monitor=mon))
    assert outcome.kind == "completed" and outcome.uri == t and outcome.percent == 100 and outcome.status == 200


@pytest.mark.slow
def test_exception_reports_the_failing_message() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/9"
    bmc.fault("GET", t, Response(200, task("Exception", 40, uri=t, TaskStatus="Critical", Messages=[
        {"MessageId": "Update.1.0.VerificationFailed", "Message": "Image rejected.", "MessageSeverity": "Critical"}])))
    outcome, _ = follow(bmc, Response(202, task("New", uri=t), headers={"Location": t}))
    assert outcome.ok is False and outcome.message_id == "Update.1.0.VerificationFailed"
    assert outcome.detail == "Image rejected."


@pytest.mark.slow
def test_completed_with_the_same_version_is_skipped() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/3"
    bmc.fault("GET", t, Response(200, task("Completed", 100, uri=t, Messages=[
        {"MessageId": "Update.1.1.UpdateSkippedSameVersion", "Message": "Already installed."}])))
    outcome, _ = follow(bmc, TaskRef(task=t))
    assert outcome.kind == "skipped" and outcome.ok is True and outcome.detail == "Already installed."


@pytest.mark.slow
def test_unknown_state_keeps_polling_until_the_deadline() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/5"
    bmc.fault("GET", t, *[Response(200, task("Mystery", 50, uri=t))] * 50)
    with pytest.raises(BmcError) as info:
        follow(bmc, Response(202, None, headers={"Location": t}), timeout=60, poll=10)
    assert "did not finish within 60s" in str(info.value) and "Mystery" in str(info.value)
    assert isinstance(info.value, TaskTimeout) and info.value.last_state == "Mystery"


def test_unknown_task_states_keep_polling() -> None:
    """The default verdict: unknown and running states keep polling; UserIntervention,
    failures and the caller's staged states end the wait."""
    def obs(state: str | None) -> Observation:
        return Observation("/t/1", state, None, (), {})

    staged: frozenset[str] = frozenset()
    for state in ("Bogus", "Scheduled", "New", "Running", None):
        assert judge_task(obs(state), staged) is None
    assert judge_task(obs("UserIntervention"), staged).kind == "needs-action"  # type: ignore[union-attr]
    assert judge_task(obs("Failed"), staged).kind == "failed"  # type: ignore[union-attr]
    assert judge_task(obs("Scheduled"), frozenset({"Scheduled"})).kind == "staged"  # type: ignore[union-attr]


@pytest.mark.slow
def test_staged_states_end_the_wait_only_when_the_caller_stages() -> None:
    """OnReset: a Pending task is written and waits for the reset (staged); Immediate:
    the same Pending is still running."""
    t = "/redfish/v1/TaskService/Tasks/6"
    pending = Response(200, task("Pending", 100, uri=t, Messages=[{"MessageId": "Update.1.1.AwaitToActivate"}]))
    bmc = FakeBmc()
    bmc.fault("GET", t, pending)
    outcome, _ = follow(bmc, TaskRef(task=t), staged_states=frozenset({"Pending", "Scheduled"}))
    assert outcome.kind == "staged" and outcome.state == "Pending"
    bmc = FakeBmc()
    bmc.fault("GET", t, pending, Response(200, task("Completed", 100, uri=t)))
    outcome, elapsed = follow(bmc, TaskRef(task=t), poll=7)
    assert outcome.kind == "completed" and elapsed == pytest.approx(7)


@pytest.mark.slow
def test_monitor_vanishing_falls_back_to_the_task_then_reports_gone() -> None:
    bmc = FakeBmc()
    mon, t = "/redfish/v1/TaskService/TaskMonitors/8", "/redfish/v1/TaskService/Tasks/8"
    bmc.fault("GET", mon, Response(202, task("Running", 30, uri=t)), Response(404))
    bmc.fault("GET", t, Response(200, task("Running", 90, uri=t)), Response(404), Response(404))
    outcome, _ = follow(bmc, Response(202, task("New", uri=t), headers={"Location": mon}))
    assert outcome.ok is None and outcome.percent == 90 and "verify" in outcome.detail


@pytest.mark.slow
def test_a_new_task_that_404s_is_polled_again_for_the_grace_polls() -> None:
    """A Dell job 404s for its first seconds: `grace_polls` 404s before it counts as gone."""
    t = "/redfish/v1/TaskService/Tasks/JID_2"
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(404), Response(404), Response(200, task("Running", 10, uri=t)),
              Response(200, task("Completed", 100, uri=t)))
    outcome, elapsed = follow(bmc, TaskRef(task=t), poll=10, grace_polls=2)
    assert outcome.kind == "completed" and elapsed == pytest.approx(30)
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(404), Response(404), Response(404))
    outcome, elapsed = follow(bmc, TaskRef(task=t), poll=10, grace_polls=2)
    assert outcome.kind == "vanished" and outcome.ok is None and elapsed == pytest.approx(20)


@pytest.mark.slow
def test_a_purged_task_falls_back_to_the_dell_job() -> None:
    """The Task is purged (404 after it was seen); the job behind it survives and ends the wait."""
    t = "/redfish/v1/TaskService/Tasks/JID_3"
    job = "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs/JID_3"
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(200, task("Running", 50, uri=t)), Response(404))
    bmc.fault("GET", job, Response(200, {"@odata.id": job, "Id": "JID_3", "JobState": "Completed",
                                         "PercentComplete": 100, "MessageId": "PR19",
                                         "Message": "Job completed successfully."}))
    outcome, _ = follow(bmc, TaskRef(task=t), job_uri=lambda uri: job if uri.endswith("JID_3") else None)
    assert outcome.kind == "completed" and outcome.uri == job and outcome.message_id == "PR19"


@pytest.mark.slow
def test_operation_transitioned_to_job_follows_the_job_with_the_task_messages() -> None:
    t, job = "/redfish/v1/TaskService/Tasks/11", "/redfish/v1/JobService/Jobs/11"
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(200, task("Running", 5, uri=t, Messages=[
        {"MessageId": "Update.1.1.OperationTransitionedToJob", "MessageArgs": [job]},
        {"MessageId": "Update.1.1.UpdateSkippedSameVersion", "Message": "Already installed."}])))
    bmc.fault("GET", job, Response(200, {"@odata.id": job, "JobState": "Completed", "PercentComplete": 100}))
    outcome, _ = follow(bmc, TaskRef(task=t))
    assert outcome.kind == "skipped" and outcome.uri == job  # the job's end, judged with the Task's messages


@pytest.mark.slow
def test_retry_after_is_honoured_within_the_policy_bounds() -> None:
    t = "/redfish/v1/TaskService/Tasks/12"
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(200, task("Running", uri=t), headers={"Retry-After": "1"}),
              Response(200, task("Running", uri=t), headers={"Retry-After": "3600"}),
              Response(200, task("Running", uri=t), headers={"Retry-After": "20"}),
              Response(200, task("Completed", 100, uri=t)))
    _, elapsed = follow(bmc, TaskRef(task=t), poll=10, retry_after_min=10, retry_after_max=60)
    assert elapsed == pytest.approx(10 + 60 + 20)


@pytest.mark.slow
def test_task_tolerates_a_bmc_outage() -> None:
    bmc = FakeBmc()
    t = "/redfish/v1/TaskService/Tasks/2"
    down = Response(503, raw=b"<html>rebooting</html>", headers={"Content-Type": "text/html"})
    bmc.fault("GET", t, Response(200, task("Running", 10, uri=t)), *[down] * 6,
              Response(200, task("Completed", 100, uri=t)))
    outcome, _ = follow(bmc, Response(202, None, headers={"Location": t}))
    assert outcome.ok is True


@pytest.mark.slow
def test_transient_errors_keep_polling_and_a_gateway_error_is_an_outage() -> None:
    """429 and 503 are "busy": keep polling. 500/502/504 mean the BMC went away (it
    resets): keep polling too, and say so in the outcome (the caller then knows a
    self-reset already happened). Connection failures count the same as those."""
    t = "/redfish/v1/TaskService/Tasks/13"
    busy = [Response(429), Response(503)]
    bmc = FakeBmc()
    bmc.fault("GET", t, *busy, Response(200, task("Completed", 100, uri=t)))
    outcome, _ = follow(bmc, TaskRef(task=t))
    assert outcome.kind == "completed" and outcome.outage is False and outcome.polls == 3
    bmc = FakeBmc()
    bmc.fault("GET", t, *busy, Response(502), Response(200, task("Completed", 100, uri=t)))
    outcome, _ = follow(bmc, TaskRef(task=t))
    assert outcome.kind == "completed" and outcome.outage is True


@pytest.mark.slow
def test_an_error_answer_ends_the_task_but_not_an_oem_state_poll() -> None:
    t = "/redfish/v1/TaskService/Tasks/14"
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(400, {"error": {"code": "Base.1.8.GeneralError", "message": "bad",
                                                 "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.GeneralError"}]}}))
    outcome, _ = follow(bmc, TaskRef(task=t))
    assert outcome.kind == "failed" and outcome.status == 400
    bmc = FakeBmc()
    bmc.fault("GET", t, Response(400), Response(404), Response(200, task("Completed", 100, uri=t)))
    outcome, _ = follow(bmc, TaskRef(task=t), tolerate_errors=True)
    assert outcome.kind == "completed" and outcome.polls == 3


def ilo(state: str, pct: int = 0, result: str = "Base.1.4.Success") -> Response:
    return Response(200, {"@odata.id": US, "Oem": {"Hpe": {"State": state, "FlashProgressPercent": pct,
                                                          "Result": {"MessageId": result}}}})


def ilo_policy(previous: str | None) -> dict[str, Any]:
    from hwfw.apply.drivers.hpe import IloVerdict, ilo_view

    return {"observe": ilo_view, "verdict": IloVerdict(previous), "tolerate_errors": True,
            "outage_statuses": frozenset(range(500, 600))}


@pytest.mark.slow
def test_ilo_oem_state_is_followed_to_complete() -> None:
    """iLO 5 has no task: UpdateService.Oem.Hpe.State, proliantutils' rule (a busy state
    seen, then Complete), progress from FlashProgressPercent."""
    bmc = FakeBmc()
    bmc.fault("GET", US, ilo("Verifying"), ilo("Writing", 40), ilo("Complete", 100, "iLO.2.25.SystemResetRequired"))
    seen: list[Observation] = []
    outcome, _ = follow(bmc, TaskRef(task=US), progress=seen, **ilo_policy("Idle"))
    assert outcome.kind == "completed" and outcome.message_id == "iLO.2.25.SystemResetRequired"
    assert [(o.state, o.percent) for o in seen] == [("Verifying", 0), ("Writing", 40), ("Complete", 100)]


@pytest.mark.slow
def test_ilo_complete_left_from_an_earlier_flash_is_not_the_end() -> None:
    """Complete before any busy state, when the iLO was not Idle before: that is the last
    flash's result; keep polling."""
    bmc = FakeBmc()
    bmc.fault("GET", US, ilo("Complete", 100), ilo("Writing", 10), ilo("Error", 10, "iLO.2.25.FirmwareFlashFailed"))
    outcome, _ = follow(bmc, TaskRef(task=US), **ilo_policy("Complete"))
    assert outcome.kind == "failed" and outcome.polls == 3 and "FirmwareFlashFailed" in outcome.detail


@pytest.mark.slow
def test_ilo_that_reset_and_came_back_idle_has_vanished() -> None:
    bmc = FakeBmc()
    bmc.fault("GET", US, ilo("Writing", 50), Response(503), ilo("Idle"))
    outcome, _ = follow(bmc, TaskRef(task=US), **ilo_policy("Idle"))
    assert outcome.kind == "vanished" and outcome.outage is True and "Idle" in outcome.detail


@pytest.mark.slow
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


def test_messages_of_a_dell_job_are_its_own_message() -> None:
    from hwfw.redfish.taskstate import task_messages

    assert task_messages({"JobState": "Failed", "MessageId": "RED106", "Message": "Unable to parse the package."}) \
        == (RedfishMessage(message_id="RED106", message="Unable to parse the package."),)
