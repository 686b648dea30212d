"""The requests one host costs and how many of them come one after the other (issue 19).

Which requests a BMC served is read from the simulator's request log. Round trips in a
row come from the client's request trace (hwfw/redfish/trace.py): it orders requests by
the event loop's own sequence of sends and answers, so it does not depend on timing,
which a loaded test machine would blur in the simulator's clock readings.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import CollectStats, NeedsPreflight, ResolvedHost, collect
from hwfw.inventory.model import Inventory
from hwfw.redfish.closer import SessionCloser
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock

pytestmark = pytest.mark.slow

ROOT = ("GET", "/redfish/v1")
LOGIN = ("POST", "/redfish/v1/SessionService/Sessions")
SYSTEMS = ("GET", "/redfish/v1/Systems")
MANAGERS = ("GET", "/redfish/v1/Managers")
INVENTORY = ("GET", "/redfish/v1/UpdateService/FirmwareInventory")
UPDATE_SERVICE = ("GET", "/redfish/v1/UpdateService")
VENDOR_HOSTS = ("dell-1", "hpe-1", "smc-1")


def settings(tmp_path: Path, requests_per_bmc: int = 4) -> Settings:
    return Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path, requests_per_bmc=requests_per_bmc)


def hosts_of(sim: Any, names: list[str] | None = None) -> list[ResolvedHost]:
    return [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), sim.url(n), *CREDENTIALS) for n in names or sim.urls]


def requests_of(sim: Any, bmc: str) -> list[tuple[str, str]]:
    """(method, path) of every request `bmc` answered; session ids folded into `{id}`."""
    return [(r.method, re.sub(r"/Sessions/.+$", "/Sessions/{id}", r.path)) for r in sim.app.request_log
            if r.bmc == bmc]


async def read(sim: Any, tmp_path: Path, needs: NeedsPreflight | None, *, requests_per_bmc: int = 4,
               closer: SessionCloser | None = None) -> tuple[Inventory, CollectStats]:
    sim.app.request_log = []
    stats = CollectStats()
    inv = await collect(hosts_of(sim), settings=settings(tmp_path, requests_per_bmc), clock=SimClock(sim.fleet),
                        stats=stats, needs_preflight=needs, closer=closer)
    return inv, stats


def test_a_host_with_nothing_to_change_costs_five_requests_three_round_trips(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> tuple[Inventory, CollectStats, dict[str, list[tuple[str, str]]]]:
        async with sim_sessions.fleet(tmp_path) as sim:
            inv, stats = await read(sim, tmp_path, lambda inv: False)
            return inv, stats, {n: requests_of(sim, n) for n in sim.urls}

    inv, stats, log = asyncio.run(body())
    for name in VENDOR_HOSTS:
        assert sorted(log[name]) == sorted([ROOT, LOGIN, SYSTEMS, INVENTORY,
                                            ("DELETE", "/redfish/v1/SessionService/Sessions/{id}")]), name
        assert stats.per_host_requests[name] == 5 and stats.per_host_rounds[name] == 3, name
    # The generic root names no vendor the registry knows: the Manager's hints could,
    # so it is read too, in the same round.
    assert MANAGERS in log["gen-1"] and len(log["gen-1"]) == 6 and stats.per_host_rounds["gen-1"] == 3
    assert stats.preflight_hosts == 0 and all(h.reachable for h in inv.hosts.values())
    assert all(h.capabilities is None for h in inv.hosts.values())  # the UpdateService was not read


def test_a_host_with_changes_adds_its_preflight_reads_in_one_more_round(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> tuple[Inventory, CollectStats, dict[str, list[tuple[str, str]]], CollectStats]:
        async with sim_sessions.fleet(tmp_path) as sim:
            inv, stats = await read(sim, tmp_path, lambda inv: True)
            log = {n: requests_of(sim, n) for n in sim.urls}
            # The pre-flight round is UpdateService, the Manager (unless round 2 read it),
            # the job queue or task list, Bios and its settings, and Supermicro's licence
            # probe: four to six reads, one round when the BMC may take them all at once.
            _, wide = await read(sim, tmp_path, lambda inv: True, requests_per_bmc=6)
            return inv, stats, log, wide

    inv, stats, log, wide = asyncio.run(body())
    preflight_reads = {
        "dell-1": [("GET", "/redfish/v1/Managers/iDRAC.Embedded.1/Oem/Dell/Jobs"),
                   ("GET", "/redfish/v1/Systems/System.Embedded.1/Bios"),
                   ("GET", "/redfish/v1/Systems/System.Embedded.1/Bios/Settings")],
        "hpe-1": [("GET", "/redfish/v1/UpdateService/UpdateTaskQueue"), ("GET", "/redfish/v1/Systems/1/Bios"),
                  ("GET", "/redfish/v1/Systems/1/Bios/settings")],
        "smc-1": [("GET", "/redfish/v1/UpdateService/upload"), ("GET", "/redfish/v1/Systems/1/Bios")],
        "gen-1": [("GET", "/redfish/v1/TaskService/Tasks"), ("GET", "/redfish/v1/Systems/system/Bios"),
                  ("GET", "/redfish/v1/Systems/system/Bios/Settings")],
    }
    for name, reads in preflight_reads.items():
        assert UPDATE_SERVICE in log[name] and MANAGERS in log[name], (name, log[name])
        assert all(r in log[name] for r in reads), (name, log[name])
        assert log[name].count(MANAGERS) == 1, name  # read once: in round 2 or in the pre-flight round
        assert wide.per_host_rounds[name] == 4, name  # 3 + one round of pre-flight reads
        assert stats.per_host_requests[name] == len(log[name])
        # At the default of four requests per BMC, five or six reads take two rounds.
        preflight = len(log[name]) - 5 - (name == "gen-1")
        assert stats.per_host_rounds[name] == 3 + math.ceil(preflight / 4), (name, preflight)
    assert stats.per_host_rounds["gen-1"] == 4 and stats.per_host_rounds["dell-1"] == 5
    assert stats.preflight_hosts == 4 and wide.preflight_hosts == 4
    smc = inv.hosts["smc-1"].preflight
    assert smc is not None and smc.licence_errors and "OemLicenseNotPassed" in smc.licence_errors[0]
    for h in inv.hosts.values():  # what the plan checks changes against: update methods, resets
        assert h.capabilities is not None and h.capabilities.update_methods, h.host
        assert h.capabilities.activations is not None and "bmc-reset" in h.capabilities.activations, h.host


def test_skipping_preflight_reads_changes_no_version_and_no_fingerprint(
        tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> tuple[Inventory, Inventory, Inventory]:
        async with sim_sessions.fleet(tmp_path) as sim:
            full, _ = await read(sim, tmp_path, None)
            none, _ = await read(sim, tmp_path, lambda inv: False)
            some, _ = await read(sim, tmp_path, lambda inv: True)
            return full, none, some

    full, none, some = asyncio.run(body())
    for name, h in full.hosts.items():
        for other in (none.hosts[name], some.hosts[name]):
            assert {c.key: c.version for c in other.components} == {c.key: c.version for c in h.components}
            assert (other.vendor, other.model, other.serial, other.bmc_firmware) == \
                (h.vendor, h.model, h.serial, h.bmc_firmware)
            assert other.fingerprint() == h.fingerprint(), name
        assert some.hosts[name].preflight == h.preflight, name


def test_logout_is_off_the_critical_path_and_always_finished(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    async def body() -> tuple[int, int, int, CollectStats]:
        async with sim_sessions.fleet(tmp_path) as sim:
            sim.fleet.set_faults("*", {"latency": "50ms"})  # a logout takes at least 50 ms to be answered
            closer = SessionCloser()
            _, stats = await read(sim, tmp_path, lambda inv: False, closer=closer)
            pending, live = closer.pending, sum(len(s.sessions.live()) for s in sim.fleet.bmcs.values())
            await closer.aclose()
            return pending, live, sum(len(s.sessions.live()) for s in sim.fleet.bmcs.values()), stats

    pending, live_at_return, live_after, stats = asyncio.run(body())
    assert pending >= 1 and live_at_return >= 1  # the inventory came back before the last logout
    assert live_after == 0
    assert all(stats.per_host_rounds[n] == 3 for n in VENDOR_HOSTS)  # recorded once each logout was done


def test_vv_logs_each_hosts_longest_chain(tmp_path: Path, sim_sessions: NoLeakedSessions,
                                          caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        async with sim_sessions.fleet(tmp_path) as sim:
            await read(sim, tmp_path, lambda inv: False)

    with caplog.at_level(logging.DEBUG, logger="hwfw"):
        asyncio.run(body())
    lines = [r.getMessage() for r in caplog.records if "round trips in a row:" in r.getMessage()]
    dell = next(line for line in lines if line.startswith("dell-1:"))
    assert re.fullmatch(r"dell-1: 5 requests, 3 round trips in a row: "
                        r"(GET /redfish/v1/|POST /redfish/v1/SessionService/Sessions) -> "
                        r"GET /redfish/v1/(Systems|UpdateService/FirmwareInventory)\?\$expand=\.\(\$levels=1\) -> "
                        r"DELETE /redfish/v1/SessionService/Sessions/\S+", dell), dell
    summary = [r.getMessage() for r in caplog.records if "hosts read" in r.getMessage()]
    assert summary and "at most 3 round trips in a row, 1 wave(s)" in summary[-1]
    sizing = [r.getMessage() for r in caplog.records if "hosts in flight" in r.getMessage()]
    assert sizing and "4 of 4 hosts in flight (every host at once)" in sizing[-1] and "open files limit" in sizing[-1]


def test_plan_reads_preflight_facts_only_for_hosts_it_changes(lab_copy: Path) -> None:
    """`hwfw plan`'s path: the planner's triage, through connect(), on the lab workspace
    with one host already at its baseline."""
    from hwfw.connect import connect, load_workspace, read_inventory
    from hwfw.plan import needs_preflight, plan
    from hwfw.state.store import StateStore

    fleet = lab_copy / "fleet.yaml"
    text = fleet.read_text()
    start = text.index("  lab-dell-03:")
    fleet.write_text(text[:start] + text[start:].replace('bios: "1.9.4"', 'bios: "1.10.2"', 1))
    # Firmware only: a host whose baseline declares BIOS settings always gets the
    # pre-flight round (its Bios resource says whether the settings differ; tested in
    # test_a_host_declaring_bios_settings_gets_the_preflight_round_even_at_its_baseline).
    baselines = yaml.safe_load((lab_copy / "baselines.yaml").read_text())
    for b in baselines["baselines"].values():
        b.pop("bios_settings", None)
        b.pop("overrides", None)
    (lab_copy / "baselines.yaml").write_text(yaml.safe_dump(baselines, sort_keys=False))
    ws = load_workspace(lab_copy)
    state = StateStore(ws.settings.state_path).load()

    async def body() -> tuple[Inventory, Inventory, dict[str, list[tuple[str, str]]]]:
        async with connect(ws) as conn:
            conn.fleet.app.request_log = []
            triaged = await read_inventory(conn, needs_preflight=needs_preflight(ws, state))
            await conn.closer.aclose()
            log = {n: requests_of(conn.fleet, n) for n in conn.hosts}
            full = await read_inventory(conn)
            return triaged, full, log

    triaged, full, log = asyncio.run(body())
    with_triage, with_everything = plan(ws, triaged, state), plan(ws, full, state)
    changed = {s.host for s in with_everything.steps}
    assert "lab-dell-03" not in changed and len(changed) >= 6
    assert {n for n in log if UPDATE_SERVICE in log[n]} == changed  # pre-flight reads for exactly these
    assert len(log["lab-dell-03"]) == 5
    assert [s.id for s in with_triage.steps] == [s.id for s in with_everything.steps]
    assert all(with_triage.host(n).fingerprint == with_everything.host(n).fingerprint for n in log)  # type: ignore[union-attr]


def test_a_plan_is_made_while_the_sessions_log_out_and_none_is_left(lab_copy: Path) -> None:
    from hwfw.connect import connect, load_workspace, read_inventory, read_live_inventory
    from tests.helpers import edit

    edit(lab_copy / "hwfw.yaml", "    speed: 200\n", "    speed: 200\n    latency: 50ms\n")  # a logout takes >= 50 ms
    ws = load_workspace(lab_copy)

    def live(conn: Any) -> int:
        return sum(len(s.sessions.live()) for s in conn.fleet.fleet.bmcs.values())

    async def body() -> tuple[int, int, int, int]:
        async with connect(ws) as conn:
            await read_inventory(conn, wait_for_logouts=False)
            pending, during = conn.closer.pending, live(conn)
            await read_inventory(conn)  # the default waits for its logouts
            after = live(conn)
        return pending, during, after, live(conn)

    pending, during, after, at_close = asyncio.run(body())
    assert pending >= 1 and during >= 1  # the inventory was in hand before the last logout was answered
    assert after == 0 and at_close == 0
    assert asyncio.run(read_live_inventory(ws, then=lambda inventory: sorted(inventory.hosts)))[0] == "lab-dell-01"


def test_a_host_declaring_bios_settings_gets_the_preflight_round_even_at_its_baseline(lab_copy: Path) -> None:
    """lab-dell-03 at its firmware and BIOS settings baseline: the triage would skip its
    pre-flight round, but only its Bios resource can say the settings are as declared."""
    from hwfw.connect import connect, load_workspace, read_inventory
    from hwfw.plan import needs_preflight, plan
    from hwfw.state.store import StateStore

    fleet = lab_copy / "fleet.yaml"
    text = fleet.read_text()
    start = text.index("  lab-dell-03:")
    text = text[:start] + text[start:].replace('bios: "1.9.4"', 'bios: "1.10.2"', 1).replace(
        '    power: "On"\n', '    power: "On"\n    bios: {SriovGlobalEnable: Enabled, AcPwrRcvryUserDelay: 120}\n', 1)
    fleet.write_text(text)
    ws = load_workspace(lab_copy)
    state = StateStore(ws.settings.state_path).load()

    async def body() -> tuple[Inventory, dict[str, list[tuple[str, str]]]]:
        async with connect(ws) as conn:
            conn.fleet.app.request_log = []
            triaged = await read_inventory(conn, needs_preflight=needs_preflight(ws, state))
            await conn.closer.aclose()
            return triaged, {n: requests_of(conn.fleet, n) for n in conn.hosts}

    triaged, log = asyncio.run(body())
    dell3 = triaged.get("lab-dell-03")
    assert dell3 is not None and dell3.bios is not None and dell3.bios.registry is not None
    assert UPDATE_SERVICE in log["lab-dell-03"]                 # the pre-flight round ran
    p = plan(ws, triaged, state)
    assert not [s for s in p.steps if s.host == "lab-dell-03"]   # and found nothing to change
    assert {s.action for s in p.host("lab-dell-03").settings} == {"noop"}  # type: ignore[union-attr]
