"""Host drivers: the vendor flows behind `hwfw.apply.driver.HostDriver`.

    driver = await make_driver(resolved_host, workspace=ws, clock=clock, insecure=False, image_server=srv)
    async with driver:
        report = await driver.preflight(known_tasks=(), allow_pending=False)
        result = await driver.flash(request, progress)
        await driver.activate("host-reboot", progress)
        versions = await driver.read_versions()

`make_driver` reads the BMC's service root (no credentials) and picks the driver the
way `hwfw.vendors.select_adapter` picks an inventory adapter: Dell, HPE, Supermicro,
else generic DMTF.
"""

from __future__ import annotations

from hwfw.apply.drivers.base import RedfishDriver
from hwfw.apply.drivers.factory import driver_class_for, make_driver

__all__ = ["RedfishDriver", "driver_class_for", "make_driver"]
