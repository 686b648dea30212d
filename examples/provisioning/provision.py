"""Bring newly racked servers to their firmware baselines, as a provisioning system would.

    python examples/provisioning/provision.py examples/lab lab-dell-02 lab-smc-02

Three calls of `hwfw.api.FirmwareManager`: fetch the images the baselines need,
read the hosts' BMCs and compare them with their baselines, update the ones behind
(no confirmation: a provisioning system has no terminal; the same engine, locks,
resume and events as `hwfw apply --auto-approve --target ...`), and check again.
Exit code 0 when every host given ends compliant.
"""

from __future__ import annotations

import asyncio
import sys

from hwfw.api import ApplyOptions, Event, FirmwareManager


def progress(event: Event) -> None:
    if event.name == "host-finished":
        outcome = event.payload["outcome"]
        print(f"  {event.host}: {outcome['status']} ({outcome['steps_done']}/{outcome['steps_total']} steps)")


async def provision(workspace: str, hosts: list[str]) -> int:
    manager = FirmwareManager(workspace)

    synced = await manager.sync_firmware_repository()
    print(f"repository: {synced.summary()}")

    before = await manager.check_firmware_versions(hosts)
    behind = [h.name for h in before.hosts if h.status != "compliant"]
    print(f"behind their baseline: {', '.join(behind) or 'none'}")

    if behind:
        result = await manager.update_firmware_batch(behind, ApplyOptions(parallelism=4), on_event=progress)
        print(result.summary.line() if result.summary else result.message)

    after = await manager.check_firmware_versions(hosts)
    for host in after.hosts:
        print(f"{host.name}: {host.status}")
    return 0 if all(h.status == "compliant" for h in after.hosts) else 1


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sys.exit(asyncio.run(provision(sys.argv[1], sys.argv[2:])))
