"""Delivery to a real webhook on loopback: retries with backoff on the injected clock,
duplicate suppression, a full queue dropping (never blocking), a failure logged and
written to the audit log without the secret."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from hwfw.clock import FakeClock
from hwfw.config import load_workspace
from hwfw.config.model import NotificationTarget
from hwfw.notify import Alert, Notifier, resolve_target
from tests.helpers import REPO_ROOT, edit, run_hwfw

from .receivers import webhook

LAB = Path(__file__).resolve().parents[2] / "examples" / "lab"
SECRET = "hook-Pa55word-never-logged"
pytestmark = pytest.mark.slow          # real receivers on loopback


def alert(key: str = "k1", kind: str = "host-failed") -> Alert:
    return Alert(kind, "error", "lab-dell-01: flash failed", "step failed", key, "2026-01-01T00:00:00Z", "r1",
                 "lab-dell-01")


def target(url: str, **kw: object) -> NotificationTarget:
    return NotificationTarget(name="hook", url=url, **kw)  # type: ignore[arg-type]


def test_retries_with_backoff_on_the_clock_then_delivers_once_and_suppresses_the_duplicate(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_PASSWORD", SECRET)
    clock = FakeClock()
    outcomes: list[str] = []

    async def main() -> None:
        with webhook(fail_first=2) as hook:
            resolved = resolve_target(target(hook.url(), retries=3, timeout=5.0))
            notifier = Notifier([resolved], clock=clock, on_result=lambda t, a, o: outcomes.append(o))
            notifier.start()
            notifier.submit(alert())
            notifier.submit(alert())          # same key: suppressed
            await notifier.drain(30)
            await notifier.close()
            assert hook.requests == 3 and len(hook.received) == 1
            assert Webhook_password(hook.received[0][1]) == SECRET
    asyncio.run(main())
    assert outcomes == ["sent", "suppressed"]
    assert clock.monotonic() >= 2.0       # two backoff waits (base 2 s, half of each random) on the fake clock


def Webhook_password(header: str | None) -> str:  # noqa: N802
    from .receivers import Webhook

    return Webhook.basic_password(header)


def test_a_full_queue_drops_and_counts_instead_of_blocking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_PASSWORD", SECRET)
    outcomes: list[str] = []

    async def main() -> None:
        with webhook() as hook:
            notifier = Notifier([resolve_target(target(hook.url(), queue_size=2))], clock=FakeClock(),
                                on_result=lambda t, a, o: outcomes.append(o))
            for i in range(5):                # no worker yet: the queue holds two
                notifier.submit(alert(f"k{i}"))
            notifier.start()
            await notifier.drain(30)
            await notifier.close()
            assert len(hook.received) == 2
    asyncio.run(main())
    assert sorted(outcomes) == ["dropped"] * 3 + ["sent"] * 2


def test_a_delivery_that_fails_for_good_is_in_the_audit_log_and_the_log_without_the_secret(
        tmp_path: Path) -> None:
    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    with webhook(fail_first=100) as hook:
        edit(ws / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
             f"    - {{name: ops, url: '{hook.url()}', retries: 0, timeout: 5s}}\n")
        assert load_workspace(ws).settings.notifications[0].retries == 0
        run = run_hwfw("-v", "notify", "test", str(ws), "--format", "json", env={"HOOK_PASSWORD": SECRET})
    assert run.returncode == 1, run.stderr
    doc = json.loads(run.stdout)
    jsonschema.validate(doc, json.loads((REPO_ROOT / "schemas" / "notify-test.schema.json").read_text()))
    result = doc["results"][0]
    assert result["ok"] is False and result["target"] == "ops" and SECRET not in run.stdout + run.stderr
    audit = [json.loads(line) for line in (ws / ".hwfw" / "audit.jsonl").read_text().splitlines()]
    entry = audit[-1]
    assert (entry["component"], entry["action"], entry["outcome"]) == ("notifications", "notify", "failed")
    assert "ops" in entry["message"] and SECRET not in json.dumps(audit)


def test_notify_test_sends_to_the_named_target_only(tmp_path: Path) -> None:
    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    with webhook() as one, webhook() as two:
        edit(ws / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
             f"    - {{name: one, url: '{one.url()}'}}\n    - {{name: two, url: '{two.url()}'}}\n")
        run = run_hwfw("notify", "test", str(ws), "--to", "two", env={"HOOK_PASSWORD": SECRET})
        assert run.returncode == 0, run.stderr
        assert one.received == [] and len(two.received) == 1
        assert two.received[0][2]["title"] == "hwfw test notification"
        missing = run_hwfw("notify", "test", str(ws), "--target", "three", env={"HOOK_PASSWORD": SECRET})
        assert missing.returncode == 1 and "no notification target 'three'" in missing.stderr
        assert len(two.received) == 1
    assert SECRET not in run.stderr


def test_a_literal_password_in_a_target_url_is_refused_at_its_line(tmp_path: Path) -> None:
    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    edit(ws / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
         "    - {name: ops, url: 'json://hwfw:hunter22@hooks.example/x'}\n")
    from hwfw.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_workspace(ws)
    problem = next(p for p in err.value.problems if p.code == "literal-secret")
    assert problem.location is not None and problem.location.line == (ws / "hwfw.yaml").read_text().splitlines() \
        .index("  notifications:") + 2
    assert "user-info" in problem.message and "hunter22" not in problem.render()


def test_hwfw_compliance_alerts_the_hosts_behind_a_critical_image(tmp_path: Path) -> None:
    ws = tmp_path / "lab"
    shutil.copytree(LAB, ws, ignore=shutil.ignore_patterns(".hwfw", ".hwfw-sim"))
    edit(ws / "repository.yaml", "  - id: contoso-os2-bmc-2.15.0\n    description: OpenBMC-based BMC\n",
         "  - id: contoso-os2-bmc-2.15.0\n    description: OpenBMC-based BMC\n    critical: true\n")
    with webhook() as hook:
        edit(ws / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
             f"    - {{name: ops, url: '{hook.url()}', events: [host-behind]}}\n")
        run = run_hwfw("compliance", str(ws), "--format", "json", env={"HOOK_PASSWORD": SECRET})
        assert run.returncode in (0, 1), run.stderr
        report = json.loads(run.stdout)
        critical = sorted(h["name"] for h in report["hosts"] if h["critical_behind"])
        assert critical == ["lab-gen-01"]
        titles = sorted(b["title"] for b in hook.bodies())
        assert titles == ["lab-gen-01 is behind contoso-edge: critical image available"], titles
        assert "bmc 2.14.0 -> 2.15.0 (critical)" in hook.bodies()[0]["message"]
