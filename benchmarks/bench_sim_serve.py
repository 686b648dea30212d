#!/usr/bin/env python3
"""Benchmark: 1,000 simulated BMCs in one `hwfw sim serve` process.

A generated fleet (the four profiles in turn) is served on 1,000 loopback addresses.
This process is the client: one aiohttp session per BMC (a few hundred requests in
flight), a Redfish session login per BMC, then ROUNDS rounds of
`GET /redfish/v1/UpdateService/FirmwareInventory?$expand=*($levels=1)` across all
BMCs. It prints requests per second served (target >= 3,000/s on 2 cores) and the
server's CPU time for the measured phase (from /proc/PID/stat).

    python benchmarks/bench_sim_serve.py [--bmcs 1000] [--rounds 10] [--in-flight 300] [--tls]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hwfw.sim.runtime import start_fleet_process  # noqa: E402

PROFILES = [("dell", "PowerEdge R750",
             '{bmc: "7.00.00.00", bios: "1.12.1", cpld: "1.0.6", nic: {NIC.Integrated.1-1: "22.31.6"}}'),
            ("hpe", "ProLiant DL380 Gen10", '{bmc: "2.72 Sep 04 2022", bios: "U30 v2.68 (07/14/2022)", cpld: "0x11"}'),
            ("supermicro", "SYS-120U-TNR", '{bmc: "01.01.10", bios: "1.4", cpld: "F1.02"}'),
            ("generic", "Contoso OpenServer 2", '{bmc: "2.14.0", bios: "1.0.5"}')]
EXPAND = "/redfish/v1/UpdateService/FirmwareInventory?$expand=*($levels=1)"


def fleet_yaml(count: int) -> str:
    lines = ["seed: 1000", "hosts:"]
    for i in range(count):
        profile, model, firmware = PROFILES[i % len(PROFILES)]
        lines += [f"  bench-{i:04d}:", f"    profile: {profile}", f"    model: {model}", f"    firmware: {firmware}"]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bmc:
    def __init__(self, url: str, ctx: ssl.SSLContext | None) -> None:
        self.url = url
        connector = aiohttp.TCPConnector(limit=2, ssl=ctx if ctx is not None else False, keepalive_timeout=60)
        self.http = aiohttp.ClientSession(base_url=url, connector=connector)
        self.token = ""
        self.location = ""

    async def login(self) -> None:
        async with self.http.post("/redfish/v1/SessionService/Sessions",
                                  json={"UserName": "admin", "Password": "password"}) as r:
            assert r.status == 201, await r.text()
            self.token = r.headers["X-Auth-Token"]
            self.location = r.headers["Location"]

    async def inventory(self, parse: bool = False) -> int:
        """One expanded inventory read; the warm-up round parses and checks the JSON."""
        async with self.http.get(EXPAND, headers={"X-Auth-Token": self.token}) as r:
            body = await r.read()
            assert r.status == 200, body[:200]
            if parse:
                data = json.loads(body)
                assert data["Members"] and "Version" in data["Members"][0], data
            return len(body)

    async def close(self) -> None:
        if self.location:
            async with self.http.delete(self.location, headers={"X-Auth-Token": self.token}) as r:
                await r.read()
        await self.http.close()


async def run_client(urls: dict[str, str], rounds: int, in_flight: int, ca: Path | None,
                     pid: int) -> tuple[int, float, float, float]:
    ctx = ssl.create_default_context(cafile=str(ca)) if ca else None
    bmcs = [Bmc(u, ctx) for u in urls.values()]
    sem = asyncio.Semaphore(in_flight)

    async def limited(coro):  # type: ignore[no-untyped-def]
        async with sem:
            return await coro

    await asyncio.gather(*(limited(b.login()) for b in bmcs))
    await asyncio.gather(*(limited(b.inventory(parse=True)) for b in bmcs))  # warm-up + shape check
    cpu0 = time.process_time()
    server0 = cpu_seconds(pid)
    t0 = time.perf_counter()
    async def bmc_rounds(b: Bmc) -> None:  # no barrier between rounds: the pipeline stays full
        for _ in range(rounds):
            async with sem:
                await b.inventory()

    await asyncio.gather(*(bmc_rounds(b) for b in bmcs))
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    server_cpu = cpu_seconds(pid) - server0
    await asyncio.gather(*(limited(b.close()) for b in bmcs))
    return rounds * len(bmcs), wall, client_cpu, server_cpu


def _loop_factory():  # type: ignore[no-untyped-def]
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bmcs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="hwfw-bench-") as tmp:
        fleet = Path(tmp) / "fleet.yaml"
        fleet.write_text(fleet_yaml(args.bmcs))
        t0 = time.perf_counter()
        extra = ["--port", "0", "--speed", "1", "--listen-block", "127.30.0.0/16"] + (["--tls"] if args.tls else [])
        with start_fleet_process(fleet, Path(tmp) / "state", args=extra, timeout=300) as sim:
            started = time.perf_counter() - t0
            pid = sim.process.pid
            ca = Path(tmp) / "state" / "ca.pem" if args.tls else None
            runner = asyncio.Runner(loop_factory=_loop_factory())
            with runner:
                requests, wall, client_cpu, server_cpu = runner.run(
                    run_client(sim.urls, args.rounds, args.in_flight, ca, pid))
    rate = requests / wall
    print(f"BMCs served            : {args.bmcs} (startup {started:.1f} s)")
    print(f"requests (expand GET)  : {requests} in {wall:.2f} s")
    print(f"requests per second    : {rate:,.0f}  (target >= 3,000)")
    print(f"server CPU time        : {server_cpu:.2f} s  ({server_cpu / requests * 1000:.3f} ms/request)")
    print(f"client CPU time        : {client_cpu:.2f} s  ({client_cpu / requests * 1000:.3f} ms/request)")
    return 0 if rate >= 3000 else 1


if __name__ == "__main__":
    sys.exit(main())
