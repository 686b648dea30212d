"""Pre-flight findings only where they matter: a missing Supermicro update licence is a
warning only when the plan flashes something that needs it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hwfw.inventory.model import Capabilities, PreflightFacts
from hwfw.plan import plan

from .builders import baseline, comp, host, image, inv_host, inventory, state, target, workspace

SMC = "SYS-120U-TNR"
NO_LICENCE = PreflightFacts(licence_errors=("GET UpdateService: the BMC refused a licensed feature "
                                            "[SMC.1.0.OemLicenseNotPassed]",))


def smc_plan(kind: str, current: str, wanted: str, methods: tuple[str, ...]):  # type: ignore[no-untyped-def]
    ws = workspace([host("h1", "supermicro", SMC)],
                   [baseline("x12", target(kind, wanted), vendor="supermicro")],
                   [image(kind, wanted, vendor="supermicro")], vendors={"supermicro": ("bios", "nic", "bmc")})
    h = inv_host("h1", comp(kind, current), vendor="supermicro", model=SMC, preflight=NO_LICENCE)
    h = replace(h, capabilities=Capabilities(update_methods=methods, apply_times=("Immediate", "OnReset")))
    return plan(ws, inventory(h), state()).host("h1")


def licence(h) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.message for f in h.findings if f.code == "licence"]


@pytest.mark.parametrize(("kind", "current", "wanted", "methods", "warned"), [
    ("bmc", "01.01.10", "01.03.12", ("multipart", "smc-startupdate"), False),   # BMC goes through StartUpdate
    ("bios", "1.4", "1.6", ("multipart", "smc-startupdate"), False),
    ("bmc", "01.03.12", "01.03.12", ("multipart", "smc-startupdate"), False),   # converged: nothing planned
    ("nic", "1.0", "1.1", ("multipart", "smc-startupdate"), True),               # a NIC push needs the licence
    ("bmc", "01.01.10", "01.03.12", ("simple-update",), True),                   # no licence-free method here
])
def test_a_missing_licence_is_a_warning_only_when_a_planned_flash_needs_it(
        kind: str, current: str, wanted: str, methods: tuple[str, ...], warned: bool) -> None:
    h = smc_plan(kind, current, wanted, methods)
    assert bool(licence(h)) is warned, h.findings
