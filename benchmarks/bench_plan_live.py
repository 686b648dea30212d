"""Benchmark: live inventory collection (the I/O half of `hwfw plan`) at BMC latencies.

Starts `hwfw sim serve` in separate processes with a generated fleet (the lab's vendor
mix: Dell, HPE, Supermicro, generic in the lab's 3:2:2:2 proportion), adds a latency to
every request, and runs `collect()` in a fresh child process (login, service root,
inventory, pre-flight reads for hosts "with changes", logout for every BMC). Per run:

- wall: until the inventory is in hand (logouts still running in the background, as
  when `hwfw plan` computes its plan); closed: until every session is deleted;
- round trips in a row (the longest chain of requests of any host, logout included),
  requests per host, waves (rounds of hosts the fleet was read in), hosts in flight,
  requests per BMC and the open-files limit the client used;
- client CPU (user + system) and its peak RSS; the simulators' CPU;
- sessions left open on the simulators afterwards (must be 0).

    python benchmarks/bench_plan_live.py [--hosts 1000] [--latency 300ms] [--tls both|on|off]
        [--inventory-latency 3s] [--changes 1.0] [--backend native|aiohttp|httpx] [--repeat 2] [--check]
        [--markdown] [--bios]
    python benchmarks/bench_plan_live.py --sweep [--repeat 2] [--markdown]

`--bios` also reads every host's BIOS settings and the attribute registry of its running
BIOS, as `hwfw plan` does for hosts whose baseline declares settings (in the pre-flight
round; one registry read per vendor, model and BIOS version: `registries` in the JSON
line each run prints).

`--hosts` and `--latency` take comma-separated lists. `--changes F` treats a fraction F
of the hosts as having changes (their pre-flight facts are read in one or two more
rounds; the others get the five requests of a host with nothing to change); `--changes
all` reads the whole inventory of every host (`hwfw inventory`). `--bmc-resets F`: of the
hosts with changes, the fraction whose plan resets the BMC (default 1: all); the others
update their BIOS only, so their pre-flight round leaves out the Manager and the
Supermicro licence probe, as `hwfw plan` does. `--inventory-latency 3s`
makes an expanded FirmwareInventory take that much longer (some iDRAC and iLO
generations). `--sweep` runs the issue-19 matrix: 1,000 and 10,000 BMCs x {50 ms,
300 ms, 1 s, 300 ms + 3 s expanded FirmwareInventory} x {HTTP, TLS} (`--hosts` and
`--tls` narrow it). `--check` exits 1 when a target is missed, a host was not read or a
session was left open; `--markdown` also prints the runs as the README's table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# (hosts, latency, inventory latency, TLS) -> target wall seconds, from issue 19: the
# 300 ms and 1 s targets were set for plain HTTP (the baseline, 7.09 s, was measured so),
# the 50 ms ones are the figures before it (no worse than those).
TARGETS: dict[tuple[int, str, str | None, bool], float] = {
    (1000, "50ms", None, False): 3.2, (1000, "50ms", None, True): 4.5,
    (1000, "300ms", None, False): 2.0, (1000, "1s", None, False): 6.0,
    (10000, "300ms", None, False): 15.0,
}
PEAK_RSS_TARGET_MIB = 1024  # 10,000 BMCs at 300 ms, plain HTTP
SWEEP_PROFILES = (("50ms", None), ("300ms", None), ("1s", None), ("300ms", "3s"))
BMCS_PER_SIMULATOR = 3500  # one listening socket + a few connections each, under 20,000 open files


def lab_fleet() -> dict[str, Any]:
    import yaml

    return yaml.safe_load((REPO / "examples" / "lab" / "fleet.yaml").read_text())


def lab_hosts(lab: dict[str, Any], profile: str | None = None) -> dict[str, dict[str, Any]]:
    """The lab's hosts; with `profile`, only those the lab gives that profile (a host's
    models, versions and BIOS settings belong to its vendor's simulator)."""
    return {name: spec for name, spec in lab["hosts"].items() if profile is None or spec.get("profile") == profile}


def generate_fleet(path: Path, names: list[str], profile: str | None = None,
                   inventory_latency: str | None = None) -> None:
    """BMCs named `names` cycling through the lab's hosts (same profiles, models,
    versions), or through its hosts of `profile` only."""
    import yaml

    lab = lab_fleet()
    templates = list(lab_hosts(lab, profile).values())
    out: dict[str, Any] = {}
    for name in names:
        spec = dict(templates[int(name.rsplit("-", 1)[1]) % len(templates)])
        spec.pop("ipmi", None)  # thousands of UDP servers are not what we measure
        out[name] = spec
    defaults: dict[str, Any] = {"credentials": {"username": "admin", "password": "password"}}
    if inventory_latency:
        defaults["faults"] = {"inventory_latency": inventory_latency}
    path.write_text(yaml.safe_dump({"seed": lab.get("seed", 1), "defaults": defaults, "hosts": out},
                                   sort_keys=False))


def host_names(hosts: int, profile: str | None = None) -> list[str]:
    lab = list(lab_hosts(lab_fleet(), profile))
    return [f"{lab[i % len(lab)]}-{i:05d}" for i in range(hosts)]


def sessions_open(url: str, ca: Path | None) -> int:
    import httpx

    verify: Any = True
    if ca is not None:
        import ssl

        verify = ssl.create_default_context(cafile=str(ca))
    r = httpx.get(f"{url}/__sim/sessions", params={"bmc": "*"}, verify=verify, timeout=60)
    r.raise_for_status()
    return sum(len(v) for v in r.json().values())


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def has_changes(name: str, fraction: float) -> bool:
    """A stable pseudo-random `fraction` of the hosts (by name)."""
    return zlib.crc32(name.encode()) % 10_000 < fraction * 10_000


def preflight_of(name: str, changes: float, bmc_resets: float) -> Any:
    """The planner's triage answer for a host: no pre-flight round, the whole round, or
    (a host whose only change is its BIOS) the round without the Manager nor the
    licence probe."""
    from hwfw.inventory.model import Preflight

    if not has_changes(name, changes):
        return False
    return True if has_changes("bmc-reset:" + name, bmc_resets) else Preflight(manager=False, licence=False)


# --------------------------------------------------------------------------- child: one measured run

def child(args: argparse.Namespace) -> None:
    from hwfw.clock import SystemClock
    from hwfw.config.model import Host, Settings
    from hwfw.inventory.collect import CollectStats, ResolvedHost, collect
    from hwfw.redfish.closer import SessionCloser

    urls: dict[str, str] = json.loads(Path(args.urls).read_text())
    cas = json.loads(args.ca) if args.ca else {}
    hosts = [ResolvedHost(Host(name=n, bmc=f"sim://{n}"), u, "admin", "password",
                          ca_bundle=Path(cas[u.split("//")[1].split(".")[1]]) if cas else None)
             for n, u in urls.items()]
    settings = Settings(state_path=Path(args.workdir) / "state.json", runtime_dir=Path(args.workdir),
                        requests_per_bmc=args.per_bmc)
    stats = CollectStats()
    fraction = args.changes
    needs = None if fraction == "all" else (lambda inv: preflight_of(inv.host, float(fraction), args.bmc_resets))
    factory = None
    if args.loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    times: dict[str, float] = {}

    async def run() -> list[str]:
        closer = SessionCloser()
        t0 = time.perf_counter()
        try:
            inv = await collect(hosts, settings=settings, clock=SystemClock(), concurrency=args.concurrency,
                                backend=args.backend, stats=stats, needs_preflight=needs, closer=closer,
                                bios_hosts=[h.host.name for h in hosts] if args.bios else ())
            times["wall"] = time.perf_counter() - t0
        finally:
            await closer.aclose()
        times["closed"] = time.perf_counter() - t0
        # Only the errors leave the loop: a finished task holding the whole inventory as
        # its result gets its repr computed on the way out (tens of ms of CPU at 1,000 hosts).
        return [h.error or "" for h in inv.hosts.values() if not h.reachable]

    r0 = resource.getrusage(resource.RUSAGE_SELF)
    with asyncio.Runner(loop_factory=factory) as runner:
        bad = runner.run(run())
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    sizing = stats.sizing
    assert sizing is not None
    rounds = list(stats.per_host_rounds.values())
    print(json.dumps({
        "wall": times["wall"], "closed": times["closed"], "cpu": cpu, "sys": r1.ru_stime - r0.ru_stime,
        "requests": stats.requests,
        "hosts": len(hosts), "unreachable": len(bad), "errors": bad[:3], "peak_rss_mib": r1.ru_maxrss / 1024,
        "rounds_max": max(rounds, default=0), "rounds_mean": statistics.fmean(rounds) if rounds else 0,
        "waves": sizing.waves, "in_flight": sizing.in_flight, "per_bmc": sizing.per_bmc,
        "open_files": sizing.files.soft, "preflight_hosts": stats.preflight_hosts,
        "registries": stats.registry_reads}))


def measure(args: argparse.Namespace, urls_file: Path, cas: dict[str, str], workdir: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", "--backend", args.backend, "--loop", args.loop,
           "--urls", str(urls_file), "--workdir", str(workdir), "--changes", str(args.changes),
           "--per-bmc", str(args.per_bmc), "--bmc-resets", str(args.bmc_resets)] + (["--bios"] if args.bios else [])
    if args.concurrency:
        cmd += ["--concurrency", str(args.concurrency)]
    if cas:
        cmd += ["--ca", json.dumps(cas)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        err = out.stderr if len(out.stderr) <= 6000 else f"{out.stderr[:3000]}\n...\n{out.stderr[-3000:]}"
        raise SystemExit(f"child failed (exit {out.returncode}):\n{err}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- parent

class Simulators:
    """The fleet served by as many `hwfw sim serve` processes as open files require."""

    def __init__(self, work: Path, hosts: int, latency: str, inventory_latency: str | None, tls: bool,
                 profile: str | None) -> None:
        from hwfw.sim.runtime import start_fleet_process

        self.procs = []
        self.urls: dict[str, str] = {}
        self.cas: dict[str, str] = {}  # second octet of a simulator's block -> its CA bundle
        self.stack = ExitStack()
        names = host_names(hosts, profile)
        chunks = max(1, math.ceil(hosts / BMCS_PER_SIMULATOR))
        size = math.ceil(hosts / chunks)
        t0 = time.perf_counter()
        for i in range(chunks):
            part = names[i * size:(i + 1) * size]
            tag = f"{'tls' if tls else 'http'}-{i}"
            fleet = work / f"fleet-{tag}.yaml"
            generate_fleet(fleet, part, profile, inventory_latency)
            state = work / f"state-{tag}"
            octet = 20 + i
            serve = ["--latency", latency, "--listen-block", f"127.{octet}.0.0/16", "--port", "0"]
            if tls:
                serve.append("--tls")
            proc = self.stack.enter_context(start_fleet_process(fleet, state, args=serve, timeout=900))
            self.procs.append(proc)
            self.urls.update(proc.urls)
            if tls:
                self.cas[str(octet)] = str(state / "ca.pem")
        self.started = time.perf_counter() - t0

    def cpu(self) -> float:
        return sum(process_cpu(p.process.pid) for p in self.procs)

    def sessions_open(self) -> int:
        total = 0
        for p in self.procs:
            url = next(iter(p.urls.values()))
            octet = url.split("//")[1].split(".")[1]
            total += sessions_open(url, Path(self.cas[octet]) if self.cas else None)
        return total

    def close(self) -> None:
        self.stack.close()


def target_of(hosts: int, latency: str, inventory_latency: str | None, tls: bool) -> float | None:
    return TARGETS.get((hosts, latency, inventory_latency, tls))


def run_point(args: argparse.Namespace, work: Path, hosts: int, latency: str, inventory_latency: str | None,
              tls: bool, rows: list[dict[str, Any]], failures: list[str]) -> None:
    sims = Simulators(work, hosts, latency, inventory_latency, tls, args.profile)
    try:
        urls_file = work / "urls.json"
        urls_file.write_text(json.dumps(sims.urls))
        for _ in range(args.repeat):
            s0 = sims.cpu()
            load = os.getloadavg()[0]
            res = measure(args, urls_file, sims.cas, work)
            res["server_cpu"] = sims.cpu() - s0
            res["sessions_open"] = sims.sessions_open()
            res.update(tls=tls, latency=latency, inventory_latency=inventory_latency, load=load, changes=args.changes,
                       server_start=sims.started, simulators=len(sims.procs))
            rows.append(res)
            print_row(res, flush=True)
            label = f"{hosts} BMCs {latency}{' + FI ' + inventory_latency if inventory_latency else ''} " \
                    f"{'TLS' if tls else 'HTTP'}"
            target = target_of(hosts, latency, inventory_latency, tls)
            if target is not None and res["wall"] > target:
                failures.append(f"{label}: {res['wall']:.2f} s > {target} s")
            if hosts >= 10000 and not tls and latency == "300ms" and res["peak_rss_mib"] > PEAK_RSS_TARGET_MIB:
                failures.append(f"{label}: peak RSS {res['peak_rss_mib']:.0f} MiB > {PEAK_RSS_TARGET_MIB} MiB")
            if res["unreachable"]:
                failures.append(f"{label}: {res['unreachable']} hosts not read: {res['errors']}")
            if res["sessions_open"]:
                failures.append(f"{label}: {res['sessions_open']} sessions left open")
    finally:
        sims.close()


HEADER = (f"{'BMCs':>6} {'latency':<13} {'TLS':<4} {'wall s':>7} {'target':>6} {'closed s':>8} {'rounds':>6} "
          f"{'req/host':>8} {'waves':>5} {'in flight':>9} {'per BMC':>7} {'CPU s':>6} {'CPU/req ms':>10} "
          f"{'peak RSS MiB':>12} {'sessions left':>13} {'sim CPU s':>9} {'load':>5}")


def print_row(r: dict[str, Any], flush: bool = False) -> None:
    lat = r["latency"] + (f"+FI {r['inventory_latency']}" if r["inventory_latency"] else "")
    target = target_of(r["hosts"], r["latency"], r["inventory_latency"], r["tls"])
    print(f"{r['hosts']:>6} {lat:<13} {'yes' if r['tls'] else 'no':<4} {r['wall']:>7.2f} "
          f"{(f'{target:.1f}' if target else '-'):>6} {r['closed']:>8.2f} {r['rounds_max']:>6} "
          f"{r['requests'] / r['hosts']:>8.1f} {r['waves']:>5} {r['in_flight']:>9} {r['per_bmc']:>7} "
          f"{r['cpu']:>6.2f} {1000 * r['cpu'] / max(1, r['requests']):>10.3f} {r['peak_rss_mib']:>12.0f} "
          f"{r['sessions_open']:>13} {r['server_cpu']:>9.1f} {r['load']:>5.1f}", flush=flush)


def run(args: argparse.Namespace) -> int:
    tls_modes = {"both": [False, True], "on": [True], "off": [False]}[args.tls]
    if args.sweep:  # --hosts and --tls narrow it
        sizes = [int(h) for h in args.hosts.split(",")] if args.hosts else [1000, 10000]
        points = [(h, lat, fi, tls) for h in sizes for lat, fi in SWEEP_PROFILES for tls in tls_modes]
    else:
        points = [(int(h), lat.strip(), args.inventory_latency, tls) for h in (args.hosts or "1000").split(",")
                  for lat in args.latency.split(",") for tls in tls_modes]
    rows: list[dict[str, Any]] = []
    failures: list[str] = []
    print(f"changes: {args.changes} of the hosts ({args.bmc_resets} of them resetting the BMC); transport "
          f"{args.backend}, loop {args.loop}, "
          f"open files limit (hard) {resource.getrlimit(resource.RLIMIT_NOFILE)[1]:,}")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="hwfw-bench-live-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for hosts, latency, fi, tls in points:
            run_point(args, work, hosts, latency, fi, tls, rows, failures)
    print("\nwall: until the inventory is in hand (logouts go on in the background); closed: until every "
          "session is deleted; rounds: the most round trips in a row of any host, logout included; "
          "CPU s: the client's own user+system time; load: 1-minute load average before the run.")
    if args.markdown:
        print_markdown(rows)
    if failures:
        print("\nmissed:\n  " + "\n  ".join(failures))
    return 1 if failures and args.check else 0


def print_markdown(rows: list[dict[str, Any]]) -> None:
    """The runs as the README's table (`--markdown`)."""
    print("\n| BMCs | latency | TLS | hosts with changes | target | wall | closed | round trips in a row "
          "| requests/host | waves | client CPU | peak RSS | sessions left | load |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lat = r["latency"] + (f" + {r['inventory_latency']} expanded FirmwareInventory" if r["inventory_latency"]
                              else "")
        target = target_of(r["hosts"], r["latency"], r["inventory_latency"], r["tls"])
        changes = {"1.0": "all", "1": "all", "0": "none"}.get(str(r["changes"]), str(r["changes"]))
        print(f"| {r['hosts']:,} | {lat} | {'yes' if r['tls'] else 'no'} | {changes} | "
              f"{f'<= {target:g} s' if target else '-'} | {r['wall']:.2f} s | {r['closed']:.2f} s | "
              f"{r['rounds_max']} | {r['requests'] / r['hosts']:.1f} | {r['waves']} | {r['cpu']:.2f} s | "
              f"{r['peak_rss_mib']:.0f} MiB | {r['sessions_open']} | {r['load']:.1f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hosts", help="comma-separated BMC counts (default 1000; with --sweep, 1000,10000)")
    p.add_argument("--latency", default="300ms", help="comma-separated latencies per request")
    p.add_argument("--inventory-latency", help="extra latency of an expanded FirmwareInventory read, e.g. 3s")
    p.add_argument("--tls", choices=["both", "on", "off"], default="both")
    p.add_argument("--backend", choices=["native", "aiohttp", "httpx"], default="native")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                   help="event loop for the client (the CLI runs asyncio.run)")
    p.add_argument("--changes", default="1.0",
                   help="fraction of hosts with changes (pre-flight facts read), or 'all' for the whole inventory")
    p.add_argument("--bmc-resets", type=float, default=1.0,
                   help="fraction of the hosts with changes whose plan resets the BMC (the others update "
                        "their BIOS only: their pre-flight round leaves out the Manager and the licence probe)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--concurrency", type=int, help="cap on hosts in flight (default: sized to the fleet)")
    p.add_argument("--per-bmc", type=int, default=4, help="settings.requests_per_bmc (default 4)")
    p.add_argument("--sweep", action="store_true", help="run the issue-19 latency sweep")
    p.add_argument("--profile", choices=["dell", "hpe", "supermicro", "generic"],
                   help="simulate only the lab's hosts of this profile instead of the lab mix")
    p.add_argument("--keep", help="keep the generated fleets and state in this directory")
    p.add_argument("--bios", action="store_true", help="also read BIOS settings and attribute registries")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--markdown", action="store_true", help="also print the runs as a markdown table")
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
