"""The BMC sessions of an apply run, in its intent log, and those a killed run left open.

`RunSessions` is the run's session journal (hwfw/redfish/journal.py): every session
the run opens is a record in `.hwfw/sessions.jsonl` (intent-log form: the session's
URI, user and creation time; never its token), resolved when the session is logged
out. A run killed mid-way leaves those records open, and its sessions open on the
BMCs until they expire (up to 30 minutes, taking slots of a small session table).

`logout_leftovers` runs first thing in the next apply: it deletes each such session
by its URI with fresh credentials (stale.py) and resolves its record. A BMC that does
not answer keeps the record for the run after.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Mapping

from hwfw.apply.events import ApplyEvents
from hwfw.apply.ledger import Ledger
from hwfw.errors import BmcError
from hwfw.inventory.collect import ResolvedHost
from hwfw.logs import get_logger
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.stale import delete_stale_session
from hwfw.redfish.transport import ssl_context

__all__ = ["LeftoverReport", "RunSessions", "logout_leftovers"]

log = get_logger("apply.sessions")

class RunSessions:
    """The run's session journal: one open intent per live session."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._open: dict[tuple[str, str], str] = {}

    async def opened(self, host: str, uri: str, *, user: str | None, created: str | None) -> None:
        self._open[(host, uri)] = await self.ledger.session_opened(host, uri=uri, user=user, created=created)

    async def closed(self, host: str, uri: str, outcome: str) -> None:
        record = self._open.pop((host, uri), None)
        if record is not None:
            await self.ledger.session_closed(record, outcome)

    @property
    def live(self) -> int:
        return len(self._open)


@dataclass
class LeftoverReport:
    outcomes: dict[str, list[str]] = field(default_factory=dict)   # host -> outcome per session

    def count(self, outcome: str) -> int:
        return sum(v.count(outcome) for v in self.outcomes.values())


async def logout_leftovers(ledger: Ledger, hosts: Mapping[str, ResolvedHost], *, insecure: bool,
                           events: ApplyEvents, concurrency: int = 16) -> LeftoverReport:
    """Delete the sessions earlier runs left open on `hosts` (see the module docstring)."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for intent in await asyncio.to_thread(ledger.sessions.open_intents):
        if intent.get("host") in hosts:
            by_host.setdefault(intent["host"], []).append(intent)
    report = LeftoverReport()
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(name: str, intents: list[dict[str, Any]]) -> None:
        async with limit:
            rh = hosts[name]
            settings = ledger.settings
            verify = ssl_context(rh.ca_bundle or rh.host.ca_bundle or settings.ca_bundle, insecure=insecure)
            client = RedfishClient(rh.url, host=name, clock=ledger.clock,
                                   options=ClientOptions.from_settings(settings), verify=verify)
            try:
                for intent in intents:
                    d = intent.get("details") or {}
                    try:
                        outcome = await delete_stale_session(client, rh.username, rh.password, str(d.get("uri")),
                                                             created=d.get("created"))
                    except BmcError as exc:
                        log.info("%s: could not log out session %s left by run %s: %s", name, d.get("uri"),
                                 intent.get("run_id"), exc.message)
                        continue  # the BMC does not answer now: try again next run
                    report.outcomes.setdefault(name, []).append(outcome)
                    await ledger.session_closed(intent["intent"], outcome, settled=True)
                    if outcome == "deleted":
                        events.warning(f"logged out a session run {intent.get('run_id')} left open "
                                       f"({d.get('uri')})", name)
            finally:
                await client.aclose()

    await asyncio.gather(*(one(h, i) for h, i in sorted(by_host.items())))
    return report
