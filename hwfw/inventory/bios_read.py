"""Reading one host's BIOS settings and the attribute registry of its running BIOS.

Per host (only hosts whose baseline declares settings; collect.py decides):

    GET Bios (Attributes, AttributeRegistry, @Redfish.Settings)
      -> GET the settings object (pending values)
      -> the registry, once per vendor/model/BIOS version for the whole run:
         GET Registries/<Bios.AttributeRegistry> (the usual member id), else the
         Registries collection's member whose Id or Registry names it; then its
         Location[Language=en].Uri (HPE serves it gzip-encoded: decoded here, since
         the read transport hands bodies over as sent)

Hosts sharing a registry share one read (`RegistryCache` is single-flight). A registry
that cannot be read leaves `BiosSettings.registry` None with the reason in `error`:
the planner then refuses what it cannot check instead of guessing.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from dataclasses import dataclass, field
from typing import Any

from hwfw.errors import BmcError, BmcUnreachable
from hwfw.inventory.bios import AttributeRegistry, BiosSettings, messages_of, registry_key
from hwfw.redfish.errors import error_for_response
from hwfw.redfish.session import RedfishSession
from hwfw.vendors.base import link, pending_bios_attributes

__all__ = ["BiosRead", "RegistryCache", "read_bios"]

REGISTRIES = "/redfish/v1/Registries"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class RegistryCache:
    """Registries read during one run, by vendor/model/BIOS version; one read per key."""

    registries: dict[str, AttributeRegistry] = field(default_factory=dict)
    reads: int = 0
    _reads: dict[str, asyncio.Future[AttributeRegistry]] = field(default_factory=dict)

    async def get(self, session: RedfishSession, bios: dict[str, Any], *, vendor: str | None, model: str | None,
                  bios_version: str | None) -> AttributeRegistry:
        key = registry_key(vendor, model, bios_version)
        known = self.registries.get(key)
        if known is not None:
            return known
        pending = self._reads.get(key)
        if pending is None:
            self.reads += 1
            pending = self._reads[key] = asyncio.ensure_future(
                _read_registry(session, bios, vendor=vendor, model=model, bios_version=bios_version))
        try:
            registry = await asyncio.shield(pending)
        except BaseException:
            if pending.done():
                self._reads.pop(key, None)  # a failed read may succeed on the next host
            raise
        self.registries[key] = registry
        return registry


@dataclass(frozen=True, slots=True)
class BiosRead:
    """What `read_bios` found: the settings, and the pending diff pre-flight checks."""

    settings: BiosSettings
    pending: dict[str, Any]


async def read_bios(session: RedfishSession, bios_uri: str, cache: RegistryCache, *, vendor: str | None,
                    model: str | None, bios_version: str | None) -> BiosRead:
    """Bios, its settings object and the running BIOS's registry (see the module docstring)."""
    bios = await session.get_json(bios_uri)
    raw = bios.get("@Redfish.Settings")
    settings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    settings_uri = link(bios, "@Redfish.Settings", "SettingsObject")
    pending: dict[str, Any] = {}
    if settings_uri and settings_uri.rstrip("/") != bios_uri.rstrip("/"):
        response = await session.request("GET", settings_uri, check=False)
        if response.status_code >= 400 and response.status_code != 404:
            raise error_for_response(session.host, "GET", str(response.request.url), response)
        if response.status_code < 400:
            pending = pending_bios_attributes(bios, session.client.json_of(response, settings_uri))
    current = bios.get("Attributes")
    attributes: dict[str, Any] = current if isinstance(current, dict) else {}
    key: str | None = None
    error: str | None = None
    try:
        registry = await cache.get(session, bios, vendor=vendor, model=model, bios_version=bios_version)
        key = registry.key
    except BmcUnreachable:
        raise
    except BmcError as exc:
        error = f"attribute registry unreadable: {exc.message.removeprefix(f'{exc.host}: ')}"
    times = settings.get("SupportedApplyTimes")
    return BiosRead(BiosSettings(
        attributes=dict(attributes), pending=dict(pending), registry=key,
        registry_id=bios.get("AttributeRegistry") if isinstance(bios.get("AttributeRegistry"), str) else None,
        settings_uri=settings_uri, apply_times=tuple(str(t) for t in times or () if isinstance(t, str)),
        applied_at=settings.get("Time") if isinstance(settings.get("Time"), str) else None,
        messages=messages_of(bios), error=error), pending)


async def _read_registry(session: RedfishSession, bios: dict[str, Any], *, vendor: str | None, model: str | None,
                         bios_version: str | None) -> AttributeRegistry:
    registry_id = bios.get("AttributeRegistry")
    if not isinstance(registry_id, str) or not registry_id:
        raise BmcError("the Bios resource names no AttributeRegistry", host=session.host)
    uri = await _location(session, registry_id)
    response = await session.request("GET", uri, check=False)
    if response.status_code >= 400:
        raise error_for_response(session.host, "GET", str(response.request.url), response)
    body = response.content
    if body[:2] == GZIP_MAGIC and "gzip" in response.headers.get("content-encoding", "").lower():
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise BmcError(f"the registry's gzip encoding is broken: {exc}", host=session.host,
                           url=str(response.request.url), status=response.status_code) from None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict):
        raise BmcError("answer is not a JSON object", host=session.host, url=str(response.request.url),
                       status=response.status_code)
    return AttributeRegistry.from_redfish(doc, vendor=vendor, model=model, bios_version=bios_version)


async def _location(session: RedfishSession, registry_id: str) -> str:
    """The registry document's URI, from its MessageRegistryFile (DMTF: Location[].Uri)."""
    root = session.root
    registries = link(root, "Registries") or REGISTRIES
    direct = f"{registries.rstrip('/')}/{registry_id}"
    response = await session.request("GET", direct, check=False)
    if response.status_code < 400:
        uri = _uri_of(session.client.json_of(response, direct), registry_id)
        if uri:
            return uri
    listing = await session.get_json(registries)
    refs = [m["@odata.id"] for m in listing.get("Members") or () if isinstance(m, dict)
            and isinstance(m.get("@odata.id"), str)]
    # Try members whose name looks like the registry's first (Supermicro: member
    # BiosAttributeRegistry for registry BiosAttributeRegistry.1_0_0).
    refs.sort(key=lambda u: not registry_id.lower().startswith(u.rstrip("/").rsplit("/", 1)[-1].lower()))
    for ref in refs:
        member = await session.get_json(ref)
        uri = _uri_of(member, registry_id)
        if uri:
            return uri
    raise BmcError(f"no registry file in {registries} names the attribute registry {registry_id!r}",
                   host=session.host)


def _uri_of(member: dict[str, Any], registry_id: str) -> str | None:
    if registry_id not in (member.get("Id"), member.get("Registry")):
        return None
    locations = [loc for loc in member.get("Location") or () if isinstance(loc, dict)]
    for loc in sorted(locations, key=lambda loc: loc.get("Language") not in ("en", None)):
        uri = loc.get("Uri")
        if isinstance(uri, str) and uri:
            return uri
    return None
