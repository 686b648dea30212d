"""read_facts(): the reads of one BMC are all or none."""

from __future__ import annotations

import asyncio

import pytest

from hwfw.clock import FakeClock
from hwfw.errors import BmcError
from hwfw.inventory.collect import read_facts
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.session import RedfishSession
from tests.redfish.fakebmc import GatedBmc, running_hwfw_tasks, serve

pytestmark = pytest.mark.slow


def test_a_failed_read_cancels_its_siblings_before_the_error_propagates() -> None:
    """Systems fails while Managers is still being read: nothing of hwfw may keep running
    after read_facts raised (a read left running would log in again in the background once
    a resetting BMC is back, erasing the trace of the reset)."""
    bmc = GatedBmc(held="/redfish/v1/Managers", failing="/redfish/v1/Systems", expand=False)

    async def body() -> None:
        async with serve(bmc):
            client = RedfishClient(bmc.base_url, host="bmc-1", clock=FakeClock(), options=ClientOptions())
            try:
                async with RedfishSession(client, "admin", "secret-pw") as session:
                    with pytest.raises(BmcError) as failure:
                        await read_facts(session)
                    assert failure.value.status == 500
                    assert bmc.holding.is_set()  # the Managers read was in flight when Systems failed
                    assert running_hwfw_tasks() == []
            finally:
                bmc.release.set()
            assert bmc.sessions == {}

    asyncio.run(body())
