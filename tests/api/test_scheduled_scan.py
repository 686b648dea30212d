"""Acceptance (issue 14): the server's scheduled compliance scan raises exactly one
alert for a host that falls behind (its BIOS downgraded through the simulator's control
API), however many scans see it; the scan is skipped while the workspace lock is held,
and its result is in the status document and the metrics."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hwfw.api.service import FirmwareService
from tests.apply.support import serve_lab
from tests.helpers import edit
from tests.notify.receivers import webhook

pytestmark = pytest.mark.slow

# POSIX record locks belong to a process: another process holds the workspace lock.
HOLD_LOCK = """
import asyncio, sys
from pathlib import Path
from hwfw.config import load_workspace
from hwfw.state.backend import open_backend

async def main():
    async with open_backend(load_workspace(Path(sys.argv[1])).settings) as backend, backend.lock("apply"):
        print("locked", flush=True)
        await asyncio.to_thread(sys.stdin.read)

asyncio.run(main())
"""


@contextmanager
def lock_held_by_another_process(workspace: Path) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(workspace)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)


def test_one_alert_for_a_host_that_falls_behind_not_one_per_scan(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    lab = serve_lab(tmp_path, ["lab-gen-01", "lab-gen-02"])
    try:
        for key, value in {**lab.env, "HOOK_PASSWORD": "scan-hook-secret"}.items():
            monkeypatch.setenv(key, value)
        with webhook() as hook:
            edit(lab.workspace / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
                 f"    - {{name: ops, url: '{hook.url()}', events: [host-behind]}}\n"
                 "  server: {scan_interval: 0}\n")

            async def main() -> list[str]:
                results = []
                async with FirmwareService.open(lab.workspace, scan=False) as service:
                    results.append(await service.observers.scheduled_scan())
                    first = service.status()["summary"]
                    r = httpx.post(f"{lab.process.urls['lab-gen-02']}/__sim/firmware",
                                   json={"component": "bios", "version": "1.0.5"}, verify=lab._tls(), timeout=10)
                    assert r.status_code == 200, r.text
                    results.append(await service.observers.scheduled_scan())
                    results.append(await service.observers.scheduled_scan())
                    with lock_held_by_another_process(lab.workspace):
                        results.append(await service.observers.scheduled_scan())
                    assert service.observers.notifier is not None
                    await service.observers.notifier.drain(30)
                    status = service.status()
                    assert status["scan"]["result"] == "skipped"
                    assert status["summary"]["compliant_hosts"] == first["compliant_hosts"] - 1
                    families = {f.name: f for f in text_string_to_metric_families(
                        service.observers.exposition().decode())}
                    scans = {s.labels["result"]: s.value for s in families["hwfw_fleet_scans"].samples}
                    assert scans == {"ok": 3.0, "skipped": 1.0}
                    behind = {(s.labels["baseline"], s.labels["status"]): s.value
                              for s in families["hwfw_fleet_hosts"].samples}
                    assert behind[("contoso-edge", "behind")] == 2.0
                return results

            results = asyncio.run(main())
            assert results == ["ok", "ok", "ok", "skipped"]
            about_gen_02 = [b for b in hook.bodies() if "lab-gen-02" in b["title"]]
            assert len(about_gen_02) == 1, hook.received
            assert "bios 1.0.5 -> 1.1.0" in about_gen_02[0]["message"]
    finally:
        lab.process.stop()


def test_a_lock_held_too_long_is_alerted_once_and_the_scan_skipped(lab_copy: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta

    from hwfw.clock import FakeClock

    monkeypatch.setenv("HOOK_PASSWORD", "lock-hook-secret")
    # the server's clock reads three hours after the lock was taken (lock_alert_after: 2h)
    clock = FakeClock(wall_start=datetime.now(UTC) + timedelta(hours=3))
    with webhook() as hook:
        edit(lab_copy / "hwfw.yaml", "settings:\n", "settings:\n  notifications:\n"
             f"    - {{name: ops, url: '{hook.url()}', events: [lock-held]}}\n"
             "  server: {scan_interval: 0, lock_alert_after: 2h}\n")

        async def main() -> list[str]:
            async with FirmwareService.open(lab_copy, scan=False, clock=clock) as service:
                with lock_held_by_another_process(lab_copy):
                    results = [await service.observers.scheduled_scan(), await service.observers.scheduled_scan()]
                assert service.observers.notifier is not None
                await service.observers.notifier.drain(30)
                return results

        assert asyncio.run(main()) == ["skipped", "skipped"]
        assert len(hook.received) == 1, hook.received
        body = hook.received[0][2]
        assert body["title"].startswith("the workspace lock has been held for") and "apply by" in body["message"]
