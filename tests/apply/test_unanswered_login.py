"""A login whose answer never arrived (issue 17 item 12, the last window).

The BMC created the session, the answer was lost (hwfw killed, the connection cut), so
the session journal holds no URI for it. The login was journalled before its POST with
a random nonce sent as the session's `Context` where the BMC keeps one; the next run
lists the BMC's sessions and deletes exactly the one carrying that Context. Against the
simulator in this process; its event log and session tables are the ground truth.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hwfw.apply.events import ApplyEvents
from hwfw.apply.ledger import Ledger
from hwfw.apply.sessions import RunSessions, logout_leftovers
from hwfw.config.model import Host, Settings
from hwfw.errors import BmcError
from hwfw.events import CallbackSink, Event
from hwfw.inventory.collect import ResolvedHost
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.journal import journal_sessions
from hwfw.redfish.session import RedfishSession
from hwfw.state.files import read_json_lines
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow

LOGIN = "POST /redfish/v1/SessionService/Sessions"


def fleet(profile: str, options: dict[str, str] | None = None) -> str:
    return textwrap.dedent(f"""\
        seed: 7
        defaults:
          credentials: {{username: admin, password: password}}
        hosts:
          bmc-1:
            profile: {profile}
            model: {"PowerEdge R750" if profile == "dell" else "ProLiant DL380 Gen10" if profile == "hpe"
                    else "Contoso OpenServer 2"}
            firmware: {{bmc: "{"6.10.30.00" if profile == "dell" else "2.72 Sep 04 2022" if profile == "hpe"
                                else "2.14.0"}"}}
            options: {json.dumps(options or {})}
        """)


class Rig:
    """One BMC of the simulator, a workspace's run-time directory, runs of hwfw against it."""

    def __init__(self, sim: Any, tmp_path: Path) -> None:
        self.sim = sim
        self.bmc = sim.fleet.bmcs["bmc-1"]
        self.clock = SimClock(sim.fleet)
        self.settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path / ".hwfw")
        self.host = ResolvedHost(Host(name="bmc-1", bmc="sim://bmc-1"), sim.url("bmc-1"), *CREDENTIALS)

    def ledger(self, run_id: str) -> Ledger:
        return Ledger(self.settings, run_id, self.clock, offload=False)

    def session(self, login_context: bool | None) -> RedfishSession:
        client = RedfishClient(self.host.url, host="bmc-1", clock=self.clock, options=ClientOptions(retries=0))
        return RedfishSession(client, *CREDENTIALS, login_context=login_context)

    async def login_lost(self, run_id: str, login_context: bool | None = True) -> None:
        """A run whose login the BMC carries out but whose answer never arrives."""
        self.sim.fleet.set_faults("bmc-1", {"lose_answer": LOGIN})
        with journal_sessions(RunSessions(self.ledger(run_id))):
            with pytest.raises(BmcError):
                async with self.session(login_context):
                    pass
        self.sim.fleet.clear_faults("bmc-1")

    async def next_run(self, run_id: str) -> tuple[Ledger, list[Event]]:
        ledger = self.ledger(run_id)
        warnings: list[Event] = []
        events = ApplyEvents(CallbackSink(warnings.append), self.clock, run_id)
        await logout_leftovers(ledger, {"bmc-1": self.host}, insecure=True, events=events)
        return ledger, warnings

    def journal(self) -> list[dict[str, Any]]:
        return read_json_lines(self.settings.runtime_dir / "sessions.jsonl")

    def logins(self) -> list[dict[str, Any]]:
        return [r for r in self.journal() if r.get("action") == "login"]

    def outcome(self, record: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in self.journal() if r.get("resolves") == record["intent"]), None)


def test_the_next_run_deletes_the_session_of_a_lost_login_answer_and_only_it(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("generic")) as sim:
            rig = Rig(sim, tmp_path)
            await rig.login_lost("run-1")
            created = sim.fleet.events.query("bmc-1", "session-opened")
            assert len(created) == 1, created          # the BMC did create it...
            assert sim.fleet.events.query("bmc-1", "fault")[-1]["kind"] == "lose-answer"
            orphan = created[0]
            pending = rig.logins()
            assert len(pending) == 1 and rig.outcome(pending[0]) is None   # ...and the login is still pending
            nonce = pending[0]["details"]["nonce"]
            assert orphan["context"] == f"hwfw:{nonce}"
            assert "password" not in json.dumps(rig.journal()).lower().replace('"password"', "")
            assert CREDENTIALS[1] not in json.dumps(rig.journal())

            # the same account's other sessions: an operator's, and another hwfw's (another workspace)
            operator = rig.bmc.sessions.create("admin")
            other_hwfw = rig.bmc.sessions.create("admin", "hwfw:0123456789abcdef01234567")

            ledger, warnings = await rig.next_run("run-2")
            live = {s.id for s in rig.bmc.sessions.live()}
            assert live == {operator.id, other_hwfw.id}
            closed = sim.fleet.events.query("bmc-1", "session-closed")
            assert [(e["id"], e["reason"]) for e in closed] == [(orphan["id"], "logout")]
            assert rig.outcome(pending[0])["outcome"] == "deleted"
            assert any("never received" in str(w.payload) for w in warnings), warnings
            assert not ledger.sessions.open_intents()

            again, _ = await rig.next_run("run-3")   # resolved: nothing left to do, nothing deleted
            assert {s.id for s in rig.bmc.sessions.live()} == live
            rig.bmc.sessions.delete(operator.id)
            rig.bmc.sessions.delete(other_hwfw.id)

    asyncio.run(body())


def test_a_bmc_without_context_support_loses_nothing_and_the_record_says_why(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("dell")) as sim:
            rig = Rig(sim, tmp_path)
            # hwfw's registry record for the vendor: not known to keep a login's Context
            await rig.login_lost("run-1", login_context=False)
            orphan = sim.fleet.events.query("bmc-1", "session-opened")[0]
            assert "context" not in orphan
            pending = rig.logins()[0]
            assert pending["details"]["nonce"] is None and "not known to keep" in pending["details"]["reason"]

            await rig.next_run("run-2")
            assert [s.id for s in rig.bmc.sessions.live()] == [orphan["id"]]   # not ours provably: kept
            assert sim.fleet.events.query("bmc-1", "session-closed") == []
            outcome = rig.outcome(pending)
            assert outcome is not None and outcome["outcome"] == "unidentifiable"
            assert "cannot be told apart" in outcome["details"]["why"]
            assert "not known to keep" in outcome["details"]["why"]
            rig.bmc.sessions.delete(orphan["id"])

    asyncio.run(body())


def test_a_bmc_that_refuses_context_still_gets_a_session_and_is_remembered(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        # OpenBMC before 2022 answered an unknown property in the login with 400 PropertyUnknown
        async with sim_sessions.fleet(tmp_path, fleet("generic", {"session_context": "refused"})) as sim:
            rig = Rig(sim, tmp_path)
            with journal_sessions(RunSessions(rig.ledger("run-1"))):
                async with rig.session(True) as s:
                    assert s.token is not None
                    await s.login_again()      # the next login of this run sends none
            logins = rig.logins()
            outcomes = [rig.outcome(r) for r in logins]
            assert [o["outcome"] for o in outcomes if o] == ["refused", "opened", "opened"]
            assert outcomes[0]["details"]["context"] == "refused"
            assert [r["details"]["nonce"] is None for r in logins] == [False, True, True]
            assert "refused a login's Context" in logins[2]["details"]["reason"]
            assert len(sim.fleet.events.query("bmc-1", "session-opened")) == 2   # no session for the refusal

            # remembered in the journal: the next run does not try again
            with journal_sessions(RunSessions(rig.ledger("run-2"))):
                async with rig.session(True):
                    pass
            assert rig.logins()[-1]["details"]["nonce"] is None

    asyncio.run(body())


def test_an_ignored_context_is_learnt_from_the_login_answer(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("hpe")) as sim:
            rig = Rig(sim, tmp_path)
            with journal_sessions(RunSessions(rig.ledger("run-1"))):
                async with rig.session(None) as s:   # no registry fact: the first login sends none...
                    await s.login_again()            # ...the answer names Session v1.7: the next one does
                    await s.login_again()            # the BMC did not keep it: no more
            nonces = [r["details"]["nonce"] for r in rig.logins()]
            assert [n is not None for n in nonces] == [False, True, False]
            assert rig.outcome(rig.logins()[1])["details"]["context"] == "ignored"
            assert all("context" not in e for e in sim.fleet.events.query("bmc-1", "session-opened"))

    asyncio.run(body())
