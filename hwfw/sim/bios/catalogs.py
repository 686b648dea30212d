"""The BIOS attributes each simulated vendor knows (realistic subsets, real names).

Names and values follow the vendors' public material (docs/bios-settings.md lists the
sources); which BIOS version first has an attribute (`since`) is the simulator's
choice, made so that the lab's target BIOS versions (examples/lab/baselines.yaml) add
one attribute the fleet's current BIOS versions lack.
"""

from __future__ import annotations

import re

from hwfw.sim.bios.registry import BOOLEAN, ENUM, INTEGER, PASSWORD, STRING, Attr, Catalog, Dependency, Profile

ON_OFF = ("Enabled", "Disabled")


def _dotted(version: str) -> tuple[str, ...]:
    return tuple(re.findall(r"\d+", version)[:3]) or ("0",)


def _generic_id(model: str, version: str) -> str:
    parts = list(_dotted(version)) + ["0", "0"]
    return f"BiosAttributeRegistryContoso.v{parts[0]}_{parts[1]}_{parts[2]}"


def _generic_version(model: str, version: str) -> str:
    parts = list(_dotted(version)) + ["0", "0"]
    return ".".join(parts[:3])


_HPE_ROM = re.compile(r"^(?P<family>[A-Z]\d+)\s+v(?P<major>\d+)\.(?P<minor>\d+)")


def _hpe_id(model: str, version: str) -> str:
    """HPE names the registry by ROM family and ROM version: U30 v2.68 -> ...U30.v1_2_68."""
    m = _HPE_ROM.match(version)
    return f"BiosAttributeRegistry{m['family']}.v1_{m['major']}_{m['minor']}" if m else "BiosAttributeRegistry.v1_0_0"


def _hpe_version(model: str, version: str) -> str:
    m = _HPE_ROM.match(version)
    return f"1.{m['major']}.{m['minor']}" if m else "1.0.0"


# ---------------------------------------------------------------- Dell iDRAC9 (15G)
_DELL_PROFILES = ("PerfPerWattOptimizedDapc", "PerfPerWattOptimizedOs", "PerfOptimized", "PerfWorkStationOptimized",
                  "Custom")
DELL = Catalog(
    vendor="dell", owning_entity="Dell", odata_type="#AttributeRegistry.v1_3_0.AttributeRegistry",
    registry_id=lambda model, version: "BiosAttributeRegistry.v1_0_3",
    registry_version=lambda model, version: "1.0.3",
    attributes=(
        # LogicalProc first: the attribute clients meet first in Bios.Attributes is a plain toggle.
        Attr("LogicalProc", ENUM, "Enabled", "Logical Processor", "./ProcSettingsRef", ON_OFF),
        Attr("ProcVirtualization", ENUM, "Enabled", "Virtualization Technology", "./ProcSettingsRef", ON_OFF),
        Attr("ProcTurboMode", ENUM, "Enabled", "Turbo Boost", "./SysProfileSettingsRef", ON_OFF),
        Attr("ProcCStates", ENUM, "Enabled", "C States", "./SysProfileSettingsRef", ON_OFF),
        Attr("SysProfile", ENUM, "PerfPerWattOptimizedDapc", "System Profile", "./SysProfileSettingsRef",
             _DELL_PROFILES),
        Attr("WorkloadProfile", ENUM, "NotConfigured", "Workload Profile", "./SysProfileSettingsRef",
             ("NotConfigured", "HpcProfile", "LowLatencyOptimizedProfile", "VtOptimizedProfile",
              "DbOptimizedProfile", "SdsOptimizedProfile")),
        Attr("BootMode", ENUM, "Uefi", "Boot Mode", "./BootSettingsRef", ("Bios", "Uefi")),
        Attr("SriovGlobalEnable", ENUM, "Disabled", "SR-IOV Global Enable", "./IntegratedDevicesRef", ON_OFF),
        Attr("EmbSata", ENUM, "AhciMode", "Embedded SATA", "./SataSettingsRef", ("AhciMode", "RaidMode", "Off")),
        Attr("MemTest", ENUM, "Disabled", "System Memory Testing", "./MemSettingsRef", ON_OFF),
        Attr("SecureBoot", ENUM, "Disabled", "Secure Boot", "./SysSecurityRef", ON_OFF),
        Attr("OsWatchdogTimer", ENUM, "Disabled", "OS Watchdog Timer", "./IntegratedDevicesRef", ON_OFF),
        Attr("AcPwrRcvryUserDelay", INTEGER, 60, "User Defined Delay (60s to 600s)", "./SysSecurityRef",
             lower=60, upper=600),
        Attr("AssetTag", STRING, "", "Asset Tag", "./MiscSettingsRef", max_length=63, pattern=r"^[ -~]*$"),
        Attr("PcieAspmL1", ENUM, "Disabled", "PCIe ASPM L1 Link Power Management", "./IntegratedDevicesRef",
             ON_OFF, since={"PowerEdge R750": "1.12.0", "PowerEdge R650": "1.10.0", "*": "1.12.0"}),
        Attr("SystemModelName", STRING, "", "System Model Name", "./SysInformationRef", read_only=True,
             reports="model"),
        Attr("SystemBiosVersion", STRING, "", "System BIOS Version", "./SysInformationRef", read_only=True,
             reports="bios_version"),
        Attr("SystemServiceTag", STRING, "", "System Service Tag", "./SysInformationRef", read_only=True,
             reports="serial", unique=True),
        Attr("SetupPassword", PASSWORD, None, "Setup Password", "./SysSecurityRef", max_length=32),
        Attr("SysPassword", PASSWORD, None, "System Password", "./SysSecurityRef", max_length=32),
    ),
    dependencies=tuple(Dependency(name, "SysProfile", "Custom") for name in
                       ("ProcTurboMode", "ProcCStates", "WorkloadProfile")),
    profile=Profile("SysProfile", "Custom", {
        "PerfPerWattOptimizedDapc": {"ProcTurboMode": "Enabled", "ProcCStates": "Enabled"},
        "PerfPerWattOptimizedOs": {"ProcTurboMode": "Enabled", "ProcCStates": "Enabled"},
        "PerfOptimized": {"ProcTurboMode": "Enabled", "ProcCStates": "Disabled"},
        "PerfWorkStationOptimized": {"ProcTurboMode": "Enabled", "ProcCStates": "Disabled"}}),
    menus=(("SysInformationRef", "System Information"), ("MemSettingsRef", "Memory Settings"),
           ("ProcSettingsRef", "Processor Settings"), ("SataSettingsRef", "SATA Settings"),
           ("BootSettingsRef", "Boot Settings"), ("IntegratedDevicesRef", "Integrated Devices"),
           ("SysProfileSettingsRef", "System Profile Settings"), ("SysSecurityRef", "System Security"),
           ("MiscSettingsRef", "Miscellaneous Settings")),
)

# ---------------------------------------------------------------- HPE iLO 5/6 (Gen10, Gen10 Plus)
_HPE_WORKLOADS = ("GeneralPowerEfficientCompute", "GeneralPeakFrequencyCompute", "GeneralThroughputCompute",
                  "Virtualization-PowerEfficient", "Virtualization-MaxPerformance", "LowLatency", "MissionCritical",
                  "TransactionalApplicationProcessing", "HighPerformanceCompute(HPC)", "DecisionSupport",
                  "GraphicProcessing", "I/OThroughput", "Custom")
_EFFICIENT = {"ProcTurbo": "Enabled", "PowerRegulator": "DynamicPowerSavings", "MinProcIdlePower": "C6",
              "ChannelInterleaving": "Enabled"}
_PEAK = {"ProcTurbo": "Enabled", "PowerRegulator": "StaticHighPerf", "MinProcIdlePower": "NoCStates",
         "ChannelInterleaving": "Enabled"}
_HPE_PROFILE_VALUES = {name: dict(_PEAK) for name in _HPE_WORKLOADS if name != "Custom"}
_HPE_PROFILE_VALUES.update({"GeneralPowerEfficientCompute": _EFFICIENT, "Virtualization-PowerEfficient": _EFFICIENT,
                            "LowLatency": {**_PEAK, "ProcTurbo": "Disabled"}})
_PROC = "./SystemOptions/ProcessorOptions"
_POWER = "./PowerAndPerformanceOptions"
HPE = Catalog(
    vendor="hpe", owning_entity="HPE", odata_type="#AttributeRegistry.v1_2_1.AttributeRegistry",
    registry_id=_hpe_id, registry_version=_hpe_version,
    attributes=(
        Attr("WorkloadProfile", ENUM, "GeneralPowerEfficientCompute", "Workload Profile", "./", _HPE_WORKLOADS),
        Attr("ProcHyperthreading", ENUM, "Enabled", "Intel(R) Hyperthreading", _PROC, ON_OFF),
        Attr("ProcTurbo", ENUM, "Enabled", "Intel(R) Turbo Boost Technology", _POWER, ON_OFF),
        Attr("ProcVirtualization", ENUM, "Enabled", "Intel(R) Virtualization Technology", _PROC, ON_OFF),
        Attr("Sriov", ENUM, "Enabled", "SR-IOV", "./SystemOptions/VirtualizationOptions", ON_OFF),
        Attr("BootMode", ENUM, "Uefi", "Boot Mode", "./BootOptions", ("Uefi", "LegacyBios")),
        Attr("PowerRegulator", ENUM, "DynamicPowerSavings", "Power Regulator", _POWER,
             ("DynamicPowerSavings", "StaticLowPower", "StaticHighPerf", "OsControl")),
        Attr("MinProcIdlePower", ENUM, "C6", "Minimum Processor Idle Power Core C-State", _POWER,
             ("C6", "C1E", "NoCStates")),
        Attr("ChannelInterleaving", ENUM, "Enabled", "Channel Interleaving", "./MemoryOptions", ON_OFF),
        Attr("AdminName", STRING, "", "Administrator Name", "./ServerAdministration", max_length=28,
             pattern=r"^[ -~]*$"),
        Attr("AdminPhone", STRING, "", "Administrator Phone Number", "./ServerAdministration", max_length=28,
             pattern=r"^[ -~]*$"),
        Attr("ServerAssetTag", STRING, "", "Server Asset Tag", "./ServerAdministration", max_length=32,
             pattern=r"^[ -~]*$"),
        Attr("TpmState", ENUM, "PresentEnabled", "Current TPM State", "./ServerSecurity/TrustedModuleOptions",
             ("NotPresent", "PresentDisabled", "PresentEnabled"), read_only=True),
        Attr("MicrosoftSecuredCoreSupport", ENUM, "Disabled", "Microsoft(R) Secured-core Support", "./ServerSecurity",
             ON_OFF, since={"ProLiant DL380 Gen10": "U30 v2.80 (10/03/2023)",
                            "ProLiant DL360 Gen10 Plus": "U46 v1.50 (03/01/2023)"}),
        Attr("SerialNumber", STRING, "", "Serial Number", "./ServerAdministration", read_only=True, reports="serial",
             unique=True),
        Attr("AdminPassword", PASSWORD, None, "Administrator Password", "./ServerSecurity", max_length=31),
        Attr("PowerOnPassword", PASSWORD, None, "Power On Password", "./ServerSecurity", max_length=31),
    ),
    dependencies=tuple(Dependency(name, "WorkloadProfile", "Custom", prop="GrayOut") for name in _EFFICIENT) + (
        Dependency("MicrosoftSecuredCoreSupport", "TpmState", "NotPresent", condition="EQU", prop="GrayOut"),),
    profile=Profile("WorkloadProfile", "Custom", _HPE_PROFILE_VALUES),
    menus=(("SystemOptions", "System Options"), ("BootOptions", "Boot Options"), ("MemoryOptions", "Memory Options"),
           ("PowerAndPerformanceOptions", "Power and Performance Options"),
           ("ServerSecurity", "Server Security"), ("ServerAdministration", "Server Administration")),
    related_prefix="#/",
)

# ---------------------------------------------------------------- Supermicro X12/X13
_BOOT = "./Advanced/Boot Feature"
SUPERMICRO = Catalog(
    vendor="supermicro", owning_entity="Supermicro", odata_type="#AttributeRegistry.v1_3_0.AttributeRegistry",
    registry_id=lambda model, version: "BiosAttributeRegistry.1_0_0",
    registry_version=lambda model, version: "1.0.0",
    attributes=(
        Attr("QuietBoot_0027", BOOLEAN, True, "Quiet Boot", _BOOT),
        Attr("OptionROMMessages_0028", ENUM, "1", "Option ROM Messages", _BOOT, ("1", "0"),
             value_display={"1": "Force BIOS", "0": "Keep Current"}),
        Attr("ReTryBoot_0029", ENUM, "Disabled", "Re-try Boot", _BOOT, ("Disabled", "Legacy Boot", "EFI Boot")),
        Attr("WatchDogFunction_002E", BOOLEAN, False, "Watch Dog Function", _BOOT),
        Attr("WatchDogAction_0030", ENUM, "Reset", "Watch Dog Action", _BOOT, ("Reset", "Power Off")),
        Attr("CSMSupport_0033", ENUM, "Enabled", "CSM Support", "./Advanced/CSM Configuration", ON_OFF),
        Attr("SecureBootEnable_0041", BOOLEAN, False, "Secure Boot", "./Security/Secure Boot"),
        Attr("IntelVirtualizationTechnology_0061", ENUM, "Enable", "Intel Virtualization Technology",
             "./Advanced/CPU Configuration", ("Enable", "Disable")),
        Attr("TXTSupport_0062", ENUM, "Disabled", "TXT Support", "./Advanced/Trusted Computing", ON_OFF),
        Attr("SRIOVSupport_0082", ENUM, "Enabled", "SR-IOV Support", "./Advanced/PCIe/PCI/PnP Configuration",
             ON_OFF),
        Attr("IPv4HTTPSupport_00F7", ENUM, "Disabled", "IPv4 HTTP Support", "./Advanced/Network Configuration",
             ON_OFF),
        Attr("TotalMemoryEncryption_00B3", ENUM, "Disabled", "Total Memory Encryption",
             "./Advanced/CPU Configuration", ON_OFF, since={"SYS-120U-TNR": "1.6", "SYS-221H-TNR": "2.1"}),
        Attr("BIOSVersion_0002", STRING, "", "BIOS Version", "./Main", read_only=True, reports="bios_version"),
        Attr("AdministratorPassword", PASSWORD, None, "Administrator Password", "./Security", max_length=20),
        Attr("UserPassword", PASSWORD, None, "User Password", "./Security", max_length=20),
    ),
    dependencies=(Dependency("WatchDogAction_0030", "WatchDogFunction_002E", False, condition="EQU", prop="Hidden"),),
    menus=(("Main", "Main"), ("Advanced", "Advanced"), ("Security", "Security"), ("Boot", "Boot")),
    current_value_in_registry=True, display_current_value=True,
)

# ---------------------------------------------------------------- plain DMTF (OpenBMC-like)
GENERIC = Catalog(
    vendor="generic", owning_entity="Contoso", odata_type="#AttributeRegistry.v1_3_0.AttributeRegistry",
    registry_id=_generic_id, registry_version=_generic_version,
    attributes=(
        Attr("ProcTurboMode", ENUM, "Enabled", "Turbo Mode", "./Processor", ON_OFF),
        Attr("LogicalProc", ENUM, "Enabled", "Logical Processor", "./Processor", ON_OFF),
        Attr("ProcVirtualization", ENUM, "Enabled", "Virtualization Technology", "./Processor", ON_OFF),
        Attr("SysProfile", ENUM, "PerfOptimized", "System Profile", "./Power",
             ("PerfOptimized", "PerfPerWattOptimized", "Custom")),
        Attr("SriovGlobalEnable", ENUM, "Disabled", "SR-IOV", "./Devices", ON_OFF),
        Attr("BootMode", ENUM, "Uefi", "Boot Mode", "./Boot", ("Bios", "Uefi")),
        Attr("NumaNodes", INTEGER, 2, "NUMA Nodes", "./Memory", lower=1, upper=8),
        Attr("AdminName", STRING, "", "Administrator Name", "./Administration", max_length=28, pattern=r"^[ -~]*$"),
        Attr("MemoryEncryption", ENUM, "Disabled", "Memory Encryption", "./Memory", ON_OFF, since={"*": "1.1.0"}),
        Attr("SystemBiosVersion", STRING, "", "BIOS Version", "./Administration", read_only=True,
             reports="bios_version"),
        Attr("AdminPassword", PASSWORD, None, "Administrator Password", "./Administration", max_length=32),
    ),
    menus=(("Processor", "Processor"), ("Power", "Power"), ("Devices", "Devices"), ("Boot", "Boot"),
           ("Memory", "Memory"), ("Administration", "Administration")),
)

CATALOGS = {c.vendor: c for c in (DELL, HPE, SUPERMICRO, GENERIC)}


def catalog_for(profile: str) -> Catalog:
    """The BIOS attributes a profile's hosts know. A profile without its own catalog here
    (a vendor just added) serves the plain DMTF one until it gets one."""
    return CATALOGS.get(profile, GENERIC)
