"""Turning a workspace's hosts into reachable BMCs, for the duration of one command.

This is the only place that knows about `sim://` addresses: when a workspace has
simulated hosts, the bundled simulator is started on real loopback sockets in a
loopback block derived from the workspace path (two workspaces never collide), its
hardware state persisted under the workspace's run-time directory, and each `sim://`
host resolves to a plain `http(s)://127.x.y.z:port` URL plus the simulator's
credentials. Everything downstream (the Redfish client, inventory, plan, apply) sees
ordinary BMC URLs and takes exactly the code path real BMCs take.
"""

from __future__ import annotations

import fnmatch
import hashlib
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Sequence

from hwfw.clock import Clock, SystemClock
from hwfw.config.model import Host, Workspace
from hwfw.errors import HwfwError
from hwfw.inventory.collect import ResolvedHost
from hwfw.inventory.credentials import resolve_credentials
from hwfw.logs import get_logger, redactor

log = get_logger("connect")
SIM_SCHEME = "sim://"


@dataclass
class Connection:
    """Resolved hosts of one command run, plus the embedded simulator if one runs."""

    workspace: Workspace
    clock: Clock
    insecure: bool
    hosts: dict[str, ResolvedHost] = field(default_factory=dict)
    fleet: Any = None  # hwfw.sim.runtime.EmbeddedFleet when sim:// hosts exist

    def driver(self, name: str, **kwargs: Any) -> Any:
        """The apply driver for one host (see hwfw/apply/drivers)."""
        from hwfw.apply.drivers import make_driver

        return make_driver(self.hosts[name], workspace=self.workspace, clock=self.clock,
                           insecure=self.insecure, **kwargs)


def target_hosts(targets: Sequence[str]) -> list[str]:
    """The host globs of `--target` values (`HOST` or `HOST/COMPONENT`, as the planner takes them)."""
    return [t.split("/", 1)[0] for t in targets]


def select_hosts(workspace: Workspace, targets: Sequence[str]) -> list[Host]:
    """The workspace's hosts, narrowed to `targets` (host names or globs; a target that
    matches no host is an error, so a typo never silently plans nothing)."""
    if not targets:
        return list(workspace.hosts)
    patterns = target_hosts(targets)
    unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(h.name, p) for h in workspace.hosts)]
    if unknown:
        raise HwfwError(f"unknown host(s) in --target: {', '.join(unknown)}",
                        hint="use host names (or globs) from the inventory file")
    return [h for h in workspace.hosts if any(fnmatch.fnmatchcase(h.name, p) for p in patterns)]


@asynccontextmanager
async def connect(workspace: Workspace, *, insecure: bool = False, targets: Sequence[str] = (),
                  clock: Clock | None = None) -> AsyncIterator[Connection]:
    """Resolve every (targeted) host to a URL and credentials; run the simulator if needed."""
    clock = clock or SystemClock()
    conn = Connection(workspace=workspace, clock=clock, insecure=insecure)
    hosts = select_hosts(workspace, targets)
    async with AsyncExitStack() as stack:
        if any(h.bmc.startswith(SIM_SCHEME) for h in hosts):
            try:
                conn.fleet = await stack.enter_async_context(_start_simulator(workspace, stable_port=True))
            except OSError:  # the workspace's own port is taken (a --no-lock run beside another)
                conn.fleet = await stack.enter_async_context(_start_simulator(workspace, stable_port=False))
        for host in hosts:
            conn.hosts[host.name] = _resolve(workspace, host, conn.fleet)
        yield conn


def _resolve(workspace: Workspace, host: Host, fleet: Any) -> ResolvedHost:
    if host.bmc.startswith(SIM_SCHEME):
        name = host.bmc[len(SIM_SCHEME):]
        spec = fleet.fleet.spec.host(name)
        username, password = next(iter(spec.credentials.items()))
        redactor.register(password)
        ipmi = (fleet.addresses[name], spec.ipmi_port) if spec.ipmi_enabled else None
        return ResolvedHost(host=host, url=fleet.url(name), username=username, password=password,
                            ca_bundle=fleet.ca_bundle, ipmi=ipmi)
    username, password = resolve_credentials(host, host.credentials)
    return ResolvedHost(host=host, url=host.bmc, username=username, password=password,
                        ca_bundle=host.ca_bundle or workspace.settings.ca_bundle)


def simulator_port(workspace: Workspace) -> int:
    """A port derived from the workspace path, like its loopback block: the same
    workspace gets the same BMC URLs every run, so plans and reports are reproducible."""
    digest = hashlib.sha256(str(workspace.root.resolve()).encode()).digest()
    return 20000 + int.from_bytes(digest[2:4], "big") % 30000


def _start_simulator(workspace: Workspace, *, stable_port: bool) -> Any:
    from hwfw.sim.runtime import EmbeddedFleet, loopback_block_for

    if workspace.fleet_path is None:  # validation guarantees a fleet for sim:// hosts
        raise HwfwError("sim:// hosts need a fleet file", hint="name it under files.fleet in hwfw.yaml")
    sim = workspace.settings.simulator
    return EmbeddedFleet(workspace.fleet_path, workspace.settings.runtime_dir / "sim",
                         block=loopback_block_for(workspace.root), port=simulator_port(workspace) if stable_port else 0,
                         speed=sim.speed, tls=sim.tls,
                         latency=sim.latency or None)
