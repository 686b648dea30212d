"""Acceptance (issue 12): BIOS settings planned and applied on the simulated lab.

`run_apply` runs in-process, so the embedded simulator's event log (ground truth: what
each BMC was asked, when the BIOS activated, when settings applied, every reset) is read
after the run. The kill -9 test runs `hwfw apply` as a subprocess against `hwfw sim
serve` in its own process.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.config import load_workspace
from hwfw.events import JsonLinesSink
from hwfw.resources import schema_path
from hwfw.state.files import read_json_lines
from hwfw.state.store import StateStore
from tests.apply.support import serve_lab
from tests.apply.test_cli_lab import RESET_KINDS, apply_in_process
from tests.helpers import edit, run_hwfw

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the lab with its own image cache."""
    monkeypatch.setenv("HWFW_CACHE", str(tmp_path / "cache"))
    return lab_copy


def _seq(events: list[dict[str, Any]], type_: str, **match: Any) -> list[int]:
    return [e["seq"] for e in events if e["type"] == type_ and all(e.get(k) == v for k, v in match.items())]


def _reboots(sim: Any, host: str) -> Counter[str]:
    return Counter(e["kind"] for e in sim.query(host, "reset") if e["kind"] in RESET_KINDS)


def _state(ws: Path) -> Any:
    return StateStore(ws / ".hwfw" / "state.json").load()


def test_target_only_attribute_is_set_after_the_new_bios_runs_and_reboots_are_as_planned(lab: Path) -> None:
    hosts = ("lab-dell-01", "lab-dell-02", "lab-gen-01")
    result, _, sim, _ = apply_in_process(lab, targets=hosts)
    assert result.exit_code == 0, {h: o.message for h, o in result.summary.hosts.items()}
    dell1 = result.plan.host("lab-dell-01")
    aspm = next(s for s in dell1.settings if s.attribute == "PcieAspmL1")
    # the plan says why: only the target BIOS knows the attribute, so it waits for that BIOS
    assert (aspm.reason.value, aspm.needs_bios, aspm.current) == ("needs-target-bios", "1.12.1", None)
    assert "only BIOS 1.12.1 has it" in aspm.message
    events = sim.query("lab-dell-01")
    activated = _seq(events, "activated", component="bios", to="1.12.1")
    applied = [e for e in events if e["type"] == "bios-settings-applied"]
    assert len(activated) == 1 and len(applied) == 1
    assert activated[0] < applied[0]["seq"]                         # BIOS activated, then settings applied
    assert "PcieAspmL1" in applied[0]["attributes"] and applied[0]["bios_version"] == "1.12.1"
    for name in hosts:
        hp = result.plan.host(name)
        want = Counter({"host-reboot": hp.resets.host_reboots, "bmc-reset": hp.resets.bmc_resets,
                        "ac-cycle": hp.resets.ac_cycles})
        assert _reboots(sim, name) == +want, name                    # exactly the planned resets
        assert len(sim.query(name, "bios-settings-staged")) == 1, name  # one PATCH (one Dell job)
        assert len(sim.query(name, "bios-settings-applied")) == 1, name
    assert result.plan.host("lab-dell-01").resets.host_reboots == 2
    # lab-dell-02 runs the target BIOS already: its settings share the NIC update's reboot
    assert result.plan.host("lab-dell-02").resets.host_reboots == 1
    nic = _seq(sim.query("lab-dell-02"), "activated", component="nic")
    reboot = _seq(sim.query("lab-dell-02"), "reset", kind="host-reboot")
    dell2_applied = _seq(sim.query("lab-dell-02"), "bios-settings-applied")
    assert reboot[0] < nic[0] < dell2_applied[0]
    staged = sim.query("lab-dell-02", "bios-settings-staged")[0]
    assert staged["job"] and staged["apply_time"] == "OnReset"      # Dell: one configuration job
    state = _state(lab)
    assert state.extra["bios_settings"]["lab-dell-01"]["status"] == "applied"
    validation = state.extra["validations"]["lab-dell-01"]
    assert validation["ok"] and validation["settings"]["PcieAspmL1"] == {"expected": "Enabled", "reads": "Enabled",
                                                                         "ok": True}
    assert validation["firmware"]["bios"]["running"] == "1.12.1" and validation["post_complete"]
    audit = [json.loads(x) for x in (lab / ".hwfw" / "audit.jsonl").read_text().splitlines()]
    assert {(a["host"], a["outcome"]) for a in audit if a["action"] == "validate"} == {(h, "ok") for h in hosts}
    audit_schema = json.loads(schema_path("audit").read_text())
    for entry in audit:
        jsonschema.validate(entry, audit_schema)
    assert {(a["action"], a["outcome"]) for a in audit if a["host"] == "lab-dell-01" and
            a["component"] == "bios-settings"} == {("configure", "staged"), ("verify", "ok")}
    shown = run_hwfw("state", "show", "lab-dell-01", str(lab))
    assert "bios-settings applied: PcieAspmL1=Enabled, ProcCStates=Disabled, SysProfile=Custom" in shown.stdout
    assert "validation ok" in shown.stdout and "4 BIOS setting(s) read back" in shown.stdout
    doc = json.loads(run_hwfw("state", "show", "lab-dell-01", str(lab), "--format", "json").stdout)
    assert doc["bios_settings"]["status"] == "applied" and doc["validation"]["ok"] is True
    again = run_hwfw("plan", str(lab), "--detailed-exitcode", *(f"--target={h}" for h in hosts))
    assert again.returncode == 0, again.stdout[-3000:]
    assert "= 3 BIOS settings as declared" in again.stdout or "already at target" in again.stdout


def test_settings_known_to_both_bios_versions_share_the_bios_reboot(lab: Path) -> None:
    edit(lab / "baselines.yaml", "      PcieAspmL1: Enabled         # only BIOS 1.12.0 and later have it: set once "
                                 "that BIOS runs\n", "")
    result, _, sim, _ = apply_in_process(lab, targets=("lab-dell-01", "lab-dell-02"))
    assert result.exit_code == 0
    hp = result.plan.host("lab-dell-01")
    assert hp.resets.host_reboots == 1                              # the registry of 1.12.1 is known (lab-dell-02)
    reboot = sim.query("lab-dell-01", "reset")
    assert [e["kind"] for e in reboot if e["kind"] in RESET_KINDS] == ["bmc-reset", "host-reboot"]
    events = sim.query("lab-dell-01")
    bios = _seq(events, "activated", component="bios")
    applied = [e for e in events if e["type"] == "bios-settings-applied"]
    assert len(applied) == 1 and _seq(events, "reset", kind="host-reboot")[0] < bios[0] < applied[0]["seq"]
    assert applied[0]["bios_version"] == "1.12.1" and applied[0]["rejected"] == []


@pytest.mark.parametrize("host, settings, attribute", [
    # HPE validates at the reboot: ProcTurbo is grayed out unless WorkloadProfile is Custom
    ("lab-hpe-02", "      ProcHyperthreading: Enabled\n      Sriov: Disabled\n", "ProcTurbo"),
    # Dell's config job ends CompletedWithErrors: ProcTurboMode is locked unless SysProfile is Custom
    ("lab-dell-03", "      SriovGlobalEnable: Enabled\n      AcPwrRcvryUserDelay: 120\n", "ProcTurboMode"),
])
def test_a_value_the_bios_rejects_ends_with_its_message_id_and_exit_1(lab: Path, host: str, settings: str,
                                                                      attribute: str) -> None:
    edit(lab / "baselines.yaml", settings, f"      {attribute}: Disabled\n")
    result, _, sim, _ = apply_in_process(lab, targets=(host,))
    assert result.exit_code == 1
    hp = result.plan.host(host)
    assert any(f.code == "bios-setting-locked" for f in hp.findings)   # the plan warned
    outcome = result.summary.hosts[host]
    assert outcome.status == "failed"
    assert f"{attribute}=Disabled reads Enabled" in outcome.message and "PropertyNotWritable" in outcome.message
    rejected = sim.query(host, "bios-settings-rejected")
    assert [(e["attribute"], e["message_id"].rsplit(".", 1)[-1]) for e in rejected] == \
        [(attribute, "PropertyNotWritable")]
    record = _state(lab).extra["bios_settings"][host]
    assert record["status"] == "failed"
    assert record["rejected"][0]["attribute"] == attribute
    assert record["rejected"][0]["message_id"] == rejected[0]["message_id"]   # the BMC's own MessageId


def test_rejected_settings_are_rolled_back_to_the_checkpoint(lab: Path) -> None:
    """on_failure rollback-host: the attributes the BIOS did apply go back to their values."""
    edit(lab / "baselines.yaml", "      ProcHyperthreading: Enabled\n      Sriov: Disabled\n",
         "      Sriov: Disabled\n      ProcTurbo: Disabled\n")
    edit(lab / "hwfw.yaml", "    on_failure: halt-host", "    on_failure: rollback-host")
    edit(lab / "baselines.yaml", '      bios: {version: "U46 v1.50 (03/01/2023)", image: hpe-dl360g10p-rom-u46-1.50}\n',
         "")
    result, _, sim, _ = apply_in_process(lab, targets=("lab-hpe-02",))
    assert result.exit_code == 1
    outcome = result.summary.hosts["lab-hpe-02"]
    assert outcome.status == "rolled-back", outcome.message
    applied = sim.query("lab-hpe-02", "bios-settings-applied")
    assert [e["values"] for e in applied] == [{"Sriov": "Disabled"}, {"Sriov": "Enabled"}]
    assert _state(lab).extra["bios_settings"]["lab-hpe-02"]["status"] == "rolled-back"


def test_watchdog_power_cycles_a_host_hung_in_post_and_it_converges(lab: Path) -> None:
    edit(lab / "hwfw.yaml", "  simulator:\n", "  watchdog: true\n  simulator:\n")

    def hang(conn: Any) -> None:  # the next POST of lab-dell-02 (its update reboot) hangs
        conn.fleet.fleet.set_faults("lab-dell-02", {"hang_in_post": True})

    box: dict[str, Any] = {}
    out = io.StringIO()
    result = asyncio.run(run_apply(load_workspace(lab), ApplyOptions(auto_approve=True, targets=("lab-dell-02",)),
                                   events=JsonLinesSink(out),
                                   observe=lambda conn: (box.setdefault("conn", conn), hang(conn))))
    sim = box["conn"].fleet.fleet.events
    assert result.exit_code == 0, {h: o.message for h, o in result.summary.hosts.items()}
    events = sim.query("lab-dell-02")
    hang_at = _seq(events, "post-hang")
    fired = _seq(events, "watchdog-fired")
    finished = [s for s in _seq(events, "post-finished") if fired and s > fired[0]]
    applied = _seq(events, "bios-settings-applied")
    assert len(hang_at) == 1 and len(fired) == 1 and finished and applied
    assert hang_at[0] < fired[0] < finished[0] < applied[0]
    assert [e["action"] for e in sim.query("lab-dell-02", "watchdog-armed")] == ["power-cycle"]
    record = _state(lab).extra["watchdog"]["lab-dell-02"]
    assert (record["armed"], record["fired"], record["reset"]) == (True, True, "host-reboot")
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert any(e["type"] == "warning" and "watchdog expired" in e.get("message", "") for e in lines)
    audit = [json.loads(x) for x in (lab / ".hwfw" / "audit.jsonl").read_text().splitlines()]
    assert any(a["action"] == "watchdog" and a["outcome"] == "fired" for a in audit)
    assert "watchdog fired (host-reboot" in run_hwfw("state", "show", "lab-dell-02", str(lab)).stdout


def test_watchdog_armed_and_disarmed_without_firing_on_a_normal_reboot(lab: Path) -> None:
    # 30 s scaled by the lab's time_scale (200): 6,000 s on the BMC's clock. The countdown runs
    # on the simulator's clock while hwfw reacts in real time, so a short one fires on a
    # loaded machine before hwfw has seen POST end and disarmed it (2 s did).
    edit(lab / "hwfw.yaml", "  simulator:\n", "  watchdog: {timeout: 30s}\n  simulator:\n")
    result, _, sim, _ = apply_in_process(lab, targets=("lab-gen-01",))
    assert result.exit_code == 0
    armed = sim.query("lab-gen-01", "watchdog-armed")
    reboots = result.plan.host("lab-gen-01").resets.host_reboots
    assert reboots == 2 and [(e["timer_use"], e["action"], e["timeout"]) for e in armed] == \
        [("sms-os", "power-cycle", 6000.0)] * reboots                  # every update reboot, never a BMC reset
    assert len(sim.query("lab-gen-01", "watchdog-disarmed")) == reboots
    assert not sim.query("lab-gen-01", "watchdog-fired")
    assert _state(lab).extra["watchdog"]["lab-gen-01"]["fired"] is False


def test_a_watchdog_that_cannot_be_armed_is_a_warning_and_the_host_converges(lab: Path) -> None:
    """lab-hpe-02 has IPMI over LAN switched off (iLO's hardening default)."""
    edit(lab / "hwfw.yaml", "  simulator:\n", "  watchdog: true\n  simulator:\n")
    result, events, sim, _ = apply_in_process(lab, targets=("lab-hpe-02",))
    assert result.exit_code == 0, {h: o.message for h, o in result.summary.hosts.items()}
    assert result.summary.hosts["lab-hpe-02"].status == "converged"
    assert not sim.query("lab-hpe-02", "watchdog-armed")
    warnings = [e["message"] for e in events if e["type"] == "warning" and e.get("host") == "lab-hpe-02"]
    assert any("watchdog not armed" in w for w in warnings), warnings
    record = _state(lab).extra["watchdog"]["lab-hpe-02"]
    assert (record["armed"], record["fired"]) == (False, False) and "watchdog not armed" in record["problem"]
    audit = [json.loads(x) for x in (lab / ".hwfw" / "audit.jsonl").read_text().splitlines()]
    assert {a["outcome"] for a in audit if a["action"] == "watchdog"} == {"not-armed"}


# ---------------------------------------------------------------- kill -9 between PATCH and reboot

def _open_intents(ws: Path, action: str) -> list[dict[str, Any]]:
    records = read_json_lines(ws / ".hwfw" / "intents.jsonl")
    resolved = {r["resolves"] for r in records if "resolves" in r}
    return [r for r in records if "intent" in r and r["intent"] not in resolved and r["action"] == action]


def test_kill_between_patch_and_reboot_then_resume_sends_no_second_patch(tmp_path: Path) -> None:
    served = serve_lab(tmp_path, ["lab-dell-02"])
    try:
        ws = served.workspace
        # settings only: the staging is followed by the reboot within a few requests
        text = (ws / "baselines.yaml").read_text()
        doc = yaml.safe_load(text)
        doc["baselines"]["dell-r750"].pop("components")
        (ws / "baselines.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
        served.faults("lab-dell-02", latency=0.2)   # each request takes 0.2 s: room to kill before the reboot
        before = served.events()
        since = before[-1]["seq"] if before else 0
        proc = subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(ws), "--auto-approve", "--format", "json"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **served.env})
        deadline = time.monotonic() + 120
        while True:
            assert time.monotonic() < deadline, "never saw the settings staged"
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            if served.events(since, "bios-settings-staged"):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.005)  # polling the simulator's log, not a synchronisation delay
        assert not [e for e in served.events(since, "reset") if e["kind"] == "host-reboot"], \
            "the reboot came before the kill: the test did not hit its moment"
        # killed after the PATCH: the intent is still open, or already resolved with the state saying "staged"
        record = (_state(ws).extra.get("bios_settings") or {}).get("lab-dell-02") if (
            ws / ".hwfw" / "state.json").exists() else None
        assert len(_open_intents(ws, "configure")) == 1 or (record or {}).get("status") == "staged"
        served.clear_faults("lab-dell-02")
        final = subprocess.run([sys.executable, "-m", "hwfw", "apply", str(ws), "--auto-approve", "--format", "json"],
                               capture_output=True, text=True, env={**os.environ, **served.env}, timeout=180)
        assert final.returncode == 0, final.stderr[-3000:]
        steps = [json.loads(x) for x in final.stdout.splitlines()]
        configure = [e for e in steps if e["type"] == "step-finished" and e.get("kind") == "configure"]
        assert [e["outcome"]["status"] for e in configure] == ["pending-activation"]
        assert "not sent again" in configure[0]["outcome"]["message"]
        events = served.events(since)
        assert len([e for e in events if e["type"] == "bios-settings-staged"]) == 1   # no second PATCH
        assert not [e for e in events if e["type"] == "bios-settings-refused"]       # nor a refused one
        assert len([e for e in events if e["type"] == "bios-settings-applied"]) == 1  # applied once
        assert _open_intents(ws, "configure") == []
        again = subprocess.run([sys.executable, "-m", "hwfw", "plan", str(ws), "--detailed-exitcode"],
                               capture_output=True, text=True, env={**os.environ, **served.env}, timeout=120)
        assert again.returncode == 0, again.stdout[-2000:]
    finally:
        served.process.stop()
