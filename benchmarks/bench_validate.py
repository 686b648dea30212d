"""Benchmark: `hwfw validate` (and `hwfw check` when present) on a 10,000-host workspace.

Generates a workspace of at least 7 MiB of YAML (10,000 hosts with name, address,
protocol, vendor, model, >= 3 labels and a credentials reference; 60 baselines) and
times the CLI in a cold process, as a user runs it. Target: validate < 5 s on the
2-core development machine; check at most 1 s more than validate.

    python benchmarks/bench_validate.py [--hosts 10000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENDORS = [("dell", ["PowerEdge R750", "PowerEdge R650", "PowerEdge R760"]),
           ("hpe", ["ProLiant DL380 Gen10", "ProLiant DL360 Gen10 Plus", "ProLiant DL380 Gen11"]),
           ("supermicro", ["SYS-120U-TNR", "SYS-221H-TNR"]),
           ("generic", ["Contoso OpenServer 2", "Contoso OpenServer 3"])]
TARGETS = {"dell": ("7.10.30.00", "1.12.1"), "hpe": ("2.81 Mar 27 2023", "U30 v2.80 (10/03/2023)"),
           "supermicro": ("01.03.12", "1.6"), "generic": ("2.15.0", "1.1.0")}


def generate(root: Path, hosts: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "hwfw.yaml").write_text(
        "format: 1\nfiles:\n  inventory: inventory.yaml\n  baselines: baselines.yaml\n"
        "  repository: repository.yaml\nsettings:\n  parallelism: 200\n")
    pools = [f"pool{p:02d}" for p in range(15)]
    lines = ["defaults:", "  protocol: redfish", "hosts:"]
    for i in range(hosts):
        vendor, models = VENDORS[i % len(VENDORS)]
        model = models[(i // len(VENDORS)) % len(models)]
        lines.append(
            f"  - name: node-{i:05d}.rack{i // 40:04d}.dc{i % 3}.fleet.example.net\n"
            f"    bmc: https://10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}:443\n"
            f"    protocol: redfish\n    ipmi_port: 623\n    vendor: {vendor}\n    model: \"{model}\"\n"
            f"    labels:\n      rack: r{i // 40:04d}\n      row: row{i // 400:03d}\n"
            f"      site: dc{i % 3}\n      pool: {pools[i % len(pools)]}\n      role: compute\n"
            f"      owner: team-{i % 17:02d}\n      power-feed: pdu-{i % 2}{(i // 40) % 8}\n"
            f"      network-zone: zone-{i % 5}\n      lifecycle: production\n"
            f"    credentials:\n      username_env: BMC_USER_DC{i % 3}\n"
            f"      password_env: BMC_PASSWORD_DC{i % 3}\n"
            f"    description: \"asset AT-{i:07d}, serial SN{i * 7919 % 10**8:08d}, "
            f"installed 2024-0{1 + i % 9}-1{i % 10}, warranty until 2029, contract C-{i % 311:04d}, "
            f"support tier gold, maintenance window sunday 02:00-06:00 UTC, escalation ops-oncall, "
            f"runbook RB-{i % 97:03d}, rack position U{i % 42:02d}, cabling plan CP-{i % 13:02d}, "
            f"last audit 2025-Q2\"\n")
    (root / "inventory.yaml").write_text("\n".join(lines))
    images, baselines = [], ["baselines:"]
    # Every image a baseline names must be obtainable (validate checks it): tiny files
    # whose sha256 is the one the repository states.
    (root / "images").mkdir(exist_ok=True)
    for vendor, models in VENDORS:
        bmc, bios = TARGETS[vendor]
        for model in models:
            for pool in pools:
                slug = f"{vendor}-{model.lower().replace(' ', '-')}-{pool}"
                for comp, version in (("bmc", bmc), ("bios", bios)):
                    (root / "images" / f"{slug}-{comp}.bin").write_bytes(slug.encode() + comp.encode())
                    images.append(f"  - id: {slug}-{comp}\n    vendor: {vendor}\n    component: {comp}\n"
                                  f"    version: \"{version}\"\n    models: [\"{model}\"]\n"
                                  f"    source: images/{slug}-{comp}.bin\n"
                                  f"    sha256: {hashlib.sha256(slug.encode() + comp.encode()).hexdigest()}\n")
                baselines.append(
                    f"  {slug}:\n    select: {{vendor: {vendor}, models: [\"{model}\"], labels: {{pool: {pool}}}}}\n"
                    f"    components:\n      bmc: {{version: \"{bmc}\", image: {slug}-bmc}}\n"
                    f"      bios: {{version: \"{bios}\", image: {slug}-bios}}")
    (root / "baselines.yaml").write_text("\n".join(baselines) + "\n")
    (root / "repository.yaml").write_text("images:\n" + "\n".join(images))


def timed(*cmd: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate the workspace here and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="hwfw-bench-")) / "ws"
    generate(root, args.hosts)
    size = sum(p.stat().st_size for p in root.glob("*.yaml"))
    n_baselines = sum(1 for line in (root / "baselines.yaml").read_text().splitlines()
                      if line.startswith("  ") and not line.startswith("    "))
    print(f"workspace: {args.hosts} hosts, {n_baselines} baselines, {size / 2**20:.1f} MiB of YAML in {root}")
    hwfw = [sys.executable, "-m", "hwfw"]
    rc = 0
    results = {}
    for command in ("validate", "check"):
        times = []
        for _ in range(args.runs):
            elapsed, result = timed(*hwfw, command, str(root))
            if result.returncode not in (0,) and "No such command" in result.stderr:
                break
            if result.returncode != 0:
                print(f"{command} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
                rc = 1
                break
            times.append(elapsed)
        if times:
            results[command] = statistics.median(times)
            print(f"hwfw {command}: median {results[command]:.2f} s over {len(times)} cold runs "
                  f"(min {min(times):.2f} s)")
    if "validate" in results:
        ok = results["validate"] < 5.0
        print(f"target validate < 5 s: {'PASS' if ok else 'FAIL'}")
        rc |= 0 if ok else 1
    if "check" in results and "validate" in results:
        extra = results["check"] - results["validate"]
        ok = extra <= 1.0
        print(f"check - validate = {extra:+.2f} s; target <= 1 s: {'PASS' if ok else 'FAIL'}")
        rc |= 0 if ok else 1
    if not args.keep:
        shutil.rmtree(root.parent, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
