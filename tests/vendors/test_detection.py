"""Vendor detection: the registry records' hints (hwfw.vendor_registry.Detection), scored
by hwfw.vendors, recognise every vendor the simulator imitates."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from hwfw.config.model import Host, Settings
from hwfw.inventory.collect import ResolvedHost, collect
from hwfw.sim.profiles import profiles
from hwfw.vendor_registry import DEFAULT_VENDOR, Detection
from hwfw.vendors import select_adapter
from hwfw.vendors.base import detection_score
from tests.redfish.simfleet import CREDENTIALS, NoLeakedSessions, SimClock


def test_detection_hints_score_in_order() -> None:
    hints = Detection(vendor_words=("acme",), vendor_names=("ac",), oem_keys=("Acme",),
                      manufacturer_words=("acme",), model_words=("abmc",))
    assert detection_score(hints, {"Vendor": "ACME Corp"}, None) == 100
    assert detection_score(hints, {"Vendor": "AC"}, None) == 100
    assert detection_score(hints, {"Vendor": "Acer"}, None) == 0  # names match whole, words anywhere
    assert detection_score(hints, {"Oem": {"Acme": {}}}, None) == 90
    assert detection_score(hints, {}, {"Manufacturer": "Acme Inc."}) == 80
    assert detection_score(hints, {}, {"Model": "ABMC 3"}) == 80
    assert detection_score(Detection(), {"Vendor": "ACME"}, {"Manufacturer": "Acme"}) == 0


def test_select_adapter_defaults_to_generic() -> None:
    assert select_adapter({"Vendor": "Nobody"}, {"Manufacturer": "Nobody"}).name == DEFAULT_VENDOR


@pytest.mark.slow
def test_every_simulated_vendor_is_recognised_as_itself(tmp_path: Path, sim_sessions: NoLeakedSessions) -> None:
    """Each simulator profile, served on loopback, is read as the registry vendor of the
    same name: the records' detection hints fit what each vendor's BMC serves."""
    fleet = "seed: 3\ndefaults:\n  credentials: {username: admin, password: password}\nhosts:\n" + "".join(
        textwrap.indent(f"{name}-1:\n  profile: {name}\n  model: Test Server\n"
                        f"  firmware: {{bmc: \"1.00.00\", bios: \"1.0.0\"}}\n", "  ")
        for name in profiles())

    async def body() -> dict[str, str | None]:
        async with sim_sessions.fleet(tmp_path, fleet) as sim:
            hosts = [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), sim.url(n), *CREDENTIALS) for n in sim.urls]
            settings = Settings(state_path=tmp_path / "state.json", runtime_dir=tmp_path)
            inv = await collect(hosts, settings=settings, clock=SimClock(sim.fleet), concurrency=8)
            return {n: h.vendor for n, h in inv.hosts.items()}

    assert asyncio.run(body()) == {f"{name}-1": name for name in profiles()}
