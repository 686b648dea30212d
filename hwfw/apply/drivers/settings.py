"""BIOS settings on one host's BMC: read them, stage them with the vendor's mechanism,
and decide what became of a staging a crash interrupted.

DSP0266's settings model: `…/Bios` shows what the BIOS applied at its last POST (read
only); a PATCH of the settings object its `@Redfish.Settings.SettingsObject` names
stages values; the BIOS applies them at the next POST and reports the outcome in
`@Redfish.Settings` (`Time`, `Messages`). "PATCH accepted" never means "applied": the
verify step after the reboot reads the attributes back.

Every host's attributes go in one PATCH. The mechanism is the vendor's
(`Quirks.settings_mechanism`):

- `DmtfSettings` (generic): PATCH with `@Redfish.SettingsApplyTime: OnReset` when the
  service lists it in `SupportedApplyTimes`; `If-Match` with the settings object's ETag
  when the service demands it (428/412), or always (`if_match=True`);
- Dell (drivers/dell.py): the same PATCH with the apply time creates the one BIOS
  configuration job iDRAC allows (202 + Location JID); a second staging fails with
  SYS011 until that job ran or was deleted;
- HPE (drivers/hpe.py): iLO accepts any name and validates at the reboot (the answer
  is never trusted);
- Supermicro (drivers/supermicro.py): `Bios/SD` with `If-Match` always.

A PATCH the BMC refuses (400 with one Base message per attribute) raises
`SettingsRejected`, naming each attribute with its MessageId.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from hwfw.apply.driver import BiosReading, Progress, SettingsRejected, StagedSettings
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.flashing import not_ready
from hwfw.errors import ApplyError, BmcError, BmcUnreachable
from hwfw.inventory.bios import SettingsMessage, messages_of, shown
from hwfw.redfish.tasks import json_object
from hwfw.retry import Backoff, RetryPolicy, polling
from hwfw.vendors.base import link, pending_bios_attributes

if TYPE_CHECKING:
    from hwfw.apply.drivers.quirks import Quirks

__all__ = ["Configurator", "DmtfSettings", "SettingsMechanism", "describe", "rejection_messages"]


class SettingsMechanism(Protocol):
    """How one vendor's BMC takes a host's BIOS settings (see the module docstring)."""

    @property
    def name(self) -> str:
        """The method name recorded with the staging (state, events)."""

    @property
    def needs_job(self) -> bool:
        """Staged values apply only through a vendor job (Dell): values without one are not staged."""

    async def stage(self, kit: Configurator, reading: BiosReading, values: Mapping[str, Any],
                    progress: Progress) -> StagedSettings:
        """Stage every value in one request (and the vendor's job)."""

    async def staged_job(self, kit: Configurator) -> str | None:
        """The vendor job that holds staged values now (Dell), None when there is none."""

    async def discard(self, kit: Configurator, job_uri: str | None) -> None:
        """Drop values staged by hwfw that must not be applied (rollback)."""


@dataclass(frozen=True)
class DmtfSettings:
    """The DMTF settings object: one PATCH, the apply time when the service lists it."""

    name: str = "settings-object"
    if_match: bool = False            # send If-Match even before the service asks for it
    apply_time: bool = True           # send @Redfish.SettingsApplyTime OnReset when listed
    needs_job: bool = False

    def body(self, reading: BiosReading, values: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"Attributes": dict(values)}
        if self.apply_time and "OnReset" in reading.apply_times:
            body["@Redfish.SettingsApplyTime"] = {"ApplyTime": "OnReset"}
        return body

    async def stage(self, kit: Configurator, reading: BiosReading, values: Mapping[str, Any],
                    progress: Progress) -> StagedSettings:
        response = await kit.patch_settings(reading, self.body(reading, values), if_match=self.if_match)
        kit.check_staged(response, values)
        progress(None, f"{len(values)} BIOS setting(s) staged for the next reboot")
        return StagedSettings(self.name, message=f"staged {_list(values)}")

    async def staged_job(self, kit: Configurator) -> str | None:
        return None

    async def discard(self, kit: Configurator, job_uri: str | None) -> None:
        return None  # rollback stages the checkpoint values over them


class Configurator:
    """BIOS settings of one host (see the module docstring)."""

    def __init__(self, bmc: Bmc, quirks: Quirks) -> None:
        self.bmc = bmc
        self.quirks = quirks
        self.host = bmc.host

    @property
    def mechanism(self) -> SettingsMechanism:
        return self.quirks.settings_mechanism

    def bios_uri(self) -> str:
        uri = link(self.bmc.system, "Bios")
        if not uri:
            raise ApplyError(f"{self.host}: the ComputerSystem has no Bios resource; BIOS settings cannot be managed "
                             "over Redfish")
        return uri

    async def read(self) -> BiosReading:
        bios_uri = self.bios_uri()
        bios = await self.bmc.session.get_json(bios_uri)
        rs = bios.get("@Redfish.Settings") if isinstance(bios.get("@Redfish.Settings"), dict) else {}
        settings_uri = link(bios, "@Redfish.Settings", "SettingsObject")
        pending: dict[str, Any] = {}
        etag: str | None = None
        if settings_uri and settings_uri.rstrip("/") != bios_uri.rstrip("/"):
            response = await self.bmc.session.request("GET", settings_uri, check=False)
            if response.status_code < 400:
                doc = self.bmc.client.json_of(response, settings_uri)
                pending = pending_bios_attributes(bios, doc)
                etag = response.headers.get("etag") or (doc.get("@odata.etag") if isinstance(
                    doc.get("@odata.etag"), str) else None)
            elif response.status_code != 404:
                raise ApplyError(f"{self.host}: GET {settings_uri} answered HTTP {response.status_code}")
        attributes = raw if isinstance(raw := bios.get("Attributes"), dict) else {}
        times = rs.get("SupportedApplyTimes") if isinstance(rs, dict) else None
        return BiosReading(attributes=dict(attributes), pending=pending, bios_uri=bios_uri,
                           settings_uri=settings_uri or None,
                           apply_times=tuple(t for t in times or () if isinstance(t, str)),
                           applied_at=when if isinstance(rs, dict) and isinstance(when := rs.get("Time"), str)
                           else None,
                           messages=messages_of(bios), settings_etag=etag)

    async def stage(self, values: Mapping[str, Any], progress: Progress) -> StagedSettings:
        """Stage `values` (name -> value) in one request with the vendor's mechanism."""
        reading = await self.read()
        if not reading.settings_uri:
            raise ApplyError(f"{self.host}: the Bios resource names no settings object (@Redfish.Settings); "
                             "its attributes cannot be changed over Redfish")
        return await self.mechanism.stage(self, reading, values, progress)

    async def settle(self, intent: Mapping[str, Any]) -> str:
        """What became of a staging a crash interrupted: `done` when the values apply or
        are staged (with the vendor's job where one is needed), else `not-sent` (staging
        again is safe: it sends the same values). A job the BMC just created may stay
        unlisted for a few seconds (Dell): with the values pending, "no job" is only
        concluded after `creation_grace_polls` more looks a poll interval apart, since
        staging again while the job exists is refused (SYS011)."""
        values = dict((intent.get("details") or {}).get("values") or {})
        try:
            reading = await self.read()
        except BmcUnreachable:
            return f"in-flight:{self.bmc.client.base_url}"
        if values and all(reading.attributes.get(k) == v for k, v in values.items()):
            return "done"
        if values and all(k in reading.pending and reading.pending[k] == v for k, v in values.items()):
            if not self.mechanism.needs_job:
                return "done"
            grace = RetryPolicy(retries=self.quirks.creation_grace_polls,
                                backoff=Backoff.constant(self.bmc.timing.poll_interval)).attempts(self.bmc.clock)
            while not await self.mechanism.staged_job(self):
                wait = grace.next_delay()
                if wait is None:
                    return "not-sent"
                await self.bmc.clock.sleep(wait)
            return "done"
        return "not-sent"

    # ------------------------------------------------------------------ the tools mechanisms use
    async def patch_settings(self, reading: BiosReading, body: Mapping[str, Any], *,
                             if_match: bool) -> httpx.Response:
        """PATCH the settings object; with the ETag when asked for it (If-Match), again
        once with a fresh ETag when the service answers 428 or 412. While the BMC says
        "not now" (HPE: UnableToModifyDuringSystemPOST) it asks again every poll
        interval, up to the POST timeout."""
        assert reading.settings_uri is not None
        uri = reading.settings_uri
        etag = reading.settings_etag if if_match else None
        clock, timing = self.bmc.clock, self.bmc.timing
        polls = polling(timing.poll_interval).attempts(clock, deadline=clock.monotonic() + timing.post_timeout)
        refreshed = False
        while True:
            headers = {"If-Match": etag} if etag else None
            response = await self.bmc.session.request("PATCH", uri, json_body=dict(body), headers=headers,
                                                      check=False, retries=0)
            if response.status_code in (412, 428) and not refreshed:
                refreshed = True
                etag = await self._settings_etag(uri)
                if etag:
                    continue
            wait = polls.next_delay() if not_ready(response) else None
            if wait is None:
                return response
            await clock.sleep(wait)

    async def _settings_etag(self, uri: str) -> str | None:
        response = await self.bmc.session.request("GET", uri, check=False)
        if response.status_code >= 400:
            return None
        doc = json_object(response) or {}
        return response.headers.get("etag") or (doc.get("@odata.etag") if isinstance(doc.get("@odata.etag"), str)
                                                else None)

    def check_staged(self, response: httpx.Response, values: Mapping[str, Any]) -> None:
        """Raise SettingsRejected for a refused PATCH, naming attribute and MessageId."""
        if response.status_code < 400:
            return
        messages = rejection_messages(response)
        if messages:
            raise SettingsRejected(f"{self.host}: the BMC refused the BIOS settings: {describe(messages, values)}",
                                   messages, hint="fix the values in the baseline (hwfw check --inventory "
                                                  "SNAPSHOT checks them offline)")
        raise BmcError(f"PATCH of the BIOS settings answered HTTP {response.status_code}", host=self.host,
                       url=str(response.request.url), status=response.status_code)


def rejection_messages(response: httpx.Response) -> tuple[SettingsMessage, ...]:
    body = json_object(response) or {}
    error = found if isinstance(found := body.get("error"), dict) else {}
    raw = error.get("@Message.ExtendedInfo") or body.get("@Message.ExtendedInfo") or ()
    return tuple(SettingsMessage.from_redfish(m) for m in raw if isinstance(m, dict))


def describe(messages: tuple[SettingsMessage, ...], values: Mapping[str, Any]) -> str:
    """`ProcTurbo=Disabled: Base.1.4.PropertyNotWritable (...)`, one per attribute message."""
    parts = []
    for m in messages:
        names = [a for a in m.attributes] or ["?"]
        for name in names:
            value = f"={shown(values[name])}" if name in values else ""
            text = f" ({m.message})" if m.message else ""
            parts.append(f"{name}{value}: {m.message_id}{text}")
    return "; ".join(parts) or "no message"


def _list(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={shown(v)}" for k, v in values.items())
