"""What a vendor adapter reports about one BMC: its firmware components, what it offers
for updates, and the facts apply checks before touching the host.

These are parts of the inventory (`hwfw.inventory.model.HostInventory` holds them, and
that module is where the rest of hwfw imports them from); they live here because the
adapters that build them sit below the inventory package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Capabilities", "ComponentState", "PreflightFacts"]


@dataclass(frozen=True, slots=True)
class ComponentState:
    """One firmware component instance as the BMC reports it.

    `version` is None when the component exists but its version cannot be read (IPMI
    sees only the BMC); that is "unknown", never "absent".
    """

    kind: str
    instance: str
    version: str | None
    name: str = ""
    updateable: bool = True
    software_id: str | None = None
    uri: str | None = None

    @property
    def key(self) -> str:
        """Stable id within a host: the kind for singletons, kind:instance otherwise."""
        return self.kind if self.instance == self.kind else f"{self.kind}:{self.instance}"


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the BMC offers for updates, recorded at plan time for apply."""

    update_methods: tuple[str, ...] = ()
    apply_times: tuple[str, ...] = ()
    max_image_size: int | None = None
    transfer_protocols: tuple[str, ...] = ()
    system_reset_types: tuple[str, ...] = ()
    manager_reset_types: tuple[str, ...] = ()
    expand: bool = False
    session_service: bool = True


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
