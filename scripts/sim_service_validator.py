#!/usr/bin/env python3
"""Run DMTF's redfish-service-validator, offline, against one simulated BMC per profile.

Starts `hwfw sim serve` on a small fleet (dell, hpe on iLO 5 2.72 and on 2.96 with every
device kind, supermicro, generic, and the generic profile's "minimal" variant, whose
`Members@odata.count` deliberately miscounts: the validator checks the count's type, not
its value), runs the validator against every BMC in parallel,
each with its own temporary copy of the DMTF
CSDL (the validator writes the service's OEM schemas into that folder), prints
PASS/WARN/FAIL per profile and exits non-zero on any FAIL. The simulator is stopped
in every case.

    python scripts/sim_service_validator.py [--csdl DIR] [--keep-logs DIR] [-v]

The CSDL folder defaults to $HWFW_REDFISH_CSDL, else the copy of DMTF's schema bundle in
third_party/dmtf-redfish-csdl (BSD 3-Clause, see its README), so a fresh clone needs no
download.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hwfw.sim.runtime import start_fleet_process  # noqa: E402

FLEET = """\
seed: 7
hosts:
  val-dell:
    profile: dell
    model: PowerEdge R750
    firmware: {bmc: "7.00.00.00", bios: "1.12.1", cpld: "1.0.6", nic: {NIC.Integrated.1-1: "22.31.6"}}
  val-hpe:
    profile: hpe
    model: ProLiant DL380 Gen10
    firmware: {bmc: "2.72 Sep 04 2022", bios: "U30 v2.68 (07/14/2022)", cpld: "0x11"}
  val-hpe-g10p:
    profile: hpe
    model: ProLiant DL360 Gen10 Plus
    firmware:
      bmc: "2.96 Aug 17 2023"
      bios: "U46 v1.64 (08/11/2022)"
      cpld: "0x15"
      me: "4.4.4.53"
      nic: {NIC.OCP.10-1: "1.2839.0", NIC.Slot.2-1: "14.32.1010"}
      raid: {RAID.Slot.1-1: "52.16.3-3913", RAID.Boot.13-1: "1.0.14.1055"}
      drive: {Disk.Bay.0: "HPK3", Disk.Bay.1: "HPK3"}
      psu: {PSU.Slot.1: "1.00", PSU.Slot.2: "1.00"}
      backplane: {Backplane.1: "1.20"}
      gpu: {GPU.Slot.3-1: "90.04.38.00.03"}
  val-smc:
    profile: supermicro
    model: SYS-120U-TNR
    firmware: {bmc: "01.01.10", bios: "1.4", cpld: "F1.02"}
  val-gen:
    profile: generic
    model: Contoso OpenServer 2
    firmware: {bmc: "2.14.0", bios: "1.0.5"}
  val-minimal:
    profile: generic
    model: Contoso Minimal 1
    firmware: {bmc: "2.13", bios: "1.0.5"}
    options: {variant: minimal}
"""
ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|\s*$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def csdl_dir(explicit: str | None) -> Path:
    for candidate in (explicit, os.environ.get("HWFW_REDFISH_CSDL"), str(REPO / "third_party" / "dmtf-redfish-csdl")):
        if candidate and (Path(candidate) / "ServiceRoot_v1.xml").is_file():
            return Path(candidate)
    raise SystemExit("DMTF CSDL folder not found: pass --csdl or set HWFW_REDFISH_CSDL")


def validator_command() -> list[str]:
    exe = shutil.which("rf_service_validator") or str(Path(sys.executable).parent / "rf_service_validator")
    if not Path(exe).exists():
        raise SystemExit("rf_service_validator not found: pip install redfish-service-validator")
    return [exe]


def run_one(name: str, url: str, csdl: Path, work: Path) -> dict[str, object]:
    schemas = work / f"schemas-{name}"
    shutil.copytree(csdl, schemas)
    logdir = work / f"logs-{name}"
    cmd = validator_command() + ["--rhost", url, "-u", "admin", "-p", "password", "--authtype", "Session",
                                 "--schema_directory", str(schemas), "--logdir", str(logdir), "--timeout", "30"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, cwd=work)
    out = ANSI.sub("", proc.stdout + proc.stderr)
    counts = None
    for line in out.splitlines():
        found = ROW.match(line.strip())
        if found:
            counts = tuple(int(x) for x in found.groups())
    fails = [ln.split(" - ERROR - ", 1)[-1] for p in logdir.rglob("*.log")
             for ln in p.read_text(errors="replace").splitlines() if " - ERROR - " in ln]
    return {"name": name, "counts": counts, "rc": proc.returncode, "fails": fails, "output": out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csdl", help="DMTF CSDL folder (copied per run)")
    parser.add_argument("--keep-logs", type=Path, help="copy validator logs here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every FAIL line")
    args = parser.parse_args()
    csdl = csdl_dir(args.csdl)
    with tempfile.TemporaryDirectory(prefix="hwfw-rsv-") as tmp:
        work = Path(tmp)
        fleet = work / "fleet.yaml"
        fleet.write_text(FLEET)
        sim = start_fleet_process(fleet, work / "state", args=["--port", "0", "--speed", "1",
                                                               "--listen-block", "127.201.7.0/24"])
        try:
            with ThreadPoolExecutor(max_workers=len(sim.urls)) as pool:
                results = list(pool.map(lambda item: run_one(item[0], item[1], csdl, work), sim.urls.items()))
        finally:
            rc = sim.stop()
        if args.keep_logs:
            for p in work.glob("logs-*"):
                shutil.copytree(p, args.keep_logs / p.name, dirs_exist_ok=True)
    failed = False
    print(f"{'BMC':<12} {'PASS':>6} {'WARN':>6} {'FAIL':>6} {'NOT TESTED':>11}")
    for res in results:
        counts = res["counts"]
        if counts is None:
            failed = True
            print(f"{res['name']:<12} validator produced no summary (exit {res['rc']})")
            print(str(res["output"])[-3000:])
            continue
        p, w, f, s = counts  # type: ignore[misc]
        failed |= f > 0
        print(f"{res['name']:<12} {p:>6} {w:>6} {f:>6} {s:>11}")
        if f and (args.verbose or True):
            for line in list(res["fails"])[:40]:  # type: ignore[call-overload]
                print(f"    {line}")
    if rc not in (0, -15):
        print(f"simulator exited with {rc}")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
