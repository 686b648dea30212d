"""The CLI against `hwfw sim serve` running as its own process, as a real fleet is used.

The simulator's event log and session table (/__sim/events, /__sim/sessions) are the
ground truth: what was sent to which BMC, and whether hwfw left a session behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hwfw.invocation import workspace_argument
from tests.apply.support import ServedLab, serve_lab
from tests.helpers import edit, run_hwfw

pytestmark = pytest.mark.slow

HOSTS = ["lab-dell-01", "lab-gen-01", "lab-smc-01"]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[ServedLab]:
    served = serve_lab(tmp_path, HOSTS)
    try:
        yield served
    finally:
        served.process.stop()


def hwfw(lab: ServedLab, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_hwfw(*args, env={**lab.env, **(env or {})}, timeout=180)


def last_seq(lab: ServedLab) -> int:
    events = lab.events()
    return events[-1]["seq"] if events else 0


def sessions(lab: ServedLab) -> dict[str, list[Any]]:
    """Open sessions on every BMC. Asked of any BMC that is up (each answers for the whole
    fleet): the one interrupted while flashing may be resetting itself, refusing connections."""
    last: Exception | None = None
    for url in lab.process.urls.values():
        try:
            r = httpx.get(f"{url}/__sim/sessions", params={"bmc": "*"}, verify=lab._tls(), timeout=10)
        except httpx.TransportError as exc:
            last = exc
            continue
        r.raise_for_status()
        return {bmc: live for bmc, live in r.json().items() if live}
    raise AssertionError(f"no simulated BMC answers /__sim/sessions: {last}")


# ---------------------------------------------------------------- errors by cause


def test_a_wrong_password_says_authentication_failed_with_the_user_never_the_password(lab: ServedLab) -> None:
    wrong = {"HWFW_SIM_PASSWORD": "not-the-Pa55word"}
    inv = hwfw(lab, "inventory", str(lab.workspace), "--target", "lab-gen-01", "--format", "json", env=wrong)
    assert inv.returncode == 1
    (host,) = json.loads(inv.stdout)["hosts"]
    assert host["error_kind"] == "auth" and "authentication failed for user 'admin'" in host["error"]
    plan = hwfw(lab, "plan", str(lab.workspace), "--target", "lab-gen-01", "--format", "json", env=wrong)
    assert plan.returncode == 1
    (finding,) = json.loads(plan.stdout)["hosts"][0]["findings"]
    assert finding["code"] == "auth-failed" and "the BMC refused the credentials" in finding["message"]
    assert "unreachable" not in finding["message"]
    text = hwfw(lab, "inventory", str(lab.workspace), "--target", "lab-gen-01", env=wrong)
    assert "lab-gen-01  cannot log in: lab-gen-01: authentication failed for user 'admin'" in text.stdout
    assert "hint: check this host's credentials reference" in text.stdout
    assert "not-the-Pa55word" not in inv.stdout + inv.stderr + plan.stdout + plan.stderr + text.stdout + text.stderr


def test_an_untrusted_certificate_names_ca_bundle_and_insecure(lab: ServedLab) -> None:
    inventory = lab.workspace / "inventory.yaml"
    text = inventory.read_text()
    inventory.write_text("\n".join(ln for ln in text.splitlines() if "ca_bundle" not in ln) + "\n")
    plan = hwfw(lab, "plan", str(lab.workspace), "--target", "lab-gen-01", "--format", "json")
    (finding,) = json.loads(plan.stdout)["hosts"][0]["findings"]
    assert plan.returncode == 1 and finding["code"] == "tls-failed"
    assert "TLS certificate verification failed" in finding["message"]
    assert "ca_bundle" in finding["message"] and "--insecure" in finding["message"]
    text = hwfw(lab, "inventory", str(lab.workspace), "--target", "lab-gen-01")
    assert text.returncode == 1 and "certificate not trusted: lab-gen-01: TLS certificate verification failed" \
        in text.stdout
    assert "set ca_bundle" in text.stdout and "--insecure" in text.stdout
    trusted = hwfw(lab, "plan", str(lab.workspace), "--target", "lab-gen-01", "--ca-bundle", str(lab.ca))
    assert trusted.returncode == 0, trusted.stderr
    insecure = hwfw(lab, "plan", str(lab.workspace), "--target", "lab-gen-01", "--insecure")
    assert insecure.returncode == 0 and "NOT verified" in insecure.stderr


# ---------------------------------------------------------------- selection


def test_apply_exclude_leaves_the_excluded_host_untouched(lab: ServedLab) -> None:
    since = last_seq(lab)
    run = hwfw(lab, "apply", "-C", str(lab.workspace), "--exclude", "lab-smc-*", "--auto-approve",
               "--format", "json")
    assert run.returncode == 0, run.stderr
    events = lab.events(since)
    assert {e["bmc"] for e in events if e["type"] == "image-received"} == {"lab-dell-01", "lab-gen-01"}
    assert [e for e in events if e["bmc"] == "lab-smc-01"] == []  # not even a session
    again = hwfw(lab, "plan", str(lab.workspace), "--detailed-exitcode")
    assert again.returncode == 2 and "lab-smc-01" in again.stdout  # still behind, as it was


def test_an_unreachable_host_blocks_apply_unless_allowed_and_is_then_skipped(lab: ServedLab) -> None:
    edit(lab.workspace / "inventory.yaml", lab.process.urls["lab-smc-01"], "https://127.0.0.1:9")
    blocked = hwfw(lab, "apply", str(lab.workspace), "--auto-approve")
    assert blocked.returncode == 1
    # -C names the workspace as the user reaches it from the directory hwfw ran in (this
    # test's), so the expected text depends on where the repository is checked out.
    assert f"hwfw apply --exclude lab-smc-01 -C {workspace_argument(lab.workspace)}" in blocked.stderr
    assert "--allow-unreachable" in blocked.stderr
    since = last_seq(lab)
    allowed = hwfw(lab, "apply", str(lab.workspace), "--auto-approve", "--allow-unreachable", "--format", "json")
    assert allowed.returncode == 1  # not every host converged
    outcomes = {json.loads(ln)["host"]: json.loads(ln)["outcome"] for ln in allowed.stdout.splitlines()
                if '"host-finished"' in ln}
    assert {h: o["status"] for h, o in outcomes.items()} == {"lab-dell-01": "converged", "lab-gen-01": "converged",
                                                             "lab-smc-01": "skipped"}
    assert "--allow-unreachable" in outcomes["lab-smc-01"]["message"]
    assert {e["bmc"] for e in lab.events(since) if e["type"] == "image-received"} == {"lab-dell-01", "lab-gen-01"}


# ---------------------------------------------------------------- hints from the real invocation


def test_a_saved_plan_is_applied_from_anywhere_and_a_stale_one_says_how_to_replan(lab: ServedLab,
                                                                                   tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    saved = tmp_path / "plans" / "gen.json"
    made = run_hwfw("plan", "-C", str(lab.workspace), "--target", "lab-gen-01", "--out", str(saved),
                    env=lab.env, cwd=elsewhere)
    assert made.returncode == 0, made.stderr
    assert f"apply it with: hwfw apply --plan {saved}" in made.stderr
    edit(lab.workspace / "baselines.yaml", "# What each class", "# Reviewed. What each class")
    stale = run_hwfw("apply", "--plan", str(saved), "--auto-approve", env=lab.env, cwd=elsewhere)
    assert stale.returncode == 1 and "saved plan is stale" in stale.stderr
    assert f"hwfw plan --out {saved} -C ../lab" in stale.stderr  # the workspace, as seen from here
    remade = run_hwfw("plan", str(lab.workspace), "--target", "lab-gen-01", "--out", str(saved), env=lab.env,
                      cwd=elsewhere)
    assert remade.returncode == 0, remade.stderr
    applied = run_hwfw("apply", "--plan", str(saved), "--auto-approve", env=lab.env, cwd=elsewhere)
    assert applied.returncode == 0, applied.stderr


# ---------------------------------------------------------------- signals leave no session behind


def _start(lab: ServedLab, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hwfw", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **lab.env, "COLUMNS": "160"})


def _signal_when(lab: ServedLab, proc: subprocess.Popen[str], seen: Callable[[list[dict[str, Any]]], bool],
                 since: int, signals: tuple[int, ...]) -> tuple[int, str]:
    deadline = time.monotonic() + 120
    while not seen(lab.events(since)):
        assert proc.poll() is None, f"ended before the moment: {proc.stderr.read() if proc.stderr else ''}"
        assert time.monotonic() < deadline, "never reached the moment"
        time.sleep(0.005)  # polling the simulator's log for the moment, not a synchronisation delay
    for sig in signals:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _opened(e: dict[str, Any]) -> bool:
    return e["type"] == "session-opened"


def _logged_out_one_of_its_own(events: list[dict[str, Any]]) -> bool:
    """The process logged out a session it opened (not a close the BMC made on its own)."""
    opened = {(e["bmc"], e["id"]) for e in events if e["type"] == "session-opened"}
    return any(e["type"] == "session-closed" and e.get("reason") == "logout" and (e["bmc"], e["id"]) in opened
               for e in events)


def _any(moment: Callable[[dict[str, Any]], bool]) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda events: any(moment(e) for e in events)


@pytest.mark.parametrize(("command", "moment", "signals"), [
    (("inventory",), _any(_opened), (signal.SIGINT,)),
    (("plan",), _any(_opened), (signal.SIGTERM,)),
    (("plan", "--format", "json"), _logged_out_one_of_its_own, (signal.SIGINT,)),
    (("apply", "--auto-approve"), _any(_opened), (signal.SIGTERM,)),
    (("apply", "--auto-approve"), _any(lambda e: e["type"] == "image-received"), (signal.SIGTERM,)),
    (("apply", "--auto-approve"), _any(lambda e: e["type"] == "image-received"), (signal.SIGINT, signal.SIGINT)),
    (("apply", "--auto-approve"), _any(lambda e: e["type"] == "reset" and e.get("kind") == "host-reboot"),
     (signal.SIGTERM,)),
], ids=["inventory-sigint-reading", "plan-sigterm-reading", "plan-sigint-later", "apply-sigterm-reading",
        "apply-sigterm-flashing", "apply-sigint-twice-flashing", "apply-sigterm-rebooting"])
def test_no_session_is_left_open_after_sigint_or_sigterm(lab: ServedLab, command: tuple[str, ...],
                                                         moment: Callable[[list[dict[str, Any]]], bool],
                                                         signals: tuple[int, ...]) -> None:
    since = last_seq(lab)
    proc = _start(lab, *command, str(lab.workspace))
    code, err = _signal_when(lab, proc, moment, since, signals)
    assert code in (0, 130), err[-3000:]  # 0: it had just finished when the signal came
    assert "Traceback" not in err
    assert sessions(lab) == {}, err[-3000:]
