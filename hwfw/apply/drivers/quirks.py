"""What one vendor's BMC does differently from the DMTF behaviour, in one object.

A vendor module (dell.py, hpe.py, supermicro.py, generic.py) defines a `Quirks`
subclass: its update-method table, its BIOS settings mechanism, its policy data (native method, grace polls for
a new task, staged states, whether the BMC reboots the host by itself) and a few rules
(targets, readiness, AC cycle, in-flight work, pre-flight facts, crash settling).
The driver core (base.py), flashing, activation and settling read them; nothing else
is overridden. A new vendor's quirks are one module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from hwfw.apply.driver import FlashRequest, InFlight, PreflightReport
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.context import FlashContext, UpdateMethod
from hwfw.apply.drivers.methods import HttpPush, MultipartPush, SimpleUpdatePull
from hwfw.apply.drivers.settings import DmtfSettings, SettingsMechanism
from hwfw.errors import ApplyError
from hwfw.redfish.taskstate import FAILED_STATES, NEEDS_ACTION_STATES, OK_STATES, RUNNING_STATES
from hwfw.vendors.base import BmcFacts

if TYPE_CHECKING:
    from hwfw.apply.drivers.activation import ResetRequest

__all__ = ["STANDARD_METHODS", "Quirks", "method_table"]

ON_RESET_TIMES = ("OnReset", "OnTargetReset", "InMaintenanceWindowOnReset")
STAGED_ON_RESET = frozenset({"Pending", "Scheduled", "PendingActivation", "RebootPending", "Suspended"})


def method_table(*methods: UpdateMethod) -> dict[str, UpdateMethod]:
    """A method table in preference order (the order `available` lists them in)."""
    return {m.name: m for m in methods}


STANDARD_METHODS = method_table(MultipartPush(), SimpleUpdatePull(), HttpPush())


class Quirks:
    """The generic DMTF behaviour; vendor modules subclass it (see the module docstring)."""

    vendor = "generic"
    # The method used when a repository entry says `method: vendor`.
    native_method = "auto"
    # Prefer the BMC pulling from hwfw's image server over pushing.
    prefer_pull = False
    # Whether the BMC reboots the host by itself after an Immediate host-side flash.
    immediate_host_reboot_by_bmc = False
    # 404s of a task or job just created before it counts as gone.
    creation_grace_polls = 3
    # MessageIds of a refusal because an update of the same component is still running
    # (the update that runs is followed instead: flashing.Flasher.after_push).
    busy_ids: tuple[str, ...] = ()
    # Whether the TaskService lists the update work (else only `vendor_in_flight` does).
    tasks_show_in_flight = True
    methods: Mapping[str, UpdateMethod] = STANDARD_METHODS
    # How the BMC takes BIOS settings (drivers/settings.py).
    settings_mechanism: SettingsMechanism = DmtfSettings()

    def __init__(self, bmc: Bmc) -> None:
        self.bmc = bmc
        self.host = bmc.host

    # ------------------------------------------------------------------ flashing
    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str],
                       can_pull: bool) -> str:
        """SimpleUpdate pull when preferred and possible, else multipart push (no image
        server needed, one round trip), else a pull, else the legacy HttpPushUri."""
        pull = "simple-update" in available and can_pull
        if pull and self.prefer_pull:
            return "simple-update"
        if "multipart" in available:
            return "multipart"
        if pull:
            return "simple-update"
        if "http-push" in available:
            return "http-push"
        if "simple-update" in available:
            raise ApplyError(f"{self.host}: the BMC can only pull images (SimpleUpdate) and no image server is "
                             "configured", hint="configure settings.image_server (listen, advertise_url)")
        raise ApplyError(f"{self.host}: the BMC's UpdateService offers no update method hwfw can use")

    def target_uris(self, request: FlashRequest, ctx: FlashContext) -> list[str]:
        """`Targets`: the resource the component's version was read from, which the
        service certainly has: its FirmwareInventory member, else the ComputerSystem
        (`BiosVersion`) or the Manager (`FirmwareVersion`). Never a URI made up from
        them (sushy-tools reads `/Systems/<id>/BIOS` as a system named "BIOS")."""
        comp = ctx.component
        if comp is None:
            return []
        uri = comp.source.uri if comp.source is not None and comp.source.uri else comp.uri
        return [uri] if uri else []

    # ------------------------------------------------------------------ following
    def staged_states(self, request: FlashRequest) -> frozenset[str]:
        """TaskStates that mean "staged, waiting for a reset" for this request."""
        if (request.step.apply_time or "Immediate") in ON_RESET_TIMES:
            return STAGED_ON_RESET
        return frozenset()

    def job_uri_for(self, task_uri: str) -> str | None:
        """Where the job behind a purged Task lives; None when there is none."""
        return None

    # ------------------------------------------------------------------ resets
    async def ready_problem(self) -> str | None:
        """Vendor services not ready yet after a reset; None when ready."""
        return None

    async def ac_cycle_request(self) -> ResetRequest | None:
        """The vendor's own (virtual) AC power cycle action, None to use the System's."""
        return None

    # ------------------------------------------------------------------ pre-flight, in flight
    async def in_flight(self) -> list[InFlight]:
        """Update tasks/jobs the BMC currently runs or has scheduled."""
        out: list[InFlight] = []
        if self.tasks_show_in_flight:
            for task in await self.bmc.task_members():
                state = str(task.get("TaskState") or task.get("JobState") or "")
                if state in RUNNING_STATES or state not in (OK_STATES | FAILED_STATES | NEEDS_ACTION_STATES):
                    out.append(InFlight(uri=str(task.get("@odata.id")), state=state or "unknown",
                                        component=self.bmc.component_of_task(task),
                                        description=str(task.get("Name") or task.get("Id") or "")))
        out += await self.vendor_in_flight()
        return out

    async def vendor_in_flight(self) -> list[InFlight]:
        """Update work the BMC keeps outside the TaskService (jobs, queues, OEM state)."""
        return []

    async def amend_preflight(self, facts: BmcFacts, report: PreflightReport) -> PreflightReport:
        """Vendor facts and warnings added to the pre-flight report."""
        return report

    # ------------------------------------------------------------------ rollback
    async def previous_image(self, key: str, kind: str, version: str) -> str | None:
        """The URI of the image of `version` the BMC kept for `key` when it was replaced
        (installable with SimpleUpdate); None when the vendor keeps none."""
        return None

    # ------------------------------------------------------------------ settling
    async def settle(self, intent: Mapping[str, Any], key: str, target: Any,
                     details: Mapping[str, Any]) -> str | None:
        """The vendor's own evidence of what became of an interrupted flash (see
        settling.py for the verdicts); None when it has none."""
        return None
