"""Read the live firmware inventory of many BMCs at once (`hwfw inventory`, `hwfw plan`).

One pooled HTTP client and one Redfish session per BMC. How many BMCs are read at once
and how many requests each may have in flight is sized to the fleet (sizing.py: the
whole fleet unless open files or memory say less; `settings.plan_concurrency` caps it,
`settings.requests_per_bmc` bounds each BMC). What is read per Redfish host, and in how
many round trips in a row, is in redfish_read.py; `needs_preflight` narrows the
pre-flight reads to the hosts the caller (the planner) has changes for.

`protocol: ipmi` hosts are read with Get Device ID / chassis status (BMC version and
power only; BIOS is reported with an unknown version); `protocol: auto` falls back to
IPMI when Redfish is unreachable. Every per-host failure becomes
`HostInventory(reachable=False, error=...)`; the run itself never aborts.

Logouts run in the background (hwfw.redfish.closer): `collect` returns once every
logout is done, unless the caller passes its own `closer` and awaits it later (the
connection of one command does, so the plan is computed while the BMCs log out).
`CollectStats` counts requests and round trips in a row per host; `-vv` logs each
host's longest chain of requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hwfw.clock import Clock, utc_now_iso
from hwfw.config.model import Host, Settings
from hwfw.errors import BmcError, BmcUnreachable, HwfwError, IpmiError
from hwfw.gcpause import no_gc
from hwfw.inventory.bios_read import RegistryCache
from hwfw.inventory.model import (
    Capabilities,
    ComponentState,
    HostInventory,
    Inventory,
    PreflightFacts,
    VersionSource,
)
from hwfw.inventory.redfish_read import (
    BIOS_SETTINGS_READ,
    PREFLIGHT,
    UPDATE_SERVICE,
    Reading,
    read_facts,
    read_reading,
)
from hwfw.inventory.sizing import Sizing, size_for_this_process
from hwfw.logs import get_logger
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.closer import SessionCloser
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.trace import describe, longest_chain
from hwfw.redfish.transport import READ_BACKEND, Backend, ssl_context
from hwfw.vendor_registry import record_for, vendor_for_iana

__all__ = ["CollectStats", "NeedsPreflight", "ResolvedHost", "collect", "read_facts", "read_ipmi_host",
           "read_redfish_host"]

log = get_logger("inventory.collect")

_DEFAULT_IPMI_PORT = 623

# Given a host's inventory without its pre-flight facts: read them?
NeedsPreflight = Callable[[HostInventory], bool]


@dataclass(frozen=True, slots=True)
class ResolvedHost:
    """A host ready to be contacted: its address resolved (sim:// already turned into a
    loopback URL by the caller) and its credentials read.

    `ipmi` overrides where IPMI answers (address, port); by default the URL's host and
    `host.ipmi_port` or 623 (an `ipmi://ADDRESS:PORT` URL names both).
    """

    host: Host
    url: str
    username: str | None
    password: str | None
    ca_bundle: Path | None = None
    ipmi: tuple[str, int] | None = None

    @property
    def name(self) -> str:
        return self.host.name

    def ipmi_endpoint(self) -> tuple[str, int]:
        if self.ipmi:
            return self.ipmi
        parts = urlsplit(self.url)
        address = parts.hostname or self.url
        if parts.scheme == "ipmi" and parts.port:
            return address, parts.port
        return address, self.host.ipmi_port or _DEFAULT_IPMI_PORT


@dataclass
class CollectStats:
    """Counters for benchmarks and `-v` output. Per-host figures of Redfish hosts are
    complete once the host's logout is done."""

    hosts: int = 0
    unreachable: int = 0
    requests: int = 0
    relogins: int = 0
    preflight_hosts: int = 0
    per_host_requests: dict[str, int] = field(default_factory=dict)
    per_host_rounds: dict[str, int] = field(default_factory=dict)
    registry_reads: int = 0   # BIOS attribute registries read (one per vendor/model/BIOS version)
    sizing: Sizing | None = None

    @property
    def max_rounds(self) -> int:
        """The most round trips in a row any host needed (logout included)."""
        return max(self.per_host_rounds.values(), default=0)

    def summary(self) -> str:
        hosts = len(self.per_host_requests) or 1
        waves = self.sizing.waves if self.sizing else 1
        return (f"{self.hosts:,} hosts read ({self.unreachable:,} unreachable): {self.requests / hosts:.1f} requests "
                f"per host, at most {self.max_rounds} round trips in a row, {waves} wave(s); pre-flight facts "
                f"read for {self.preflight_hosts:,}")


class _Slot:
    """A host's place among the hosts in flight: a Redfish host keeps it until its
    logout is done (its connections stay open until then)."""

    __slots__ = ("_limit", "_held", "handed_off")

    def __init__(self, limit: asyncio.Semaphore) -> None:
        self._limit = limit
        self._held = True
        self.handed_off = False

    def release(self) -> None:
        if self._held:
            self._held = False
            self._limit.release()

    def hand_off(self) -> Callable[[], None]:
        """The release, for whoever finishes the host (its background logout)."""
        self.handed_off = True
        return self.release


async def collect(hosts: Sequence[ResolvedHost], *, settings: Settings, clock: Clock, insecure: bool = False,
                  concurrency: int | None = None, backend: Backend | None = None,
                  stats: CollectStats | None = None, needs_preflight: NeedsPreflight | None = None,
                  closer: SessionCloser | None = None, files_per_connection: int = 1,
                  bios_hosts: Collection[str] = ()) -> Inventory:
    """Inventory of every host; failures are recorded per host, never raised.

    `concurrency` caps hosts in flight (default `settings.plan_concurrency`; unset:
    sized to the fleet); `backend` picks the HTTP transport (default: the one for
    reads, hwfw/redfish/native.py); `needs_preflight` (default: every host) says which hosts' pre-flight facts
    to read; `closer` takes the logouts to finish later (default: before returning);
    `files_per_connection` is 2 when this process also serves the BMCs (the embedded
    simulator), so both ends of each connection count against the open-files limit.
    `bios_hosts` names the hosts whose BIOS settings and attribute registry are read
    too (those whose baseline declares settings), in the pre-flight round, which they
    always get; each registry is read once per vendor, model and BIOS version.
    """
    stats = stats if stats is not None else CollectStats()
    registries = RegistryCache()
    cap = concurrency or settings.plan_concurrency
    tls = any(rh.url.startswith("https:") for rh in hosts)
    sizing = size_for_this_process(len(hosts), requests_per_bmc=settings.requests_per_bmc, cap=cap, tls=tls,
                                   files_per_connection=files_per_connection)
    stats.sizing = sizing
    log.info("reading %d BMCs: %s", len(hosts), sizing.describe())
    options = dataclasses.replace(ClientOptions.from_settings(settings, backend=backend or READ_BACKEND),
                                  max_in_flight=sizing.per_bmc)
    limit = asyncio.Semaphore(sizing.in_flight)
    own_closer = closer is None
    closer = closer if closer is not None else SessionCloser()
    closer.when_done(lambda: log.info("%s", stats.summary()))

    async def one(rh: ResolvedHost) -> HostInventory:
        await limit.acquire()
        slot = _Slot(limit)
        try:
            return await read_host(rh, settings=settings, clock=clock, insecure=insecure, options=options,
                                   stats=stats, needs_preflight=needs_preflight, closer=closer, slot=slot,
                                   bios=registries if rh.name in bios_hosts else None)
        finally:
            if not slot.handed_off:
                slot.release()

    try:
        with no_gc():
            results = await asyncio.gather(*(one(rh) for rh in hosts))
        stats.hosts += len(results)
        stats.unreachable += sum(1 for r in results if not r.reachable)
        stats.registry_reads += registries.reads
    finally:
        if own_closer:
            await closer.aclose()
    return Inventory(hosts={r.host: r for r in results}, registries=dict(registries.registries))


async def read_host(rh: ResolvedHost, *, settings: Settings, clock: Clock, insecure: bool = False,
                    options: ClientOptions | None = None, stats: CollectStats | None = None,
                    needs_preflight: NeedsPreflight | None = None, closer: SessionCloser | None = None,
                    slot: _Slot | None = None, bios: RegistryCache | None = None) -> HostInventory:
    """One host's inventory by its protocol (redfish, ipmi, auto); never raises HwfwError.

    A Redfish host hands its logout (and `slot`) to `closer`; without one, this waits
    for the logout. With `bios`, its BIOS settings and registry too (registries shared
    through it)."""
    name = rh.name
    protocol = rh.host.protocol
    own_closer = closer is None
    closer = closer if closer is not None else SessionCloser()
    try:
        if protocol == "ipmi" or urlsplit(rh.url).scheme == "ipmi":
            return await read_ipmi_host(rh, settings=settings, clock=clock)
        try:
            return await _bounded(read_redfish_host(rh, settings=settings, clock=clock, insecure=insecure,
                                                    options=options, stats=stats, needs_preflight=needs_preflight,
                                                    closer=closer, slot=slot, bios=bios), settings)
        except BmcUnreachable as exc:
            if protocol != "auto" or not exc.retryable:  # an untrusted certificate: say so, not IPMI's timeout
                raise
            log.info("%s: Redfish unreachable (%s); trying IPMI", name, exc.message)
            try:
                return await read_ipmi_host(rh, settings=settings, clock=clock)
            except IpmiError as ipmi_exc:
                raise BmcUnreachable(f"Redfish: {_short_error(exc)}; IPMI: {_short_error(ipmi_exc)}",
                                     host=name) from exc
    except HwfwError as exc:
        message = exc.message if isinstance(exc, BmcError) else f"{name}: {exc.message}"
        log.info("%s", message)
        kind = _error_kind(exc)
        return HostInventory(host=name, reachable=False, protocol=_protocol_label(rh), error=message,
                             collected_at=utc_now_iso(clock), error_kind=kind)
    except TimeoutError:
        return HostInventory(host=name, reachable=False, protocol=_protocol_label(rh),
                             error=f"{name}: no answer within the per-BMC deadline ({rh.url})",
                             collected_at=utc_now_iso(clock), error_kind="timeout")
    except Exception as exc:  # a bug or an answer we cannot parse: report it on this host only
        log.exception("%s: unexpected error while reading the inventory", name)
        return HostInventory(host=name, reachable=False, protocol=_protocol_label(rh),
                             error=f"{name}: internal error while reading {rh.url}: {type(exc).__name__}: {exc}",
                             collected_at=utc_now_iso(clock), error_kind="internal")
    finally:
        if own_closer:
            await closer.aclose()


def _error_kind(exc: HwfwError) -> str:
    """The class of a read failure (hwfw.inventory.model.ERROR_KINDS)."""
    kind = getattr(exc, "kind", "bmc") if isinstance(exc, BmcError) else "bmc"
    if kind == "unreachable":  # a deadline or a combined Redfish/IPMI failure
        return "timeout" if "deadline" in exc.message else "connection"
    return kind


def _protocol_label(rh: ResolvedHost) -> str:
    return "ipmi" if rh.host.protocol == "ipmi" or rh.url.startswith("ipmi://") else "redfish"


async def _bounded(aw: Awaitable[HostInventory], settings: Settings) -> HostInventory:
    # A real-time backstop behind the client's own per-BMC deadline (which runs on the
    # injected clock): a BMC that trickles bytes forever cannot hold the run.
    t = settings.timing
    async with asyncio.timeout(t.host_read_deadline + 2 * t.request_timeout + 5):
        return await aw


# --------------------------------------------------------------------------- Redfish


async def read_redfish_host(rh: ResolvedHost, *, settings: Settings, clock: Clock, insecure: bool = False,
                            options: ClientOptions | None = None, stats: CollectStats | None = None,
                            needs_preflight: NeedsPreflight | None = None, closer: SessionCloser | None = None,
                            slot: _Slot | None = None, bios: RegistryCache | None = None) -> HostInventory:
    """Log in, read what the planner (and, where it asks for them, apply's pre-flight)
    needs, log out: in the background when `closer` is given, else before returning.
    With `bios`, the BIOS settings and registry too, in the pre-flight round."""
    options = options or ClientOptions.from_settings(settings, backend=READ_BACKEND)
    verify = ssl_context(rh.ca_bundle or rh.host.ca_bundle or settings.ca_bundle, insecure=insecure)
    client = RedfishClient(rh.url, host=rh.name, clock=clock, options=options, verify=verify)
    declared = record_for(rh.host.vendor)   # the inventory's vendor hint: the BMC is not read yet
    session = RedfishSession(client, rh.username, rh.password, eager_login=True,
                             session_limit_wait=settings.timing.session_limit_wait,
                             login_context=declared.session_context if declared is not None else None)
    own_closer = closer is None
    closer = closer if closer is not None else SessionCloser()
    release = slot.hand_off() if slot is not None else None

    def closed() -> None:
        _record(rh.name, client, session, stats)
        if release is not None:
            release()

    judged: dict[int, HostInventory] = {}

    def wants_preflight(partial: Reading) -> bool:
        assert needs_preflight is not None
        inventory = judged[id(partial)] = _host_inventory(rh, partial, clock)
        return needs_preflight(inventory)

    try:
        await session.open()
        reading = await read_reading(session, wants_preflight=None if needs_preflight is None else wants_preflight,
                                     bios=bios)
    finally:
        closer.close(session, then=closed)
        if own_closer:
            await closer.aclose()
    if stats is not None and PREFLIGHT in reading.read:
        stats.preflight_hosts += 1
    if log.isEnabledFor(logging.DEBUG):  # `hwfw inventory -vv`: why each member became what it is
        for line in reading.adapter.explain(reading.facts):
            log.debug("%s (%s adapter): %s", rh.name, reading.adapter.name, line)
    return judged.get(id(reading)) or _host_inventory(rh, reading, clock)


def _record(name: str, client: RedfishClient, session: RedfishSession, stats: CollectStats | None) -> None:
    """The host's requests and its longest chain of them, once its logout is done."""
    chain = longest_chain(client.trace.requests)
    if stats is not None:
        stats.requests += client.request_count
        stats.relogins += session.relogins
        stats.per_host_requests[name] = client.request_count
        stats.per_host_rounds[name] = len(chain)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s: %d requests, %d round trips in a row: %s", name, client.request_count, len(chain),
                  describe(chain, client._prefix))


def _host_inventory(rh: ResolvedHost, reading: Reading, clock: Clock) -> HostInventory:
    facts, adapter, components = reading.facts, reading.adapter, reading.components
    system = facts.system
    # The BMC's version as its FirmwareInventory states it (as every other component's),
    # the Manager's FirmwareVersion only without one: the same answer whether or not
    # the Manager was read, so the inventory's fingerprint does not depend on it.
    bmc_fw = next((c.version for c in components if c.kind == "bmc" and c.version), None) or \
        facts.manager.get("FirmwareVersion")
    return HostInventory(
        host=rh.name, reachable=True, protocol="redfish", vendor=adapter.name,
        model=_text(system.get("Model")), serial=_text(system.get("SerialNumber")),
        manufacturer=_text(system.get("Manufacturer")),
        bmc_firmware=_text(bmc_fw), components=components,
        capabilities=adapter.capabilities(facts) if UPDATE_SERVICE in reading.read else None,
        preflight=adapter.preflight(facts), collected_at=utc_now_iso(clock),
        bios=facts.extra.get(BIOS_SETTINGS_READ))


def _short_error(exc: BmcError) -> str:
    text = exc.message
    prefix = f"{exc.host}: "
    return text.removeprefix(prefix)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------- IPMI


async def read_ipmi_host(rh: ResolvedHost, *, settings: Settings, clock: Clock) -> HostInventory:
    """BMC version and power over IPMI; BIOS is listed with an unknown version
    (IPMI cannot read it), so the planner sees "unknown", not "absent"."""
    try:
        from hwfw.ipmi.client import read_facts as ipmi_read_facts
    except ImportError as exc:  # pragma: no cover - the IPMI client ships with hwfw
        raise IpmiError(f"IPMI client unavailable: {exc}", host=rh.name) from exc
    address, port = rh.ipmi_endpoint()
    try:
        facts = await ipmi_read_facts(address, port, rh.username or "", rh.password or "",
                                      timeout=settings.timing.request_timeout, host=rh.name)
    except IpmiError:
        raise
    except Exception as exc:  # a broken handshake must stay this host's problem
        raise IpmiError(f"IPMI exchange failed: {type(exc).__name__}: {exc}", host=rh.name,
                        url=f"ipmi://{address}:{port}") from exc
    power = _ipmi_power(getattr(facts, "power_state", None))
    bmc_version = _text(getattr(facts, "bmc_version", None))
    vendor = vendor_for_iana(int(getattr(facts, "manufacturer_id", 0) or 0)) or rh.host.vendor
    # hwfw updates firmware over Redfish only: over IPMI nothing is updateable.
    components = (
        ComponentState(kind="bmc", instance="bmc", version=bmc_version, name="BMC (IPMI Get Device ID)",
                       updateable=False, source=VersionSource("IPMI", "Get Device ID", fallback=True)),
        ComponentState(kind="bios", instance="bios", version=None, name="BIOS (not readable over IPMI)",
                       updateable=False),
    )
    return HostInventory(
        host=rh.name, reachable=True, protocol="ipmi", vendor=vendor, model=rh.host.model,
        bmc_firmware=bmc_version, components=components,
        capabilities=Capabilities(session_service=False, activations=()),
        preflight=PreflightFacts(power_state=power,
                                 warnings=("read over IPMI: only the BMC version and power state are known",)),
        collected_at=utc_now_iso(clock))


def _ipmi_power(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return {"on": "On", "off": "Off"}.get(text, str(value))
