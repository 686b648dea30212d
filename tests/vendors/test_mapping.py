"""Vendor adapters on the resource shapes real BMCs serve (docs/vendor-behaviour.md).

These are the documented shapes (Dell ids with embedded versions, HPE Description keys
and free-text versions, Supermicro Backup_/Golden_/Staging_ copies); test_sim_profiles.py
checks the same adapters against the simulator's profiles over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest

from hwfw.vendors import select_adapter
from hwfw.vendors.base import BmcFacts, action_targets, apply_time_support, classify
from hwfw.vendors.dell import DellAdapter, parse_id
from hwfw.vendors.generic import GenericAdapter
from hwfw.vendors.hpe import HpeAdapter
from hwfw.vendors.supermicro import SupermicroAdapter

FI = "/redfish/v1/UpdateService/FirmwareInventory"


def member(mid: str, version: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {"@odata.id": f"{FI}/{mid}", "Id": mid, "Name": name or mid, "Version": version, **extra}


def versions(adapter: Any, members: list[dict[str, Any]], **facts: Any) -> dict[str, str | None]:
    comps = adapter.components(BmcFacts(root={}, firmware_inventory=tuple(members), **facts))
    return {c.key: c.version for c in comps}


# ----------------------------------------------------------------------- detection

@pytest.mark.parametrize("root,manager,expected", [
    ({"Vendor": "Dell"}, None, "dell"),
    ({"Vendor": "HPE"}, None, "hpe"),
    ({"Vendor": "Supermicro"}, None, "supermicro"),
    ({"Vendor": "Contoso"}, None, "generic"),
    ({"Oem": {"Hpe": {}}}, None, "hpe"),
    ({"Oem": {"Dell": {}}}, None, "dell"),
    ({}, {"Manufacturer": "Supermicro"}, "supermicro"),
    ({}, {"Model": "iDRAC 9"}, "dell"),
    ({}, {"Model": "iLO 5"}, "hpe"),
    ({}, None, "generic"),
    # Root Vendor wins over a misleading Manager (ironic fix-detect-vendor-serviceroot-vendor).
    ({"Vendor": "HPE"}, {"Manufacturer": "Dell Inc."}, "hpe"),
])
def test_vendor_detection(root: dict[str, Any], manager: dict[str, Any] | None, expected: str) -> None:
    assert select_adapter(root, manager).name == expected


# ----------------------------------------------------------------------- Dell

DELL = [
    member("Installed-25227-6.10.30.00__iDRAC.Embedded.1-1", "6.10.30.00", "Integrated Dell Remote Access Controller",
           SoftwareId="25227", Updateable=True),
    member("Previous-25227-6.00.30.00__iDRAC.Embedded.1-1", "6.00.30.00", "Integrated Dell Remote Access Controller",
           Oem={"Dell": {"DellSoftwareInventory": {"Status": "AvailableForInstallation"}}}),
    member("Installed-159-1.10.2__BIOS.Setup.1-1", "1.10.2", "BIOS", SoftwareId="159"),
    member("Current-159-1.10.2__BIOS.Setup.1-1", "1.10.2", "BIOS", SoftwareId="159"),
    member("Previous-159-1.9.0__BIOS.Setup.1-1", "1.9.0", "BIOS"),
    member("Available-159-1.12.1", "1.12.1", "BIOS"),
    member("Installed-102558-22.31.6__NIC.Integrated.1-1", "22.31.6", "Broadcom Gigabit Ethernet BCM5720"),
    member("Installed-102558-22.31.6__NIC.Integrated.1-2", "22.31.6", "Broadcom Gigabit Ethernet BCM5720"),
    member("Installed-27763-1.0.6__CPLD.Embedded.1", "1.0.6", "System CPLD"),
    member("Installed-0-16.25.40.62", "16.25.40.62", "Mellanox ConnectX-4 LX 25GbE"),
    member("Installed-101734-2.5.13.3024__Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1", "A04", "SSD 0"),
    member("Installed-25806-4301X07", "4301X07", "Dell 64 Bit uEFI Diagnostics"),
]


def test_dell_installed_only_fqdd_instances() -> None:
    got = versions(DellAdapter(), DELL)
    assert got["bmc"] == "6.10.30.00" and got["bios"] == "1.10.2" and got["cpld"] == "1.0.6"
    assert got["nic:NIC.Integrated.1-1"] == "22.31.6" and got["nic:NIC.Integrated.1-2"] == "22.31.6"
    assert got["nic:Mellanox ConnectX-4 LX 25GbE"] == "16.25.40.62"
    assert got["drive:Disk.Bay.0:Enclosure.Internal.0-1:RAID.Integrated.1-1"] == "A04"
    assert "1.9.0" not in got.values() and "1.12.1" not in got.values() and "6.00.30.00" not in got.values()
    assert sum(1 for k in got if k == "bios") == 1  # Current- twin dropped


def test_dell_software_id_and_uri() -> None:
    comps = {c.key: c for c in DellAdapter().components(BmcFacts(root={}, firmware_inventory=tuple(DELL)))}
    assert comps["bios"].software_id == "159"
    assert comps["cpld"].software_id == "27763"  # from the Id when SoftwareId is absent
    assert comps["bios"].uri == f"{FI}/Installed-159-1.10.2__BIOS.Setup.1-1"


def test_dell_id_parsing() -> None:
    assert parse_id("Installed-25227-5.10.00.00__iDRAC.Embedded.1-1") == {
        "state": "Installed", "component": "25227", "version": "5.10.00.00", "fqdd": "iDRAC.Embedded.1-1"}
    assert parse_id("Available-25806-4301X07") == {"state": "Available", "component": "25806", "version": "4301X07"}
    assert parse_id("BMC") is None


def test_dell_pending_jobs() -> None:
    jobs = [{"Id": "JID_1", "Name": "Firmware Update: BIOS", "JobState": "Scheduled", "JobType": "FirmwareUpdate"},
            {"Id": "JID_2", "Name": "Configure: BIOS", "JobState": "Completed"},
            {"Id": "RID_3", "Name": "Reboot", "JobState": "RebootPending"}]
    pre = DellAdapter().preflight(BmcFacts(root={}, extra={"dell-jobs": jobs}))
    assert pre.pending_jobs == ("JID_1 Firmware Update: BIOS (Scheduled)", "RID_3 Reboot (RebootPending)")


# ----------------------------------------------------------------------- HPE

HPE = [
    member("1", "2.72 Sep 04 2022", "iLO 5", Description="SystemBMC",
           Oem={"Hpe": {"DeviceContext": "System Board", "DeviceClass": "2f317b9d-c9e3-4d76-bff6-b9d0d085a952"}}),
    member("2", "U30 v2.68 (07/14/2022)", "System ROM", Description="SystemRomActive"),
    member("3", "U30 v2.60 (01/11/2022)", "Redundant System ROM", Description="SystemRomBackup"),
    member("4", "0x11", "System Programmable Logic Device", Description="SystemProgrammableLogicDevice"),
    member("5", "4.1.4.901", "Intelligent Platform Abstraction Data", Description="IntelligentPlatformAbstractionData"),
    member("6", "20.14.54", "HPE Ethernet 1Gb 4-port 331i Adapter - NIC",
           Oem={"Hpe": {"DeviceContext": "Embedded LOM"}}),
    member("7", "20.14.54", "HPE Ethernet 1Gb 4-port 331i Adapter - NIC",
           Oem={"Hpe": {"DeviceContext": "PCI-E Slot 1"}}),
    # iLO's key for the SPS (ME) firmware; "SPSFirmwareDescriptor" is the descriptor, kept
    # apart from the ME (tests/vendors/test_field_inventories.py).
    member("8/", "4.11", "Server Platform Services (SPS) Firmware", Description="SPSFirmwareVersionData"),
]


def test_hpe_description_keys_and_free_text_versions() -> None:
    got = versions(HpeAdapter(), HPE)
    assert got["bmc"] == "2.72 Sep 04 2022"
    assert got["bios"] == "U30 v2.68 (07/14/2022)"
    assert got["cpld"] == "0x11"
    assert got["me"] == "4.11"
    assert got["nic:Embedded LOM/HPE Ethernet 1Gb 4-port 331i Adapter - NIC"] == "20.14.54"
    assert got["nic:PCI-E Slot 1/HPE Ethernet 1Gb 4-port 331i Adapter - NIC"] == "20.14.54"
    assert "U30 v2.60 (01/11/2022)" not in got.values()  # redundant ROM ignored


def test_hpe_updateable_absent_means_updateable_and_queue() -> None:
    comps = HpeAdapter().components(BmcFacts(root={}, firmware_inventory=tuple(HPE)))
    assert all(c.updateable for c in comps)
    queue = [{"Name": "bios-fw", "Command": "ApplyUpdate", "State": "Pending"},
             {"Name": "old", "Command": "ApplyUpdate", "State": "Complete"},
             {"Name": "broken", "Command": "ApplyUpdate", "State": "Exception"}]
    us = {"Oem": {"Hpe": {"State": "Writing", "FlashProgressPercent": 40}}}
    pre = HpeAdapter().preflight(BmcFacts(root={}, update_service=us, extra={"hpe-update-task-queue": queue}))
    assert pre.pending_jobs == ("bios-fw ApplyUpdate (Pending)", "broken ApplyUpdate (Exception)")
    assert pre.running_updates == ("UpdateService Writing 40%",)


# ----------------------------------------------------------------------- Supermicro

SMC = [
    member("BMC", "01.01.10", "BMC"), member("Backup_BMC", "01.00.20", "Backup BMC"),
    member("Golden_BMC", "01.00.01", "Golden BMC"), member("Staging_BMC", "01.02.00", "Staging BMC"),
    member("BIOS", "1.4", "BIOS"), member("Backup_BIOS", "1.3", "Backup BIOS"),
    member("Golden_BIOS", "1.0", "Golden BIOS"), member("Staging_BIOS", "1.5", "Staging BIOS"),
    member("CPLD_Motherboard", "F1.02", "CPLD Motherboard"), member("Golden_CPLD_Motherboard", "F1.00"),
    member("Staging_CPLD_Motherboard", "F1.03"), member("CPLD_Backplane_1", "2.1"),
    member("BIOS_ME", "6.0.4", "ME"), member("PowerSupply1", "1.2"), member("PowerSupply2", "1.2"),
    member("NIC1", "22.31.6", "AOC-A25G-b2SG"), member("Staging_Capsule_BIOS", "1.6"),
]


def test_supermicro_copies_are_ignored() -> None:
    got = versions(SupermicroAdapter(), SMC)
    assert got == {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02", "backplane:CPLD_Backplane_1": "2.1",
                   "me": "6.0.4", "psu:PowerSupply1": "1.2", "psu:PowerSupply2": "1.2", "nic:NIC1": "22.31.6"}


def test_supermicro_licence_errors_become_preflight_facts() -> None:
    facts = BmcFacts(root={}, errors=(("update-service", "GET failed: not licensed [SMC.1.0.OemLicenseNotPassed]"),),
                     extra={"licence:smc": "license required"})
    pre = SupermicroAdapter().preflight(facts)
    assert len(pre.licence_errors) == 2


# ----------------------------------------------------------------------- generic + fallbacks

def test_generic_related_item_and_names() -> None:
    members = [member("a1", "2.14.0", "Contoso BMC Firmware", RelatedItem=[{"@odata.id": "/redfish/v1/Managers/bmc"}]),
               member("a2", "1.0.5", "Host firmware", RelatedItem=[{"@odata.id": "/redfish/v1/Systems/system/Bios"}]),
               member("a3", "3.3", "Weird thing")]
    got = versions(GenericAdapter(), members)
    assert got == {"bmc": "2.14.0", "bios": "1.0.5", "other:a3": "3.3"}


@pytest.mark.parametrize("inventory", [None, ()])
def test_fallbacks_when_firmware_inventory_is_missing_or_empty(inventory: Any) -> None:
    facts = BmcFacts(root={}, systems=({"BiosVersion": "U30 v2.68", "@odata.id": "/redfish/v1/Systems/1",
                                        "Bios": {"@odata.id": "/redfish/v1/Systems/1/Bios"}},),
                     managers=({"FirmwareVersion": "2.72", "@odata.id": "/redfish/v1/Managers/1"},),
                     firmware_inventory=inventory)
    for adapter in (GenericAdapter(), DellAdapter(), HpeAdapter(), SupermicroAdapter()):
        comps = {c.key: c for c in adapter.components(facts)}
        assert comps["bmc"].version == "2.72" and comps["bios"].version == "U30 v2.68"
        assert comps["bios"].uri == "/redfish/v1/Systems/1/Bios"


def test_fallback_fills_only_missing_kinds() -> None:
    facts = BmcFacts(root={}, systems=({"BiosVersion": "9.9"},), managers=({"FirmwareVersion": "2.72"},),
                     firmware_inventory=(member("BMC", "2.72.1", "BMC"),))
    got = {c.key: c.version for c in GenericAdapter().components(facts)}
    assert got == {"bmc": "2.72.1", "bios": "9.9"}


def test_ignores_staged_and_inactive_standard_flags() -> None:
    got = versions(GenericAdapter(), [member("BMC", "2.0", "BMC"), member("BMC2", "2.1", "BMC", Active=False),
                                      member("BIOS", "1.0", "BIOS"), member("BIOS2", "1.1", "BIOS", Staged=True)])
    assert got == {"bmc": "2.0", "bios": "1.0"}


# ----------------------------------------------------------------------- capabilities

def test_capabilities_from_update_service_and_resets() -> None:
    us = {"HttpPushUri": "/redfish/v1/UpdateService/FirmwareInventory",
          "MultipartHttpPushUri": "/redfish/v1/UpdateService/MultipartUpload", "MaxImageSizeBytes": None,
          "Actions": {"#UpdateService.SimpleUpdate": {
              "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
              "TransferProtocol@Redfish.AllowableValues": ["HTTP", "NFS", "CIFS", "TFTP", "HTTPS"],
              "@Redfish.OperationApplyTimeSupport": {
                  "SupportedValues": ["Immediate", "OnReset", "OnStartUpdateRequest"]}},
              "#UpdateService.StartUpdate": {"target": "/redfish/v1/UpdateService/Actions/UpdateService.StartUpdate"},
              "Oem": {"DellUpdateService.v1_1_0#DellUpdateService.Install": {
                  "target": "/redfish/v1/UpdateService/Actions/Oem/DellUpdateService.Install"}}}}
    system = {"Actions": {"#ComputerSystem.Reset": {"target": "/x",
                                                    "ResetType@Redfish.AllowableValues": ["On", "ForceOff"]}}}
    manager = {"Actions": {"#Manager.Reset": {"target": "/y",
                                              "ResetType@Redfish.AllowableValues": ["GracefulRestart"]}}}
    caps = DellAdapter().capabilities(BmcFacts(root={}, systems=(system,), managers=(manager,), update_service=us,
                                               extra={"expand": True}))
    assert caps.update_methods == ("multipart", "simple-update", "http-push", "dell-job")
    assert caps.apply_times == ("Immediate", "OnReset", "OnStartUpdateRequest")
    assert caps.transfer_protocols == ("HTTP", "NFS", "CIFS", "TFTP", "HTTPS")
    assert caps.max_image_size is None and caps.expand is True
    assert caps.system_reset_types == ("On", "ForceOff") and caps.manager_reset_types == ("GracefulRestart",)


def test_apply_time_support_as_property_annotation() -> None:
    us = {"MultipartHttpPushUri": "/redfish/v1/UpdateService/update",
          "MultipartHttpPushUri@Redfish.OperationApplyTimeSupport": {"SupportedValues": ["Immediate", "OnReset"]}}
    assert apply_time_support(us) == ["Immediate", "OnReset"]


def test_smc_and_hpe_vendor_flows() -> None:
    actions = "/redfish/v1/UpdateService/Actions"
    smc_us = {"MultipartHttpPushUri": "/redfish/v1/UpdateService/upload",
              "Actions": {"#UpdateService.StartUpdate": {"target": f"{actions}/UpdateService.StartUpdate"},
                          "#SmcUpdateService.Install": {"target": f"{actions}/SmcUpdateService.Install"}}}
    assert SupermicroAdapter().update_methods(smc_us) == ["multipart", "smc-startupdate"]
    hpe_us: dict[str, Any] = {"HttpPushUri": "/cgi-bin/uploadFile",
                              "Actions": {"#UpdateService.SimpleUpdate": {"target": "/t"}},
              "Oem": {"Hpe": {"Actions": {"#HpeiLOUpdateServiceExt.AddFromUri": {"target": "/a"}}}}}
    assert HpeAdapter().update_methods(hpe_us) == ["simple-update", "http-push", "hpe-form"]
    assert "HpeiLOUpdateServiceExt.AddFromUri" in action_targets({"Actions": {"Oem": hpe_us["Oem"]["Hpe"]["Actions"]}})


def test_pending_bios_settings() -> None:
    from hwfw.vendors.base import pending_bios_attributes
    assert pending_bios_attributes({"Attributes": {"A": 1, "B": 2}}, {"Attributes": {"A": 1}}) == {}
    assert pending_bios_attributes({"Attributes": {"A": 1}}, {"Attributes": {"A": 2}}) == {"A": 2}
    assert pending_bios_attributes({"Attributes": {"A": 1}}, {"Attributes": {}}) == {}


@pytest.mark.parametrize("text,kind", [
    ("iDRAC", "bmc"), ("System ROM", "bios"), ("System CPLD", "cpld"), ("BCM5720 Ethernet", "nic"),
    ("PERC H755", "raid"), ("Power Supply 1", "psu"), ("Backplane 1", "backplane"), ("SSD 0", "drive"),
    ("BIOS_ME", "me"), ("GPU0", "gpu"), ("nothing known", None),
])
def test_classify(text: str, kind: str | None) -> None:
    assert classify(text) == kind
