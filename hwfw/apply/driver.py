"""The seam between the executor (what to do, when, and what to record) and the BMC
side (how a given vendor's BMC does it).

The executor (executor.py) never talks HTTP; it calls a `HostDriver`, one per host per
run, which owns that host's Redfish session. Drivers (drivers/*.py) implement the
vendor flows: multipart push, SimpleUpdate pull from hwfw's image server, the legacy
HttpPushUri, Dell jobs, the HPE upload form and Oem.Hpe state, Supermicro verify +
StartUpdate. Everything a driver returns is data the executor records in state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Protocol

from hwfw.config.model import RepositoryEntry
from hwfw.errors import ApplyError
from hwfw.inventory.bios import SettingsMessage
from hwfw.plan.model import Step

# progress(percent or None, short human message)
Progress = Callable[[float | None, str], None]

FLASH_ACTIVE = "active"                    # the new version already runs (verified or reported)
FLASH_PENDING = "pending-activation"       # written or staged; runs after an activation
FLASH_SKIPPED_SAME = "skipped-same-version"  # the BMC says it already has it: success
# The BMC accepted the request at once (no task, no message) and shows no change: the
# image may be staged or may have been ignored; only the activation and the
# verification after it can tell. Never recorded as pending-activation.
FLASH_UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class FlashRequest:
    """One flash step with everything needed to perform it."""

    run_id: str
    step: Step                 # the plan step (host, component key, from/to, apply_time, image)
    kind: str                  # component kind: bmc, bios, nic, cpld, ...
    instance: str              # component instance (e.g. NIC.Integrated.1-1; the kind for singletons)
    entry: RepositoryEntry     # the repository entry of the image
    image_path: Path           # a local, already sha256-verified copy of the image
    image_url: str | None = None  # where the BMC can pull it (SimpleUpdate), if an image server runs


@dataclass(frozen=True, slots=True)
class FlashResult:
    status: str                # FLASH_ACTIVE | FLASH_PENDING | FLASH_SKIPPED_SAME | FLASH_UNCONFIRMED
    method: str                # multipart | simple-update | http-push | dell-job | hpe-form | smc-startupdate
    task_uri: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class InFlight:
    """An update task or job the BMC is working on or has scheduled."""

    uri: str
    state: str
    component: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class PreflightReport:
    power_state: str | None
    blocking: tuple[str, ...] = ()     # reasons the host must not be touched
    warnings: tuple[str, ...] = ()
    in_flight: tuple[InFlight, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BiosReading:
    """A fresh read of `…/Bios` and its settings object."""

    attributes: Mapping[str, Any]
    pending: Mapping[str, Any]                  # staged values that differ from the current ones
    bios_uri: str
    settings_uri: str | None
    apply_times: tuple[str, ...] = ()
    applied_at: str | None = None
    messages: tuple[SettingsMessage, ...] = ()
    settings_etag: str | None = None


@dataclass(frozen=True, slots=True)
class StagedSettings:
    """What staging did: the mechanism, the vendor job carrying the values (Dell)."""

    method: str
    job_uri: str | None = None
    message: str = ""


class SettingsRejected(ApplyError):
    """The BMC refused staged values; `messages` name the attributes and MessageIds."""

    def __init__(self, message: str, messages: tuple[SettingsMessage, ...] = (), hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.messages = messages


@dataclass(frozen=True, slots=True)
class HostStatus:
    """Power, POST and health of the host, as post-configuration validation reads them."""

    power: str | None
    post_done: bool
    last_state: str | None = None
    health: str | None = None


@dataclass(frozen=True, slots=True)
class ActivationReport:
    """What happened around a reset besides the reset: the IPMI watchdog, if armed."""

    watchdog: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()


class HostDriver(Protocol):
    """What the executor needs from one host's BMC. Implementations must be safe to
    call again after a crash: every method re-reads the BMC instead of trusting memory."""

    host: str

    async def __aenter__(self) -> HostDriver: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool,
                        known_settings: Mapping[str, Any] | None = None) -> PreflightReport:
        """Power, health, pending jobs / BIOS settings not created by this workspace
        (`known_tasks` are the task/job URIs the state knows, `known_settings` the BIOS
        values it staged and has not seen applied), running updates, licence and
        image-size limits."""

    async def read_versions(self) -> dict[str, str | None]:
        """A fresh read of the running version per component key (plan keys: `bios`,
        `nic:NIC.Integrated.1-1`)."""

    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        """Send the image and follow the BMC's task/job/state to its real end."""

    async def flash_previous(self, step: Step, progress: Progress) -> FlashResult:
        """Install the image the BMC itself kept of `step.component` (version
        `step.to_version`: a rollback without a repository copy), where the vendor keeps
        one; raises ApplyError when the BMC holds no such image. Followed like `flash`."""

    async def activate(self, activation: str, progress: Progress) -> ActivationReport | None:
        """Perform a `bmc-reset`, `host-reboot` or `ac-cycle` and wait until the BMC (and
        the host, for reboots) is back: N consecutive healthy answers, re-login, POST done.
        With `settings.watchdog`, a host reboot runs under the BMC's IPMI watchdog."""

    async def set_power(self, state: str, progress: Progress) -> None:
        """Power the host `On` or `Off` (to leave power as found)."""

    async def in_flight(self) -> list[InFlight]:
        """Update tasks/jobs the BMC currently runs or has scheduled."""

    async def read_bios_settings(self) -> BiosReading:
        """A fresh read of the BIOS attributes, the staged values and the last outcome."""

    async def stage_bios_settings(self, values: Mapping[str, Any], progress: Progress) -> StagedSettings:
        """Stage every value in one request with the vendor's mechanism (Dell: one
        configuration job); raises SettingsRejected naming attributes and MessageIds."""

    async def discard_bios_settings(self, job_uri: str | None) -> None:
        """Drop values hwfw staged that must not be applied (rollback; Dell: delete the job)."""

    async def staged_settings_job(self) -> str | None:
        """The vendor job holding staged BIOS values (Dell's configuration job), if any."""

    async def host_status(self) -> HostStatus:
        """Power state, POST completion (BootProgress or the vendor's equivalent) and health."""
    async def task_failure(self, task_uri: str | None, key: str) -> str | None:
        """Why the BMC's task (or job) that carried `key`'s image failed, quoted from it
        (`task_uri` as the state recorded it); None when it did not fail or is gone.
        Used when a staged image did not take."""

    async def settle_intent(self, intent: Mapping[str, Any]) -> str:
        """Decide what became of an intent recorded before a crash, from the BMC's own
        tasks, jobs and inventory: `done` (the change took effect or is staged),
        `in-flight:<uri>` (still running: re-attach), `not-sent` (safe to redo), or
        `failed:<message>`."""


DriverFactory = Callable[[str], Awaitable[HostDriver]]
