"""A BMC's skip answers, taken by what they say (issue 17 item 7), and the BMC's own
words carried into a host's final error.

- "skipped: already installed" is believed only once the version is seen running;
  otherwise the flash fails at once, quoting the BMC, and no reset is sent for it;
- a skip for any other reason fails with the BMC's message (whatever its severity);
- a staged image whose flash fails during the reboot: the host's error quotes the
  task's Exception message.

Against the embedded simulator (its `update_skip` and `task_exception` faults speak
each vendor's message ids), plus the skip verdicts and the executor's contract on
their own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hwfw.apply.driver import FLASH_SKIPPED_SAME, FlashRequest, FlashResult, Progress
from hwfw.apply.events import HOST_CONVERGED, HOST_FAILED, STEP_NOT_NEEDED
from hwfw.redfish.errors import RedfishMessage
from hwfw.redfish.taskstate import judge_messages
from hwfw.state.store import StateStore

from .support import MemoryDriver, Recorder, generic_hosts
from .test_executor_faults import apply, lab_with, statuses


def _msg(mid: str, severity: str = "OK") -> RedfishMessage:
    return RedfishMessage(message_id=mid, message=f"said {mid}", severity=severity)


@pytest.mark.parametrize(("mid", "severity", "kind"), [
    ("Update.1.0.UpdateSkippedSameVersion", "OK", "skipped"),
    ("IDRAC.2.8.RED052", "Informational", "skipped"),
    ("Update.1.0.UpdateSkipped", "OK", "failed"),                 # OK severity, yet nothing was installed
    ("Update.1.0.UpdateSkippedVersionTooLow", "Warning", "failed"),
    ("Update.1.0.UpdateSuccessful", "OK", "completed"),
])
def test_skip_answers_are_judged_by_what_they_say(mid: str, severity: str, kind: str) -> None:
    outcome = judge_messages((_msg(mid, severity),), "Completed", "/t/1")
    assert outcome.kind == kind
    if kind == "failed":
        assert f"said {mid}" in outcome.detail and outcome.message_id == mid


def _resets_sent(result: object, host: str, action: str) -> int:
    return sum(1 for e in result.extra["sim"].query(host, "reset-requested") if e["action"] == action)  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize(("host", "said"), [("lab-gen-01", "UpdateSkippedSameVersion"), ("lab-dell-03", "RED052")])
def test_already_installed_but_not_running_fails_at_once_with_the_bmcs_words_and_no_reboot(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: str, said: str) -> None:
    ws = lab_with(tmp_path, {host: {"update_skip": {"component": "bios", "reason": "same-version"}}}, monkeypatch)
    result = apply(ws, targets=(host,))
    assert statuses(result) == {host: HOST_FAILED}
    message = result.summary.hosts[host].message
    assert said in message and "already installed" in message
    assert "reports 1.0.5" in message or "reports 1.9.4" in message          # what really runs
    assert _resets_sent(result, host, "ComputerSystem.Reset") == 0          # no reboot for nothing
    assert not result.extra["sim"].query(host, "flash-started") or \
        all(e["component"] != "bios" for e in result.extra["sim"].query(host, "flash-started"))
    record = StateStore(ws / ".hwfw" / "state.json").load().record(host, "bios")
    assert record.status == "failed" and said in (record.error or "")


@pytest.mark.slow
def test_a_skip_for_another_reason_fails_with_the_bmcs_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {"lab-gen-01": {"update_skip": {"component": "bios", "reason": "skipped"}}}, monkeypatch)
    result = apply(ws, targets=("lab-gen-01",))
    assert statuses(result) == {"lab-gen-01": HOST_FAILED}
    message = result.summary.hosts["lab-gen-01"].message
    assert "UpdateSkipped" in message and "skipped the update" in message
    assert _resets_sent(result, "lab-gen-01", "ComputerSystem.Reset") == 0


@pytest.mark.slow
def test_a_staged_flash_that_fails_during_the_reboot_is_quoted_in_the_hosts_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {"lab-gen-01": {"task_exception": {"component": "bios", "message": "ApplyFailed"}}},
                  monkeypatch)
    result = apply(ws, targets=("lab-gen-01",))
    assert statuses(result) == {"lab-gen-01": HOST_FAILED}
    message = result.summary.hosts["lab-gen-01"].message
    assert "expected '1.1.0'" in message                                       # the verification that failed
    assert "ended Exception" in message and "ApplyFailed" in message           # and why, in the BMC's words
    assert "Installing or applying image" in message
    assert _resets_sent(result, "lab-gen-01", "ComputerSystem.Reset") == 1


def test_a_verified_skip_needs_no_activation(make_rig, monkeypatch: pytest.MonkeyPatch) -> None:
    # The executor's side of the contract: a driver that saw the version run after the
    # BMC skipped the update returns FLASH_SKIPPED_SAME; nothing is reset for it.
    rig = make_rig(generic_hosts(1))
    host = "edge-000"

    async def skipping_flash(self: MemoryDriver, request: FlashRequest, progress: Progress) -> FlashResult:
        key = request.step.component or request.kind
        if key != "bios":
            return await original(self, request, progress)
        self.bmc.running[key] = request.step.to_version or ""   # the BMC had it all along
        return FlashResult(FLASH_SKIPPED_SAME, "memory", "/tasks/bios", "the BMC skipped the update: "
                           "already installed [UpdateSkippedSameVersion]; 1.1.0 runs")

    original = MemoryDriver.flash
    rig.hooks = Recorder()
    monkeypatch.setattr(MemoryDriver, "flash", skipping_flash)
    summary, _ = rig.apply()
    assert summary.hosts[host].status == HOST_CONVERGED
    finished = dict(rig.hooks.of("step-finished"))
    assert finished[f"{host}/flash/bios"].status == STEP_NOT_NEEDED
    assert "already installed" in finished[f"{host}/flash/bios"].message
    assert [e["kind"] for e in rig.fleet.of("reset", host)] == ["bmc-reset"]   # no host reboot for the BIOS
    rec = StateStore(rig.workspace.settings.state_path).load().record(host, "bios")
    assert rec.status == "ok" and rec.version == "1.1.0"


@pytest.mark.slow
def test_the_driver_believes_already_installed_once_it_sees_the_version_run(tmp_path: Path) -> None:
    from tests.apply.drivers.support import GEN, flash_request, with_rig, write_fleet

    fleet = write_fleet(tmp_path / "fleet.yaml", {"gen": GEN})

    async def body(rig):  # type: ignore[no-untyped-def]
        drv = await rig.driver("gen")
        path, entry = rig.image("generic", "Contoso OpenServer 2", "bios", "1.0.5")   # what already runs
        request = flash_request("gen", "bios", entry, path, current="1.0.5", apply_time="OnReset",
                                activation="host-reboot")
        return await drv.flash(request, rig.progress)

    result = with_rig(tmp_path, fleet, body)
    assert result.status == FLASH_SKIPPED_SAME
    assert "UpdateSkippedSameVersion" in result.message and "1.0.5 runs" in result.message
