"""`make_driver`: one HostDriver per host per run, chosen from the BMC's service root."""

from __future__ import annotations

import importlib
from typing import Any

from hwfw.apply.drivers.base import RedfishDriver, driver_client_options
from hwfw.clock import Clock
from hwfw.config.model import Settings, Workspace
from hwfw.errors import ApplyError, BmcError
from hwfw.inventory.collect import ResolvedHost
from hwfw.logs import get_logger
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.session import ROOT
from hwfw.redfish.transport import ssl_context
from hwfw.vendor_registry import DEFAULT_VENDOR, record_or_default
from hwfw.vendors import adapter_named, select_adapter

__all__ = ["make_driver", "driver_class_for"]

log = get_logger("apply.drivers")


def driver_class_for(vendor: str) -> type[RedfishDriver]:
    """The driver of a registry vendor: `hwfw/apply/drivers/<name>.py`, class `<Name>Driver`
    (the generic DMTF driver for a vendor the registry does not know)."""
    record = record_or_default(vendor)
    module = importlib.import_module(f"hwfw.apply.drivers.{record.name}")
    cls: type[RedfishDriver] = getattr(module, f"{record.class_prefix}Driver")
    return cls


async def make_driver(resolved_host: ResolvedHost, *, workspace: Workspace | Settings, clock: Clock,
                      insecure: bool = False, image_server: Any = None) -> RedfishDriver:
    """The driver for one host, not yet logged in (use it as `async with driver:`).

    The vendor comes from the service root (read without credentials, like
    `hwfw.vendors.select_adapter`: root `Vendor`, then `Oem` keys); when the root cannot
    be read (the BMC is rebooting) the inventory's `vendor:` hint decides. `image_server`
    is a running `hwfw.apply.imageserver.ImageServer` (or None: no SimpleUpdate pulls).
    """
    settings = workspace.settings if isinstance(workspace, Workspace) else workspace
    rh = resolved_host
    if rh.host.protocol == "ipmi" or rh.url.startswith("ipmi://"):
        raise ApplyError(f"{rh.name}: protocol ipmi cannot update firmware (IPMI has no update path on these BMCs)",
                         hint="give the host a Redfish address (protocol: redfish or auto)")
    verify = ssl_context(rh.ca_bundle or rh.host.ca_bundle or settings.ca_bundle, insecure=insecure)
    client = RedfishClient(rh.url, host=rh.name, clock=clock, options=driver_client_options(settings), verify=verify)
    root: dict[str, Any] = {}
    try:
        response = await client.request("GET", ROOT, check=False)
        if response.status_code < 400:
            root = client.json_of(response, ROOT)
    except BmcError as exc:
        if not rh.host.vendor:
            await client.aclose()
            raise
        log.info("%s: service root unreadable (%s); using the inventory's vendor %s", rh.name, exc.message,
                 rh.host.vendor)
    if root:
        adapter = select_adapter(root, None)
    else:
        try:
            adapter = adapter_named(rh.host.vendor or DEFAULT_VENDOR)
        except KeyError:
            adapter = adapter_named(DEFAULT_VENDOR)
    cls = driver_class_for(adapter.name)
    log.debug("%s: %s driver", rh.name, cls.vendor)
    return cls(rh, settings=settings, clock=clock, client=client, adapter=adapter, image_server=image_server,
               root=root)
