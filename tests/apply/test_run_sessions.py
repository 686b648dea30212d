"""The session journal's records (hwfw/apply/sessions.py), in-process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hwfw.apply.sessions import RunSessions
from hwfw.state.journal import IntentLog

URI = "/redfish/v1/SessionService/Sessions/3"


def test_a_session_given_the_id_of_one_the_bmc_forgot_replaces_its_record(tmp_path: Path) -> None:
    """A BMC that reset forgets its sessions and may hand the next login the same id: the
    record of the forgotten session is resolved, not left for the next run to chase."""
    log = IntentLog(tmp_path / "sessions.jsonl", durable=False)
    journal = RunSessions(log=log, owner="run-1")

    async def body() -> None:
        await journal.opened("bmc-1", URI, user="admin", created="2026-01-01T00:00:00Z")
        await journal.opened("bmc-1", URI, user="admin", created="2026-01-01T00:05:00Z")   # after a reset
        assert [i["details"]["created"] for i in log.open_intents()] == ["2026-01-01T00:05:00Z"]
        await journal.closed("bmc-1", URI, "logged-out")

    asyncio.run(body())
    assert not log.open_intents()
    assert [r["outcome"] for r in log.records() if "resolves" in r] == ["replaced", "logged-out"]
    assert journal.live == 0
