"""The request log (what each BMC answered) and the slow-inventory latency knob."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.support import client, control, host, run, sim_fleet

pytestmark = pytest.mark.slow

FI = "/redfish/v1/UpdateService/FirmwareInventory"


def test_request_log_and_inventory_latency(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "g2": host("generic")}) as sim, \
                client(sim, "g1") as c, control(sim) as ctl:
            r = await ctl.post("/__sim/faults", json={"bmc": "g1", "inventory_latency": "300ms"})
            assert r.status_code == 200, r.text
            sim.app.request_log = []
            assert (await c.get("/redfish/v1/")).status_code == 200
            assert (await c.get(FI, params={"$expand": ".($levels=1)"})).status_code == 200
            assert (await c.get(FI)).status_code == 200
            log = sim.app.request_log
            assert [(r.bmc, r.method, r.path, r.query, r.status) for r in log] == [
                ("g1", "GET", "/redfish/v1", "", 200),
                ("g1", "GET", FI, "%24expand=.%28%24levels%3D1%29", 200),
                ("g1", "GET", FI, "", 200)]
            assert log[1].answered - log[1].received >= 0.29  # only the expanded read waits
            assert all(r.received <= r.answered for r in log)
            bad = await ctl.post("/__sim/faults", json={"bmc": "g1", "inventory_latency": "soon"})
            assert bad.status_code == 400

    run(main())
