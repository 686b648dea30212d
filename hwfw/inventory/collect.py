"""Read the live firmware inventory of many BMCs at once (`hwfw inventory`, `hwfw plan`).

One pooled HTTP client and one Redfish session per BMC, bounded concurrency across
hosts (`settings.plan_concurrency`) and within each BMC (`settings.requests_per_bmc`).
Per Redfish host (a handful of requests with `$expand`):

    login -> service root -> Systems, Managers, UpdateService (in parallel)
          -> FirmwareInventory + the vendor's pre-flight reads (in parallel) -> logout

`protocol: ipmi` hosts are read with Get Device ID / chassis status (BMC version and
power only; BIOS is reported with an unknown version); `protocol: auto` falls back to
IPMI when Redfish is unreachable. Every per-host failure becomes
`HostInventory(reachable=False, error=...)`; the run itself never aborts.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from hwfw.aio import gather_or_cancel
from hwfw.clock import Clock, utc_now_iso
from hwfw.config.model import Host, Settings
from hwfw.errors import BmcError, BmcUnreachable, HwfwError, IpmiError
from hwfw.gcpause import no_gc
from hwfw.inventory.model import (
    Capabilities,
    ComponentState,
    HostInventory,
    Inventory,
    PreflightFacts,
    VersionSource,
)
from hwfw.logs import get_logger
from hwfw.redfish.client import ClientOptions, RedfishClient
from hwfw.redfish.errors import error_for_response, message_id_matches, parse_error_info
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.transport import Backend, raise_nofile_limit, ssl_context
from hwfw.vendor_registry import vendor_for_iana
from hwfw.vendors import select_adapter
from hwfw.vendors.base import (
    PROBE,
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    link,
    pending_bios_attributes,
)

__all__ = ["CollectStats", "ResolvedHost", "collect", "read_ipmi_host", "read_redfish_host"]

log = get_logger("inventory.collect")

_DEFAULT_IPMI_PORT = 623


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
    """Counters for benchmarks and `-v` output."""

    hosts: int = 0
    unreachable: int = 0
    requests: int = 0
    relogins: int = 0
    per_host_requests: dict[str, int] = field(default_factory=dict)


async def collect(hosts: Sequence[ResolvedHost], *, settings: Settings, clock: Clock, insecure: bool = False,
                  concurrency: int | None = None, backend: Backend | None = None,
                  stats: CollectStats | None = None) -> Inventory:
    """Inventory of every host; failures are recorded per host, never raised.

    `concurrency` bounds hosts in flight (default `settings.plan_concurrency`);
    `backend` picks the HTTP transport (default: the measured winner).
    """
    raise_nofile_limit()
    slots = max(1, concurrency or settings.plan_concurrency)
    limit = asyncio.Semaphore(slots)
    stats = stats if stats is not None else CollectStats()
    options = ClientOptions.from_settings(settings, backend=backend)
    if len(hosts) > slots:
        # Every host slot is busy for the whole run, so the client's CPU, not BMC
        # latency, bounds it: one connection per BMC (one TLS handshake, ~2 ms of CPU
        # each) and requests in sequence. With fewer hosts than slots, the parallel
        # reads per BMC (up to requests_per_bmc) shorten each host's latency chain.
        options = dataclasses.replace(options, max_in_flight=1)

    async def one(rh: ResolvedHost) -> HostInventory:
        async with limit:
            return await read_host(rh, settings=settings, clock=clock, insecure=insecure, options=options,
                                   stats=stats)

    with no_gc():
        results = await asyncio.gather(*(one(rh) for rh in hosts))
    stats.hosts += len(results)
    stats.unreachable += sum(1 for r in results if not r.reachable)
    return Inventory(hosts={r.host: r for r in results})


async def read_host(rh: ResolvedHost, *, settings: Settings, clock: Clock, insecure: bool = False,
                    options: ClientOptions | None = None, stats: CollectStats | None = None) -> HostInventory:
    """One host's inventory by its protocol (redfish, ipmi, auto); never raises HwfwError."""
    name = rh.name
    protocol = rh.host.protocol
    try:
        if protocol == "ipmi" or urlsplit(rh.url).scheme == "ipmi":
            return await read_ipmi_host(rh, settings=settings, clock=clock)
        try:
            return await _bounded(read_redfish_host(rh, settings=settings, clock=clock, insecure=insecure,
                                                    options=options, stats=stats), settings)
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
                            options: ClientOptions | None = None,
                            stats: CollectStats | None = None) -> HostInventory:
    """Log in, read everything the planner and apply's pre-flight need, log out."""
    options = options or ClientOptions.from_settings(settings)
    verify = ssl_context(rh.ca_bundle or rh.host.ca_bundle or settings.ca_bundle, insecure=insecure)
    client = RedfishClient(rh.url, host=rh.name, clock=clock, options=options, verify=verify)
    session = RedfishSession(client, rh.username, rh.password,
                             session_limit_wait=settings.timing.session_limit_wait)
    try:
        async with session:
            facts = await read_facts(session)
    finally:
        if stats is not None:
            stats.requests += client.request_count
            stats.relogins += session.relogins
            stats.per_host_requests[rh.name] = client.request_count
    adapter = select_adapter(facts.root, facts.manager)
    components = adapter.components(facts)
    if log.isEnabledFor(logging.DEBUG):  # `hwfw inventory -vv`: why each member became what it is
        for line in adapter.explain(facts):
            log.debug("%s (%s adapter): %s", rh.name, adapter.name, line)
    system = facts.system
    bmc_fw = facts.manager.get("FirmwareVersion") or next(
        (c.version for c in components if c.kind == "bmc" and c.version), None)
    return HostInventory(
        host=rh.name, reachable=True, protocol="redfish", vendor=adapter.name,
        model=_text(system.get("Model")), serial=_text(system.get("SerialNumber")),
        manufacturer=_text(system.get("Manufacturer")),
        bmc_firmware=_text(bmc_fw), components=components,
        capabilities=adapter.capabilities(facts), preflight=adapter.preflight(facts),
        collected_at=utc_now_iso(clock))


async def read_facts(session: RedfishSession) -> BmcFacts:
    """Every document the adapters need, read with as few round trips as the BMC allows."""
    root = session.root
    # All or none: a read left running after its sibling failed would log in again in
    # the background once a resetting BMC is back (hwfw/aio.py).
    systems, managers, update_service = await gather_or_cancel(
        _members_or_empty(session, link(root, "Systems")),
        _members_or_empty(session, link(root, "Managers")),
        _optional_json(session, link(root, "UpdateService")))
    extra: dict[str, Any] = {"expand": session.expand_query is not None, "session_service": not session.basic}
    facts = BmcFacts(root=root, systems=tuple(systems), managers=tuple(managers), update_service=update_service)
    adapter = select_adapter(root, facts.manager)
    errors: list[tuple[str, str]] = []
    fi_uri = link(update_service, "FirmwareInventory")
    sources = adapter.preflight_sources(facts)

    async def source(name: str, uri: str) -> None:
        try:
            if name == SOURCE_BIOS_SETTINGS:
                extra[name] = await _pending_bios(session, uri)
            elif name.startswith(PROBE):
                await _probe(session, uri, name, extra)
            else:
                extra[name] = await session.members(uri)
        except BmcUnreachable:
            raise
        except BmcError as exc:
            errors.append((name, _short_error(exc)))
            if message_id_matches(exc.message_id, "OemLicenseNotPassed"):
                extra[f"licence:{name}"] = _short_error(exc)

    firmware, _ = await gather_or_cancel(
        _firmware_inventory(session, fi_uri),
        gather_or_cancel(*(source(n, u) for n, u in sources.items())))
    return BmcFacts(root=root, systems=facts.systems, managers=facts.managers, update_service=update_service,
                    firmware_inventory=firmware, extra=extra, errors=tuple(errors))


async def _probe(session: RedfishSession, uri: str, name: str, extra: dict[str, Any]) -> None:
    """One GET whose refusal is the fact (Supermicro licence probe)."""
    response = await session.request("GET", uri, check=False)
    if response.status_code >= 400:
        info = parse_error_info(response)
        if message_id_matches(info.message_id, "OemLicenseNotPassed"):
            extra[f"licence:{name}"] = (f"{info.message or 'the BMC refused a licensed feature'} "
                                        f"({session.client.url_for(uri)}, HTTP {response.status_code}) "
                                        f"[{info.message_id}]")


async def _members_or_empty(session: RedfishSession, uri: str | None) -> list[dict[str, Any]]:
    if not uri:
        return []
    return await session.members(uri)


async def _optional_json(session: RedfishSession, uri: str | None) -> dict[str, Any] | None:
    if not uri:
        return None
    response = await session.request("GET", uri, check=False)
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise error_for_response(session.host, "GET", str(response.request.url), response)
    return session.client.json_of(response, uri)


async def _firmware_inventory(session: RedfishSession, uri: str | None) -> tuple[dict[str, Any], ...] | None:
    """Members of FirmwareInventory, or None when the service has none (fallbacks apply)."""
    if not uri:
        return None
    try:
        return tuple(await session.members(uri))
    except BmcError as exc:
        if exc.status == 404:
            return None
        raise


async def _pending_bios(session: RedfishSession, bios_uri: str) -> dict[str, Any]:
    """Attributes waiting in the BIOS SettingsObject (empty when nothing is pending)."""
    bios = await session.get_json(bios_uri)
    settings_uri = link(bios, "@Redfish.Settings", "SettingsObject")
    if not settings_uri or settings_uri.rstrip("/") == bios_uri.rstrip("/"):
        return {}
    response = await session.request("GET", settings_uri, check=False)
    if response.status_code == 404:
        return {}
    if response.status_code >= 400:
        raise error_for_response(session.host, "GET", str(response.request.url), response)
    return pending_bios_attributes(bios, session.client.json_of(response, settings_uri))


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
