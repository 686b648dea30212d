"""Rollback you can count on (issue 17 item 13), proven on the simulator.

A failed flash with `on_failure: rollback-host` on a Dell host whose running versions
have no repository image: iDRAC kept the replaced images (`Previous-` members), and
the rollback installs those, with no image sent; the simulator's event log shows the
rollback jobs and the versions activated again. Under that policy, `plan --strict`
fails where a host could not be rolled back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hwfw.apply.events import HOST_ROLLED_BACK
from hwfw.state.files import read_json_lines
from hwfw.state.store import StateStore
from tests.helpers import run_hwfw

from .test_executor_faults import apply, lab_with, statuses

pytestmark = pytest.mark.slow
HOST = "lab-dell-01"   # iDRAC 6.10.30.00 -> 7.10.30.00 first, then BIOS 1.10.2 -> 1.12.1 and the NIC


def test_a_failed_flash_rolls_a_dell_host_back_through_the_bmcs_previous_images(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {HOST: {"task_exception": {"component": "nic", "message": "ApplyFailed"}}}, monkeypatch)
    result = apply(ws, targets=(HOST,), on_failure="rollback-host")
    # the plan said so before anything was sent: no repository image of what runs, iDRAC keeps its own
    modes = {c.key: (c.rollback, c.rollback_image) for h in result.plan.hosts for c in h.changes if c.does_work}
    assert modes["bmc"] == ("bmc-previous", None) and modes["bios"] == ("bmc-previous", None)
    assert statuses(result) == {HOST: HOST_ROLLED_BACK}, result.summary.hosts[HOST].message
    state = StateStore(ws / ".hwfw" / "state.json").load()
    assert (state.record(HOST, "bmc").status, state.record(HOST, "bmc").version) == ("rolled-back", "6.10.30.00")
    assert (state.record(HOST, "bios").status, state.record(HOST, "bios").version) == ("rolled-back", "1.10.2")
    events = result.extra["sim"].query(HOST)
    back = [(e["component"], e["to"]) for e in events if e["type"] == "flash-started" and e["to"] in
            ("6.10.30.00", "1.10.2")]
    assert sorted(back) == [("bios", "1.10.2"), ("bmc", "6.10.30.00")]
    assert [(e["component"], e["to"]) for e in events if e["type"] == "activated"][-2:] in (
        [("bmc", "6.10.30.00"), ("bios", "1.10.2")], [("bios", "1.10.2"), ("bmc", "6.10.30.00")])
    # installed from the iDRAC's own images: nothing of those versions was sent to it
    assert not [e for e in events if e["type"] == "image-received" and e.get("version") in ("6.10.30.00", "1.10.2")]
    audit = read_json_lines(ws / ".hwfw" / "audit.jsonl")
    rollbacks = [r for r in audit if r["action"] == "rollback" and r["host"] == HOST]
    assert {r["component"] for r in rollbacks if r["outcome"] != "rolled-back"} == {"bmc", "bios"}
    assert "from the BMC's previous image" in rollbacks[-1]["message"]


def test_plan_strict_fails_where_a_host_could_not_be_rolled_back(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch, settings={"policies": {"on_failure": "rollback-host"}})
    env = {"HWFW_CACHE": os.environ["HWFW_CACHE"]}
    loose = run_hwfw("plan", str(ws), "--target", "lab-gen-01", "--format", "text", env=env)
    assert loose.returncode == 0, loose.stderr
    assert "rollback: irreversible" in loose.stdout and "could not be rolled back" in loose.stdout
    assert loose.stdout.count("could not be rolled back") == 2      # the generic BMC's and its BIOS change
    strict = run_hwfw("plan", str(ws), "--target", "lab-gen-01", "--strict", env=env)
    assert strict.returncode == 1 and "--strict" in strict.stderr
    dell = run_hwfw("plan", str(ws), "--target", HOST, "--strict", "--format", "text", env=env)
    assert dell.returncode == 0, dell.stdout[-2000:]       # iDRAC can undo each of its changes
    assert "rollback: the BMC's previous image" in dell.stdout
