"""Kills and interrupts around resets, against `hwfw sim serve` as its own process.

- issue 17 item 3: SIGKILL after a BMC's firmware task completed and before the BMC is
  back from the reset it then does; the resume waits for the BMC and converges at once.
- issue 18 item 5: SIGINT while a requested host reboot runs: exit 130 within 5 s,
  state written; the next apply converges without sending the reset again.
- issue 17 item 12: SIGKILL mid-apply leaves BMC sessions open; the next run logs them
  out first.

The simulator's clock is frozen (`/__sim/clock` speed 0) at the moment that matters,
read from its event log: what happens in virtual time (a BMC booting, a host in POST)
waits until the test lets it go on, so each point is hit exactly, without sleeps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from hwfw.state.files import read_json_lines
from hwfw.state.store import StateStore

from .support import ServedLab, serve_lab

pytestmark = pytest.mark.slow

HOST = "lab-gen-01"   # bmc 2.14.0 -> 2.15.0 (the BMC resets itself), bios 1.0.5 -> 1.1.0 (host reboot)


def _apply(lab: ServedLab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                             "--format", "json", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **lab.env})


def _until(what: str, cond: Callable[[], Any], proc: subprocess.Popen[str] | None = None,
           timeout: float = 120) -> Any:
    """Poll `cond` (the simulator's log, the workspace's journals) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"apply ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        got = cond()
        if got:
            return got
        time.sleep(0.005)  # polling an observable, not a synchronisation delay
    raise AssertionError(f"never saw {what}")


def _seq(lab: ServedLab) -> int:
    events = lab.events()
    return events[-1]["seq"] if events else 0


def _state(lab: ServedLab) -> Any:
    path = lab.workspace / ".hwfw" / "state.json"
    json.loads(path.read_text())
    return StateStore(path).load()


def _run_id(stdout: str) -> str:
    return str(json.loads(stdout.splitlines()[0])["run_id"])


def _resets_sent(lab: ServedLab, host: str, action: str) -> int:
    return sum(1 for e in lab.events(type_="reset-requested") if e["bmc"] == host and e["action"] == action)


def test_a_resume_right_after_a_kill_during_the_bmcs_own_reset_waits_for_it_and_converges(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, [HOST], timing={"bmc_ready_timeout": "60s"})
    try:
        since = _seq(lab)
        proc = _apply(lab)

        def bmc_resetting() -> bool:
            ev = lab.events(since)
            done = any(e["type"] == "flash-finished" and e["component"] == "bmc" for e in ev)
            return done and any(e["type"] == "bmc-down" for e in ev)

        _until("the BMC resetting itself after its firmware task", bmc_resetting, proc)
        lab.set_speed(0)          # the BMC stays down until the test lets it boot
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _state(lab)
        assert any(e["type"] == "task" and e.get("state") == "Completed" for e in lab.events(since))

        resume = _apply(lab)
        assert resume.stdout is not None
        waited = None
        for line in resume.stdout:   # the resume's own event stream says when it starts waiting
            event = json.loads(line)
            if event["type"] == "warning" and event.get("host") == HOST and "does not answer yet" in event["message"]:
                waited = event["message"]
                break
        lab.set_speed(200)       # let the BMC come back
        out, err = resume.communicate(timeout=180)
        assert waited is not None, f"the resume never waited for the BMC: {err[-3000:]}"
        assert resume.returncode == 0, err[-3000:] + out[-3000:]
        state = _state(lab)
        assert state.record(HOST, "bmc").status == "ok" and state.record(HOST, "bmc").version == "2.15.0"
        assert state.record(HOST, "bios").status == "ok" and state.record(HOST, "bios").version == "1.1.0"
        flashed = Counter((e["component"], e["to"]) for e in lab.events(type_="flash-started") if e["bmc"] == HOST)
        assert flashed == {("bmc", "2.15.0"): 1, ("bios", "1.1.0"): 1}
        assert _resets_sent(lab, HOST, "Manager.Reset") == 0   # the BMC's own reset was the activation
    finally:
        lab.process.stop()


def test_sigint_during_a_reboot_wait_exits_130_within_seconds_and_the_next_run_does_not_reset_again(
        tmp_path: Path) -> None:
    # A long POST timeout: without the fix, the interrupted run would wait out the frozen POST.
    lab = serve_lab(tmp_path, [HOST], timing={"post_timeout": "120s", "bmc_ready_timeout": "60s"})
    _firmware_only(lab.workspace)   # the BIOS settings' own reboot is not the reset under test
    try:
        since = _seq(lab)
        proc = _apply(lab)

        def rebooting() -> bool:
            ev = [e for e in lab.events(since) if e["bmc"] == HOST]
            asked = next((e["seq"] for e in ev if e["type"] == "reset-requested"
                          and e["action"] == "ComputerSystem.Reset"), None)
            return asked is not None and any(e["type"] == "post-started" and e["seq"] > asked for e in ev)

        _until("the requested host reboot in POST", rebooting, proc)
        lab.set_speed(0)          # the host stays in POST until the test lets it go on
        intents = lab.workspace / ".hwfw" / "intents.jsonl"

        def noted() -> list[dict[str, Any]]:
            return [r for r in read_json_lines(intents) if "intent" in r and r["details"].get("requested")]

        _until("hwfw recording the reset as requested", noted, proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("apply did not exit within 5 s of SIGINT during a reboot wait") from None
        elapsed = time.monotonic() - t0
        assert proc.returncode == 130, err[-3000:]
        assert elapsed < 5
        finished = [json.loads(line) for line in out.splitlines() if '"host-finished"' in line]
        assert [e["outcome"]["status"] for e in finished if e["host"] == HOST] == ["interrupted"]
        state = _state(lab)       # written, and it still says the BIOS awaits its activation
        assert state.record(HOST, "bios").status == "pending-activation"
        open_ids = {r["intent"] for r in read_json_lines(intents) if "intent" in r} - \
            {r["resolves"] for r in read_json_lines(intents) if "resolves" in r}
        assert {n["intent"] for n in noted()} <= open_ids    # left open for the next run to settle

        lab.set_speed(200)
        again = subprocess.run([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                                "--format", "json"], capture_output=True, text=True, env={**os.environ, **lab.env},
                               timeout=180)
        assert again.returncode == 0, again.stderr[-3000:]
        assert _resets_sent(lab, HOST, "ComputerSystem.Reset") == 1      # never sent again
        state = _state(lab)
        assert state.record(HOST, "bios").status == "ok" and state.record(HOST, "bios").version == "1.1.0"
        assert state.checkpoints["hosts"][HOST]["status"] == "closed"
    finally:
        lab.process.stop()


def test_sessions_a_killed_run_left_open_are_logged_out_by_the_next_run(tmp_path: Path) -> None:
    hosts = ["lab-dell-01", "lab-hpe-02", "lab-smc-01", HOST]
    # sessions idle out only after a virtual day: whatever closes them here is hwfw
    lab = serve_lab(tmp_path, hosts, options={"session_timeout": 86400})
    try:
        since = _seq(lab)
        proc = _apply(lab)
        # lab-hpe-02's iLO is not updated (its BMC never resets): its session outlives the kill
        _until("a running firmware task while lab-hpe-02 has a session", lambda: any(
            e["type"] == "task" and e.get("state") == "Running" for e in lab.events(since))
            and lab.sessions().get("lab-hpe-02"), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = {bmc: {s["id"] for s in live} for bmc, live in lab.sessions().items() if live}
        assert left, "the killed run held no session (nothing to test)"
        journal = read_json_lines(lab.workspace / ".hwfw" / "sessions.jsonl")
        recorded = {(r["host"], r["details"]["uri"].rsplit("/", 1)[-1]) for r in journal if "intent" in r} - \
            {(r["host"], r["details"]["uri"].rsplit("/", 1)[-1]) for r in journal
             if "intent" in r and r["intent"] in {x["resolves"] for x in journal if "resolves" in x}}
        assert {(b, i) for b, ids in left.items() for i in ids} <= recorded   # journalled, by URI
        assert not any("token" in json.dumps(r).lower() for r in journal)

        since = _seq(lab)
        again = subprocess.run([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                                "--format", "json"], capture_output=True, text=True, env={**os.environ, **lab.env},
                               timeout=180)
        assert again.returncode == 0, again.stderr[-3000:] + "\n".join(
            line for line in again.stdout.splitlines() if "host-finished" in line)
        closed = {(e["bmc"], e["id"]): e["reason"] for e in lab.events(since, type_="session-closed")}
        reasons = [closed.get((bmc, sid)) for bmc, ids in left.items() for sid in ids]
        # deleted by the next run, unless a BMC resetting itself (an update the killed run
        # started) dropped them first; none left to expire
        assert set(reasons) <= {"logout", "bmc-reset"}, closed
        assert closed[("lab-hpe-02", next(iter(left["lab-hpe-02"])))] == "logout"
        assert not any(lab.sessions().values())       # and the second run left none of its own
        journal = read_json_lines(lab.workspace / ".hwfw" / "sessions.jsonl")
        outcome = {r["resolves"]: r["outcome"] for r in journal if "resolves" in r}
        killed = {r["details"]["uri"].rsplit("/", 1)[-1]: r["intent"] for r in journal
                  if "intent" in r and r["host"] == "lab-hpe-02" and r["run_id"] != _run_id(again.stdout)}
        assert outcome[killed[next(iter(left["lab-hpe-02"]))]] == "deleted"   # its record says so too
    finally:
        lab.process.stop()


def _firmware_only(workspace: Path) -> None:
    """Baselines without BIOS settings: a host with settings to stage gets the reboot that
    applies them in the next run too, which is right but not what these tests count."""
    path = workspace / "baselines.yaml"
    baselines = yaml.safe_load(path.read_text())
    for b in baselines["baselines"].values():
        b.pop("bios_settings", None)
        b.pop("overrides", None)
    path.write_text(yaml.safe_dump(baselines, sort_keys=False))
