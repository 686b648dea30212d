"""Generic DMTF Redfish BMC quirks (OpenBMC bmcweb, DMTF mockups, anything unclaimed).

Default method: SimpleUpdate pull (`ImageURI` on hwfw's short-lived image server, the
component's inventory URI as Target, `OnReset` where supported, TransferProtocol only
when the BMC requires it) whenever an image server runs that the BMC can reach: it is
the DMTF flow every Redfish service implements, the BMC reads at its own pace (no
upload timeouts to guess), one published copy serves many BMCs (max_transfers), and the
server re-verifies and logs every byte. Without a (reachable) image server: multipart
push (`MultipartHttpPushUri`, UpdateParameters + UpdateFile streamed from disk); the
deprecated HttpPushUri last. The flows themselves are methods.py.
"""

from __future__ import annotations

from hwfw.apply.drivers.base import RedfishDriver
from hwfw.apply.drivers.quirks import Quirks

__all__ = ["GenericDriver", "GenericQuirks"]


class GenericQuirks(Quirks):
    vendor = "generic"
    native_method = "auto"
    prefer_pull = True


class GenericDriver(RedfishDriver):
    quirks_class = GenericQuirks
