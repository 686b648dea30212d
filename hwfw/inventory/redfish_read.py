"""One BMC's inventory over Redfish, in as few round trips in a row as the service allows.

At real BMC latencies (0.2 s to seconds per request) a host costs the round trips it
needs one after the other. Per host, the requests on one line go out together
(bounded by `settings.requests_per_bmc`):

    1. GET /redfish/v1/   +  the login POST to /redfish/v1/SessionService/Sessions
    2. Systems            +  UpdateService/FirmwareInventory   (both `$expand`ed)
                          (+ Managers, when the root does not name the vendor)
    3. only for hosts with changes (`needs_preflight`), or for every host when the whole
       inventory is read: UpdateService + the vendor's pre-flight sources (job queue or
       task list, licence probe, Bios + its pending settings) + Managers when round 2
       did not read them (the plan checks a BMC-reset activation against the Manager's
       Reset action)
    -  logout, in the background: the host's result never waits for it, and the run
       waits for every logout before it ends (hwfw.redfish.closer)

A host with nothing to change costs five requests and three round trips in a row,
logout included. URIs come from the service root where it names them, otherwise from
the URIs the Redfish schemas fix for these resources (FirmwareInventory below the
UpdateService) or, for pre-flight sources, the URIs the vendor's BMCs use; a guess that
misses falls back to discovery: one more round, never a different answer. The Manager
is read when it could matter: when the root does not name the vendor (its hints may),
when FirmwareInventory lists no BMC firmware (its FirmwareVersion is then the BMC's),
and for the whole inventory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hwfw.aio import gather_or_cancel
from hwfw.errors import BmcError, BmcUnreachable
from hwfw.inventory.bios_read import RegistryCache, read_bios
from hwfw.logs import get_logger
from hwfw.redfish.client import same_uri
from hwfw.redfish.errors import error_for_response, message_id_matches, parse_error_info
from hwfw.redfish.session import RedfishSession
from hwfw.vendors import root_adapter, select_adapter
from hwfw.vendors.base import (
    PROBE,
    SOURCE_BIOS_SETTINGS,
    BmcFacts,
    VendorAdapter,
    below,
    link,
    pending_bios_attributes,
)
from hwfw.vendors.model import ComponentState

__all__ = ["BIOS_SETTINGS_READ", "Reading", "read_facts", "read_reading"]

log = get_logger("inventory.collect")

MANAGERS = "managers"
UPDATE_SERVICE = "update_service"
PREFLIGHT = "preflight"
BIOS_SETTINGS_READ = "bios-settings-read"  # BmcFacts.extra key of the BiosSettings read with `bios`


@dataclass(frozen=True, slots=True)
class Reading:
    """The documents read from one BMC so far, its adapter and its components.

    `read` names what was asked for beyond the service root, Systems and
    FirmwareInventory (MANAGERS, UPDATE_SERVICE, PREFLIGHT): a document asked for and
    absent is None or empty, one never asked for is not in `read`.
    """

    facts: BmcFacts
    adapter: VendorAdapter
    components: tuple[ComponentState, ...]
    read: frozenset[str] = field(default_factory=frozenset)

    @staticmethod
    def of(facts: BmcFacts, read: frozenset[str]) -> Reading:
        adapter = select_adapter(facts.root, facts.manager)
        return Reading(facts, adapter, adapter.components(facts), read)


async def read_facts(session: RedfishSession) -> BmcFacts:
    """Every document the adapters need, pre-flight sources included (apply's pre-flight)."""
    return (await read_reading(session)).facts


async def read_reading(session: RedfishSession, *,
                       wants_preflight: Callable[[Reading], bool] | None = None,
                       bios: RegistryCache | None = None) -> Reading:
    """The inventory of one BMC; pre-flight sources only when `wants_preflight` says
    so for what the inventory round found (all of it, Managers included, when None).
    With `bios` (a host whose baseline declares BIOS settings) the pre-flight round is
    always read, and its BIOS source reads the attributes, the staged values and the
    running BIOS's attribute registry (`extra[BIOS_SETTINGS_READ]`; registries shared
    through the cache)."""
    full = wants_preflight is None
    reading = await _inventory_round(session, full=full)
    if wants_preflight is not None and bios is None and not wants_preflight(reading):
        return reading
    return await _preflight_round(session, reading, bios)


# --------------------------------------------------------------------------- round 2


async def _inventory_round(session: RedfishSession, *, full: bool) -> Reading:
    root = session.root
    fi_guess = below(link(root, "UpdateService"), "FirmwareInventory")
    with_managers = full or root_adapter(root) is None
    systems, managers, update_service, firmware = await gather_or_cancel(
        _members_or_empty(session, link(root, "Systems")),
        _members_or_empty(session, link(root, "Managers")) if with_managers else _nothing(),
        _optional_json(session, link(root, "UpdateService")) if full else _nothing(),
        _firmware_inventory(session, fi_guess))
    read = {MANAGERS} if with_managers else set()
    if full:
        read.add(UPDATE_SERVICE)
        firmware = await _firmware_as_linked(session, update_service, fi_guess, firmware)
    elif firmware is None and fi_guess is not None:
        # Not at the standard URI: ask the UpdateService where it is. Without one the
        # Manager's FirmwareVersion is the BMC's, so it is read in the same round.
        update_service, managers = await gather_or_cancel(
            _optional_json(session, link(root, "UpdateService")),
            _value(managers) if with_managers else _members_or_empty(session, link(root, "Managers")))
        read |= {MANAGERS, UPDATE_SERVICE}
        firmware = await _firmware_as_linked(session, update_service, fi_guess, firmware)
    extra = {"expand": session.expand_query is not None, "session_service": not session.basic}
    facts = BmcFacts(root=root, systems=tuple(systems), managers=tuple(managers or ()),
                     update_service=update_service, firmware_inventory=firmware, extra=extra)
    reading = Reading.of(facts, frozenset(read))
    if MANAGERS not in read and not any(c.kind == "bmc" for c in reading.components):
        managers = await _members_or_empty(session, link(root, "Managers"))
        reading = Reading.of(dataclasses.replace(facts, managers=tuple(managers)), reading.read | {MANAGERS})
    return reading


async def _firmware_as_linked(session: RedfishSession, update_service: dict[str, Any] | None, guess: str | None,
                              found: tuple[dict[str, Any], ...] | None) -> tuple[dict[str, Any], ...] | None:
    """FirmwareInventory where the UpdateService links it (re-read only when that is
    not where it was looked for); None when the UpdateService links none."""
    linked = link(update_service, "FirmwareInventory")
    if not linked:
        return None
    if same_uri(linked, guess):
        return found
    return await _firmware_inventory(session, linked)


# --------------------------------------------------------------------------- round 3


async def _preflight_round(session: RedfishSession, reading: Reading, bios: RegistryCache | None = None) -> Reading:
    """UpdateService and the pre-flight sources together (sources the UpdateService or
    the Manager would name are guessed), then whatever a guess missed."""
    facts, adapter = reading.facts, reading.adapter
    sources = adapter.preflight_sources(facts)
    extra: dict[str, Any] = dict(facts.extra)
    errors: dict[str, str] = {}
    read = reading.read | {UPDATE_SERVICE, PREFLIGHT, MANAGERS}
    if UPDATE_SERVICE in reading.read:
        await _read_sources(session, adapter, sources, extra, errors, facts, bios)
    else:
        # The Manager too, when the inventory round did not read it: its Reset action
        # is what the plan checks a BMC-reset activation against.
        managers_link = link(facts.root, "Managers")
        update_service, managers, _ = await gather_or_cancel(
            _optional_json(session, link(facts.root, "UpdateService")),
            _value(facts.managers) if MANAGERS in reading.read else _members_or_empty(session, managers_link),
            _read_sources(session, adapter, sources, extra, errors, facts, bios))
        facts = dataclasses.replace(facts, update_service=update_service, managers=tuple(managers))
        named = adapter.preflight_sources(facts)
        missed = {n: u for n, u in named.items() if n not in sources or not same_uri(u, sources[n])}
        for name in set(sources) - set(named) | set(missed):
            _forget(name, extra, errors)
        if missed:
            log.debug("%s: pre-flight sources not where guessed, reading %s", session.host, missed)
            await _read_sources(session, adapter, missed, extra, errors, facts, bios)
    facts = dataclasses.replace(facts, extra=extra, errors=tuple(sorted(errors.items())))
    return Reading(facts, adapter, reading.components, read)


async def _read_sources(session: RedfishSession, adapter: VendorAdapter, sources: dict[str, str],
                        extra: dict[str, Any], errors: dict[str, str], facts: BmcFacts,
                        bios: RegistryCache | None = None) -> None:
    async def source(name: str, uri: str) -> None:
        try:
            if name == SOURCE_BIOS_SETTINGS and bios is not None:
                system = facts.system
                read = await read_bios(session, uri, bios, vendor=adapter.name, model=_text(system.get("Model")),
                                       bios_version=_text(system.get("BiosVersion")))
                extra[name], extra[BIOS_SETTINGS_READ] = read.pending, read.settings
            elif name == SOURCE_BIOS_SETTINGS:
                extra[name] = await _pending_bios(session, uri, adapter.bios_settings_uri(uri))
            elif name.startswith(PROBE):
                await _probe(session, uri, name, extra)
            else:
                extra[name] = await session.members(uri)
        except BmcUnreachable:
            raise
        except BmcError as exc:
            errors[name] = _short_error(exc)
            if message_id_matches(exc.message_id, "OemLicenseNotPassed"):
                extra[f"licence:{name}"] = _short_error(exc)

    await gather_or_cancel(*(source(n, u) for n, u in sources.items()))


def _forget(name: str, extra: dict[str, Any], errors: dict[str, str]) -> None:
    """Drop what a source read at a wrongly guessed URI left behind."""
    extra.pop(name, None)
    extra.pop(f"licence:{name}", None)
    if name == SOURCE_BIOS_SETTINGS:
        extra.pop(BIOS_SETTINGS_READ, None)
    errors.pop(name, None)


async def _probe(session: RedfishSession, uri: str, name: str, extra: dict[str, Any]) -> None:
    """One GET whose refusal is the fact (Supermicro licence probe)."""
    response = await session.request("GET", uri, check=False)
    if response.status_code >= 400:
        info = parse_error_info(response)
        if message_id_matches(info.message_id, "OemLicenseNotPassed"):
            extra[f"licence:{name}"] = (f"{info.message or 'the BMC refused a licensed feature'} "
                                        f"({session.client.url_for(uri)}, HTTP {response.status_code}) "
                                        f"[{info.message_id}]")


async def _pending_bios(session: RedfishSession, bios_uri: str, settings_guess: str) -> dict[str, Any]:
    """Attributes waiting in the BIOS SettingsObject (empty when nothing is pending).

    The Bios resource and the settings where the vendor keeps them are read together;
    the Bios resource's `@Redfish.Settings` decides, and a miss costs one more GET."""
    bios, guessed = await gather_or_cancel(session.get_json(bios_uri),
                                           session.request("GET", settings_guess, check=False))
    settings_uri = link(bios, "@Redfish.Settings", "SettingsObject")
    if not settings_uri or same_uri(settings_uri, bios_uri):
        return {}
    response = guessed if same_uri(settings_uri, settings_guess) else (
        await session.request("GET", settings_uri, check=False))
    if response.status_code == 404:
        return {}
    if response.status_code >= 400:
        raise error_for_response(session.host, "GET", str(response.request.url), response)
    return pending_bios_attributes(bios, session.client.json_of(response, settings_uri))


# --------------------------------------------------------------------------- reads


async def _nothing() -> None:
    return None


async def _value(value: Any) -> Any:
    return value


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
    """Members of FirmwareInventory, or None when there is none at `uri` (fallbacks apply)."""
    if not uri:
        return None
    try:
        return tuple(await session.members(uri))
    except BmcError as exc:
        if exc.status == 404:
            return None
        raise


def _short_error(exc: BmcError) -> str:
    return exc.message.removeprefix(f"{exc.host}: ")


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
