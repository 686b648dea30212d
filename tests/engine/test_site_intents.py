"""A site worker settles intents earlier runs left open before a host's pre-flight; which
hosts have some is read from the intent log once per run, not at every host's begin (the
log grows with every step: a 5,000-host rollout spent a third of its worker's time
re-reading it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hwfw.engine.temporal.site import Site
from tests.apply.support import MemoryImages

from .rigs import memory_rig

HOSTS = {f"edge-{i}": ("generic", "Contoso OpenServer 2", {"bmc": "2.14.0", "bios": "1.1.0"}) for i in range(3)}


def test_hosts_with_intents_of_earlier_runs_are_read_once_per_run(tmp_path: Path) -> None:
    rig = memory_rig(tmp_path / "ws", HOSTS, 1000.0)

    async def scenario() -> None:
        async with Site(rig.workspace, None, drivers=rig.fleet.driver, images=MemoryImages(), clock=rig.clock) as site:
            assert site.backend is not None
            old = await site.backend.open_intent(run_id="old", host="edge-0", component="bmc", action="flash")
            await site.backend.open_intent(run_id="old", host="edge-1", component="bmc", action="flash")
            await site.backend.resolve_intent(old, "done")
            await site.backend.open_intent(run_id="now", host="edge-2", component="bmc", action="flash")
            # edge-0's intent is resolved and edge-2's is this run's own: only edge-1
            assert await site.earlier_intents("now") == {"edge-1"}
            # intents of this run written meanwhile do not change the answer
            await site.backend.open_intent(run_id="now", host="edge-0", component="bmc", action="flash")
            assert await site.earlier_intents("now") == {"edge-1"}
            site.settled_earlier("now", "edge-1")
            assert await site.earlier_intents("now") == set()
            # the next run reads the log again: every intent of "now" is earlier for it
            assert await site.earlier_intents("next") == {"edge-0", "edge-1", "edge-2"}

    asyncio.run(scenario())
