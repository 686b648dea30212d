"""BIOS attribute registries over raw HTTP: found the DMTF way (Bios.AttributeRegistry ->
/redfish/v1/Registries -> Location[].Uri), typed, per platform and running BIOS version."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sim.bios_support import PROFILES, SYS, TARGET, attribute, discover, flash_bios
from tests.sim.support import advance, client, control, events, host, image, run, sim_fleet, until

pytestmark = pytest.mark.slow

NEW_ATTRIBUTE = {"generic": "MemoryEncryption", "dell": "PcieAspmL1", "hpe": "MicrosoftSecuredCoreSupport",
                 "supermicro": "TotalMemoryEncryption_00B3"}
LOCATION = {"generic": "/redfish/v1/Registries/", "dell": "/redfish/v1/Systems/System.Embedded.1/Bios/BiosRegistry",
            "hpe": "/redfish/v1/registrystore/registries/en/",
            "supermicro": "/registries/BiosAttributeRegistry.1.0.0.json"}


@pytest.mark.parametrize("profile", PROFILES)
def test_registry_is_found_from_bios_and_describes_its_attributes(tmp_path: Path, profile: str) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"b1": host(profile)}) as sim, client(sim, "b1") as c:
            bios, registry, raw = await discover(c, profile)
            assert str(raw.request.url.path).startswith(LOCATION[profile])
            assert registry["@odata.type"].startswith("#AttributeRegistry.v1_")
            assert registry["Id"] == bios["AttributeRegistry"]
            assert registry["SupportedSystems"][0]["FirmwareVersion"] == host(profile)["firmware"]["bios"]
            names = {a["AttributeName"] for a in registry["RegistryEntries"]["Attributes"]}
            # every reported attribute is declared, and every declared one is reported
            assert set(bios["Attributes"]) == names
            types = {a["Type"] for a in registry["RegistryEntries"]["Attributes"]}
            assert {"Enumeration", "String"} <= types
            assert any(a["ReadOnly"] for a in registry["RegistryEntries"]["Attributes"])
            for a in registry["RegistryEntries"]["Attributes"]:
                if a["Type"] == "Enumeration":
                    assert a["Value"] and all("ValueName" in v for v in a["Value"])
                if a["Type"] == "Integer":
                    assert a["LowerBound"] < a["UpperBound"]
                if a["Type"] == "Password":
                    assert bios["Attributes"][a["AttributeName"]] is None
            settings = bios["@Redfish.Settings"]
            assert settings["SettingsObject"]["@odata.id"].startswith(f"{SYS[profile]}/Bios/")
            assert "#Bios.ChangePassword" in bios["Actions"]
            holder = (await c.get(settings["SettingsObject"]["@odata.id"])).json() if profile == "hpe" else bios
            assert holder["Actions"]["#Bios.ResetBios"]["target"].startswith(holder["@odata.id"])  # iLO 5: settings

    run(main())


def test_hpe_serves_the_registry_gzip_encoded(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c:
            bios, registry, raw = await discover(c, "hpe")
            assert raw.headers["content-encoding"] == "gzip"
            assert bios["AttributeRegistry"] == "BiosAttributeRegistryU30.v1_2_68"
            deps = registry["RegistryEntries"]["Dependencies"]
            turbo = next(d for d in deps if d["DependencyFor"] == "ProcTurbo")["Dependency"]
            assert turbo["MapFrom"][0]["MapFromAttribute"] == "WorkloadProfile"
            assert (turbo["MapToProperty"], turbo["MapToValue"]) == ("GrayOut", True)
            assert attribute(registry, "AdminName")["MaxLength"] == 28  # type: ignore[index]

    run(main())


def test_dell_profile_dependencies_and_supermicro_display_values(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"d1": host("dell"), "s1": host("supermicro")}) as sim, \
                client(sim, "d1") as d, client(sim, "s1") as s:
            _, dell, _ = await discover(d, "dell")
            locked = {x["DependencyFor"] for x in dell["RegistryEntries"]["Dependencies"]
                      if x["Dependency"]["MapFrom"][0]["MapFromAttribute"] == "SysProfile"}
            assert {"ProcTurboMode", "ProcCStates", "WorkloadProfile"} <= locked
            assert attribute(dell, "SystemServiceTag")["IsSystemUniqueProperty"] is True  # type: ignore[index]
            bios, smc, _ = await discover(s, "supermicro")
            rom = attribute(smc, "OptionROMMessages_0028")
            assert rom is not None and rom["CurrentValue"] == "Force BIOS"  # the guide's display-string quirk
            assert bios["Attributes"]["OptionROMMessages_0028"] == "1"
            assert smc["Id"] == "BiosAttributeRegistry.1_0_0" == bios["AttributeRegistry"]

    run(main())


@pytest.mark.parametrize("profile", PROFILES)
def test_attribute_of_the_target_bios_appears_once_that_bios_is_active(tmp_path: Path, profile: str) -> None:
    """The registry follows the running BIOS: flashing is not enough, the new BIOS must POST."""
    img = image(tmp_path, profile, "bios", TARGET[profile])
    new = NEW_ATTRIBUTE[profile]

    async def main() -> None:
        async with sim_fleet(tmp_path, {"b1": host(profile)}) as sim, client(sim, "b1") as c, control(sim) as ctl:
            bios, registry, _ = await discover(c, profile)
            assert new not in bios["Attributes"] and attribute(registry, new) is None
            before_id = bios["AttributeRegistry"]
            await flash_bios(c, ctl, profile, img)

            async def active() -> bool:
                return (await c.get(SYS[profile])).json()["BiosVersion"] == TARGET[profile]

            await until(ctl, active)
            await advance(ctl, 600)
            bios, registry, _ = await discover(c, profile)
            assert bios["Attributes"][new] == attribute(registry, new)["DefaultValue"]  # type: ignore[index]
            assert registry["SupportedSystems"][0]["FirmwareVersion"] == TARGET[profile]
            if profile in ("hpe", "generic"):  # these name the registry after the BIOS version
                assert bios["AttributeRegistry"] != before_id
            activated = [e for e in await events(ctl, "activated") if e["component"] == "bios"]
            assert activated and activated[-1]["to"] == TARGET[profile]

    run(main())
