"""BIOS settings over raw HTTP: staged in the settings object, applied by the next POST,
reported in @Redfish.Settings and in the event log; HPE's deferred validation and
workload profiles, Supermicro's If-Match, plain DMTF apply times, ResetBios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.sim.bios_support import SETTINGS, SYS, TARGET, booted, etag, flash_bios, kinds, reboot_and_wait
from tests.sim.support import advance, client, control, events, host, image, run, sim_fleet

pytestmark = pytest.mark.slow

# One writable toggle per profile, its default and the other value.
TOGGLE = {"generic": ("LogicalProc", "Enabled", "Disabled"), "hpe": ("ProcHyperthreading", "Enabled", "Disabled"),
          "supermicro": ("QuietBoot_0027", True, False)}


async def patch(c: Any, profile: str, attrs: dict[str, Any], **body: Any) -> Any:
    headers = {"If-Match": await etag(c, profile)} if profile == "supermicro" else {}
    return await c.patch(SETTINGS[profile], json={"Attributes": attrs, **body}, headers=headers)


@pytest.mark.parametrize("profile", ["generic", "hpe", "supermicro"])
def test_pending_values_apply_at_the_next_reboot_then_show_in_bios(tmp_path: Path, profile: str) -> None:
    name, before, after = TOGGLE[profile]

    async def main() -> None:
        async with sim_fleet(tmp_path, {"b1": host(profile)}) as sim, client(sim, "b1") as c, control(sim) as ctl:
            old = (await c.get(f"{SYS[profile]}/Bios")).json()
            r = await patch(c, profile, {name: after})
            assert r.status_code in (200, 204), r.text
            assert (await c.get(SETTINGS[profile])).json()["Attributes"][name] == after
            await advance(ctl, 600)  # time alone applies nothing
            assert (await c.get(f"{SYS[profile]}/Bios")).json()["Attributes"][name] == before
            await reboot_and_wait(c, ctl, profile)
            new = (await c.get(f"{SYS[profile]}/Bios")).json()
            assert new["Attributes"][name] == after
            settings, previous = new["@Redfish.Settings"], old["@Redfish.Settings"]
            assert settings["Time"] != previous["Time"] and settings["ETag"] != previous["ETag"]
            assert [m["MessageId"].split(".")[-1] for m in settings["Messages"]] == ["Success"]
            log = await events(ctl)
            assert kinds(log, "bios-settings-staged", "reset", "bios-settings-applied") == \
                ["bios-settings-staged", "reset", "bios-settings-applied"]
            staged = next(e for e in log if e["type"] == "bios-settings-staged")
            applied = next(e for e in log if e["type"] == "bios-settings-applied")
            assert staged["attributes"] == [name] and staged["values"] == {name: after}
            assert applied["attributes"] == [name] and applied["rejected"] == []
            assert applied["bios_version"] == host(profile)["firmware"]["bios"]

    run(main())


def test_hpe_accepts_anything_and_reports_failures_after_the_reboot_behind_success(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c, control(sim) as ctl:
            r = await patch(c, "hpe", {"ProcHyperthreading": "Disabled", "UefiOptimizedBoot": "Enabled",
                                       "Sriov": "Fast", "AdminName": 7})
            assert r.status_code == 200
            infos = r.json()["error"]["@Message.ExtendedInfo"]
            assert [m["MessageId"] for m in infos] == ["iLO.2.25.SystemResetRequired"]
            await reboot_and_wait(c, ctl, "hpe")
            bios = (await c.get(f"{SYS['hpe']}/Bios")).json()
            messages = bios["@Redfish.Settings"]["Messages"]
            assert messages[0]["MessageId"] == "Base.1.4.Success"
            failed = {m["RelatedProperties"][0]: m["MessageId"] for m in messages[1:]}
            assert failed == {"#/UefiOptimizedBoot": "Base.1.4.PropertyUnknown",
                              "#/Sriov": "Base.1.4.PropertyValueNotInList",
                              "#/AdminName": "Base.1.4.PropertyValueTypeError"}
            assert bios["Attributes"]["ProcHyperthreading"] == "Disabled"
            assert bios["Attributes"]["Sriov"] == "Enabled" and "UefiOptimizedBoot" not in bios["Attributes"]
            rejected = {e["attribute"] for e in await events(ctl, "bios-settings-rejected")}
            assert rejected == {"UefiOptimizedBoot", "Sriov", "AdminName"}

    run(main())


def test_hpe_workload_profile_sets_its_dependents_and_locks_them_unless_custom(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c, control(sim) as ctl:
            await patch(c, "hpe", {"ProcTurbo": "Disabled", "WorkloadProfile": "GeneralPeakFrequencyCompute"})
            await reboot_and_wait(c, ctl, "hpe")
            bios = (await c.get(f"{SYS['hpe']}/Bios")).json()
            assert bios["Attributes"]["PowerRegulator"] == "StaticHighPerf"  # set by the profile
            assert bios["Attributes"]["ProcTurbo"] == "Enabled"  # locked by the profile: refused
            assert [m["RelatedProperties"] for m in bios["@Redfish.Settings"]["Messages"][1:]] == [["#/ProcTurbo"]]
            assert bios["@Redfish.Settings"]["Messages"][1]["MessageId"].endswith("PropertyNotWritable")
            await patch(c, "hpe", {"ProcTurbo": "Disabled", "WorkloadProfile": "Custom"})
            await reboot_and_wait(c, ctl, "hpe")
            bios = (await c.get(f"{SYS['hpe']}/Bios")).json()
            assert (bios["Attributes"]["ProcTurbo"], bios["Attributes"]["WorkloadProfile"]) == ("Disabled", "Custom")
            assert bios["Attributes"]["PowerRegulator"] == "StaticHighPerf"  # Custom keeps what the profile set
            assert len(bios["@Redfish.Settings"]["Messages"]) == 1

    run(main())


def test_hpe_put_replaces_the_pending_values(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c, control(sim) as ctl:
            await patch(c, "hpe", {"ProcHyperthreading": "Disabled"})
            assert (await c.put(SETTINGS["hpe"], json={"Attributes": {"Sriov": "Disabled"}})).status_code == 200
            await reboot_and_wait(c, ctl, "hpe")
            attrs = (await c.get(f"{SYS['hpe']}/Bios")).json()["Attributes"]
            assert (attrs["ProcHyperthreading"], attrs["Sriov"]) == ("Enabled", "Disabled")

    run(main())


def test_supermicro_settings_object_needs_the_current_etag(tmp_path: Path) -> None:
    body = {"Attributes": {"QuietBoot_0027": False}}

    async def main() -> None:
        async with sim_fleet(tmp_path, {"s1": host("supermicro")}) as sim, client(sim, "s1") as c, control(sim) as ctl:
            r = await c.patch(SETTINGS["supermicro"], json=body)
            assert r.status_code == 428 and r.json()["error"]["code"].endswith("PreconditionRequired")
            r = await c.patch(SETTINGS["supermicro"], json=body, headers={"If-Match": '"stale"'})
            assert r.status_code == 412 and r.json()["error"]["code"].endswith("PreconditionFailed")
            first = await etag(c, "supermicro")
            r = await c.patch(SETTINGS["supermicro"], json=body, headers={"If-Match": first})
            assert r.status_code == 200 and "Success" in r.json()
            assert await etag(c, "supermicro") != first  # every change gives the settings object a new ETag
            r = await c.patch(SETTINGS["supermicro"], json=body, headers={"If-Match": first})
            assert r.status_code == 412
            refused = await events(ctl, "bios-settings-refused")
            assert [e["status"] for e in refused] == [428, 412, 412]

    run(main())


def test_supermicro_and_dell_refuse_bad_values_at_patch_time(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"s1": host("supermicro")}) as sim, client(sim, "s1") as c, control(sim) as ctl:
            r = await patch(c, "supermicro", {"QuietBoot_0027": "false", "CSMSupport_0033": "Auto",
                                              "BIOSVersion_0002": "9.9", "QuietBoot": True})
            assert r.status_code == 400
            infos = {m["RelatedProperties"][0]: m["MessageId"].split(".")[-1]
                     for m in r.json()["error"]["@Message.ExtendedInfo"]}
            assert infos == {"#/Attributes/QuietBoot_0027": "PropertyValueTypeError",
                             "#/Attributes/CSMSupport_0033": "PropertyValueNotInList",
                             "#/Attributes/BIOSVersion_0002": "PropertyNotWritable",
                             "#/Attributes/QuietBoot": "PropertyUnknown"}
            assert (await c.get(SETTINGS["supermicro"])).json()["Attributes"] == {}  # nothing was staged
            assert not await events(ctl, "bios-settings-staged")

    run(main())


def test_generic_immediate_apply_time_reboots_the_host_and_applies(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c, control(sim) as ctl:
            bios = (await c.get(f"{SYS['generic']}/Bios")).json()
            assert bios["@Redfish.Settings"]["SupportedApplyTimes"] == ["OnReset", "Immediate"]
            now = {"@Redfish.SettingsApplyTime": {"ApplyTime": "Immediate"}}
            r = await patch(c, "generic", {"NumaNodes": 4}, **now)
            assert r.status_code == 204
            await booted(c, ctl, "generic")
            assert (await c.get(f"{SYS['generic']}/Bios")).json()["Attributes"]["NumaNodes"] == 4
            resets = [e for e in await events(ctl, "reset") if e["kind"] == "host-reboot"]
            assert [e["cause"] for e in resets] == ["bios-settings-immediate"]
            r = await patch(c, "generic", {"NumaNodes": 2}, **{"@Redfish.SettingsApplyTime": {"ApplyTime": "Later"}})
            assert r.status_code == 400 and r.json()["error"]["code"].endswith("PropertyValueNotInList")

    run(main())


def test_values_persist_across_a_bios_update(tmp_path: Path) -> None:
    img = image(tmp_path, "generic", "bios", TARGET["generic"])

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c, control(sim) as ctl:
            await patch(c, "generic", {"LogicalProc": "Disabled", "MemoryEncryption": "Enabled"})
            await reboot_and_wait(c, ctl, "generic")
            bios = (await c.get(f"{SYS['generic']}/Bios")).json()
            assert bios["Attributes"]["LogicalProc"] == "Disabled"
            assert bios["@Redfish.Settings"]["Messages"][0]["RelatedProperties"] == ["#/Attributes/MemoryEncryption"]
            await flash_bios(c, ctl, "generic", img)
            await booted(c, ctl, "generic")
            attrs = (await c.get(f"{SYS['generic']}/Bios")).json()["Attributes"]
            assert attrs["SystemBiosVersion"] == TARGET["generic"]
            assert (attrs["LogicalProc"], attrs["MemoryEncryption"]) == ("Disabled", "Disabled")
            await patch(c, "generic", {"MemoryEncryption": "Enabled"})
            await reboot_and_wait(c, ctl, "generic")
            assert (await c.get(f"{SYS['generic']}/Bios")).json()["Attributes"]["MemoryEncryption"] == "Enabled"

    run(main())


def test_reset_bios_restores_defaults_at_the_next_reboot(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c, control(sim) as ctl:
            await patch(c, "generic", {"LogicalProc": "Disabled"})
            await reboot_and_wait(c, ctl, "generic")
            await patch(c, "generic", {"BootMode": "Bios"})
            target = (await c.get(f"{SYS['generic']}/Bios")).json()["Actions"]["#Bios.ResetBios"]["target"]
            assert (await c.post(target, json={})).status_code == 204
            bios = (await c.get(f"{SYS['generic']}/Bios")).json()
            assert bios["ResetBiosToDefaultsPending"] is True
            assert bios["Attributes"]["LogicalProc"] == "Disabled"
            await reboot_and_wait(c, ctl, "generic")
            bios = (await c.get(f"{SYS['generic']}/Bios")).json()
            assert bios["ResetBiosToDefaultsPending"] is False
            assert (bios["Attributes"]["LogicalProc"], bios["Attributes"]["BootMode"]) == ("Enabled", "Uefi")
            assert [e["dropped"] for e in await events(ctl, "bios-reset-requested")] == [["BootMode"]]
            restored = await events(ctl, "bios-defaults-restored")
            assert len(restored) == 1 and "LogicalProc" in restored[0]["attributes"]

    run(main())


def test_change_password_checks_the_old_one(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"s1": host("supermicro")}) as sim, client(sim, "s1") as c:
            uri = f"{SYS['supermicro']}/Bios/Actions/Bios.ChangePassword"
            body = {"PasswordName": "AdministratorPassword", "OldPassword": "", "NewPassword": "s3cret"}
            assert (await c.post(uri, json=body)).status_code == 200
            r = await c.post(uri, json={**body, "NewPassword": "other"})
            assert r.status_code == 400  # the old password is now s3cret
            assert (await c.post(uri, json={**body, "OldPassword": "s3cret"})).status_code == 200
            r = await c.post(uri, json={**body, "PasswordName": "QuietBoot_0027"})
            assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterValueNotInList")
            attrs = (await c.get(f"{SYS['supermicro']}/Bios")).json()["Attributes"]
            assert attrs["AdministratorPassword"] is None

    run(main())


def test_ilo5_resets_bios_through_its_settings_object(tmp_path: Path) -> None:
    async def main() -> None:
        async with sim_fleet(tmp_path, {"h1": host("hpe")}) as sim, client(sim, "h1") as c, control(sim) as ctl:
            await patch(c, "hpe", {"ProcHyperthreading": "Disabled"})
            await reboot_and_wait(c, ctl, "hpe")
            settings = (await c.get(SETTINGS["hpe"])).json()
            r = await c.post(settings["Actions"]["#Bios.ResetBios"]["target"], json={"Action": "Bios.ResetBios"})
            assert r.status_code == 200
            assert (await c.get(f"{SYS['hpe']}/Bios")).json()["ResetBiosToDefaultsPending"] is True
            await reboot_and_wait(c, ctl, "hpe")
            assert (await c.get(f"{SYS['hpe']}/Bios")).json()["Attributes"]["ProcHyperthreading"] == "Enabled"

    run(main())


def test_fleet_options_switch_validation_and_if_match(tmp_path: Path) -> None:
    hosts = {"g1": host("generic", options={"bios_validation": "early"}),
             "s1": host("supermicro", options={"bios_if_match": "optional"})}

    async def main() -> None:
        async with sim_fleet(tmp_path, hosts) as sim, client(sim, "g1") as g, client(sim, "s1") as s:
            r = await g.patch(SETTINGS["generic"], json={"Attributes": {"NoSuchKnob": "On"}})
            assert r.status_code == 400 and r.json()["error"]["code"].endswith("PropertyUnknown")
            r = await s.patch(SETTINGS["supermicro"], json={"Attributes": {"QuietBoot_0027": False}})
            assert r.status_code == 200
            r = await s.patch(SETTINGS["supermicro"], json={"Attributes": {"QuietBoot_0027": True}},
                              headers={"If-Match": '"stale"'})
            assert r.status_code == 412  # an If-Match that is sent is still checked

    run(main())


def test_a_fleet_host_may_start_with_bios_values_checked_against_its_registry(tmp_path: Path) -> None:
    from hwfw.errors import ConfigError
    from hwfw.sim.fleet import load_fleet
    from tests.sim.support import write_fleet

    async def main() -> None:
        values = {"NumaNodes": 4, "MemoryEncryption": "Enabled", "AdminName": "edge-ops"}
        spec = host("generic", firmware={"bmc": "2.15.0", "bios": "1.1.0"}, bios=values)
        async with sim_fleet(tmp_path, {"g1": spec}) as sim, client(sim, "g1") as c:
            attrs = (await c.get(f"{SYS['generic']}/Bios")).json()["Attributes"]
            assert {k: attrs[k] for k in values} == values and attrs["LogicalProc"] == "Enabled"  # others: defaults

    run(main())
    # the registry of the host's BIOS decides: 1.0.5 has no MemoryEncryption, NumaNodes stops at 8
    (tmp_path / "bad").mkdir()
    bad = write_fleet(tmp_path / "bad", {"g1": host("generic", bios={"NumaNodes": 9, "MemoryEncryption": "Enabled"})})
    with pytest.raises(ConfigError) as info:
        load_fleet(bad)
    messages = [p.message for p in info.value.problems]
    assert any("NumaNodes: PropertyValueOutOfRange" in m for m in messages)
    assert any("MemoryEncryption: PropertyUnknown" in m for m in messages)
    assert all(p.location is not None and p.location.line > 1 for p in info.value.problems)
