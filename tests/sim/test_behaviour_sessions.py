"""The simulator over raw HTTP: sessions, their limit and idle expiry, sessions dropped by a BMC
reset, PasswordChangeRequired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim.support import (
    advance,
    client,
    control,
    events,
    host,
    image,
    login,
    run,
    sim_fleet,
)

pytestmark = pytest.mark.slow

SESSIONS = "/redfish/v1/SessionService/Sessions"


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
def test_session_life_cycle_limits_and_idle_expiry(tmp_path: Path) -> None:
    """201 + token + Location; Dell limit 8 -> 503 RAC0218; SMC limit 16 -> SessionLimitExceeded;
    idle timeout in virtual time; DELETE logs out."""

    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell"), "s1": host("supermicro")}) as sim, \
                client(sim, "d1", auth=None) as d, client(sim, "s1", auth=None) as s:
            tokens = [await login(d) for _ in range(8)]
            assert all(loc.startswith(SESSIONS + "/") for _, loc in tokens)
            r = await d.post(SESSIONS, json={"UserName": "admin", "Password": "password"})
            assert r.status_code == 503 and r.json()["error"]["code"] == "IDRAC.2.8.RAC0218"
            for _ in range(16):
                await login(s)
            r = await s.post(SESSIONS, json={"UserName": "admin", "Password": "password"})
            assert r.json()["error"]["code"].endswith("SessionLimitExceeded")
            token, location = tokens[0]
            assert (await d.get("/redfish/v1/Systems", headers={"X-Auth-Token": token})).status_code == 200
            assert (await d.delete(location, headers={"X-Auth-Token": token})).status_code == 204
            r = await d.get("/redfish/v1/Systems", headers={"X-Auth-Token": token})
            assert r.status_code == 401 and r.json()["error"]["code"].endswith("NoValidSession")
            other = tokens[1][0]
            timeout = (await d.get("/redfish/v1/SessionService",
                                   headers={"X-Auth-Token": other})).json()["SessionTimeout"]
            await advance(d, timeout + 1)
            assert (await d.get("/redfish/v1/Systems", headers={"X-Auth-Token": other})).status_code == 401
            closed = await events(d, "session-closed")
            assert {e["reason"] for e in closed} == {"logout", "expired"}
            assert (await d.get("/__sim/sessions")).json()["sessions"] == []
            assert len(await login(d)) == 2  # the table has room again

    run(main())


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
def test_sessions_dropped_on_bmc_reset_and_random_expiry(tmp_path: Path) -> None:
    """A BMC reset drops every session (401 NoValidSession); random expiry fault; HPE upload
    refused without the sessionKey form part or cookie."""
    img = image(tmp_path, "hpe", "bios", "U30 v2.80 (10/03/2023)")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "h1": host("hpe")}) as sim, control(sim) as ctl:
            async with client(sim, "g1", auth=None) as g:
                token, _ = await login(g)
                await ctl.post("/__sim/machine", json={"bmc": "g1", "action": "bmc-reset"})
                await advance(ctl, 300)
            async with client(sim, "g1", auth=None) as g:
                r = await g.get("/redfish/v1/Systems", headers={"X-Auth-Token": token})
                assert r.status_code == 401 and r.json()["error"]["code"].endswith("NoValidSession")
                assert [e["reason"] for e in await events(g, "session-closed")] == ["bmc-reset"]
                token, _ = await login(g)
                await ctl.post("/__sim/faults", json={"bmc": "g1", "session_expire_rate": 1.0})
                assert (await g.get("/redfish/v1/Systems", headers={"X-Auth-Token": token})).status_code == 401
            async with client(sim, "h1", auth=None) as h:
                token, _ = await login(h)
                files = {"parameters": (None, json.dumps({"UpdateTarget": True}), "application/json"),
                         "file": (img.name, img.read_bytes(), "application/octet-stream")}
                r = await h.post("/cgi-bin/uploadFile", files=files, headers={"X-Auth-Token": token})
                assert r.status_code == 401
                files["sessionKey"] = (None, token)
                assert (await h.post("/cgi-bin/uploadFile", files=files)).status_code == 200

    run(main())


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
def test_password_change_required_on_first_login(tmp_path: Path) -> None:
    """Default account must change its password before anything else works."""

    async def main() -> None:
        creds = {"username": "admin", "password": "password", "password_change_required": True}
        async with sim_fleet(tmp_path, {"g1": host("generic", credentials=creds)}) as sim, \
                client(sim, "g1", auth=None) as g:
            r = await g.post(SESSIONS, json={"UserName": "admin", "Password": "password"})
            assert r.status_code == 201
            assert r.json()["@Message.ExtendedInfo"][0]["MessageId"].endswith("PasswordChangeRequired")
            h = {"X-Auth-Token": r.headers["x-auth-token"]}
            denied = await g.get("/redfish/v1/Systems", headers=h)
            assert denied.status_code == 403 and denied.json()["error"]["code"].endswith("PasswordChangeRequired")
            account = denied.json()["error"]["@Message.ExtendedInfo"][0]["MessageArgs"][0]
            assert (await g.get(account, headers=h)).json()["PasswordChangeRequired"] is True
            assert (await g.patch(account, json={"Password": "n3w-Secret!"}, headers=h)).status_code == 204
            assert (await g.get("/redfish/v1/Systems", headers=h)).status_code == 200
            assert (await g.get("/redfish/v1/Systems", auth=("admin", "password"))).status_code == 401
            assert (await g.get("/redfish/v1/Systems", auth=("admin", "n3w-Secret!"))).status_code == 200

    run(main())
