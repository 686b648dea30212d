"""The executor over in-memory BMCs on a virtual clock: order, records, failures, rollout.

The in-memory driver is a double of the `HostDriver` interface (conftest.py); the
executor, scheduler, ledger and checkpoints under test are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from hwfw.apply.driver import InFlight
from hwfw.apply.events import (
    HOST_CONVERGED,
    HOST_DEFERRED,
    HOST_FAILED,
    HOST_INTERRUPTED,
    HOST_NOT_STARTED,
    HOST_REFUSED,
    HOST_ROLLED_BACK,
    HOST_SKIPPED,
    STEP_SKIPPED,
)
from hwfw.apply.ledger import intent_log
from hwfw.apply.scheduler import Rollout, shapes_of
from hwfw.config.model import HostHooks
from hwfw.events import CallbackSink, Event
from hwfw.resources import schema_path
from hwfw.sim.images import make_image
from hwfw.state.store import StateStore
from tests.apply.support import Recorder, generic_hosts


def _flashes(fleet, host=None):
    return Counter((e["host"], e["key"], e["version"]) for e in fleet.of("flash", host))


def test_converges_the_lab_and_records_everything(make_rig) -> None:
    rig = make_rig()
    plan = rig.plan()
    summary, ex = rig.apply(plan)
    assert summary.exit_code == 0 and summary.complete
    assert rig.plan().steps == ()                              # planning again: nothing to do
    assert max(_flashes(rig.fleet).values()) == 1              # no image flashed twice
    for hp in plan.hosts:                                      # resets: exactly what the plan counted
        resets = Counter(e["kind"] for e in rig.fleet.of("reset", hp.name))
        assert resets == Counter({k: n for k, n in (("host-reboot", hp.resets.host_reboots),
                                                    ("bmc-reset", hp.resets.bmc_resets),
                                                    ("ac-cycle", hp.resets.ac_cycles)) if n}), hp.name
    state = StateStore(rig.workspace.settings.state_path).load()   # validates against the schema
    assert state.record("lab-dell-01", "bios").status == "ok"
    assert state.record("lab-dell-01", "bios").previous_version == "1.10.2"
    assert state.checkpoints["hosts"]["lab-dell-01"]["status"] == "closed"
    assert state.checkpoints["hosts"]["lab-dell-01"]["components"]["bios"] == {"version": "1.10.2",
                                                                               "rollback": "bmc-previous"}
    assert intent_log(rig.workspace.settings).open_intents() == []
    audit_schema = json.loads(schema_path("audit").read_text())
    audit = [json.loads(line) for line in (rig.workspace.settings.runtime_dir / "audit.jsonl").read_text().splitlines()]
    for entry in audit:
        jsonschema.validate(entry, audit_schema)
    assert {e["action"] for e in audit} >= {"flash", "verify", "activate:host-reboot", "activate:ac-cycle"}
    assert (rig.workspace.settings.runtime_dir / ".gitignore").read_text().splitlines()[-1] == "*"


def test_a_failing_event_subscriber_never_breaks_the_run(make_rig, caplog: pytest.LogCaptureFixture) -> None:
    rig = make_rig(generic_hosts(3))
    seen: list[str] = []

    def broken(event: Event) -> None:
        seen.append(event.name)
        raise RuntimeError("subscriber bug")

    rig.hooks = CallbackSink(broken)
    summary, _ = rig.apply()
    assert summary.exit_code == 0 and {o.status for o in summary.hosts.values()} == {HOST_CONVERGED}
    assert seen[0] == "run-started" and seen[-1] == "run-finished" and seen.count("host-finished") == 3
    assert len([r for r in caplog.records if "event sink" in r.getMessage()]) == 1   # logged once


def test_a_failed_flash_skips_its_descendants_and_halts_only_that_host(make_rig) -> None:
    rig = make_rig()
    rig.hooks = Recorder()
    rig.fleet.bmcs["lab-dell-01"].fail_flash["bios"] = "ApplyFailed"
    summary, _ = rig.apply()
    out = summary.hosts["lab-dell-01"]
    assert out.status == HOST_FAILED and "lab-dell-01/flash/bios" in out.message
    skipped = {sid: o for sid, o in rig.hooks.of("step-finished") if o.status == STEP_SKIPPED}
    assert skipped["lab-dell-01/flash/nic:NIC.Integrated.1-1"].reason == "upstream failed"
    assert skipped["lab-dell-01/verify/bios"].reason == "upstream failed"
    assert all(o.status == HOST_CONVERGED for h, o in summary.hosts.items() if h != "lab-dell-01")
    assert summary.exit_code == 1
    rec = StateStore(rig.workspace.settings.state_path).load().record("lab-dell-01", "bios")
    assert (rec.status, rec.version) == ("failed", "1.12.1") and "ApplyFailed" in rec.error
    assert rig.fleet.bmcs["lab-dell-01"].running["bmc"] == "7.10.30.00"   # done before the failure stays


def _add_image(rig, vendor: str, model: str, component: str, version: str, image_id: str) -> None:
    root = rig.workspace.root
    path = root / "images" / f"{image_id}.bin"
    digest = make_image(vendor, model, component, version, 1024, path)
    with (root / "repository.yaml").open("a") as fh:
        fh.write(f"\n  - id: {image_id}\n    vendor: {vendor}\n    component: {component}\n"
                 f"    version: \"{version}\"\n    models: [\"{model}\"]\n    source: images/{image_id}.bin\n"
                 f"    size: {path.stat().st_size}\n    sha256: {digest}\n")
    from hwfw.config import load_workspace

    rig.workspace = load_workspace(root)


def test_rollback_host_returns_to_the_checkpoint_and_verifies(make_rig) -> None:
    rig = make_rig({"gen-a": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"}),
                    "gen-b": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"})})
    _add_image(rig, "generic", "Contoso OpenServer 2", "bmc", "2.14.0", "contoso-os2-bmc-2.14.0")
    rig.fleet.bmcs["gen-a"].fail_flash["bios"] = "VerificationFailed"
    plan = rig.plan()
    assert [s.rollback for s in plan.steps if s.id == "gen-a/flash/bmc"] == ["repository"]
    summary, _ = rig.apply(plan, on_failure="rollback-host")
    assert summary.hosts["gen-a"].status == HOST_ROLLED_BACK
    assert summary.hosts["gen-b"].status == HOST_CONVERGED
    assert rig.fleet.bmcs["gen-a"].running == {"bmc": "2.14.0", "bios": "1.0.5"}
    state = StateStore(rig.workspace.settings.state_path).load()
    assert state.record("gen-a", "bmc").status == "rolled-back"
    assert state.checkpoints["hosts"]["gen-a"]["outcome"] == HOST_ROLLED_BACK
    assert [e["version"] for e in rig.fleet.of("flash", "gen-a")] == ["2.15.0", "2.14.0"]
    assert summary.exit_code == 1


def test_rollback_without_an_image_leaves_the_host_failed_and_says_why(make_rig) -> None:
    rig = make_rig({"gen-a": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.0.5"})})
    rig.fleet.bmcs["gen-a"].fail_flash["bios"] = "ApplyFailed"
    summary, _ = rig.apply(on_failure="rollback-host")
    out = summary.hosts["gen-a"]
    assert out.status == HOST_FAILED
    assert "rollback impossible: bmc: no image of 2.14.0 in the repository" in out.message


def test_abort_run_starts_nothing_new_after_a_failure(make_rig) -> None:
    rig = make_rig(generic_hosts(6))
    rig.fleet.bmcs["edge-000"].fail_flash["bmc"] = "ApplyFailed"
    summary, _ = rig.apply(on_failure="abort-run", rollout=Rollout(parallelism=2))
    st = {h: o.status for h, o in summary.hosts.items()}
    assert st["edge-000"] == HOST_FAILED
    assert st["edge-001"] in (HOST_INTERRUPTED, HOST_CONVERGED)   # in flight: stopped at a safe point
    assert [st[f"edge-00{i}"] for i in range(2, 6)] == [HOST_NOT_STARTED] * 4
    assert summary.aborted and summary.exit_code == 1
    assert not rig.fleet.of("flash-started", "edge-002")


@pytest.mark.slow
def test_pre_and_post_host_hooks_run_in_order_and_a_failing_pre_hook_skips_the_host(make_rig, tmp_path: Path) -> None:
    rig = make_rig(generic_hosts(2))
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.py"
    script.write_text("import os, sys\n"
                      f"open({str(log)!r}, 'a').write(os.environ['HWFW_HOOK'] + ' ' + os.environ['HWFW_HOST'] + ' '"
                      " + os.environ.get('HWFW_HOST_OUTCOME', '-') + '\\n')\n"
                      "sys.exit(3 if os.environ['HWFW_HOST'] == 'edge-001' else 0)\n")
    rig.with_settings(hooks=HostHooks(pre_host=(sys.executable, str(script)), post_host=(sys.executable, str(script)),
                                      timeout=30))
    rig.hooks = Recorder()
    summary, _ = rig.apply(rollout=Rollout(parallelism=1))
    assert log.read_text().splitlines() == ["pre_host edge-000 -", "post_host edge-000 converged",
                                            "pre_host edge-001 -"]
    assert summary.hosts["edge-001"].status == HOST_SKIPPED
    assert "pre_host hook" in summary.hosts["edge-001"].message and "exited with 3" in summary.hosts["edge-001"].message
    assert not [e for e in rig.fleet.events if e["host"] == "edge-001"]   # never contacted
    order = [k for k, v in rig.hooks.events if (v[0] if isinstance(v, tuple) else v).startswith("edge-000")]
    assert order[0] == "host-started" and order[1] == "step-started" and order[-1] == "host-finished"


def test_preflight_refuses_unrelated_pending_jobs_unless_allowed_and_foreign_updates_always(make_rig) -> None:
    rig = make_rig(generic_hosts(3))
    rig.fleet.bmcs["edge-000"].pending_jobs = ["JID_1234 (BIOS configuration)"]
    rig.fleet.bmcs["edge-001"].foreign_tasks = [InFlight("/redfish/v1/TaskService/Tasks/9", "Running", "bios")]
    summary, _ = rig.apply()
    assert summary.hosts["edge-000"].status == HOST_REFUSED
    assert "JID_1234" in summary.hosts["edge-000"].message
    assert summary.hosts["edge-001"].status == HOST_REFUSED
    assert "another copy of the workspace may be updating this host" in summary.hosts["edge-001"].message
    assert summary.hosts["edge-002"].status == HOST_CONVERGED
    again, _ = rig.apply(allow_pending=True, run_id="run2")
    assert again.hosts["edge-000"].status == HOST_CONVERGED
    assert again.hosts["edge-001"].status == HOST_REFUSED


def test_failure_budget_stops_new_hosts_when_a_bmc_never_returns(make_rig) -> None:
    rig = make_rig(generic_hosts(5))
    rig.fleet.bmcs["edge-001"].never_returns = True
    summary, _ = rig.apply(rollout=Rollout(parallelism=2, failure_budget=0))
    st = {h: o.status for h, o in summary.hosts.items()}
    assert st["edge-001"] == HOST_FAILED
    assert st["edge-000"] == HOST_CONVERGED                # others continue
    started = {e["host"] for e in rig.fleet.of("flash-started")}
    assert st["edge-004"] == HOST_NOT_STARTED and "edge-004" not in started
    assert "failure budget exceeded" in summary.hosts["edge-004"].message


def test_never_more_than_max_unavailable_hosts_down_and_staging_goes_first(make_rig) -> None:
    rig = make_rig(generic_hosts(12))
    plan = rig.plan()
    summary, ex = rig.apply(plan, rollout=Rollout(parallelism=12, max_unavailable=3))
    assert summary.exit_code == 0
    assert rig.fleet.peak_down() == 3 and ex.scheduler.peak_unavailable == 3
    # every host staged its BIOS before the first host went down
    first_down = min(e["t"] for e in rig.fleet.of("down"))
    assert all(e["t"] < first_down for e in rig.fleet.of("flash") if e["key"] == "bios")


def test_no_other_host_starts_before_the_canaries_verified(make_rig) -> None:
    rig = make_rig(generic_hosts(6))
    rig.hooks = Recorder()
    summary, _ = rig.apply(rollout=Rollout(parallelism=6, canary=2))
    assert summary.exit_code == 0
    canary_done = max(e["t"] for e in rig.fleet.events if e["host"] in ("edge-000", "edge-001"))
    others = [e["t"] for e in rig.fleet.events if e["host"] not in ("edge-000", "edge-001")]
    assert min(others) >= canary_done
    verified = [sid for sid, o in rig.hooks.of("step-finished") if "/verify/" in sid]
    assert verified.index("edge-001/verify/bios") < min(i for i, sid in enumerate(verified)
                                                           if not sid.startswith(("edge-000", "edge-001")))


def test_a_failing_canary_stops_the_rollout(make_rig) -> None:
    rig = make_rig(generic_hosts(4))
    rig.fleet.bmcs["edge-000"].fail_flash["bios"] = "ApplyFailed"
    summary, _ = rig.apply(rollout=Rollout(parallelism=4, canary=1))
    assert [summary.hosts[f"edge-00{i}"].status for i in range(4)] == [HOST_FAILED] + [HOST_NOT_STARTED] * 3
    assert summary.hosts["edge-003"].message == "canary edge-000 did not converge (failed)"


def test_window_never_starts_a_step_that_would_overrun(make_rig) -> None:
    rig = make_rig(generic_hosts(6))
    rig.hooks = Recorder()
    plan = rig.plan()
    est = shapes_of(plan.steps)["edge-000"].estimate_seconds
    deadline = est * 2.5    # clock seconds (time_scale 1): room for two hosts one after the other
    summary, _ = rig.apply(plan, rollout=Rollout(parallelism=1, deadline=deadline))
    st = [summary.hosts[f"edge-00{i}"].status for i in range(6)]
    assert st[:2] == [HOST_CONVERGED] * 2 and set(st[2:]) <= {HOST_DEFERRED}
    assert summary.exit_code == 2
    steps = {s.id: s for s in plan.steps}
    starts = {e["host"] + e["key"]: e["t"] for e in rig.fleet.of("flash-started")}
    assert starts and all(t <= deadline for t in starts.values())
    assert rig.clock.now <= deadline + 1e-6 or all(
        e["t"] + 0 <= deadline for e in rig.fleet.events)
    assert all(steps[s].estimate_seconds >= 0 for s in steps)


def test_the_window_admits_a_host_on_the_estimate_the_plan_shows(make_rig) -> None:
    rig = make_rig(generic_hosts(1))
    plan = rig.plan()
    planned = plan.host("edge-000").estimate_seconds
    steps_only = shapes_of(plan.steps)["edge-000"].estimate_seconds
    assert steps_only < planned     # the plan adds the host's session and pre-checks
    summary, _ = rig.apply(plan, rollout=Rollout(parallelism=1, deadline=(steps_only + planned) / 2))
    assert summary.hosts["edge-000"].status == HOST_DEFERRED


def test_power_is_left_as_found(make_rig) -> None:
    rig = make_rig(generic_hosts(1))
    rig.fleet.bmcs["edge-000"].power = "Off"
    summary, _ = rig.apply()
    assert summary.exit_code == 0
    assert rig.fleet.bmcs["edge-000"].power == "Off"
    assert [e["state"] for e in rig.fleet.of("power")] == ["Off"]


def test_first_interrupt_lets_in_flight_steps_finish_then_stops(make_rig) -> None:
    rig = make_rig(generic_hosts(4))
    summary_box = {}

    async def scenario() -> None:
        ex = rig.executor(rig.plan(), rollout=Rollout(parallelism=2))
        task = asyncio.ensure_future(ex.run())
        while not rig.fleet.of("flash-started"):
            await rig.clock.sleep(1)
        ex.interrupt()
        summary_box["s"] = await task

    asyncio.run(rig.clock.drive(scenario()))
    s = summary_box["s"]
    assert s.interrupted and s.exit_code == 130
    assert {o.status for o in s.hosts.values()} <= {HOST_INTERRUPTED, HOST_NOT_STARTED}
    started = [e for e in rig.fleet.of("flash-started")]
    finished = [e for e in rig.fleet.of("flash")]
    assert len(started) == len(finished)          # every flash that started also finished
    assert intent_log(rig.workspace.settings).open_intents() == []
    StateStore(rig.workspace.settings.state_path).load()


def test_second_interrupt_leaves_the_flash_running_and_the_next_run_settles_it(make_rig) -> None:
    rig = make_rig(generic_hosts(1))
    gate = asyncio.Event()
    rig.fleet.bmcs["edge-000"].block_flash = gate

    async def scenario():
        ex = rig.executor(rig.plan(), rollout=Rollout(parallelism=1))
        task = asyncio.ensure_future(ex.run())
        while not rig.fleet.of("flash-started"):
            await rig.clock.sleep(1)
        ex.interrupt()
        ex.interrupt()
        return await task

    s = asyncio.run(rig.clock.drive(scenario()))
    assert s.exit_code == 130 and s.hosts["edge-000"].status == HOST_INTERRUPTED
    open_ = intent_log(rig.workspace.settings).open_intents()
    assert [(i["component"], i["action"]) for i in open_] == [("bmc", "flash")]
    # Meanwhile the BMC finished the flash it had accepted (it reset itself).
    rig.fleet.bmcs["edge-000"].block_flash = None
    rig.fleet.bmcs["edge-000"].running["bmc"] = "2.15.0"
    from hwfw.apply.ledger import Ledger
    from hwfw.apply.resume import settle_open_intents

    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    report = asyncio.run(rig.clock.drive(settle_open_intents(ledger, rig.fleet.driver, settings=rig.workspace.settings,
                                                             clock=rig.clock)))
    assert [v for _, _, v in report.settled] == ["done"] and not report.blocked
    assert ledger.record("edge-000", "bmc").status == "ok"
    summary, _ = rig.apply(run_id="run3")
    assert summary.exit_code == 0
    assert [e["key"] for e in rig.fleet.of("flash-started", "edge-000")] == ["bmc", "bios"]


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs in the dying run."""


def _killed_once_the_bios_image_was_accepted(rig) -> None:
    """Run apply until the BMC accepted the staged BIOS image, then kill the run."""
    fleet = rig.fleet
    real_log = fleet.log

    def log_then_die(host, type_, **fields):
        real_log(host, type_, **fields)
        if type_ == "flash" and fields.get("key") == "bios":
            raise Killed

    fleet.log = log_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        asyncio.run(rig.clock.drive(rig.executor(rig.plan()).run()))
    fleet.log = real_log  # type: ignore[method-assign]
    fleet.bmcs["edge-000"].staged["bios"] = ("1.1.0", "host-reboot")   # the BMC had accepted it


def test_killed_after_the_bmc_accepted_a_staged_image_is_never_flashed_again(make_rig) -> None:
    rig = make_rig(generic_hosts(1))
    fleet = rig.fleet
    _killed_once_the_bios_image_was_accepted(rig)
    open_ = intent_log(rig.workspace.settings).open_intents()
    assert [(i["component"], i["action"]) for i in open_] == [("bios", "flash")]
    from hwfw.apply.ledger import Ledger
    from hwfw.apply.resume import settle_open_intents

    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    asyncio.run(rig.clock.drive(settle_open_intents(ledger, fleet.driver, settings=rig.workspace.settings,
                                                    clock=rig.clock)))
    assert ledger.record("edge-000", "bios").status == "pending-activation"
    plan = rig.plan()
    assert [s.id for s in plan.steps] == ["edge-000/activate/host-reboot#1", "edge-000/verify/bios"]
    summary, _ = rig.apply(plan, run_id="run3")
    assert summary.exit_code == 0
    assert Counter(e["key"] for e in fleet.of("flash", "edge-000")) == Counter({"bmc": 1, "bios": 1})


def test_a_bmc_still_resetting_when_apply_resumes_is_waited_for(make_rig) -> None:
    """The interrupted run left the BMC rebooting: resume waits for it (within
    bmc_ready_timeout) instead of refusing the host as "cannot settle"."""
    rig = make_rig(generic_hosts(1))
    fleet = rig.fleet
    _killed_once_the_bios_image_was_accepted(rig)
    bmc = fleet.bmcs["edge-000"]
    bmc.down = True  # and it is resetting when the next apply starts
    from hwfw.apply.ledger import Ledger
    from hwfw.apply.resume import settle_open_intents

    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    looks: list[float] = []

    def opener(host: str):
        looks.append(rig.clock.monotonic())
        if len(looks) == 3:
            bmc.down = False  # back on the third look
        return fleet.driver(host)

    report = asyncio.run(rig.clock.drive(settle_open_intents(ledger, opener, settings=rig.workspace.settings,
                                                             clock=rig.clock)))
    assert not report.blocked and [v for _, _, v in report.settled] == ["done"]
    assert ledger.record("edge-000", "bios").status == "pending-activation"
    poll = rig.workspace.settings.timing.poll_interval
    assert [round(b - a, 6) for a, b in itertools.pairwise(looks)] == [poll, poll] and fleet.open_drivers == 0


def test_a_bmc_that_goes_away_while_an_intent_is_settled_is_waited_for_and_settled_again(make_rig) -> None:
    """The BMC answers when resume opens it, then resets (the update the killed run
    started ends that way): settling waits for it and settles the intent again,
    instead of refusing the host as "cannot settle"."""
    rig = make_rig(generic_hosts(1))
    fleet = rig.fleet
    _killed_once_the_bios_image_was_accepted(rig)
    bmc = fleet.bmcs["edge-000"]
    from hwfw.apply.events import ApplyEvents
    from hwfw.apply.ledger import Ledger
    from hwfw.apply.resume import settle_open_intents

    ledger = Ledger(rig.workspace.settings, "run2", rig.clock, offload=False)
    looks: list[float] = []

    def opener(host: str):
        driver = fleet.driver(host)
        settle = driver.settle_intent

        async def looked_at(intent):  # type: ignore[no-untyped-def]
            looks.append(rig.clock.monotonic())
            bmc.down = len(looks) < 3      # gone at the first look, back at the third
            return await settle(intent)

        driver.settle_intent = looked_at  # type: ignore[method-assign]
        return driver

    recorder = Recorder()
    report = asyncio.run(rig.clock.drive(settle_open_intents(
        ledger, opener, settings=rig.workspace.settings, clock=rig.clock,
        events=ApplyEvents(recorder, rig.clock, "run2"))))
    assert not report.blocked and [v for _, _, v in report.settled] == ["done"]
    assert ledger.record("edge-000", "bios").status == "pending-activation"
    poll = rig.workspace.settings.timing.poll_interval
    assert [round(b - a, 6) for a, b in itertools.pairwise(looks)] == [poll, poll] and fleet.open_drivers == 0
    warned = [m for h, m in recorder.of("warning") if h == "edge-000" and "stopped answering while settling" in m]
    assert len(warned) == 2
