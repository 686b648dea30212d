"""How many BMCs to read at once: the whole fleet, unless open files or memory say less.

Reading a BMC costs a few round trips of 0.2 s to seconds each and almost no CPU, so
hosts waiting for a free slot ("waves") are pure waiting. Every host of the fleet is
read at once when the process can hold its connections: each connection is one open
file (two when the BMCs are served by this same process, the embedded simulator), and
each host in flight holds a client, its connections and a few KiB of documents.

- Open files: the soft RLIMIT_NOFILE is raised to the hard limit first; what is left
  after the descriptors already open and a reserve for everything else (logs, state
  files, an image server) is shared out.
- Memory: half of what the system reports available (MemAvailable, or the cgroup's
  limit when lower), at `PER_HOST_BYTES` per host in flight.
- Per BMC: `settings.requests_per_bmc` requests at once (never more: BMCs cap their
  sessions and connections). When the open files cannot give every host that many
  connections, fewer per host (each host's requests then wait for one another) beats
  reading the fleet in waves; only when even one connection per host does not fit are
  there waves.
- With TLS, every connection beyond the two a host's first rounds need costs a
  handshake (about 1 ms of client CPU here) to save one round trip of that host's
  pre-flight reads; once more than `TLS_WIDE_HOSTS` hosts are in flight, that CPU is
  what the run waits for, so hosts get at most two connections.
- `settings.plan_concurrency`, when set, is an upper bound on hosts in flight.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from hwfw.redfish.transport import FileLimit, raise_nofile_limit

__all__ = ["PER_HOST_BYTES", "TLS_WIDE_HOSTS", "Sizing", "memory_budget", "size_concurrency", "size_for_this_process"]

# Peak RSS per host in flight, measured with benchmarks/bench_plan_live.py for hosts
# whose pre-flight facts are read too: about 65 KiB over plain HTTP (10,000 BMCs) and
# 135 KiB with TLS (1,000 BMCs, two connections each); about twice that is budgeted.
PER_HOST_BYTES = {False: 128 * 1024, True: 256 * 1024}
# Descriptors kept for everything but BMC connections (logs, state, lock, image server).
_RESERVED_FILES = 128
# TLS fleets larger than this get at most two connections per BMC (module docstring).
TLS_WIDE_HOSTS = 100


@dataclass(frozen=True, slots=True)
class Sizing:
    """Hosts in flight and requests per BMC for one run, and why."""

    hosts: int
    in_flight: int
    per_bmc: int
    files: FileLimit
    files_free: int
    memory_budget: int | None
    bound: str  # what limits hosts in flight: fleet, open files, memory, setting

    @property
    def waves(self) -> int:
        """Rounds of hosts the fleet is read in (1: every host at once)."""
        return math.ceil(self.hosts / self.in_flight) if self.hosts else 0

    def describe(self) -> str:
        raised = (f"raised from {self.files.original:,}" if self.files.original < self.files.soft
                  else "the hard limit" if self.files.soft >= self.files.hard else "not raised")
        what = "every host at once" if self.waves <= 1 else f"{self.waves} waves, bounded by {self.bound}"
        return (f"{self.in_flight:,} of {self.hosts:,} hosts in flight ({what}), up to {self.per_bmc} requests "
                f"per BMC; open files limit {self.files.soft:,} ({raised}), {self.files_free:,} free for BMC "
                "connections")


def size_for_this_process(hosts: int, *, requests_per_bmc: int, cap: int | None = None, tls: bool = False,
                          files_per_connection: int = 1) -> Sizing:
    """`size_concurrency` with this process's (raised) open-files limit, its open
    descriptors and `memory_budget()`."""
    return size_concurrency(hosts, requests_per_bmc=requests_per_bmc, cap=cap, tls=tls,
                            files_per_connection=files_per_connection, files=raise_nofile_limit(),
                            open_now=_open_descriptors(), memory=memory_budget())


def size_concurrency(hosts: int, *, requests_per_bmc: int, cap: int | None, tls: bool, files_per_connection: int,
                     files: FileLimit, open_now: int, memory: int | None) -> Sizing:
    """Hosts in flight and requests per BMC for reading `hosts` BMCs (see the module
    docstring); `memory` is the budget in bytes, None when unknown."""
    free = max(1, files.soft - open_now - _RESERVED_FILES)
    want, bound = max(1, hosts), "fleet"
    if cap is not None and cap < want:
        want, bound = max(1, cap), "setting"
    by_memory = max(1, memory // PER_HOST_BYTES[tls]) if memory is not None else want
    if by_memory < want:
        want, bound = by_memory, "memory"
    wide = max(1, requests_per_bmc)
    if tls and want > TLS_WIDE_HOSTS:
        wide = min(wide, 2)
    for per_bmc in sorted({wide, min(wide, 2), 1}, reverse=True):
        if want * per_bmc * files_per_connection <= free:
            return Sizing(hosts, want, per_bmc, files, free, memory, bound)
    return Sizing(hosts, max(1, free // files_per_connection), 1, files, free, memory, "open files")


def memory_budget() -> int | None:
    """Half of the memory available to this process (bytes), or None when unknown."""
    available = [v for v in (_meminfo_available(), _cgroup_room()) if v is not None]
    return min(available) // 2 if available else None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    """cgroup v2: memory.max - memory.current, when there is a limit."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((base / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def _open_descriptors() -> int:
    for fd_dir in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(fd_dir))
        except OSError:
            continue
    return 64
