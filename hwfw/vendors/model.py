"""What a vendor adapter reports about one BMC: its firmware components, what it offers
for updates, and the facts apply checks before touching the host.

These are parts of the inventory (`hwfw.inventory.model.HostInventory` holds them, and
that module is where the rest of hwfw imports them from); they live here because the
adapters that build them sit below the inventory package.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

__all__ = ["Capabilities", "ComponentState", "PreflightFacts", "VersionSource"]


@dataclass(frozen=True, slots=True)
class VersionSource:
    """Where a component's version was read: the resource, its type and the property.

    `fallback` is True when the version is not a FirmwareInventory member's: the
    Manager's `FirmwareVersion` or the ComputerSystem's `BiosVersion` (a service
    without FirmwareInventory), or an IPMI command. `uri` is None over IPMI.
    """

    resource: str            # SoftwareInventory | ComputerSystem | Manager | IPMI
    property: str            # Version | BiosVersion | FirmwareVersion | Get Device ID
    uri: str | None = None
    fallback: bool = False

    @builtins.property  # the field above shadows the builtin in this class body
    def label(self) -> str:
        """`ComputerSystem.BiosVersion`, `SoftwareInventory.Version`, `IPMI Get Device ID`."""
        return f"{self.resource} {self.property}" if self.resource == "IPMI" else f"{self.resource}.{self.property}"

    def describe(self) -> str:
        """The label and where: `ComputerSystem.BiosVersion of /redfish/v1/Systems/1`."""
        return f"{self.label} of {self.uri}" if self.uri else self.label


@dataclass(frozen=True, slots=True)
class ComponentState:
    """One firmware component instance as the BMC reports it.

    `version` is None when the component exists but its version cannot be read (IPMI
    sees only the BMC); that is "unknown", never "absent". `source` says where the
    version was read; `conflict` is set when another source of the same BMC reports a
    different version for this component (hwfw then does not pick one: the plan
    treats the version as unknown).
    """

    kind: str
    instance: str
    version: str | None
    name: str = ""
    updateable: bool = True
    software_id: str | None = None
    uri: str | None = None
    source: VersionSource | None = None
    conflict: str | None = None

    @property
    def key(self) -> str:
        """Stable id within a host: the kind for singletons, kind:instance otherwise."""
        return self.kind if self.instance == self.kind else f"{self.kind}:{self.instance}"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the BMC offers for updates, recorded at plan time for apply.

    `update_methods` empty: hwfw has no way to send an image to this BMC (no
    UpdateService, or IPMI). `activations`: the resets hwfw can perform on it
    (`bmc-reset` needs a Manager.Reset action, `host-reboot` a ComputerSystem.Reset;
    `ac-cycle` is always listed for Redfish BMCs, because apply falls back to IPMI);
    None when not recorded (a snapshot written by an older hwfw).
    """

    update_methods: tuple[str, ...] = ()
    apply_times: tuple[str, ...] = ()
    max_image_size: int | None = None
    transfer_protocols: tuple[str, ...] = ()
    system_reset_types: tuple[str, ...] = ()
    manager_reset_types: tuple[str, ...] = ()
    expand: bool = False
    session_service: bool = True
    activations: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class PreflightFacts:
    """Facts apply checks before touching a host."""

    power_state: str | None = None
    health: str | None = None
    pending_jobs: tuple[str, ...] = ()
    pending_bios_settings: bool = False
    running_updates: tuple[str, ...] = ()
    licence_errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
