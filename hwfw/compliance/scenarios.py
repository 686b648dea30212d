"""Which vendor/model pairs a baseline stands for, for checks that run without a fleet.

Rules, stepping stones and images are scoped by vendor and model, so an offline check
evaluates each baseline once per model it can select: the exact models of its select
block; else the models of the workspace hosts it selects; else the exact models its
images are for; else "any model" (None), where model-scoped rules do not apply.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwfw.config.model import Baseline, Workspace

_GLOB = set("*?[")


@dataclass(frozen=True, slots=True)
class Scenario:
    """One baseline on one vendor/model: what a host of that baseline would be."""

    baseline: Baseline
    vendor: str | None
    model: str | None

    @property
    def label(self) -> str:
        """`baseline 'dell-r750' (PowerEdge R750)`, for messages."""
        return f"baseline {self.baseline.name!r}" + (f" ({self.model})" if self.model else "")


def baseline_vendor(ws: Workspace, b: Baseline) -> str | None:
    """The selected vendor, else the one vendor all of the baseline's images are for, else
    the one vendor of the workspace hosts it selects (a baseline that selects hosts by
    name or label)."""
    if b.select.vendor:
        return b.select.vendor
    vendors = {e.vendor for t in b.components if t.image and (e := ws.repository.get(t.image))}
    if not vendors:
        vendors = {h.vendor for h in ws.hosts if h.vendor and b.select.matches(h)}
    return vendors.pop() if len(vendors) == 1 else None


def baseline_models(ws: Workspace, b: Baseline, host_models: dict[str, set[str]] | None = None) -> list[str | None]:
    """The models to evaluate `b` for, in name order; `[None]` when none can be named."""
    exact = [m for m in b.select.models if not _GLOB & set(m)]
    if b.select.models and len(exact) == len(b.select.models):
        return [m for m in sorted(set(exact))]
    found = set(exact)
    found |= (host_models or {}).get(b.name, set())
    if not found:
        for t in b.components:
            e = ws.repository.get(t.image) if t.image else None
            if e is not None:
                found |= {m for m in e.models if not _GLOB & set(m)}
    return [m for m in sorted(found)] or [None]


def scenarios(ws: Workspace) -> list[Scenario]:
    """Every (baseline, vendor, model) to check, in baseline then model order."""
    # Hosts are only consulted for baselines whose models are globs or absent.
    open_ended = [b for b in ws.baselines
                  if not b.select.models or any(_GLOB & set(m) for m in b.select.models)]
    host_models: dict[str, set[str]] = {}
    if open_ended:
        for h in ws.hosts:
            if h.model:
                for b in open_ended:
                    if b.select.matches(h):
                        host_models.setdefault(b.name, set()).add(h.model)
    out: list[Scenario] = []
    for b in ws.baselines:
        vendor = baseline_vendor(ws, b)
        out.extend(Scenario(b, vendor, m) for m in baseline_models(ws, b, host_models))
    return out
