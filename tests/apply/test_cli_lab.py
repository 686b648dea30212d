"""Acceptance (issue 5): apply the simulated lab with the real drivers over loopback.

`run_apply` is what `hwfw apply` calls; running it in-process lets the test read the
embedded simulator's event log (ground truth) after the run. The CLI itself is run as
a subprocess where its behaviour (exit codes, stdout, the lock) is what is tested.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.config import load_workspace
from hwfw.events import JsonLinesSink
from hwfw.resources import schema_path
from hwfw.state.files import read_json_lines
from hwfw.state.journal import unresolved
from hwfw.state.store import StateStore
from tests.helpers import run_hwfw

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab"
RESET_KINDS = ("bmc-reset", "host-reboot", "ac-cycle")

pytestmark = pytest.mark.slow


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "lab"
    shutil.copytree(LAB, dest, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    monkeypatch.setenv("HWFW_CACHE", str(tmp_path / "cache"))
    return dest


def apply_in_process(ws_dir: Path, **options: Any) -> tuple[Any, list[dict[str, Any]], Any, float]:
    ws = load_workspace(ws_dir)
    out = io.StringIO()
    box: dict[str, Any] = {}
    t0 = time.monotonic()
    result = asyncio.run(run_apply(ws, ApplyOptions(auto_approve=True, **options), events=JsonLinesSink(out),
                                   observe=lambda conn: box.setdefault("conn", conn)))
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    return result, events, box["conn"].fleet.fleet.events, time.monotonic() - t0


def test_apply_converges_the_lab(lab: Path) -> None:
    result, events, sim, wall = apply_in_process(lab)
    failed = {h: o.message for h, o in result.summary.hosts.items() if o.status != "converged"}
    assert failed == {}
    assert result.exit_code == 0 and wall < 60
    schema = json.loads(schema_path("events").read_text())
    for e in events:
        jsonschema.validate(e, schema)
    assert events[0]["type"] == "run-started" and events[-1]["type"] == "run-finished"
    # the state file validates (load checks schemas/state.schema.json)
    state = StateStore(lab / ".hwfw" / "state.json").load()
    assert state.record("lab-hpe-01", "cpld").status == "ok"
    # each host was reset exactly as many times as the plan counted
    plan = result.plan
    for hp in plan.hosts:
        seen = Counter(e["kind"] for e in sim.query(hp.name, "reset") if e["kind"] in RESET_KINDS)
        want = Counter({"host-reboot": hp.resets.host_reboots, "bmc-reset": hp.resets.bmc_resets,
                        "ac-cycle": hp.resets.ac_cycles})
        assert seen == +want, hp.name
    # no image was flashed twice on any host
    received = Counter((e["bmc"], e["sha256"]) for e in sim.query(type_="image-received"))
    assert max(received.values()) == 1
    # which update method each host used
    methods = {(e["host"], e["step_id"].split("/")[-1]): e["outcome"].get("method") for e in events
               if e["type"] == "step-finished" and e["kind"] == "flash"}
    assert methods[("lab-hpe-01", "bios")] == "hpe-form"
    assert {e["method"] for e in sim.query("lab-hpe-01", "image-received")} == {"hpe-form"}
    assert methods[("lab-smc-01", "bmc")] == "smc-startupdate"
    assert {e["method"] for e in sim.query("lab-gen-01", "image-received")} == {"simple-update"}
    dell_jobs = [e for e in sim.query("lab-dell-03", "task") if str(e["id"]).startswith("JID_")]
    assert "Scheduled" in {e["state"] for e in dell_jobs}   # BIOS job staged for the next reboot
    # the declared BIOS settings: staged once and applied once on every host that had any to set
    assert sum(len(hp.settings_to_apply) for hp in plan.hosts) == 19
    for hp in plan.hosts:
        expected = 1 if hp.settings_to_apply else 0
        assert len(sim.query(hp.name, "bios-settings-staged")) == expected, hp.name
        assert [e["rejected"] for e in sim.query(hp.name, "bios-settings-applied")] == [[]] * expected, hp.name
        assert (state.extra.get("bios_settings") or {}).get(hp.name, {}).get("status") == \
            ("applied" if expected else None), hp.name
    # the intent and session journals match their schema, and every record was resolved
    journal_schema = json.loads(schema_path("journal").read_text())
    for name in ("intents.jsonl", "sessions.jsonl"):
        records = read_json_lines(lab / ".hwfw" / name)
        assert records, name
        for record in records:
            jsonschema.validate(record, journal_schema)
        assert unresolved(records) == [], name
    # planning again finds nothing to do
    again = run_hwfw("plan", str(lab), "--detailed-exitcode", env={"HWFW_CACHE": os.environ["HWFW_CACHE"]})
    assert again.returncode == 0, again.stdout + again.stderr


def test_apply_without_a_terminal_and_without_auto_approve_exits_1_without_waiting(lab: Path) -> None:
    r = run_hwfw("apply", str(lab), input="", timeout=120)
    assert r.returncode == 1
    assert "stdin is not a terminal" in r.stderr and "--auto-approve" in r.stderr
    assert not (lab / ".hwfw" / "intents.jsonl").exists()


def test_a_second_concurrent_apply_fails_at_once_naming_the_holder(lab: Path) -> None:
    from hwfw.state.lock import WorkspaceLock

    with WorkspaceLock(lab / ".hwfw", "apply") as held:
        t0 = time.monotonic()
        r = run_hwfw("apply", str(lab), "--auto-approve", timeout=60)
        took = time.monotonic() - t0
    assert r.returncode == 1 and took < 20
    assert f"pid {os.getpid()}" in r.stderr and held.info is not None and held.info.id in r.stderr
    assert "the workspace is locked: apply by" in r.stderr


def test_sigterm_finishes_in_flight_steps_leaves_a_consistent_state_and_exits_130(lab: Path) -> None:
    import signal
    import subprocess
    import sys

    from hwfw.state.files import read_json_lines

    proc = subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(lab), "--auto-approve", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "160"})
    intents = lab / ".hwfw" / "intents.jsonl"
    deadline = time.monotonic() + 60
    while not any(r.get("action") == "flash" for r in read_json_lines(intents)):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "timeout"
        time.sleep(0.005)  # polling the intent log for the moment, not a synchronisation delay
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "run-finished" and events[-1]["summary"]["interrupted"] is True
    StateStore(lab / ".hwfw" / "state.json").load()
    records = read_json_lines(intents)
    resolved = {r["resolves"] for r in records if "resolves" in r}
    assert [r for r in records if "intent" in r and r["intent"] not in resolved] == []   # in-flight steps finished
