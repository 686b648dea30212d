"""Crash and resume: SIGKILL `hwfw apply` of the lab at random moments, resume once, count.

    python scripts/crash_resume.py [--trials 20] [--seed 17] [--between A B] [--workdir DIR] [--keep]

Per trial: a fresh copy of examples/lab whose hosts are served by their own
`hwfw sim serve` process (TLS, 200x speed, sessions that only idle out after a virtual
day, so a leaked one cannot hide by expiring), a fresh state. `hwfw apply` starts and
is SIGKILLed at a moment drawn uniformly over the run (the first, unkilled apply sets
the run's length), or between A and B seconds with `--between`; then one `hwfw apply`
resumes. Printed per trial and in total:

- converged on the first resume: the resume exits 0 and `hwfw plan --detailed-exitcode`
  exits 0 after it (goal: every trial);
- double flashes: images flashed more than once on a host (same component, instance and
  version in the simulator's `flash-started` events; goal 0);
- sessions left: sessions alive on the BMCs after the resume (goal 0), beside the
  sessions the killed run had left open (alive right after the kill).

A session left open is named, with whether the killed run had it or it was opened
after the kill. Each trial directory (kept with `--keep` or `--workdir`) holds the
resume's output (`resume.stdout.jsonl`, `resume.stderr`) and the simulator's event log
(`events.json`). Exit status 0 when every goal is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import yaml  # noqa: E402

from hwfw.sim.runtime import FleetProcess, start_fleet_process  # noqa: E402

LAB = REPO / "examples" / "lab"
PASSWORD = "password"


@dataclass
class Lab:
    workspace: Path
    sim: FleetProcess
    ca: Path
    env: dict[str, str]

    def control(self, endpoint: str, **params: Any) -> Any:
        tls = ssl.create_default_context(cafile=str(self.ca))
        last: Exception | None = None
        for url in self.sim.urls.values():  # any BMC's socket answers for the fleet
            try:
                r = httpx.get(f"{url}/__sim/{endpoint}", params=params, verify=tls, timeout=10)
                r.raise_for_status()
                return r.json()
            except httpx.HTTPError as exc:
                last = exc
        raise RuntimeError(f"the simulator does not answer: {last}")


def serve(root: Path) -> Lab:
    """The lab, served by its own `hwfw sim serve` (a fresh fleet state)."""
    ws = root / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    fleet = yaml.safe_load((LAB / "fleet.yaml").read_text())
    fleet["defaults"]["credentials"] = {"username": "admin", "password": PASSWORD}
    for spec in fleet["hosts"].values():
        spec["options"] = {**(spec.get("options") or {}), "session_timeout": 86400}
    fleet_path = root / "fleet.yaml"
    fleet_path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    inv = root / "served-inventory.yaml"
    env = {"HWFW_SIM_PASSWORD": PASSWORD, "HWFW_CACHE": str(root.parent / "cache")}
    sim = start_fleet_process(fleet_path, root / "sim-state",
                              args=["--tls", "--speed", "200", "--write-inventory", str(inv)], env=env)
    (ws / "inventory.yaml").write_text(inv.read_text())
    hwfw_yaml = ws / "hwfw.yaml"
    hwfw_yaml.write_text(hwfw_yaml.read_text().replace(
        "\nsettings:\n", f"\nsettings:\n  allowed_roots: [{root / 'sim-state'}]\n", 1))
    return Lab(ws, sim, root / "sim-state" / "ca.pem", env)


def apply(lab: Lab) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hwfw", "apply", str(lab.workspace), "--auto-approve",
                             "--format", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **lab.env})


def hwfw(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hwfw", *args], capture_output=True, text=True,
                          env={**os.environ, **lab.env}, timeout=600)


@dataclass
class Trial:
    kill_at: float
    killed: bool
    resume_exit: int
    plan_exit: int
    double_flashes: int
    sessions_left: int
    sessions_after_kill: int = 0
    note: str = ""

    @property
    def converged(self) -> bool:
        return self.resume_exit == 0 and self.plan_exit == 0


def _live_sessions(lab: Lab) -> set[tuple[str, str]]:
    """(BMC, session id) of every session alive on the simulated BMCs now."""
    return {(bmc, str(s["id"])) for bmc, live in lab.control("sessions", bmc="*").items() for s in live}


def run_trial(root: Path, kill_at: float | None) -> tuple[Trial, float]:
    lab = serve(root)
    try:
        t0 = time.monotonic()
        proc = apply(lab)
        killed = False
        if kill_at is None:
            proc.communicate(timeout=600)
        else:
            try:
                proc.wait(timeout=kill_at)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.communicate()
                killed = True
        elapsed = time.monotonic() - t0
        at_kill = _live_sessions(lab)
        resume = hwfw(lab, "apply", str(lab.workspace), "--auto-approve", "--format", "json")
        (root / "resume.stdout.jsonl").write_text(resume.stdout)
        (root / "resume.stderr").write_text(resume.stderr)
        note = ""
        if resume.returncode != 0:
            finished = [json.loads(line) for line in resume.stdout.splitlines() if '"host-finished"' in line]
            note = "; ".join(f"{e['host']}: {e['outcome']['status']} {e['outcome'].get('message', '')[:160]}"
                             for e in finished if e["outcome"]["status"] != "converged") or resume.stderr[-300:]
        plan = hwfw(lab, "plan", str(lab.workspace), "--detailed-exitcode")
        events = lab.control("events", all=1)["events"]
        (root / "events.json").write_text(json.dumps(events))
        flashed = Counter((e["bmc"], e["component"], e.get("instance"), e.get("to"))
                          for e in events if e["type"] == "flash-started")
        left = _live_sessions(lab)
        if left:
            whose = {s: "the killed run" if s in at_kill else "opened after the kill" for s in left}
            note = "; ".join([note] * bool(note) + [f"left open: {bmc} session {sid} ({whose[(bmc, sid)]})"
                                                    for bmc, sid in sorted(left)])
        trial = Trial(kill_at or 0.0, killed, resume.returncode, plan.returncode,
                      sum(n - 1 for n in flashed.values() if n > 1), len(left), len(at_kill), note)
        return trial, elapsed
    finally:
        lab.sim.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--between", type=float, nargs=2, metavar=("A", "B"),
                    help="draw kill moments between A and B seconds after the start (default: the whole run)")
    ap.add_argument("--workdir", type=Path, help="where trial directories go (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the trial directories")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    base = args.workdir or Path(tempfile.mkdtemp(prefix="hwfw-crash-resume-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        first, length = run_trial(base / "baseline", None)
        print(f"baseline apply of the lab (no kill): {length:.1f} s, resume exit {first.resume_exit}, "
              f"plan exit {first.plan_exit}", flush=True)
        trials = []
        for i in range(1, args.trials + 1):
            low, high = args.between or (0.05 * length, 0.95 * length)
            kill_at = rng.uniform(low, high)
            trial, _ = run_trial(base / f"trial-{i:02d}", kill_at)
            trials.append(trial)
            print(f"trial {i:2d}: SIGKILL at {kill_at:4.1f} s{'' if trial.killed else ' (apply had ended)'}: "
                  f"{'converged' if trial.converged else 'NOT converged'} on the first resume "
                  f"(resume exit {trial.resume_exit}, plan exit {trial.plan_exit}), "
                  f"double flashes {trial.double_flashes}, sessions left {trial.sessions_left} "
                  f"(the kill left {trial.sessions_after_kill})"
                  + (f" -- {trial.note}" if trial.note else ""), flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    converged = sum(t.converged for t in trials)
    doubles = sum(t.double_flashes for t in trials)
    left = sum(t.sessions_left for t in trials)
    print(f"\n{len(trials)} random SIGKILLs of a {length:.1f} s lab apply "
          f"({sum(t.killed for t in trials)} landed before it ended):")
    print(f"  converged on the first resume: {converged}/{len(trials)}")
    print(f"  double flashes:                {doubles}")
    print(f"  sessions left after the resume: {left} (the kills left {sum(t.sessions_after_kill for t in trials)})")
    return 0 if converged == len(trials) and doubles == 0 and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
