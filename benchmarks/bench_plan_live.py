"""Benchmark: live inventory collection (the I/O half of `hwfw plan`) over 1,000 simulated BMCs.

Starts `hwfw sim serve` in its own process with a generated fleet (the lab's vendor mix:
Dell, HPE, Supermicro, generic in the lab's 3:2:2:2 proportion) and 50 ms of added latency
per request, with and without `--tls`; then, for each HTTP transport (httpx's default and
httpx-aiohttp), runs `collect()` in a fresh child process (login, service root, expanded
inventory, pre-flight reads, logout for every BMC) and reports:

- wall time of collect (targets on the 2-core machine: <= 6 s with TLS, <= 4 s without;
  stretch 3.5 / 2.5 s),
- client CPU time per request and requests per host,
- peak RSS of the client process,
- sessions still open on the simulator afterwards (must be 0).

`--bios` also reads every host's BIOS settings and attribute registry, as `hwfw plan`
does for hosts whose baseline declares settings (registries are read once per vendor,
model and BIOS version: the `registries` column).

    python benchmarks/bench_plan_live.py [--hosts 1000] [--latency 50ms] [--tls both|on|off]
                                         [--backend both|aiohttp|httpx] [--repeat 1] [--bios] [--check]

`--check` exits non-zero when a target is missed, a host was not read or a session leaked.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

TARGETS = {True: (6.0, 3.5), False: (4.0, 2.5)}  # tls -> (target, stretch) seconds


def generate_fleet(path: Path, hosts: int, profile: str | None = None) -> None:
    """`hosts` BMCs cycling through the lab's hosts (same profiles, models, versions);
    `profile` forces one simulator profile on all of them (to measure one vendor alone)."""
    import yaml

    lab = yaml.safe_load((REPO / "examples" / "lab" / "fleet.yaml").read_text())
    templates = list(lab["hosts"].items())
    out: dict[str, Any] = {}
    for i in range(hosts):
        name, spec = templates[i % len(templates)]
        spec = {k: v for k, v in spec.items() if k != "ipmi"}  # 1,000 UDP servers are not what we measure
        if profile:
            spec["profile"] = profile
        out[f"{name}-{i:04d}"] = spec
    doc = {"seed": lab.get("seed", 1), "defaults": {"credentials": {"username": "admin", "password": "password"}},
           "hosts": out}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def sessions_open(url: str, ca: Path | None) -> int:
    import httpx

    verify: Any = True
    if ca is not None:
        import ssl

        verify = ssl.create_default_context(cafile=str(ca))
    r = httpx.get(f"{url}/__sim/sessions", params={"bmc": "*"}, verify=verify, timeout=30)
    r.raise_for_status()
    return sum(len(v) for v in r.json().values())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


# --------------------------------------------------------------------------- child: one measured run

def child(args: argparse.Namespace) -> None:
    from hwfw.clock import SystemClock
    from hwfw.config.model import Host, Settings
    from hwfw.inventory.collect import CollectStats, ResolvedHost, collect

    urls: dict[str, str] = json.loads(Path(args.urls).read_text())
    ca = Path(args.ca) if args.ca else None
    hosts = [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), u, "admin", "password", ca_bundle=ca)
             for n, u in urls.items()]
    settings = Settings(state_path=Path(args.workdir) / "state.json", runtime_dir=Path(args.workdir))
    stats = CollectStats()
    factory = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    with asyncio.Runner(loop_factory=factory) as runner:
        inv = runner.run(collect(hosts, settings=settings, clock=SystemClock(), concurrency=args.concurrency,
                                 backend=args.backend, stats=stats,
                                 bios_hosts=[h.host.name for h in hosts] if args.bios else ()))
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    bad = [h.error for h in inv.hosts.values() if not h.reachable]
    print(json.dumps({"wall": wall, "cpu": cpu, "requests": stats.requests, "hosts": len(hosts),
                      "unreachable": len(bad), "errors": bad[:3], "peak_rss_mib": r1.ru_maxrss / 1024,
                      "registries": stats.registry_reads,
                      "bios_read": sum(1 for h in inv.hosts.values() if h.bios is not None and not h.bios.error)}))


def measure(backend: str, loop: str, urls_file: Path, ca: Path | None, workdir: Path,
            concurrency: int, bios: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--backend", backend, "--loop", loop, "--urls", str(urls_file),
           "--workdir", str(workdir), "--concurrency", str(concurrency)] + (["--bios"] if bios else [])
    if ca:
        cmd += ["--ca", str(ca)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- parent

def run(args: argparse.Namespace) -> int:
    from hwfw.sim.runtime import start_fleet_process

    tls_modes = {"both": [False, True], "on": [True], "off": [False]}[args.tls]
    backends = ["httpx", "aiohttp"] if args.backend == "both" else [args.backend]
    loops = ["asyncio", "uvloop"] if args.loop == "both" else [args.loop]
    failures = []
    rows = []
    with tempfile.TemporaryDirectory(prefix="hwfw-bench-live-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        fleet = work / "fleet.yaml"
        generate_fleet(fleet, args.hosts, args.profile)
        for tls in tls_modes:
            state = work / ("state-tls" if tls else "state-http")
            serve_args = ["--latency", args.latency, "--listen-block", args.block, "--port", "0"]
            if tls:
                serve_args.append("--tls")
            t0 = time.perf_counter()
            with start_fleet_process(fleet, state, args=serve_args, timeout=300) as proc:
                started = time.perf_counter() - t0
                urls_file = work / "urls.json"
                urls_file.write_text(json.dumps(proc.urls))
                ca = state / "ca.pem" if tls else None
                any_url = next(iter(proc.urls.values()))
                for backend, loop in [(b, lp) for b in backends for lp in loops]:
                    for _ in range(args.repeat):
                        s0 = process_cpu(proc.process.pid)
                        load = os.getloadavg()[0]
                        res = measure(backend, loop, urls_file, ca, work, args.concurrency, args.bios)
                        res["server_cpu"] = process_cpu(proc.process.pid) - s0
                        res["sessions_open"] = sessions_open(any_url, ca)
                        res.update(tls=tls, backend=backend, loop=loop, server_start=started, load=load)
                        rows.append(res)
                        target, stretch = TARGETS[tls]
                        if res["wall"] > target:
                            failures.append(f"{backend}/{loop} {'TLS' if tls else 'HTTP'}: "
                                            f"{res['wall']:.2f} s > {target} s")
                        if res["unreachable"]:
                            failures.append(f"{backend}: {res['unreachable']} hosts not read: {res['errors']}")
                        if res["sessions_open"]:
                            failures.append(f"{backend}: {res['sessions_open']} sessions left open")
                        if args.bios and res["bios_read"] != res["hosts"]:
                            failures.append(f"{backend}: BIOS settings read on {res['bios_read']} of "
                                            f"{res['hosts']} hosts")
    print(f"\n{args.hosts} simulated BMCs, {args.latency} latency per request, concurrency {args.concurrency}"
          + (", BIOS settings and registries read too" if args.bios else ""))
    print(f"{'transport':<9} {'loop':<8} {'TLS':<4} {'wall s':>7} {'target':>8} {'CPU s':>6} {'CPU/req ms':>10} "
          f"{'req/host':>8} {'peak RSS MiB':>12} {'unread':>6} {'open sessions':>13} {'sim CPU s':>9} {'load':>5} "
          f"{'registries':>10}")
    for r in rows:
        target, stretch = TARGETS[r["tls"]]
        print(f"{r['backend']:<9} {r['loop']:<8} {'yes' if r['tls'] else 'no':<4} {r['wall']:>7.2f} "
              f"{target:>4.1f}/{stretch:<3.1f} {r['cpu']:>6.2f} {1000 * r['cpu'] / max(1, r['requests']):>10.3f} "
              f"{r['requests'] / r['hosts']:>8.1f} {r['peak_rss_mib']:>12.0f} {r['unreachable']:>6} "
              f"{r['sessions_open']:>13} {r['server_cpu']:>9.1f} {r['load']:>5.1f} {r['registries']:>10}")
    print("\nwall time is only meaningful on an otherwise idle machine (load = 1-minute load average "
          "before the run); CPU s is the client's own user+system time for collect().")
    if failures:
        print("\nmissed:\n  " + "\n  ".join(failures))
    return 1 if failures and args.check else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--latency", default="50ms")
    p.add_argument("--tls", choices=["both", "on", "off"], default="both")
    p.add_argument("--backend", choices=["both", "aiohttp", "httpx"], default="both")
    p.add_argument("--loop", choices=["both", "asyncio", "uvloop"], default="asyncio",
                   help="event loop for the client (the CLI runs asyncio.run)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=500)
    p.add_argument("--profile", choices=["dell", "hpe", "supermicro", "generic"],
                   help="give every simulated BMC this profile instead of the lab mix")
    p.add_argument("--block", default="127.20.0.0/22", help="loopback block for the simulated BMCs")
    p.add_argument("--keep", help="keep the generated fleet and state in this directory")
    p.add_argument("--bios", action="store_true", help="also read BIOS settings and attribute registries")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--urls", help=argparse.SUPPRESS)
    p.add_argument("--ca", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
    else:
        sys.exit(run(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
