"""Typed inventory: what each host's BMC reported, independent of how it was read.

The Redfish and IPMI readers produce these objects; the planner and the compliance
report consume them; `hwfw inventory --out` writes them as a snapshot
(schemas/inventory-snapshot.schema.json) that `plan --inventory` reads back offline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

# BIOS settings and attribute registries are inventory data types too (bios.py holds them
# with the one check of a declared value); the planner imports them from here.
from hwfw.inventory.bios import (
    NOT_ALLOWED,
    PASSWORD_ATTR,
    READ_ONLY,
    UNKNOWN,
    WRONG_TYPE,
    AttributeRegistry,
    BiosSettings,
    SettingProblem,
    shown,
)

# The per-component and per-BMC parts are built by the vendor adapters, below this
# package; they are part of the inventory's public types and imported from here.
from hwfw.vendors.model import Capabilities, ComponentState, PreflightFacts, VersionSource

__all__ = ["ERROR_KINDS", "NOT_ALLOWED", "PASSWORD_ATTR", "READ_ONLY", "SNAPSHOT_FORMAT", "UNKNOWN", "WRONG_TYPE",
           "AttributeRegistry", "BiosSettings", "Capabilities", "ComponentState", "HostInventory", "Inventory",
           "PreflightFacts", "SettingProblem", "VersionSource", "component_from_json", "shown"]

SNAPSHOT_FORMAT = 1

# Why a host could not be read: the BMC refused the credentials, its certificate did not
# verify, no connection, no answer in time, the BMC answered with an error, a bug, or
# the BMC answers but its session table is full.
ERROR_KINDS = ("auth", "tls", "connection", "timeout", "bmc", "internal", "session-limit")


@dataclass(frozen=True, slots=True)
class HostInventory:
    host: str
    reachable: bool
    protocol: str = "redfish"
    error: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial: str | None = None
    bmc_firmware: str | None = None
    components: tuple[ComponentState, ...] = ()
    manufacturer: str | None = None
    capabilities: Capabilities | None = None
    preflight: PreflightFacts | None = None
    collected_at: str | None = None
    # Why the host could not be read, as a class (ERROR_KINDS); None when it was read.
    error_kind: str | None = None
    bios: BiosSettings | None = None   # read only for hosts whose baseline declares BIOS settings

    def components_of(self, kind: str) -> list[ComponentState]:
        return [c for c in self.components if c.kind == kind]

    def fingerprint(self) -> str:
        """Digest of what identifies this hardware's firmware state: serial, BMC
        firmware and every component version, and the BIOS attributes when they were
        read. A saved plan is stale when it changes."""
        doc: dict[str, Any] = {
            "serial": self.serial,
            "bmc_firmware": self.bmc_firmware,
            "components": sorted((c.key, c.version or "") for c in self.components),
        }
        if self.bios is not None:
            doc["bios"] = {"attributes": dict(self.bios.attributes), "pending": dict(self.bios.pending)}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if self.bios is None:
            del out["bios"]
        else:
            out["bios"] = self.bios.to_json()
        out["fingerprint"] = self.fingerprint()
        return out

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> HostInventory:
        caps = doc.get("capabilities")
        pre = doc.get("preflight")
        return HostInventory(
            host=doc["host"], reachable=doc["reachable"], protocol=doc.get("protocol", "redfish"),
            error=doc.get("error"), vendor=doc.get("vendor"), model=doc.get("model"),
            serial=doc.get("serial"), bmc_firmware=doc.get("bmc_firmware"),
            manufacturer=doc.get("manufacturer"),
            components=tuple(component_from_json(c) for c in doc.get("components", ())),
            capabilities=Capabilities(**_tuples(caps)) if caps else None,
            preflight=PreflightFacts(**_tuples(pre)) if pre else None,
            collected_at=doc.get("collected_at"), error_kind=doc.get("error_kind"),
            bios=BiosSettings.from_json(doc["bios"]) if doc.get("bios") else None)


def component_from_json(doc: Mapping[str, Any]) -> ComponentState:
    """A component of a snapshot (`source` absent in snapshots of older hwfw versions)."""
    fields = dict(doc)
    source = fields.pop("source", None)
    return ComponentState(**fields, source=VersionSource(**source) if source else None)


def _tuples(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON object's fields with lists as tuples (the frozen records hold tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}


@dataclass(frozen=True, slots=True)
class Inventory:
    """Every host's inventory, and the BIOS attribute registries they run, once per
    vendor/model/BIOS version (`AttributeRegistry.key`)."""

    hosts: Mapping[str, HostInventory] = field(default_factory=dict)
    registries: Mapping[str, AttributeRegistry] = field(default_factory=dict)

    def get(self, name: str) -> HostInventory | None:
        return self.hosts.get(name)

    def to_json(self, created_at: str) -> dict[str, Any]:
        out: dict[str, Any] = {"format_version": SNAPSHOT_FORMAT, "created_at": created_at,
                               "hosts": [self.hosts[name].to_json() for name in sorted(self.hosts)]}
        if self.registries:
            out["registries"] = {k: self.registries[k].to_json() for k in sorted(self.registries)}
        return out

    @staticmethod
    def from_json(doc: Mapping[str, Any]) -> Inventory:
        hosts = {}
        for h in doc.get("hosts", ()):
            h = {k: v for k, v in h.items() if k != "fingerprint"}
            hosts[h["host"]] = HostInventory.from_json(h)
        registries = {k: AttributeRegistry.from_json(r) for k, r in (doc.get("registries") or {}).items()}
        return Inventory(hosts=hosts, registries=registries)
