"""Turning a workspace's hosts into reachable BMCs, for the duration of one command.

This is the only place that knows about `sim://` addresses: when a workspace has
simulated hosts, the bundled simulator is started on real loopback sockets in a
loopback block derived from the workspace path (two workspaces never collide), its
hardware state persisted under the workspace's run-time directory, and each `sim://`
host resolves to a plain `http(s)://127.x.y.z:port` URL plus the simulator's
credentials. Everything downstream (the Redfish client, inventory, plan, apply) sees
ordinary BMC URLs and takes exactly the code path real BMCs take.

Loading a workspace through `check_workspace` / `load_workspace` here adds the checks
of how hosts are reached (a `sim://` host must name a host of the fleet file) to the
file checks of `hwfw.config`. `read_inventory` reads the live inventory of an open
connection; `read_live_inventory` opens one for that. The BMC sessions an inventory
read opens are logged out in the background, and closing the connection waits for
every logout: a caller that plans inside the connection (`read_live_inventory(...,
then=...)`) overlaps the two.

The HTTP stack and the simulator are imported when first used, so that validating a
workspace does not load them.
"""

from __future__ import annotations

import fnmatch
import hashlib
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Sequence, TypeVar

from hwfw import config
from hwfw.config.loader import LoadContext, WorkspaceCheck, one_of
from hwfw.config.model import Host, Workspace
from hwfw.errors import HwfwError, Problem
from hwfw.inventory.credentials import resolve_credentials
from hwfw.logs import get_logger, redactor

if TYPE_CHECKING:
    from hwfw.clock import Clock
    from hwfw.inventory.collect import NeedsPreflight, ResolvedHost
    from hwfw.inventory.model import Inventory
    from hwfw.redfish.closer import SessionCloser

__all__ = ["SIM_SCHEME", "Connection", "check_workspace", "connect", "load_workspace", "read_inventory",
           "read_live_inventory", "select_hosts", "settings_hosts", "simulator_port", "target_hosts"]

log = get_logger("connect")
SIM_SCHEME = "sim://"
T = TypeVar("T")


@dataclass
class Connection:
    """Resolved hosts of one command run, plus the embedded simulator if one runs.

    Apply builds its drivers from `hosts` (hwfw.apply.drivers.make_driver)."""

    workspace: Workspace
    clock: Clock
    insecure: bool
    hosts: dict[str, ResolvedHost] = field(default_factory=dict)
    fleet: Any = None  # hwfw.sim.runtime.EmbeddedFleet when sim:// hosts exist
    closer: SessionCloser | None = None  # background logouts, finished when the connection closes


# ---------------------------------------------------------------- loading a workspace


def _check_sim_hosts(ctx: LoadContext, ws: Workspace) -> None:
    """Every sim:// host names a host of the workspace's fleet file."""
    sim_hosts = [(i, h) for i, h in enumerate(ws.hosts) if h.bmc.startswith(SIM_SCHEME)]
    if not sim_hosts:
        return
    fleet = ctx.data.get("fleet")
    if ws.fleet_path is None:
        i, h = sim_hosts[0]
        ctx.error("inventory", ["hosts", i, "bmc"], f"host {h.name!r} is simulated but hwfw.yaml names no fleet file",
                  code="missing-fleet", expected="files: {fleet: fleet.yaml} in hwfw.yaml")
        return
    names = set((fleet or {}).get("hosts", {}) or {}) if isinstance(fleet, dict) else None
    if names is None:
        return
    for i, h in sim_hosts:
        sim_name = h.bmc[len(SIM_SCHEME):]
        if sim_name not in names:
            ctx.error("inventory", ["hosts", i, "bmc"], f"{h.bmc} is not a host of the fleet file",
                      code="unknown-sim-host", expected=one_of(sim_name, names))


# How hosts are reached, checked whenever a command loads a workspace.
HOST_CHECKS = (WorkspaceCheck(frozenset({"inventory", "fleet", "hwfw"}), _check_sim_hosts),)

# Codes of image_check's problems (hwfw.compliance.findings lists them as rules).
IMAGE_CODES = {"unavailable": "image-unavailable", "mismatch": "image-source-mismatch",
               "cached-only": "image-source-missing", "not-fetched": "image-not-fetched"}


def image_check(*, verify: bool = False, notes: bool = False) -> WorkspaceCheck:
    """Every image a baseline needs can be obtained (hwfw.repository.availability): a
    missing or different local source file is an error at its `source:` line, a source
    only the cache still holds a warning, and (with `notes`) a URL not fetched yet a
    note. `verify` hashes every local source, not only small ones."""
    def run(ctx: LoadContext, ws: Workspace) -> None:
        from hwfw.repository.availability import image_availability

        for a in image_availability(ws, verify=verify, allowed=lambda p: ctx.policy.outside(p) is None):
            severity = IMAGE_SEVERITY.get(a.status)
            if severity is None or (severity == "note" and not notes):
                continue
            ctx.error("repository", ["images", a.index, "source"], a.message, code=IMAGE_CODES[a.status],
                      severity=severity, expected=IMAGE_EXPECTED.get(a.status))

    return WorkspaceCheck(frozenset({"repository", "baselines", "hwfw"}), run)


IMAGE_SEVERITY = {"unavailable": "error", "mismatch": "error", "cached-only": "warning", "not-fetched": "note"}
IMAGE_EXPECTED = {
    "unavailable": "the image file at this path (restore it), or the image in the cache (hwfw repo sync)",
    "mismatch": "the file the entry's size and sha256 describe (hwfw repo add computes them)",
}


def check_workspace(directory: Path, *, images: bool = False, verify_images: bool = False,
                    notes: bool = False) -> tuple[Workspace | None, list[Problem]]:
    """`hwfw.config.check_workspace` plus the checks of how its hosts are reached, and
    with `images` whether every image a baseline needs can be obtained (image_check)."""
    checks = HOST_CHECKS + ((image_check(verify=verify_images, notes=notes),) if images else ())
    return config.check_workspace(directory, checks)


def load_workspace(directory: Path) -> Workspace:
    """`hwfw.config.load_workspace` plus the checks of how its hosts are reached."""
    return config.load_workspace(directory, HOST_CHECKS)


# ---------------------------------------------------------------- connecting


def target_hosts(targets: Sequence[str]) -> list[str]:
    """The host globs of `--target` values (`HOST` or `HOST/COMPONENT`, as the planner takes them)."""
    return [t.split("/", 1)[0] for t in targets]


def select_hosts(workspace: Workspace, targets: Sequence[str], exclude: Sequence[str] = ()) -> list[Host]:
    """The workspace's hosts, narrowed to `targets` and without `exclude` (host names or
    globs). A pattern that matches no host is an error: a typo in --target never
    silently plans nothing, and a typo in --exclude never touches the host meant."""
    patterns = target_hosts(targets)
    for option, given in (("--target", patterns), ("--exclude", list(exclude))):
        unknown = [p for p in given if not any(fnmatch.fnmatchcase(h.name, p) for h in workspace.hosts)]
        if unknown:
            raise HwfwError(f"unknown host(s) in {option}: {', '.join(unknown)} (no host of the inventory matches)",
                            hint="use host names or globs (quoted: 'rack1-*') from the inventory file")
    return [h for h in workspace.hosts
            if (not patterns or any(fnmatch.fnmatchcase(h.name, p) for p in patterns))
            and not any(fnmatch.fnmatchcase(h.name, p) for p in exclude)]


@asynccontextmanager
async def connect(workspace: Workspace, *, insecure: bool = False, targets: Sequence[str] = (),
                  exclude: Sequence[str] = (), clock: Clock | None = None) -> AsyncIterator[Connection]:
    """Resolve every selected host to a URL and credentials; run the simulator if needed."""
    from hwfw.clock import SystemClock
    from hwfw.redfish.closer import SessionCloser

    clock = clock or SystemClock()
    conn = Connection(workspace=workspace, clock=clock, insecure=insecure)
    hosts = select_hosts(workspace, targets, exclude)
    async with AsyncExitStack() as stack:
        if any(h.bmc.startswith(SIM_SCHEME) for h in hosts):
            try:
                conn.fleet = await stack.enter_async_context(_start_simulator(workspace, stable_port=True))
            except OSError:  # the workspace's own port is taken (a --no-lock run beside another)
                conn.fleet = await stack.enter_async_context(_start_simulator(workspace, stable_port=False))
        conn.closer = SessionCloser()
        stack.push_async_callback(conn.closer.aclose)  # before the simulator stops: logouts first
        for host in hosts:
            conn.hosts[host.name] = _resolve(workspace, host, conn.fleet)
        yield conn


def settings_hosts(conn: Connection) -> set[str]:
    """Hosts whose baseline may declare BIOS settings: their settings and the attribute
    registry of their running BIOS are read too, in the pre-flight round."""
    return {name for name, rh in conn.hosts.items() if conn.workspace.may_declare_settings(rh.host)}


async def read_inventory(conn: Connection, *, needs_preflight: NeedsPreflight | None = None,
                         wait_for_logouts: bool = True) -> Inventory:
    """The live inventory of every host of an open connection; never changes a BMC.

    `needs_preflight` picks the hosts whose pre-flight facts are read (default: all).
    With `wait_for_logouts=False` this returns as soon as the last read is answered and
    the BMC sessions are logged out in the background until the connection closes; by
    default it waits for them (a BMC that allows one session must be free again before
    apply logs in)."""
    from hwfw.inventory.collect import collect

    settings = conn.workspace.settings
    bios_hosts = settings_hosts(conn)
    # The embedded simulator serves its BMCs from this process: each connection is two
    # open files here, and its listening sockets are already counted as open.
    inventory = await collect(list(conn.hosts.values()), settings=settings, clock=conn.clock,
                              insecure=conn.insecure, concurrency=settings.plan_concurrency,
                              needs_preflight=needs_preflight, closer=conn.closer,
                              files_per_connection=2 if conn.fleet is not None else 1, bios_hosts=bios_hosts)
    if wait_for_logouts and conn.closer is not None:
        await conn.closer.aclose()
    return inventory


async def read_live_inventory(workspace: Workspace, *, targets: Sequence[str] = (), exclude: Sequence[str] = (),
                              insecure: bool = False, clock: Clock | None = None,
                              needs_preflight: NeedsPreflight | None = None,
                              then: Callable[[Inventory], T] | None = None) -> Any:
    """Connect to every selected host and read its inventory; never changes a BMC.

    `needs_preflight` picks the hosts whose pre-flight facts are read (default: all).
    Returns the inventory, or `then(inventory)` when given: computed (a plan, say)
    while the BMC sessions are logged out, which the connection still waits for."""
    async with connect(workspace, insecure=insecure, targets=targets, exclude=exclude, clock=clock) as conn:
        inventory = await read_inventory(conn, needs_preflight=needs_preflight, wait_for_logouts=then is None)
        return inventory if then is None else then(inventory)


def _resolve(workspace: Workspace, host: Host, fleet: Any) -> ResolvedHost:
    from hwfw.inventory.collect import ResolvedHost

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
