"""Activation edge cases the simulator cannot stage on demand, against the programmable
fake BMC (tests/redfish/fakebmc.py): what it answers is scripted per request, what the
driver sent is read from its request log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hwfw.apply.drivers import make_driver
from hwfw.apply.drivers.activation import Expectation
from hwfw.clock import FakeClock
from hwfw.config.model import Host
from hwfw.inventory.collect import ResolvedHost
from tests.apply.drivers.support import scaled_settings
from tests.redfish.fakebmc import FakeBmc, Response, serve

pytestmark = pytest.mark.slow

FI_BMC = "/redfish/v1/UpdateService/FirmwareInventory/BMC"


def test_a_self_reset_absorbed_by_a_re_login_is_not_reset_again(tmp_path: Path) -> None:
    """The BMC applied its new firmware and reset itself before the activation. A read in
    between answered 401, re-logged in (the BMC had forgotten our session: the only
    trace of its reset) and failed itself; the activation's own version read fails too
    (the BMC is half up). The new version decides once it can be read: no second reset."""
    bmc = FakeBmc()
    messages: list[str] = []

    async def body() -> None:
        async with serve(bmc) as server:
            rh = ResolvedHost(host=Host(name="bmc-1", bmc=server.url), url=server.url, username="admin",
                              password="secret-pw")
            drv = await make_driver(rh, workspace=scaled_settings(tmp_path), clock=FakeClock())
            async with drv:
                expected = Expectation("bmc-reset", 0.0, key="bmc", target="2.15.0", token=drv.session.token)
                bmc.reset_bmc()                                   # it reset itself: sessions gone
                bmc.resources[FI_BMC]["Version"] = "2.15.0"       # and runs the new firmware
                await drv.session.request("GET", "/redfish/v1/Systems/1", check=False)  # 401, re-login
                assert drv.session.token != expected.token
                half_up = Response(503, raw=b"<html>starting</html>", headers={"Content-Type": "text/html"})
                bmc.fault("GET", "/redfish/v1/UpdateService/FirmwareInventory", *[half_up] * 6)
                await drv.activator.bmc_reset(lambda p, m: messages.append(m), expected)
            resets = [r.path for r in server.requests if r.method == "POST" and "Reset" in r.path]
            assert resets == []
            assert "BMC is back" in messages

    asyncio.run(asyncio.wait_for(body(), 60))
