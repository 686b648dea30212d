"""Whose sessions a starting `hwfw worker` logs out (hwfw/engine/temporal/sessions.py).

In this process, against the simulator (its session table and event log are the ground
truth): workers of two sites and a local apply share one checkout; a worker of site a
that starts logs out exactly what a dead worker of site a left (by URI, and by Context
for a login whose answer never arrived), and never the session of a live worker (of its
site or another), of a dead worker of another site, or of the local apply.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from hwfw.apply.sessions import RunSessions
from hwfw.engine.temporal.sessions import WorkerSessions, journal_dir
from hwfw.engine.temporal.site import DriverPool
from hwfw.errors import BmcError
from hwfw.redfish.journal import SessionJournal, journal_sessions
from hwfw.redfish.session import RedfishSession
from hwfw.resources import schema_path
from hwfw.state.files import read_json_lines
from hwfw.state.journal import IntentLog
from tests.apply.test_unanswered_login import LOGIN, Rig, fleet
from tests.redfish.simfleet import NoLeakedSessions

pytestmark = pytest.mark.slow   # serves the simulator on loopback sockets (in this process)


def test_a_starting_worker_logs_out_what_a_dead_worker_of_its_site_left_and_nothing_else(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("generic")) as sim:
            rig = Rig(sim, tmp_path)
            hosts = {"bmc-1": rig.host}

            def live() -> set[str]:
                return {s.id for s in rig.bmc.sessions.live()}

            async def open_session(journal: SessionJournal) -> tuple[RedfishSession, str]:
                before = live()
                with journal_sessions(journal):
                    session = rig.session(True)
                    await session.__aenter__()
                (new,) = live() - before
                return session, new

            async def close(session: RedfishSession, journal: SessionJournal) -> None:
                with journal_sessions(journal):
                    await session.__aexit__(None, None, None)

            # live: a worker of site a, a worker of site b, a local apply
            worker_a = WorkerSessions(rig.settings, "a", rig.clock)
            worker_b = WorkerSessions(rig.settings, "b", rig.clock)
            apply = RunSessions(rig.ledger("run-1"))
            held = {name: (journal, *await open_session(journal))
                    for name, journal in (("a", worker_a.claim()), ("b", worker_b.claim()), ("apply", apply))}
            # dead: a second worker of site a, killed with one session open and one login unanswered
            dead = WorkerSessions(rig.settings, "a", rig.clock)
            dead_journal = dead.claim()
            assert dead.path != worker_a.path and dead.path is not None
            _, left = await open_session(dead_journal)
            before = live()
            sim.fleet.set_faults("bmc-1", {"lose_answer": LOGIN})
            with journal_sessions(dead_journal), pytest.raises(BmcError):
                async with rig.session(True):
                    pass
            sim.fleet.clear_faults("bmc-1")
            (unanswered,) = live() - before
            dead.release()   # what the kernel does for a killed worker
            # dead too: a worker of site b (its BMCs are reached from site b, by site b's workers)
            dead_b = WorkerSessions(rig.settings, "b", rig.clock)
            _, left_b = await open_session(dead_b.claim())
            dead_b.release()

            # a worker of site a starts: it takes the dead one's slot and logs out what it left
            starting = WorkerSessions(rig.settings, "a", rig.clock)
            starting.claim()
            assert starting.path == dead.path
            report = await starting.logout_dead(hosts, insecure=True)
            assert report.count("deleted") == 2, report
            assert live() == {sid for _, _, sid in held.values()} | {left_b}
            closed = {e["id"]: e["reason"] for e in sim.fleet.events.query("bmc-1", "session-closed")}
            assert closed == {left: "logout", unanswered: "logout"}
            # the dead worker's records say so; the live ones' sessions are still open in theirs
            assert not [i for i in IntentLog(dead.path).open_intents() if i["run_id"] == dead.owner]
            assert {r["outcome"] for r in read_json_lines(dead.path) if "resolves" in r} >= {"deleted"}
            journal_schema = json.loads(schema_path("journal").read_text())
            for record in read_json_lines(dead.path):
                jsonschema.validate(record, journal_schema)
            for path in (worker_a.path, worker_b.path, rig.settings.runtime_dir / "sessions.jsonl"):
                assert [i["action"] for i in IntentLog(path).open_intents()] == ["session"], path
            assert worker_b.path is not None and worker_b.path.parent == journal_dir(rig.settings, "b")

            # worker a dies in turn: the next start of site a logs its session out
            worker_a.release()
            again = WorkerSessions(rig.settings, "a", rig.clock)
            again.claim()
            assert (await again.logout_dead(hosts, insecure=True)).count("deleted") == 1
            assert held["a"][2] not in live()
            assert live() == {held["b"][2], held["apply"][2], left_b}
            # site b's next worker logs out its dead one's session, not the live worker's of b
            next_b = WorkerSessions(rig.settings, "b", rig.clock)
            next_b.claim()
            assert (await next_b.logout_dead(hosts, insecure=True)).count("deleted") == 1
            assert live() == {held["b"][2], held["apply"][2]}
            for name in ("b", "apply"):
                journal, session, _ = held[name]
                await close(session, journal)
            await held["a"][1].client.aclose()   # its session is gone: logged out by the next worker
            for w in (starting, again, worker_b, next_b):
                w.release()

    asyncio.run(body())


def test_a_worker_stopping_cleanly_logs_out_its_pooled_sessions_and_its_journal_says_so(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path, fleet("generic")) as sim:
            rig = Rig(sim, tmp_path)
            worker = WorkerSessions(rig.settings, "a", rig.clock)
            with journal_sessions(worker.claim()):
                # the site's pool keeps a host's session across its pieces (site.py)
                pool = DriverPool(lambda host: rig.session(True))
                async with pool.use("run-1", "bmc-1"):
                    pass
                assert len(rig.bmc.sessions.live()) == 1          # still open between pieces
                assert worker.path is not None
                assert [i["action"] for i in IntentLog(worker.path).open_intents()] == ["session"]
                await pool.close_all()                            # what the worker's end runs
            worker.release()
            assert not rig.bmc.sessions.live()
            assert [e["reason"] for e in sim.fleet.events.query("bmc-1", "session-closed")] == ["logout"]
            assert not IntentLog(worker.path).open_intents()      # nothing for the next worker to do

    asyncio.run(body())
