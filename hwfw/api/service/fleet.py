"""The fleet as the server last saw it: inventory, compliance, and the views built from them.

`scan()` reads every BMC (read-only) and rebuilds the compliance report; `rebuild()`
recomputes the report from the inventory already held (after the workspace files
changed). The status document (`status_part()`) and the host rows are built once per
change and served from memory, so reading them costs nothing however often a
dashboard asks, even for thousands of hosts and while a run is going on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hwfw import __version__
from hwfw.clock import Clock, utc_now_iso
from hwfw.logs import get_logger

if TYPE_CHECKING:
    from hwfw.inventory.model import Inventory

    from ..workspace import Workspace

__all__ = ["FleetView"]

log = get_logger("api.fleet")

STATUSES = ("compliant", "behind", "ahead", "unknown", "missing", "unreachable")


def _component_row(row: dict[str, Any]) -> dict[str, Any]:
    return {"component": row["component"], "kind": row["kind"], "target": row["target"], "image": row["image"],
            "critical": row["critical"], "total": row["total"], "counts": row["counts"]}


class FleetView:
    def __init__(self, workspace: Workspace, clock: Clock) -> None:
        self.workspace = workspace
        self.clock = clock
        self.inventory: Inventory | None = None
        self.inventory_time: str | None = None
        self.report: dict[str, Any] | None = None
        self.scanning = False
        self.error: str | None = None
        self._status: dict[str, Any] = self._build_status()
        self._hosts: list[dict[str, Any]] = []
        self._by_host: dict[str, dict[str, Any]] = {}

    async def scan(self) -> None:
        """Read every BMC and rebuild the report."""
        self.scanning = True
        self._status = self._build_status()
        try:
            inventory = await self.workspace.inventory()
            self.inventory, self.inventory_time = inventory, utc_now_iso(self.clock)
            await self.rebuild()
        except Exception as exc:
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("fleet scan failed: %s", self.error)
        finally:
            self.scanning = False
            self._status = self._build_status()

    async def rebuild(self) -> None:
        """The report again from the inventory held (the baselines may have changed)."""
        if self.inventory is None:
            return
        try:
            report = await self.workspace.compliance(inventory=self.inventory, notify=False)
        except Exception as exc:   # an invalid workspace: keep the last report, say why
            self.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._status = self._build_status()
            return
        self.report = report.to_json(__version__)
        self.error = None
        self._hosts = [{"name": h["name"], "baseline": h["baseline"], "vendor": h["vendor"], "model": h["model"],
                        "status": h["status"], "critical_behind": h["critical_behind"], "error": h["error"],
                        "behind": [c["key"] for c in h["components"] if c["status"] == "behind"]}
                       for h in self.report["hosts"]]
        self._by_host = {h["name"]: h for h in self.report["hosts"]}
        self._status = self._build_status()

    def _build_status(self) -> dict[str, Any]:
        report = self.report
        hosts = list(self.inventory.hosts.values()) if self.inventory is not None else []
        return {
            "inventory": {"time": self.inventory_time, "hosts": len(hosts),
                          "unreachable": sum(1 for h in hosts if not h.reachable),
                          "scanning": self.scanning, "error": self.error},
            "summary": report["summary"] if report else None,
            "baselines": [{"name": b["name"], "description": b["description"], "hosts": b["hosts"],
                           "compliant_hosts": b["compliant_hosts"], "compliant_percent": b["compliant_percent"],
                           "components": [_component_row(r) for r in b["components"]]}
                          for b in (report["baselines"] if report else [])],
        }

    def status_part(self) -> dict[str, Any]:
        return self._status

    def hosts(self, *, status: Sequence[str] = (), baseline: str | None = None, query: str | None = None,
              critical: bool | None = None) -> list[dict[str, Any]]:
        """Host rows, hosts behind on critical images first, filtered."""
        rows = self._hosts
        if status:
            rows = [h for h in rows if h["status"] in status]
        if baseline is not None:
            rows = [h for h in rows if h["baseline"] == baseline]
        if critical is not None:
            rows = [h for h in rows if h["critical_behind"] == critical]
        if query:
            q = query.lower()
            rows = [h for h in rows if q in h["name"].lower()]
        return rows

    def host_report(self, name: str) -> dict[str, Any] | None:
        return self._by_host.get(name)

    def host_inventory(self, name: str) -> dict[str, Any] | None:
        if self.inventory is None:
            return None
        host = self.inventory.get(name)
        return host.to_json() if host is not None else None
