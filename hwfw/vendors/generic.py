"""Generic Redfish (DMTF schemas only): the default when no vendor adapter claims a BMC.

Seen on OpenBMC bmcweb, the DMTF mockups and sushy-tools; everything is in
`StandardAdapter`, this module only names it.
"""

from __future__ import annotations

from hwfw.vendors.base import StandardAdapter

__all__ = ["GenericAdapter"]


class GenericAdapter(StandardAdapter):
    """Standard behaviour; detects everything with the lowest score."""

    name = "generic"
