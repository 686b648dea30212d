"""The BMC sessions of an apply run, in its intent log, and those a killed run left open.

`RunSessions` is the run's session journal (hwfw/redfish/journal.py): every session
the run opens is a record in `.hwfw/sessions.jsonl` (intent-log form: the session's
URI, user and creation time; never its token), resolved when the session is logged
out. A run killed mid-way leaves those records open, and its sessions open on the
BMCs until they expire (up to 30 minutes, taking slots of a small session table).

Each login is journalled before its POST too (a pending login: host, Sessions URI,
user, the nonce its `Context` carried or why it carried none; hwfw/redfish/login_context.py),
and resolved by the answer. A pending login left open is a login whose answer never
arrived: the BMC may hold a session nobody can name by URI.

`logout_leftovers` runs first thing in the next apply: it deletes each such session
by its URI with fresh credentials (stale.py) and resolves its record; then, per host
with pending logins, it lists the BMC's sessions and deletes exactly those whose
Context is one of those logins' (`deleted`; `no-session` when none carries it). A
pending login without a nonce is resolved `unidentifiable` with the reason it
carried none: nothing is deleted on a guess. A BMC that does not answer keeps the
records for the run after.

The journal also remembers what each BMC did with a login's Context (`stored`,
`ignored`, `refused`), so later runs decide without asking again.

A Temporal worker keeps the same journal in a file of its own and logs out, with
`logout_left`, what a killed worker of its site left (hwfw/engine/temporal/sessions.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from hwfw.apply.events import ApplyEvents
from hwfw.apply.ledger import Ledger
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import BmcError
from hwfw.inventory.collect import ResolvedHost
from hwfw.logs import get_logger
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.login_context import IGNORED, REFUSED, STORED, context_value
from hwfw.redfish.session import DEFAULT_SESSIONS_URI
from hwfw.redfish.stale import delete_sessions_with_context, delete_stale_session
from hwfw.redfish.transport import ssl_context
from hwfw.state.journal import IntentLog

__all__ = ["LeftoverReport", "RunSessions", "Warnings", "logout_left", "logout_leftovers"]

log = get_logger("apply.sessions")

class RunSessions:
    """A session journal in an intent log: one open intent per live session, one pending
    login per login not yet answered. `owner` is the run (or worker) the records name:
    whoever reads the log later tells its own records from those of the dead by it.
    `RunSessions(ledger)`: the run's, in `.hwfw/sessions.jsonl`."""

    def __init__(self, ledger: Ledger | None = None, *, log: IntentLog | None = None,
                 owner: str | None = None) -> None:
        if ledger is not None:
            log, owner = ledger.sessions, ledger.run_id
        if log is None or owner is None:
            raise TypeError("RunSessions needs a ledger, or a log and its owner")
        self.log, self.owner = log, owner
        self._open: dict[tuple[str, str], str] = {}
        self._verdicts = context_verdicts(log.records())

    async def opened(self, host: str, uri: str, *, user: str | None, created: str | None) -> None:
        record = self.log.open(run_id=self.owner, host=host, component="session", action="session", uri=uri,
                               user=user, created=created)
        earlier, self._open[(host, uri)] = self._open.get((host, uri)), record
        if earlier is not None:  # the BMC forgot that session (a reset) and gave its id to this one
            self.log.resolve(earlier, "replaced")

    async def closed(self, host: str, uri: str, outcome: str) -> None:
        record = self._open.pop((host, uri), None)
        if record is not None:
            self.log.resolve(record, outcome)

    async def login_started(self, host: str, *, uri: str, user: str | None, nonce: str | None,
                            reason: str | None) -> str | None:
        return self.log.open(run_id=self.owner, host=host, component="session", action=LOGIN, uri=uri,
                             user=user, nonce=nonce, reason=reason)

    async def login_ended(self, host: str, record: str, outcome: str, **details: str | None) -> None:
        verdict = details.get("context")
        if verdict in _VERDICTS:
            self._verdicts[host] = str(verdict)
        self.log.resolve(record, outcome, **{k: v for k, v in details.items() if v is not None})

    def context_verdict(self, host: str) -> str | None:
        return self._verdicts.get(host)

    def learn(self, records: list[dict[str, Any]]) -> None:
        """Take what BMCs did with a login's Context from another journal's `records`
        (this one's own, recorded later, win)."""
        self._verdicts = {**context_verdicts(records), **self._verdicts}

    @property
    def live(self) -> int:
        return len(self._open)


LOGIN = "login"
_VERDICTS = (STORED, IGNORED, REFUSED)


def context_verdicts(records: list[dict[str, Any]]) -> dict[str, str]:
    """What each BMC did with a login's Context, as the journal last recorded it."""
    host_of = {r["intent"]: r.get("host") for r in records if "intent" in r}
    verdicts: dict[str, str] = {}
    for r in records:
        verdict = (r.get("details") or {}).get("context") if "resolves" in r else None
        host = host_of.get(r["resolves"]) if verdict in _VERDICTS else None
        if host:
            verdicts[host] = str(verdict)
    return verdicts


@dataclass
class LeftoverReport:
    outcomes: dict[str, list[str]] = field(default_factory=dict)   # host -> outcome per session

    def count(self, outcome: str) -> int:
        return sum(v.count(outcome) for v in self.outcomes.values())


class Warnings(Protocol):
    """Where the logout of a left session is reported (an apply's events, a worker's log)."""

    def warning(self, message: str, host: str | None = None) -> None: ...


async def logout_leftovers(ledger: Ledger, hosts: Mapping[str, ResolvedHost], *, insecure: bool,
                           events: ApplyEvents, concurrency: int = 16) -> LeftoverReport:
    """Delete the sessions earlier runs left open on `hosts` (see the module docstring)."""
    return await logout_left(ledger.sessions, hosts, owner=ledger.run_id, settings=ledger.settings,
                             clock=ledger.clock, insecure=insecure, events=events, concurrency=concurrency)


async def logout_left(journal: IntentLog, hosts: Mapping[str, ResolvedHost], *, owner: str, settings: Settings,
                      clock: Clock, insecure: bool, events: Warnings, concurrency: int = 16,
                      left_by: str = "run") -> LeftoverReport:
    """Delete the sessions whose records `journal` holds open, except `owner`'s own, on
    `hosts` (the others' records stay open: no credentials for them here). `left_by`
    names what the records' owners are in the warnings (a run, a worker)."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    logins: dict[str, list[dict[str, Any]]] = {}
    for intent in await asyncio.to_thread(journal.open_intents):
        if intent.get("host") in hosts and intent.get("run_id") != owner:  # never the owner's own
            (logins if intent.get("action") == LOGIN else by_host).setdefault(intent["host"], []).append(intent)
    report = LeftoverReport()
    limit = asyncio.Semaphore(max(1, concurrency))

    async def one(name: str, intents: list[dict[str, Any]]) -> None:
        async with limit:
            rh = hosts[name]
            verify = ssl_context(rh.ca_bundle or rh.host.ca_bundle or settings.ca_bundle, insecure=insecure)
            client = RedfishClient(rh.url, host=name, clock=clock,
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
                    journal.resolve(intent["intent"], outcome, settled=True)
                    if outcome == "deleted":
                        events.warning(f"logged out a session {left_by} {intent.get('run_id')} left open "
                                       f"({d.get('uri')})", name)
                if logins.get(name):
                    await _unanswered_logins(journal, client, rh, logins[name], report, events, left_by)
            finally:
                await client.aclose()

    for name in logins:
        by_host.setdefault(name, [])
    await asyncio.gather(*(one(h, i) for h, i in sorted(by_host.items())))
    return report


async def _unanswered_logins(journal: IntentLog, client: RedfishClient, rh: ResolvedHost,
                             pending: list[dict[str, Any]], report: LeftoverReport, events: Warnings,
                             left_by: str) -> None:
    """Delete the sessions pending logins of earlier runs created, found by their Context."""
    name = rh.name
    named = {context_value(str(i["details"]["nonce"])): i for i in pending if (i.get("details") or {}).get("nonce")}
    for intent in pending:
        if (intent.get("details") or {}).get("nonce"):
            continue
        reason = (intent.get("details") or {}).get("reason") or "the login carried no Context"
        report.outcomes.setdefault(name, []).append("unidentifiable")
        journal.resolve(intent["intent"], "unidentifiable", settled=True,
                        why=f"a session this login may have created cannot be told apart: {reason}")
    if not named:
        return
    by_uri: dict[str, list[str]] = {}
    for context, intent in named.items():
        by_uri.setdefault(str(intent["details"].get("uri") or DEFAULT_SESSIONS_URI), []).append(context)
    for sessions_uri, contexts in by_uri.items():
        try:
            found = await delete_sessions_with_context(client, rh.username, rh.password, sessions_uri, contexts)
        except BmcError as exc:
            log.info("%s: could not look for sessions of unanswered logins: %s", name, exc.message)
            continue  # the BMC does not answer now: try again next run
        for context in contexts:
            intent = named[context]
            outcome = found.get(context, "no-session")
            report.outcomes.setdefault(name, []).append(outcome)
            journal.resolve(intent["intent"], outcome, settled=True)
            if outcome == "deleted":
                events.warning(f"logged out a session whose login answer {left_by} {intent.get('run_id')} never "
                               f"received (Context {context})", name)
