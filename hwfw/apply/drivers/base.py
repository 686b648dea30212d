"""Shared driver logic: sessions, inventory reads, standard update methods, task
following, resets and readiness, intent settling. Vendor drivers override hooks.

Principles (protocol brief 0 and 7, pain points 2, 3, 5, 8, 11, 12):

- **Task state is a hint; the version is the truth.** A task that vanishes (404, wiped
  by a BMC reset) falls back to reading the inventory; unknown TaskStates keep polling
  until the component deadline; `Completed` with `ResetRequired`/`AwaitToActivate`
  means "written, runs after a reset" (FLASH_PENDING), `UpdateSkippedSameVersion`
  means success (FLASH_SKIPPED_SAME); `OperationTransitionedToJob` is followed to the Job.
- **One reset per `activate`.** A reset request is sent at most once (never retried
  after the BMC may have acted on it). When the flash already triggered the reset
  (BMC self-update), `activate` only waits. A graceful restart that never started is
  escalated to a forced one: still one reset of the host.
- **"Back" means stable.** `stability_checks` consecutive healthy answers across the
  System and the Manager, `stability_interval` apart, then a fresh login
  (readiness.py). POST is done when PowerState is On and BootProgress says so.
- **Every wait is on the injected clock and bounded** by a deadline from
  `settings.timing`; every poll tolerates 401 (re-login), 404 (fallback), 5xx and
  connection errors (the BMC may be resetting itself).
- **Images are checked while they stream** (upload.py, imageserver.py).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping
from urllib.parse import urlsplit

import httpx

from hwfw.apply.driver import (
    FLASH_ACTIVE,
    FLASH_PENDING,
    FLASH_SKIPPED_SAME,
    FlashRequest,
    FlashResult,
    InFlight,
    PreflightReport,
    Progress,
)
from hwfw.apply.readiness import HostState, Readiness
from hwfw.apply.upload import (
    FilePart,
    FormField,
    MultipartBody,
    RawBody,
    send_stream,
    upload_timeout,
)
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import ApplyError, BmcAuthError, BmcError, BmcUnreachable, IpmiError
from hwfw.inventory.collect import ResolvedHost, read_facts
from hwfw.inventory.model import ComponentState
from hwfw.logs import get_logger
from hwfw.redfish.client import ClientOptions, RedfishClient, parse_retry_after
from hwfw.redfish.errors import (
    RedfishMessage,
    error_for_response,
    extended_info,
    is_connect_failure,
    message_id_matches,
    parse_error_info,
)
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.tasks import TaskRef, json_object, task_ref_from_response
from hwfw.vendors.base import (
    BmcFacts,
    VendorAdapter,
    action_targets,
    apply_time_support,
    link,
)

__all__ = ["RedfishDriver", "Outcome", "driver_client_options", "FAILED_STATES", "RUNNING_STATES"]

log = get_logger("apply.drivers")

RUNNING_STATES = frozenset({"New", "Starting", "Running", "Suspended", "Interrupted", "Pending", "Stopping",
                            "Service", "Cancelling", "Scheduled", "Scheduling", "Queued", "Downloading",
                            "Downloaded", "ReadyForExecution", "Waiting", "Paused", "PendingActivation",
                            "RebootPending", "RebootCompleted", "Validating", "Continue", "InProgress"})
OK_STATES = frozenset({"Completed"})
FAILED_STATES = frozenset({"Exception", "Killed", "Cancelled", "Aborted", "Failed", "CompletedWithErrors",
                           "RebootFailed", "Invalid", "Canceled"})
NEEDS_ACTION_STATES = frozenset({"UserIntervention"})
# Messages that mean "the BMC already has this image": success (pain point 1).
SKIPPED_SAME = ("Update.UpdateSkippedSameVersion", "UpdateSkippedSameVersion", "ComponentUpToDate",
                "UpdateSkippedSame", "RED052")
FAILURE_IDS = ("VerificationFailed", "ApplyFailed", "ActivateFailed", "TransferFailed", "UpdateNotApplicable",
               "UpdateSkippedVersionTooLow", "UpdateSkipped", "CouldNotEstablishConnection",
               "ResourceAtUriUnauthorized", "RED106")
RESET_HINTS = ("ResetRequired", "AwaitToActivate", "SystemResetRequired", "JCP001", "RED014", "PR19")
_EFFECTIVELY_FOREVER = 10 * 365 * 86400.0
_HEALTHY = ("OK",)


def driver_client_options(settings: Settings) -> ClientOptions:
    """Client options for a driver session: no per-BMC deadline (a driver lives for a whole
    run; every operation has its own), and retry pacing scaled to the workspace's poll
    interval so a simulator at 1000x speed and a real BMC are both paced sensibly."""
    t = settings.timing
    base = ClientOptions.from_settings(settings)
    return replace(base, deadline=_EFFECTIVELY_FOREVER,
                   retry_after_max=max(0.05, min(120.0, 2 * t.poll_interval)),
                   backoff_base=max(0.005, min(0.5, t.poll_interval / 4)),
                   backoff_max=max(0.05, min(30.0, 3 * t.poll_interval)))


@dataclass(frozen=True, slots=True)
class Outcome:
    """How following an update operation ended."""

    kind: str                        # completed | staged | failed | vanished | skipped | needs-action
    state: str | None = None
    uri: str | None = None
    messages: tuple[RedfishMessage, ...] = ()
    message_id: str | None = None
    detail: str = ""
    outage: bool = False             # the BMC stopped answering at some point (it reset)


@dataclass
class _Expectation:
    """A reset the BMC performs by itself after a flash (iDRAC/iLO self-update,
    Dell Immediate host-side jobs). `done`: it already happened during the flash (the
    new version was seen running), so the activation only checks readiness."""

    kind: str                 # bmc-reset | host-reboot
    since: float
    seen: bool = False
    done: bool = False
    key: str | None = None    # the component flashed and the version it should run afterwards
    target: str | None = None


@dataclass
class FlashContext:
    """What a flash reads before sending anything."""

    update_service: dict[str, Any]
    component: ComponentState | None
    components: tuple[ComponentState, ...] = ()
    facts: BmcFacts | None = None
    deadline: float = 0.0
    size: int = 0
    filename: str = "image.bin"
    extra: dict[str, Any] = field(default_factory=dict)


def any_message(messages: Iterable[RedfishMessage], *patterns: str) -> RedfishMessage | None:
    for m in messages:
        for p in patterns:
            if message_id_matches(m.message_id, p) or (m.message_id and m.message_id.endswith("." + p)) \
                    or (m.message_id and p in m.message_id):
                return m
    return None


def task_messages(body: Mapping[str, Any] | None) -> tuple[RedfishMessage, ...]:
    """Messages of a Task (or Dell job): `Messages[]`, or a job's own MessageId/Message;
    Supermicro's all-empty placeholder messages are dropped."""
    if not body:
        return ()
    out: list[RedfishMessage] = []
    raw = body.get("Messages")
    if isinstance(raw, list):
        out.extend(RedfishMessage.from_json(m) for m in raw if isinstance(m, Mapping))
    if body.get("MessageId") or (body.get("Message") and "JobState" in body):
        out.append(RedfishMessage(message_id=str(body.get("MessageId") or ""), message=str(body.get("Message") or ""),
                                  args=tuple(str(a) for a in body.get("MessageArgs") or ())))
    return tuple(m for m in out if m.message_id or m.message)


def image_filename(request: FlashRequest) -> str:
    """The name to send the image under: the repository source's file name (BMCs look at
    extensions: .EXE/.d9 on Dell, .bin/.fwpkg on HPE), not the cache's digest name."""
    source = request.entry.source or ""
    name = Path(urlsplit(source).path).name if "://" in source else Path(source).name
    return name or request.image_path.name


class RedfishDriver:
    """Generic DMTF driver; the vendor drivers subclass it. See the module docstring."""

    vendor = "generic"
    # The Redfish method used when a repository entry says `method: vendor` or `auto`.
    native_method = "auto"
    # Whether the BMC reboots the host by itself after an Immediate host-side flash.
    immediate_host_reboot_by_bmc = False
    push_methods = frozenset({"multipart", "http-push", "hpe-form", "smc-startupdate"})

    def __init__(self, rh: ResolvedHost, *, settings: Settings, clock: Clock, client: RedfishClient,
                 adapter: VendorAdapter, image_server: Any = None, root: Mapping[str, Any] | None = None) -> None:
        self.rh = rh
        self.host = rh.name
        self.settings = settings
        self.timing = settings.timing
        self.clock = clock
        self.client = client
        self.adapter = adapter
        self.image_server = image_server
        self.session = RedfishSession(client, rh.username, rh.password)
        self.system_uri: str | None = None
        self.manager_uri: str | None = None
        self.chassis_uri: str | None = None
        self.system: dict[str, Any] = {}
        self.manager: dict[str, Any] = {}
        self._expect: _Expectation | None = None
        self._opened = False
        # Called with the task/job URI as soon as the BMC accepted an image (the executor
        # records it in the intent log so a crash right after can be settled).
        self.on_accepted: Callable[[str], None] | None = None
        self.resets_sent: list[str] = []

    # ------------------------------------------------------------------ life cycle
    async def __aenter__(self) -> "RedfishDriver":
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.session.__aexit__(*exc_info)

    async def open(self) -> None:
        if self._opened:
            return
        try:
            await self.session.open()
            await self._discover()
        except BaseException:
            await self.session.__aexit__(None, None, None)
            raise
        self._opened = True

    async def _discover(self) -> None:
        root = self.session.root
        systems = await self._members(link(root, "Systems"))
        managers = await self._members(link(root, "Managers"))
        chassis = await self._members(link(root, "Chassis"), expand=False)
        self.system = systems[0] if systems else {}
        self.manager = managers[0] if managers else {}
        self.system_uri = self.system.get("@odata.id")
        self.manager_uri = self.manager.get("@odata.id")
        self.chassis_uri = chassis[0].get("@odata.id") if chassis else None

    async def _members(self, uri: str | None, expand: bool = True) -> list[dict[str, Any]]:
        if not uri:
            return []
        return await self.session.members(uri, expand=expand)

    async def fresh_login(self) -> None:
        """Log in again from scratch (after a BMC reset every session is gone). A session
        the BMC may still hold is deleted first, so re-logins never leak one."""
        await self.session.login_again()
        self.session.relogins = 0

    async def ensure_ready(self, progress: Progress | None = None) -> None:
        """Before changing anything: the BMC answers fully (it may still be finishing a reset
        the executor did not wait for, e.g. a self-update that already shows its version),
        with a session that has not used up its re-logins."""
        rd = self.readiness()
        first = await rd.probe()
        if not first.healthy:
            log.info("%s: BMC not ready (%s); waiting before sending anything", self.host, first.reason)
            await rd.wait_back(progress=progress)
        if first.session_lost or not first.healthy or self.session.relogins >= 2:
            await self.fresh_login()

    async def _try_fresh_login(self) -> None:
        """After a refused token in a poll loop: log in from scratch if the BMC lets us
        (the session's own re-login budget may be spent on a half-up BMC)."""
        try:
            await self.fresh_login()
        except BmcError as exc:
            log.debug("%s: login not possible yet: %s", self.host, exc.message)

    def readiness(self) -> Readiness:
        return Readiness(self.session, self.clock, self.timing, self.system_uri, self.manager_uri,
                         vendor_check=self.vendor_ready_problem, relogin=self.fresh_login)

    async def vendor_ready_problem(self) -> str | None:
        """Vendor services not ready yet (Dell LC); None when ready."""
        return None

    # ------------------------------------------------------------------ inventory
    async def _facts(self, *, full: bool) -> BmcFacts:
        if full:
            return await read_facts(self.session)
        root = self.session.root
        systems, managers, us = await asyncio.gather(
            self._members(link(root, "Systems")), self._members(link(root, "Managers")),
            self._optional(link(root, "UpdateService")))
        fi = link(us, "FirmwareInventory")
        inventory: tuple[dict[str, Any], ...] | None = None
        if fi:
            try:
                inventory = tuple(await self.session.members(fi))
            except BmcError as exc:
                if exc.status != 404:
                    raise
        if systems:
            self.system = dict(systems[0])
        if managers:
            self.manager = dict(managers[0])
        return BmcFacts(root=root, systems=tuple(systems), managers=tuple(managers), update_service=us,
                        firmware_inventory=inventory, extra={"expand": self.session.expand_query is not None})

    async def _optional(self, uri: str | None) -> dict[str, Any] | None:
        if not uri:
            return None
        response = await self.session.request("GET", uri, check=False)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise error_for_response(self.host, "GET", str(response.request.url), response)
        return self.client.json_of(response, uri)

    async def components(self) -> tuple[ComponentState, ...]:
        return self.adapter.components(await self._facts(full=False))

    async def read_versions(self) -> dict[str, str | None]:
        try:
            comps = await self.components()
        except BmcAuthError:
            # The session's re-login budget is spent (the BMC reset several times): start over.
            await self.fresh_login()
            comps = await self.components()
        return {c.key: c.version for c in comps}

    # ------------------------------------------------------------------ pre-flight
    async def preflight(self, *, known_tasks: tuple[str, ...], allow_pending: bool) -> PreflightReport:
        facts = await read_facts(self.session)
        if facts.systems:
            self.system = dict(facts.system)
        if facts.managers:
            self.manager = dict(facts.manager)
        pf = self.adapter.preflight(facts)
        caps = self.adapter.capabilities(facts)
        in_flight = await self.in_flight()
        known = {k.rstrip("/") for k in known_tasks} | {k.rstrip("/").rsplit("/", 1)[-1] for k in known_tasks}
        foreign = [f for f in in_flight
                   if f.uri.rstrip("/") not in known and f.uri.rstrip("/").rsplit("/", 1)[-1] not in known]
        blocking: list[str] = []
        warnings: list[str] = list(pf.warnings)
        # A missing licence gates some updates, not the host (Supermicro: BMC/BIOS/CPLD pushes
        # are standard): reported here, and a flash that needs it fails naming the licence.
        warnings += [f"licence: {e}" for e in pf.licence_errors]
        running = [f for f in foreign if f.state in ("Running", "Starting", "InProgress", "Downloading",
                                                      "Updating", "Verifying", "Writing", "Uploading")]
        queued = [f for f in foreign if f not in running]
        if running:
            blocking += [f"an update is already running on the BMC: {f.description or f.uri} ({f.state})"
                         for f in running]
        pending_msgs = [f"pending job/task not created by this workspace: {f.description or f.uri} ({f.state})"
                        for f in queued]
        if pf.pending_bios_settings:
            pending_msgs.append("pending BIOS settings wait for the next reboot (a reboot by hwfw would apply them)")
        if allow_pending:
            warnings += pending_msgs
        else:
            blocking += pending_msgs
        if pf.health and pf.health not in _HEALTHY:
            warnings.append(f"system health is {pf.health}")
        if pf.power_state not in ("On", "Off", None):
            warnings.append(f"power state is {pf.power_state}")
        us = facts.update_service or {}
        report_facts = {
            "vendor": self.vendor, "adapter": self.adapter.name, "power_state": pf.power_state,
            "health": pf.health, "max_image_size": caps.max_image_size,
            "update_methods": list(caps.update_methods), "apply_times": list(caps.apply_times),
            "system_reset_types": list(caps.system_reset_types), "manager_reset_types": list(caps.manager_reset_types),
            "transfer_protocols": list(caps.transfer_protocols),
            "bmc_firmware": self.manager.get("FirmwareVersion"),
            "multipart_uri": us.get("MultipartHttpPushUri"), "http_push_uri": us.get("HttpPushUri"),
            "pending_bios_settings": pf.pending_bios_settings,
            "licence_errors": list(pf.licence_errors),
        }
        report_facts.update(self.preflight_facts(facts))
        return PreflightReport(power_state=pf.power_state, blocking=tuple(blocking), warnings=tuple(warnings),
                               in_flight=tuple(in_flight), facts=report_facts)

    def preflight_facts(self, facts: BmcFacts) -> dict[str, Any]:
        return {}

    @staticmethod
    def image_size_problem(report: PreflightReport, size: int) -> str | None:
        """For the executor: why an image of `size` bytes cannot be sent to this BMC."""
        limit = report.facts.get("max_image_size")
        if isinstance(limit, int) and limit > 0 and size > limit:
            return f"image is {size} bytes, the BMC accepts at most {limit} (MaxImageSizeBytes)"
        return None

    # ------------------------------------------------------------------ in flight
    def tasks_uri(self) -> str:
        root = self.session.root
        ts = link(root, "Tasks") or link(root, "TaskService") or "/redfish/v1/TaskService"
        return ts.rstrip("/") + "/Tasks"

    async def _task_members(self) -> list[dict[str, Any]]:
        try:
            return await self.session.members(self.tasks_uri())
        except BmcError as exc:
            if exc.status in (404, 405, 501):
                return []
            raise

    async def in_flight(self) -> list[InFlight]:
        out: list[InFlight] = []
        for task in await self._task_members():
            state = str(task.get("TaskState") or task.get("JobState") or "")
            if state in RUNNING_STATES or state not in (OK_STATES | FAILED_STATES | NEEDS_ACTION_STATES):
                out.append(InFlight(uri=str(task.get("@odata.id")), state=state or "unknown",
                                    component=self.component_of_task(task),
                                    description=str(task.get("Name") or task.get("Id") or "")))
        out += await self.vendor_in_flight()
        return out

    async def vendor_in_flight(self) -> list[InFlight]:
        return []

    def component_of_task(self, task: Mapping[str, Any]) -> str | None:
        """Best-effort component kind a task works on (from target URIs in its messages)."""
        for m in task_messages(task):
            for arg in m.args:
                kind = self._kind_of_uri(arg)
                if kind:
                    return kind
        name = str(task.get("Name") or "")
        from hwfw.vendors.base import classify

        return classify(name) if name else None

    def _kind_of_uri(self, uri: str) -> str | None:
        if self.manager_uri and uri.rstrip("/") == self.manager_uri.rstrip("/"):
            return "bmc"
        if uri.rstrip("/").endswith("/Bios"):
            return "bios"
        if "/FirmwareInventory/" in uri:
            from hwfw.vendors.base import classify

            return classify(uri.rsplit("/", 1)[-1])
        return None

    # ------------------------------------------------------------------ flash
    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        self._expect = None  # an expectation belongs to the flash right before its activation
        await self.ensure_ready(progress)
        ctx = await self.flash_context(request)
        method = self.choose_method(request, ctx)
        limit = ctx.update_service.get("MaxImageSizeBytes")
        if method in self.push_methods and isinstance(limit, int) and limit > 0 and ctx.size > limit:
            raise ApplyError(f"{self.host}: image {request.entry.id} is {ctx.size} bytes; the BMC accepts pushes of "
                             f"at most {limit} (UpdateService.MaxImageSizeBytes)",
                             hint="let the BMC pull it (method: simple-update with settings.image_server), or "
                                  "use a smaller package for this model")
        progress(0.0, f"sending {request.entry.id} ({ctx.size} bytes) by {method}")
        log.info("%s: flashing %s %s -> %s with %s (%s)", self.host, request.step.component,
                 request.step.from_version, request.step.to_version, request.entry.id, method)
        handler: Callable[[FlashRequest, FlashContext, Progress], Awaitable[FlashResult]] = \
            getattr(self, "flash_" + method.replace("-", "_"))
        return await handler(request, ctx, progress)

    async def flash_context(self, request: FlashRequest) -> FlashContext:
        facts = await self._facts(full=False)
        us = dict(facts.update_service or {})
        if not us:
            raise ApplyError(f"{self.host}: the BMC has no UpdateService; it cannot be updated over Redfish")
        comps = self.adapter.components(facts)
        key = request.step.component or request.kind
        comp = next((c for c in comps if c.key == key), None) or \
            next((c for c in comps if c.kind == request.kind and c.instance == request.instance), None)
        size = request.image_path.stat().st_size
        deadline = self.clock.monotonic() + self.timing.deadline_for(request.kind)
        return FlashContext(update_service=us, component=comp, components=comps, facts=facts, deadline=deadline,
                            size=size, filename=image_filename(request))

    def methods_available(self, ctx: FlashContext) -> list[str]:
        us = ctx.update_service
        out = []
        if us.get("MultipartHttpPushUri"):
            out.append("multipart")
        if "SimpleUpdate" in action_targets(us):
            out.append("simple-update")
        if us.get("HttpPushUri"):
            out.append("http-push")
        return out

    def choose_method(self, request: FlashRequest, ctx: FlashContext) -> str:
        """The repository entry's `method` if the BMC offers it, else the driver's choice."""
        available = self.methods_available(ctx)
        wanted = request.entry.method or "auto"
        if wanted == "vendor":
            wanted = self.native_method
        if wanted not in ("auto", "vendor"):
            if wanted not in available and wanted != self.native_method:
                raise ApplyError(f"{self.host}: repository entry {request.entry.id} asks for method {wanted!r}, "
                                 f"but this BMC offers {', '.join(available) or 'no update method'}",
                                 hint="remove `method:` from the repository entry to let hwfw choose")
            if wanted == "simple-update" and not (request.image_url or self.image_server):
                raise ApplyError(f"{self.host}: method simple-update needs hwfw's image server "
                                 "(settings.image_server) so the BMC can pull the image")
            return wanted
        return self.default_method(request, ctx, available)

    # Prefer the BMC pulling from hwfw's image server over pushing (generic DMTF BMCs).
    prefer_pull = False

    def pull_possible(self, request: FlashRequest) -> bool:
        """An image server runs and the BMC can plausibly reach it: a loopback image URL is
        only usable by a BMC that is itself on loopback (the simulator), never by real ones."""
        url = request.image_url or (self.image_server.base_url if self.image_server is not None else None)
        if not url:
            return False
        return not _is_loopback(urlsplit(url).hostname) or _is_loopback(self.client.base_url.host)

    def default_method(self, request: FlashRequest, ctx: FlashContext, available: list[str]) -> str:
        """SimpleUpdate pull when preferred and possible, else multipart push (no image
        server needed, one round trip), else a pull, else the legacy HttpPushUri."""
        pull = "simple-update" in available and self.pull_possible(request)
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

    # -- parameters --------------------------------------------------------------------
    def apply_time_for(self, request: FlashRequest, ctx: FlashContext, support: list[str]) -> str | None:
        """The plan's apply time if the BMC supports it; None to leave it out (the
        service default, Immediate). Never silently turns OnReset into Immediate (an
        Immediate apply time can reboot a host unexpectedly, pain point 8)."""
        wanted = request.step.apply_time or "Immediate"
        if not support:
            return wanted if wanted != "Immediate" else None
        if wanted in support:
            return wanted
        if wanted == "Immediate":
            return None
        raise ApplyError(f"{self.host}: the plan stages {request.step.component} with apply time {wanted}, but the "
                         f"BMC supports only {', '.join(support)}",
                         hint="re-run `hwfw plan`: the BMC's capabilities changed since the plan was made")

    def target_uris(self, request: FlashRequest, ctx: FlashContext) -> list[str]:
        """`Targets`: the FirmwareInventory member of the component when known."""
        comp = ctx.component
        return [comp.uri] if comp and comp.uri else []

    def update_parameters(self, request: FlashRequest, ctx: FlashContext) -> dict[str, Any]:
        us = ctx.update_service
        support: list[str] = []
        ann = us.get("MultipartHttpPushUri@Redfish.OperationApplyTimeSupport")
        if isinstance(ann, Mapping):
            support = [str(v) for v in ann.get("SupportedValues") or ()]
        if not support:
            support = apply_time_support(us)
        params: dict[str, Any] = {"Targets": self.target_uris(request, ctx)}
        at = self.apply_time_for(request, ctx, support)
        if at:
            params["@Redfish.OperationApplyTime"] = at
        return params

    # -- sending -----------------------------------------------------------------------
    def _upload_timeout(self, size: int) -> float:
        return upload_timeout(size, per_mib=self.timing.upload_timeout_per_mib, floor=self.timing.request_timeout)

    def _file(self, request: FlashRequest, ctx: FlashContext, name: str, **kw: Any) -> FilePart:
        return FilePart(name, request.image_path, request.entry.sha256, filename=ctx.filename,
                        expected_size=request.entry.size, **kw)

    async def send_multipart(self, uri: str, fields: list[FormField], file: FilePart, ctx: FlashContext, *,
                             headers: Mapping[str, str] | None = None, what: str = "multipart upload",
                             trailing: list[FormField] | None = None) -> httpx.Response:
        body = MultipartBody(fields, file, trailing=trailing or ())
        while True:
            response = await send_stream(self.session, "POST", uri, body, clock=self.clock,
                                         timeout=self._upload_timeout(body.content_length()), deadline=ctx.deadline,
                                         headers=headers, auth_check_uri=link(self.session.root, "UpdateService"),
                                         max_wait=self._max_poll_wait(), what=what)
            if not (_not_ready(response) and self.clock.monotonic() < ctx.deadline):
                return response
            log.info("%s: %s refused, BMC not ready yet (%s); retrying", self.host, what,
                     parse_error_info(response).message_id)
            await self.clock.sleep(min(self.timing.poll_interval, max(0.0, ctx.deadline - self.clock.monotonic())))

    async def post_action(self, uri: str, body: Mapping[str, Any], ctx: FlashContext) -> httpx.Response:
        """POST an update action, retrying "not ready yet" refusals until the deadline."""
        while True:
            response = await self.session.request("POST", uri, json_body=dict(body), check=False)
            if not (_not_ready(response) and self.clock.monotonic() < ctx.deadline):
                return response
            await self.clock.sleep(min(self.timing.poll_interval, max(0.0, ctx.deadline - self.clock.monotonic())))

    def _max_poll_wait(self) -> float:
        return max(self.timing.poll_interval, 6 * self.timing.poll_interval)

    def _accepted(self, uri: str | None, progress: Progress, method: str) -> None:
        if not uri:
            return
        progress(1.0, f"accepted by the BMC ({method}): {uri}")
        if self.on_accepted is not None:
            try:
                self.on_accepted(uri)
            except Exception:  # pragma: no cover - a listener must not break the flash
                log.exception("on_accepted listener failed")

    def _refused(self, request: FlashRequest, response: httpx.Response, method: str) -> ApplyError:
        info = parse_error_info(response)
        text = info.message or response.reason_phrase
        mid = f" [{info.message_id}]" if info.message_id else ""
        return ApplyError(f"{self.host}: {request.step.component}: the BMC refused the image {request.entry.id} "
                          f"({method}, HTTP {response.status_code}): {text}{mid}",
                          hint=info.resolution or self.refusal_hint(response.status_code, info.message_id))

    def refusal_hint(self, status: int, message_id: str | None) -> str | None:
        if status == 413:
            return "the image is larger than the BMC accepts (MaxImageSizeBytes)"
        if status == 411:
            return "the BMC wants a Content-Length (hwfw always sends one: a proxy may strip it)"
        if status == 503:
            return "the BMC stayed busy with another update until the component deadline"
        return None

    async def flash_multipart(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        us = ctx.update_service
        uri = us.get("MultipartHttpPushUri")
        if not uri:
            raise ApplyError(f"{self.host}: the BMC offers no MultipartHttpPushUri")
        params = self.update_parameters(request, ctx)
        response = await self.send_multipart(
            uri, [FormField("UpdateParameters", json.dumps(params), "application/json")],
            self._file(request, ctx, "UpdateFile"), ctx)
        return await self.after_push(request, ctx, progress, response, "multipart")

    async def after_push(self, request: FlashRequest, ctx: FlashContext, progress: Progress,
                         response: httpx.Response, method: str) -> FlashResult:
        if response.status_code >= 400:
            raise self._refused(request, response, method)
        ref = task_ref_from_response(self.session, response)
        if not ref:
            body = json_object(response)
            msgs = extended_info(body)
            outcome = self.judge_messages(msgs, "Completed", None)
            return await self.result_of(request, ctx, outcome, method, progress)
        self._accepted(ref.task or ref.monitor, progress, method)
        outcome = await self.follow(ref, request, ctx, progress)
        return await self.result_of(request, ctx, outcome, method, progress)

    async def flash_simple_update(self, request: FlashRequest, ctx: FlashContext,
                                  progress: Progress) -> FlashResult:
        us = ctx.update_service
        action = action_targets(us).get("SimpleUpdate")
        if not action:
            raise ApplyError(f"{self.host}: the BMC offers no SimpleUpdate action")
        url = request.image_url
        if url is None:
            if self.image_server is None:
                raise ApplyError(f"{self.host}: SimpleUpdate needs hwfw's image server; none is running",
                                 hint="configure settings.image_server")
            url = await self.image_server.publish_async(request.image_path, request.entry.sha256,
                                                        name=ctx.filename)
        body: dict[str, Any] = {"ImageURI": url}
        targets = self.target_uris(request, ctx)
        if targets:
            body["Targets"] = targets
        support = []
        ann = action.get("@Redfish.OperationApplyTimeSupport")
        if isinstance(ann, Mapping):
            support = [str(v) for v in ann.get("SupportedValues") or ()]
        at = self.apply_time_for(request, ctx, support or apply_time_support(us))
        if at:
            body["@Redfish.OperationApplyTime"] = at
        info = await self._action_info(action)
        protocol = _protocol_for(url)
        allowed = [str(v) for v in action.get("TransferProtocol@Redfish.AllowableValues") or ()] or \
            _param_values(info, "TransferProtocol")
        if _param_required(info, "TransferProtocol"):
            body["TransferProtocol"] = protocol
        if allowed and protocol not in allowed:
            raise ApplyError(f"{self.host}: the BMC cannot pull over {protocol} (it offers {', '.join(allowed)})",
                             hint="serve images over a protocol the BMC accepts (settings.image_server.tls_cert "
                                  "for HTTPS, or plain HTTP)")
        target = str(action["target"])
        response = await self.post_action(target, body, ctx)
        if response.status_code == 400 and "TransferProtocol" not in body:
            info_err = parse_error_info(response)
            if "TransferProtocol" in (info_err.message or "") or any("TransferProtocol" in a for m in info_err.messages
                                                                    for a in m.args):
                # Some BMCs demand TransferProtocol although it is optional (pain point 5).
                body["TransferProtocol"] = protocol
                response = await self.session.request("POST", target, json_body=body, check=False)
        return await self.after_push(request, ctx, progress, response, "simple-update")

    async def _action_info(self, action: Mapping[str, Any]) -> dict[str, Any] | None:
        uri = action.get("@Redfish.ActionInfo")
        if not isinstance(uri, str):
            return None
        try:
            return await self._optional(uri)
        except BmcError:
            return None

    async def flash_http_push(self, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        """Deprecated HttpPushUri: the raw image as the body (brief 1.5). Apply time and
        targets go through HttpPushUriOptions / HttpPushUriTargets when the BMC has them."""
        us = ctx.update_service
        uri = us.get("HttpPushUri")
        if not uri:
            raise ApplyError(f"{self.host}: the BMC offers no HttpPushUri")
        patch: dict[str, Any] = {}
        opts = us.get("HttpPushUriOptions")
        if isinstance(opts, Mapping) and isinstance(opts.get("HttpPushUriApplyTime"), Mapping):
            allowed = [str(v) for v in opts["HttpPushUriApplyTime"].get("ApplyTime@Redfish.AllowableValues") or ()]
            at = self.apply_time_for(request, ctx, allowed)
            if at and opts["HttpPushUriApplyTime"].get("ApplyTime") != at:
                patch["HttpPushUriOptions"] = {"HttpPushUriApplyTime": {"ApplyTime": at}}
        targets = self.target_uris(request, ctx)
        if "HttpPushUriTargets" in us and targets:
            patch["HttpPushUriTargets"] = targets
            if "HttpPushUriTargetsBusy" in us:
                patch["HttpPushUriTargetsBusy"] = True
        us_uri = link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService"
        if patch:
            await self.session.request("PATCH", us_uri, json_body=patch)
        try:
            body = RawBody(self._file(request, ctx, "file"))
            response = await send_stream(self.session, "POST", uri, body, clock=self.clock,
                                         timeout=self._upload_timeout(body.content_length()), deadline=ctx.deadline,
                                         auth_check_uri=us_uri, max_wait=self._max_poll_wait(), what="HTTP push")
        finally:
            if patch.get("HttpPushUriTargetsBusy"):
                try:
                    await self.session.request("PATCH", us_uri, json_body={"HttpPushUriTargetsBusy": False},
                                               check=False)
                except BmcError:
                    pass
        return await self.after_push(request, ctx, progress, response, "http-push")

    # ------------------------------------------------------------------ following
    def staged_states(self, request: FlashRequest) -> frozenset[str]:
        """TaskStates that mean "staged, waiting for a reset" for this request."""
        if (request.step.apply_time or "Immediate") in ("OnReset", "OnTargetReset", "InMaintenanceWindowOnReset"):
            return frozenset({"Pending", "Scheduled", "PendingActivation", "RebootPending", "Suspended"})
        return frozenset()

    def job_uri_for(self, task_uri: str) -> str | None:
        """Where the job behind a purged Task lives (Dell); None elsewhere."""
        return None

    def creation_grace_polls(self) -> int:
        return 3

    async def follow(self, ref: TaskRef, request: FlashRequest, ctx: FlashContext, progress: Progress,
                     *, staged: frozenset[str] | None = None, label: str = "update") -> Outcome:
        """Poll an operation (monitor, Task, then vendor job) until it really ends."""
        staged = self.staged_states(request) if staged is None else staged
        monitor, task, job = ref.monitor, ref.task, None
        seen: set[str] = set()
        misses: dict[str, int] = {}
        last_state: str | None = None
        last_msgs: tuple[RedfishMessage, ...] = ()
        last_pct: int | None = None
        carried: tuple[RedfishMessage, ...] = ()
        outage = False
        interval = self.timing.poll_interval
        while True:
            uri = monitor or task or job
            if uri is None:
                return Outcome("vanished", last_state, ref.task or ref.monitor, last_msgs, outage=outage,
                               detail="the task disappeared before its end was seen")
            wait = interval
            try:
                response = await self.session.request("GET", uri, check=False, retries=0)
            except BmcError as exc:  # unreachable/refused login while the BMC resets: keep trying
                outage = True
                log.debug("%s: polling %s: %s", self.host, uri, exc.message)
            else:
                status = response.status_code
                body = json_object(response)
                after = parse_retry_after(response.headers.get("retry-after"), self.clock)
                if after is not None:
                    wait = max(interval, min(after, self._max_poll_wait()))
                if status == 404:
                    if uri not in seen and misses.get(uri, 0) < self.creation_grace_polls() and not outage:
                        misses[uri] = misses.get(uri, 0) + 1   # Dell: a new job 404s for a few seconds
                    else:
                        if uri == monitor:
                            monitor = None
                        elif uri == task:
                            task = None
                            job = job or self.job_uri_for(uri)
                        else:
                            job = None
                        if monitor or task or job:
                            continue
                        return Outcome("vanished", last_state, ref.task or ref.monitor, last_msgs, outage=outage,
                                       detail="the task disappeared before its end was seen")
                elif status in (401, 403):
                    outage = True  # the session was re-created and still refused: BMC half up
                    await self._try_fresh_login()
                elif status >= 500 or status == 429:
                    outage = outage or status in (500, 502, 504)
                elif uri == monitor and status == 204:
                    # bmcweb: 204 once when done; the Task (if known) has the messages.
                    if task:
                        monitor = None
                        seen.add(uri)
                        continue
                    return Outcome("completed", "Completed", uri, last_msgs, outage=outage)
                elif uri == monitor and status != 202 and not _is_task_body(body):
                    seen.add(uri)
                    if status >= 400:
                        info = parse_error_info(response)
                        return Outcome("failed", "Exception", task or uri, info.messages, info.message_id,
                                       info.message, outage=outage)
                    return self.judge_messages(extended_info(body), "Completed", task or uri, outage)
                elif status >= 400:
                    info = parse_error_info(response)
                    return Outcome("failed", "Exception", uri, info.messages, info.message_id, info.message,
                                   outage=outage)
                elif body is not None:
                    seen.add(uri)
                    state = body.get("TaskState") or body.get("JobState")
                    state = str(state) if state is not None else None
                    msgs = task_messages(body)
                    pct = body.get("PercentComplete")
                    pct = int(pct) if isinstance(pct, (int, float)) else None
                    if (state, pct, len(msgs)) != (last_state, last_pct, len(last_msgs)):
                        text = msgs[-1].message if msgs and msgs[-1].message else ""
                        progress(float(pct) if pct is not None else None,
                                 f"{label} {state or '?'}" + (f": {text}" if text else ""))
                    last_state, last_msgs, last_pct = state, msgs, pct
                    here = body.get("@odata.id") if _is_task_body(body) else None
                    verdict = self.judge(state, msgs, body, str(here or uri), staged, outage)
                    if verdict is not None:
                        if verdict.kind == "transitioned":
                            job, task, monitor = verdict.uri, None, None
                            carried = msgs  # the Task's Update.* messages; a Job has only its own
                            progress(None, f"operation moved to job {verdict.uri}")
                            continue
                        if carried and verdict.kind == "completed":
                            verdict = self.judge_messages(msgs + carried, verdict.state or "Completed",
                                                          verdict.uri, outage)
                        return verdict
            if self.clock.monotonic() >= ctx.deadline:
                raise ApplyError(
                    f"{self.host}: {request.step.component}: the {label} did not finish within "
                    f"{self.timing.deadline_for(request.kind):g}s (last state {last_state or 'unknown'}"
                    f"{', BMC unreachable' if outage else ''}) at {ref.task or ref.monitor}",
                    hint="the BMC may still be working: check its task list before retrying; raise "
                         f"settings.timing.component_deadlines.{request.kind} if it is just slow")
            await self.clock.sleep(max(0.0, min(wait, ctx.deadline - self.clock.monotonic())))

    def judge(self, state: str | None, msgs: tuple[RedfishMessage, ...], body: Mapping[str, Any], uri: str,
              staged: frozenset[str], outage: bool) -> Outcome | None:
        """Turn one task/job observation into an outcome, or None to keep polling."""
        moved = any_message(msgs, "OperationTransitionedToJob")
        if moved and moved.args:
            return Outcome("transitioned", state, moved.args[0], msgs)
        if state is None:
            return None
        if state in OK_STATES:
            return self.judge_messages(msgs, state, uri, outage)
        if state in FAILED_STATES:
            bad = next((m for m in reversed(msgs) if (m.severity or "").lower() == "critical"), None) or \
                any_message(msgs, *FAILURE_IDS) or (msgs[-1] if msgs else None)
            return Outcome("failed", state, uri, msgs, bad.message_id if bad else None,
                           bad.message if bad else f"task ended {state}", outage=outage)
        if state in NEEDS_ACTION_STATES:
            return Outcome("needs-action", state, uri, msgs, outage=outage,
                           detail=(msgs[-1].message if msgs else "written; needs a reboot or AC power cycle"))
        if state in staged:
            return Outcome("staged", state, uri, msgs, outage=outage,
                           detail=(msgs[-1].message if msgs else f"staged ({state})"))
        if state not in RUNNING_STATES:
            log.debug("%s: unknown task state %r at %s; still polling", self.host, state, uri)
        return None

    def judge_messages(self, msgs: tuple[RedfishMessage, ...], state: str, uri: str | None,
                       outage: bool = False) -> Outcome:
        skipped = any_message(msgs, *SKIPPED_SAME)
        if skipped:
            return Outcome("skipped", state, uri, msgs, skipped.message_id, skipped.message, outage)
        bad = any_message(msgs, *FAILURE_IDS)
        if bad and (bad.severity or "").lower() in ("critical", "warning", "") and \
                not message_id_matches(bad.message_id, "UpdateSuccessful"):
            return Outcome("failed", state, uri, msgs, bad.message_id, bad.message or bad.message_id, outage)
        return Outcome("completed", state, uri, msgs, outage=outage)

    async def result_of(self, request: FlashRequest, ctx: FlashContext, outcome: Outcome, method: str,
                        progress: Progress) -> FlashResult:
        """FlashResult from an outcome; the version read decides between active and pending."""
        comp = request.step.component or request.kind
        if outcome.kind == "failed":
            mid = f" [{outcome.message_id}]" if outcome.message_id else ""
            raise ApplyError(f"{self.host}: {comp}: flashing {request.entry.id} failed ({outcome.state}): "
                             f"{outcome.detail or 'no detail'}{mid}",
                             hint=self.failure_hint(outcome))
        if outcome.kind == "skipped":
            progress(100.0, "the BMC already runs this version")
            return FlashResult(FLASH_SKIPPED_SAME, method, outcome.uri, outcome.detail or "skipped: same version")
        if outcome.kind == "staged":
            progress(100.0, f"staged; runs after {request.step.activation or 'the next reset'}")
            return FlashResult(FLASH_PENDING, method, outcome.uri, outcome.detail or "staged")
        current = await self._version_now(request)
        target = request.step.to_version
        if target is not None and current is not None and current.strip() == target.strip():
            activation = request.step.activation or ""
            if activation in ("bmc-reset", "host-reboot") and (request.step.apply_time or "Immediate") == "Immediate":
                # The BMC already did the reset during the flash: the activation only waits.
                self._expect = _Expectation(activation, self.clock.monotonic(), seen=True, done=True)
            progress(100.0, f"{comp} now runs {current}")
            return FlashResult(FLASH_ACTIVE, method, outcome.uri,
                               f"running {current}" + (" (task vanished; version verified)"
                                                       if outcome.kind == "vanished" else ""))
        self.note_self_reset(request, outcome)
        note = {"vanished": "the task vanished before its end; the version will be verified after activation",
                "needs-action": outcome.detail or "written; needs a reboot or AC power cycle"}.get(outcome.kind)
        hints = [m.message_id for m in outcome.messages if any(h in m.message_id for h in RESET_HINTS)]
        message = note or ("written; " + (", ".join(hints) if hints else "waits for activation"))
        progress(100.0, message)
        return FlashResult(FLASH_PENDING, method, outcome.uri, message)

    def failure_hint(self, outcome: Outcome) -> str | None:
        mid = outcome.message_id or ""
        if "VerificationFailed" in mid:
            return "the BMC rejected the image (wrong model/component, corrupt or unsigned)"
        if "UpdateNotApplicable" in mid:
            return "the image does not apply to this server or component"
        if "VersionTooLow" in mid:
            return "the BMC refuses downgrades below its lowest supported version"
        if "TransferFailed" in mid or "CouldNotEstablishConnection" in mid:
            return "the BMC could not fetch the image: check that it can reach settings.image_server.advertise_url"
        return None

    def note_self_reset(self, request: FlashRequest, outcome: Outcome) -> None:
        """Remember that the BMC resets itself (BMC images applied Immediate) or reboots the
        host itself (vendors that do so for Immediate host-side jobs), so `activate` waits
        instead of resetting again."""
        at = request.step.apply_time or "Immediate"
        key, target = request.step.component or request.kind, request.step.to_version
        if request.kind == "bmc" and at == "Immediate":
            self._expect = _Expectation("bmc-reset", self.clock.monotonic(), seen=outcome.outage, key=key,
                                        target=target)
        elif self.immediate_host_reboot_by_bmc and at == "Immediate" and \
                (request.step.activation or "host-reboot") == "host-reboot":
            self._expect = _Expectation("host-reboot", self.clock.monotonic(), seen=outcome.outage, key=key,
                                        target=target)

    async def _expectation_met(self, expected: _Expectation) -> bool:
        """Did the self-reset already happen (the new version runs)? Someone may have read
        the BMC between the flash and this activation and absorbed the evidence."""
        if not expected.key or not expected.target:
            return False
        try:
            versions = await self.read_versions()
        except BmcError:
            return False
        current = versions.get(expected.key)
        return current is not None and current.strip() == expected.target.strip()

    async def _version_now(self, request: FlashRequest) -> str | None:
        try:
            versions = await self.read_versions()
        except BmcError:
            return None
        key = request.step.component or request.kind
        if key in versions:
            return versions[key]
        for k, v in versions.items():
            if k == request.kind or k.startswith(request.kind + ":") and k.endswith(request.instance):
                return v
        return None

    # ------------------------------------------------------------------ activation
    async def activate(self, activation: str, progress: Progress) -> None:
        if activation in ("none", "", None):
            return
        if activation == "bmc-reset":
            await self.activate_bmc_reset(progress)
        elif activation == "host-reboot":
            await self.activate_host_reboot(progress)
        elif activation == "ac-cycle":
            await self.activate_ac_cycle(progress)
        else:
            raise ApplyError(f"{self.host}: unknown activation {activation!r}")

    def _self_reset_grace(self) -> float:
        t = self.timing
        return max(t.poll_interval, min(t.bmc_ready_timeout / 2, 10 * t.stability_interval))

    def _reset_went_away_grace(self) -> float:
        t = self.timing
        return max(t.poll_interval, min(t.bmc_ready_timeout / 2, max(10 * t.stability_interval, 60.0)))

    async def activate_bmc_reset(self, progress: Progress) -> None:
        expected, self._expect = self._expect, None
        rd = self.readiness()
        if expected is not None and expected.kind == "bmc-reset" and not expected.done and not expected.seen \
                and await self._expectation_met(expected):
            expected.done = True
        if expected is not None and expected.kind == "bmc-reset" and expected.done:
            progress(None, "the BMC already reset itself during the update; checking it is stable")
            await self._wait_bmc_back(rd, progress)
            return
        if expected is not None and expected.kind == "bmc-reset":
            progress(None, "the BMC applies its new firmware and resets itself; waiting")
            gone = expected.seen or await rd.wait_gone(grace=self._self_reset_grace(), progress=progress)
            if gone:
                await self._wait_bmc_back(rd, progress)
                return
            log.info("%s: the BMC did not reset itself within %.1fs; resetting it", self.host,
                     self._self_reset_grace())
        elif expected is None:
            quick = await rd.probe_quick()
            if not quick.healthy:
                # Already going down (e.g. a self-update finishing after a resumed run): that
                # reset is the activation; a Manager.Reset on top would be a second one.
                progress(None, f"the BMC is already resetting ({quick.reason}); waiting")
                await self._wait_bmc_back(rd, progress)
                return
        await self.reset_manager(progress)
        if not await rd.wait_gone(grace=self._reset_went_away_grace(), progress=progress):
            raise ApplyError(f"{self.host}: the BMC accepted Manager.Reset but never went away",
                             hint="check the BMC; the new firmware may not be active")
        await self._wait_bmc_back(rd, progress)

    async def _wait_bmc_back(self, rd: Readiness, progress: Progress, what: str = "BMC") -> None:
        await rd.wait_back(progress=progress, what=what)
        await self.fresh_login()
        progress(None, f"{what} is back")

    async def reset_manager(self, progress: Progress) -> None:
        action = action_targets(self.manager).get("Reset")
        if not action or not self.manager_uri:
            raise ApplyError(f"{self.host}: the Manager has no Reset action; the BMC cannot be reset over Redfish")
        allowed = [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]
        reset_type = next((t for t in ("GracefulRestart", "ForceRestart") if t in allowed), None) if allowed \
            else "GracefulRestart"
        if reset_type is None:
            raise ApplyError(f"{self.host}: Manager.Reset allows only {', '.join(allowed)}")
        await self.post_reset(str(action["target"]), {"ResetType": reset_type}, f"Manager.Reset {reset_type}")
        progress(None, f"BMC reset requested ({reset_type})")

    async def post_reset(self, target: str, body: Mapping[str, Any], what: str) -> httpx.Response | None:
        """Send one reset request. Retries only when the BMC certainly did not act (connect
        failure, 503 answered before processing); raises on refusal. A connection that
        breaks after the request went out counts as sent (a BMC that power-cycles itself
        may not finish its answer): returns None then, and nobody sends a second reset."""
        try:
            response = await self.session.request("POST", target, json_body=dict(body), check=False)
        except BmcUnreachable as exc:
            if exc.__cause__ is not None and is_connect_failure(exc.__cause__):
                raise
            log.warning("%s: %s: the answer was lost (%s); assuming the BMC acted on it", self.host, what,
                        exc.message)
            self.resets_sent.append(what)
            return None
        self.resets_sent.append(what)
        if response.status_code >= 400:
            raise error_for_response(self.host, "POST", str(response.request.url), response, what=f"{what} refused")
        info = extended_info(json_object(response))
        bad = next((m for m in info if (m.severity or "").lower() == "critical"), None)
        if bad:
            raise ApplyError(f"{self.host}: {what} refused: {bad.message or bad.message_id} [{bad.message_id}]")
        log.info("%s: %s sent", self.host, what)
        return response

    def system_reset_action(self) -> tuple[str | None, list[str]]:
        action = action_targets(self.system).get("Reset")
        if not action:
            return None, []
        return str(action["target"]), [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]

    async def activate_host_reboot(self, progress: Progress) -> None:
        expected, self._expect = self._expect, None
        rd = self.readiness()
        if expected is not None and expected.kind == "host-reboot":
            if not expected.done and await self._expectation_met(expected):
                expected.done = True
            if expected.done:
                progress(None, "the BMC already rebooted the host during the update; checking POST is done")
                await self._wait_post(rd, progress, started=True)
                return
            progress(None, "the BMC reboots the host itself to apply the update; waiting")
            await self._wait_post(rd, progress, started=expected.seen, grace=self.timing.post_timeout)
            return
        target, allowed = self.system_reset_action()
        if not target:
            raise ApplyError(f"{self.host}: the System has no Reset action; cannot reboot the host over Redfish")
        await self.ensure_ready(progress)
        state = await rd.host_state()
        if state.power == "Off":
            rt = _first_allowed(allowed, "On", "ForceOn")
            await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
            progress(None, f"host was off: powering it on ({rt}) to run the staged update")
            await self._wait_post(rd, progress, started=True)
            return
        graceful = "GracefulRestart" in allowed or not allowed
        rt = "GracefulRestart" if graceful else _first_allowed(allowed, "ForceRestart", "PowerCycle")
        await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
        progress(None, f"host reboot requested ({rt})")
        started = await self._wait_reboot_started(rd, self.timing.graceful_shutdown_timeout if graceful
                                                  else self.timing.post_timeout)
        if not started and graceful and "ForceRestart" in allowed:
            log.info("%s: the OS ignored GracefulRestart for %.1fs; forcing the restart", self.host,
                     self.timing.graceful_shutdown_timeout)
            progress(None, "graceful restart ignored; forcing it (ForceRestart)")
            await self.post_reset(target, {"ResetType": "ForceRestart"}, "ComputerSystem.Reset ForceRestart")
            started = await self._wait_reboot_started(rd, self.timing.post_timeout)
        if not started:
            raise ApplyError(f"{self.host}: the host did not start rebooting after {rt}",
                             hint="check the host's console; the staged update has not run")
        await self._wait_post(rd, progress, started=True)

    async def _wait_reboot_started(self, rd: Readiness, timeout: float) -> bool:
        end = self.clock.monotonic() + timeout
        interval = max(0.001, min(self.timing.poll_interval, self.timing.stability_interval))
        while True:
            st = await rd.host_state()
            if st.reachable and (st.power != "On" or (st.last_state is not None and not st.post_done)):
                return True
            if self.clock.monotonic() >= end:
                return False
            await self.clock.sleep(min(interval, max(0.0, end - self.clock.monotonic())))

    async def _wait_post(self, rd: Readiness, progress: Progress, *, started: bool,
                         grace: float | None = None) -> None:
        """Wait for the host to be On with POST done, `stability_checks` times in a row.
        `started=False`: first wait (up to `grace`) for the reboot to begin."""
        t = self.timing
        start = self.clock.monotonic()
        end = start + t.post_timeout + (grace or 0.0)
        if not started:
            if not await self._wait_reboot_started(rd, grace or t.post_timeout):
                log.info("%s: no reboot observed; checking that the host is up", self.host)
        streak = 0
        last = HostState(None, None, reachable=False)
        interval = max(0.001, min(t.poll_interval, t.stability_interval))
        while True:
            last = await rd.host_state()
            if last.reachable and last.post_done:
                streak += 1
                if streak >= t.stability_checks:
                    progress(None, f"host is up ({last.last_state or last.power})")
                    problem = await self.vendor_ready_problem()
                    if problem is None:
                        return
                    streak = t.stability_checks - 1
            else:
                streak = 0
            if self.clock.monotonic() >= end:
                raise ApplyError(f"{self.host}: the host did not finish POST within {t.post_timeout:g}s "
                                 f"(power {last.power or '?'}, boot progress {last.last_state or '?'})",
                                 hint="check the host console; raise settings.timing.post_timeout if it is slow")
            await self.clock.sleep(t.stability_interval if streak else interval)

    async def activate_ac_cycle(self, progress: Progress) -> None:
        self._expect = None
        rd = self.readiness()
        try:
            await self.ensure_ready(progress)
        except BmcUnreachable:
            pass  # Redfish is gone for good: the IPMI fallback below may still cycle the power
        state = await rd.host_state()
        was_on = state.power != "Off"
        sent = await self.send_ac_cycle(progress, reachable=state.reachable)
        if not sent:
            await self.ipmi_power("cycle", progress)
        seen = await self._wait_cycle_evidence(rd, self._reset_went_away_grace())
        if seen == "bmc":
            progress(None, "power removed: BMC and host are down")
            await self._wait_bmc_back(rd, progress)
        elif seen is None:
            log.info("%s: neither the BMC nor the host showed the power cycle within %.1fs", self.host,
                     self._reset_went_away_grace())
        if was_on:
            await self._wait_post(rd, progress, started=seen is not None, grace=self.timing.post_timeout)

    async def _wait_cycle_evidence(self, rd: Readiness, grace: float) -> str | None:
        """After a power cycle request: "bmc" when the BMC went away (a real AC cycle),
        "host" when only the host power-cycled (a DC cycle, e.g. IPMI), None if nothing."""
        end = self.clock.monotonic() + grace
        interval = max(0.001, min(self.timing.poll_interval, self.timing.stability_interval))
        while True:
            quick = await rd.probe_quick()
            if not quick.healthy or quick.session_lost:
                return "bmc"
            st = await rd.host_state()
            if st.reachable and (st.power != "On" or (st.last_state is not None and not st.post_done)):
                return "host"
            if self.clock.monotonic() >= end:
                return None
            await self.clock.sleep(min(interval, max(0.0, end - self.clock.monotonic())))

    async def send_ac_cycle(self, progress: Progress, *, reachable: bool) -> bool:
        """Request a full power cycle over Redfish; False when Redfish cannot (then IPMI)."""
        if not reachable:
            return False
        target, allowed = self.system_reset_action()
        rt = next((t for t in ("FullPowerCycle", "PowerCycle") if t in allowed), None)
        if not target or rt is None:
            return False
        try:
            await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
        except BmcUnreachable:
            return False
        progress(None, f"AC power cycle requested ({rt})")
        return True

    async def ipmi_power(self, action: str, progress: Progress) -> None:
        """The IPMI fallback (chassis control) when Redfish cannot do it."""
        from hwfw.ipmi.client import power

        address, port = self.rh.ipmi_endpoint()
        try:
            await power(address, port, self.rh.username or "", self.rh.password or "", action,
                        timeout=self.timing.request_timeout, host=self.host)
        except IpmiError as exc:
            raise ApplyError(f"{self.host}: power {action} over Redfish is not possible and IPMI failed: "
                             f"{exc.message}", hint="enable IPMI-over-LAN on the BMC or power-cycle it by hand") \
                from exc
        self.resets_sent.append(f"ipmi {action}")
        progress(None, f"IPMI chassis power {action} sent")

    # ------------------------------------------------------------------ power
    async def set_power(self, state: str, progress: Progress) -> None:
        want = state.capitalize() if state.lower() in ("on", "off") else state
        if want not in ("On", "Off"):
            raise ApplyError(f"{self.host}: unknown power state {state!r} (On or Off)")
        rd = self.readiness()
        current = await rd.host_state()
        if not current.reachable:
            await self.ipmi_power("on" if want == "On" else "softoff", progress)
            return
        if current.power == want:
            return
        target, allowed = self.system_reset_action()
        if not target:
            await self.ipmi_power("on" if want == "On" else "softoff", progress)
            return
        if want == "On":
            rt = _first_allowed(allowed, "On", "ForceOn", "PushPowerButton")
            await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
            if not await self._wait_power("On", self.timing.post_timeout):
                raise ApplyError(f"{self.host}: the host did not power on within {self.timing.post_timeout:g}s")
            return
        if "GracefulShutdown" in allowed or not allowed:
            await self.post_reset(target, {"ResetType": "GracefulShutdown"}, "ComputerSystem.Reset GracefulShutdown")
            progress(None, "graceful shutdown requested")
            if await self._wait_power("Off", self.timing.graceful_shutdown_timeout):
                return
            progress(None, "graceful shutdown timed out; forcing power off")
        rt = _first_allowed(allowed, "ForceOff")
        await self.post_reset(target, {"ResetType": rt}, f"ComputerSystem.Reset {rt}")
        if not await self._wait_power("Off", self.timing.post_timeout):
            raise ApplyError(f"{self.host}: the host did not power off")

    async def _wait_power(self, want: str, timeout: float) -> bool:
        rd = self.readiness()
        end = self.clock.monotonic() + timeout
        while True:
            st = await rd.host_state()
            if st.reachable and st.power == want:
                return True
            if self.clock.monotonic() >= end:
                return False
            await self.clock.sleep(min(self.timing.poll_interval, max(0.0, end - self.clock.monotonic())))

    # ------------------------------------------------------------------ settling intents
    async def settle_intent(self, intent: Mapping[str, Any]) -> str:
        """See HostDriver.settle_intent. Intent `details` used: `to_version` (or `to`/
        `version`), `task_uri` (when the executor recorded `on_accepted`), `filename`.

        "Not sent" is only concluded after `creation_grace_polls` more looks a poll
        interval apart: a job the BMC accepted may 404 for a few seconds (Dell), and
        calling that "not sent" would flash the image twice."""
        verdict = await self._settle_once(intent)
        polls = 0
        while verdict == "not-sent" and str(intent.get("action") or "flash") == "flash" \
                and polls < self.creation_grace_polls():
            polls += 1
            await self.clock.sleep(self.timing.poll_interval)
            verdict = await self._settle_once(intent)
        return verdict

    async def _settle_once(self, intent: Mapping[str, Any]) -> str:
        try:
            return await self._settle_reading(intent)
        except BmcUnreachable:
            return f"in-flight:{self.client.base_url}"  # the BMC is resetting: look again later
        except BmcAuthError:
            await self._try_fresh_login()              # half up after a reset: look again later
            return f"in-flight:{self.client.base_url}"

    async def _settle_reading(self, intent: Mapping[str, Any]) -> str:
        details = dict(intent.get("details") or {})
        action = str(intent.get("action") or "flash")
        key = str(intent.get("component") or details.get("component") or "")
        target = details.get("to_version") or details.get("to") or details.get("version")
        versions: dict[str, str | None] = {}
        try:
            versions = await self.read_versions()
        except BmcUnreachable:
            return f"in-flight:{self.client.base_url}"  # the BMC is resetting: look again later
        running = versions.get(key)
        if action != "flash":
            if target and running and running.strip() == str(target).strip():
                return "done"
            return "not-sent"
        if target and running and running.strip() == str(target).strip():
            return "done"
        task_uri = details.get("task_uri")
        if isinstance(task_uri, str) and task_uri:
            verdict = await self._settle_task(task_uri)
            if verdict:
                return verdict
        verdict = await self.settle_vendor(intent, key, target, details)
        if verdict:
            return verdict
        verdict = await self._settle_from_tasks(key, details)
        if verdict:
            return verdict
        return "not-sent"

    async def _settle_task(self, uri: str) -> str | None:
        try:
            response = await self.session.request("GET", uri, check=False, retries=1)
        except BmcError:
            return f"in-flight:{uri}"
        if response.status_code == 404:
            job = self.job_uri_for(uri)
            if job and job != uri:
                return await self._settle_task(job)
            return None
        body = json_object(response)
        if response.status_code >= 400 or body is None:
            return None
        return self._verdict_of_task_body(body, uri)

    def _verdict_of_task_body(self, body: Mapping[str, Any], uri: str) -> str:
        state = str(body.get("TaskState") or body.get("JobState") or "")
        msgs = task_messages(body)
        if state in OK_STATES:
            outcome = self.judge_messages(msgs, state, uri)
            if outcome.kind == "failed":
                return f"failed:{outcome.detail or outcome.message_id}"
            return "done"
        if state in NEEDS_ACTION_STATES:
            return "done"
        if state in FAILED_STATES:
            bad = any_message(msgs, *FAILURE_IDS) or (msgs[-1] if msgs else None)
            return f"failed:{(bad.message or bad.message_id) if bad else state}"
        if state in ("Scheduled", "PendingActivation", "RebootPending") or (
                state == "Pending" and any_message(msgs, "AwaitToActivate", "JCP001")):
            return "done"  # staged: only the activation remains
        return f"in-flight:{uri}"

    async def settle_vendor(self, intent: Mapping[str, Any], key: str, target: Any,
                            details: Mapping[str, Any]) -> str | None:
        return None

    async def _settle_from_tasks(self, key: str, details: Mapping[str, Any]) -> str | None:
        """A task on the BMC that names this component (or our image file) decides."""
        kind = key.split(":", 1)[0]
        filename = str(details.get("filename") or "")
        best: str | None = None
        for task in await self._task_members():
            uri = str(task.get("@odata.id") or "")
            names = [a for m in task_messages(task) for a in m.args]
            mentions_file = bool(filename) and any(filename in a for a in names)
            if not mentions_file and self.component_of_task(task) != kind:
                continue
            verdict = self._verdict_of_task_body(task, uri)
            if verdict.startswith("in-flight"):
                return verdict
            if verdict == "done" or best is None:
                best = verdict
        return best


def _is_task_body(body: Mapping[str, Any] | None) -> bool:
    if not body:
        return False
    kind = str(body.get("@odata.type", ""))
    return "TaskState" in body or "JobState" in body or "#Task." in kind


def _first_allowed(allowed: list[str], *choices: str) -> str:
    if not allowed:
        return choices[0]
    for c in choices:
        if c in allowed:
            return c
    raise ApplyError(f"none of {', '.join(choices)} is an allowed ResetType ({', '.join(allowed)})")


# Refusals that mean "not ready yet, ask again" (brief 3.5, 2.3; sushy retries both).
_NOT_READY_IDS = ("InvalidOperationForSystemState", "UnableToModifyDuringSystemPOST", "SYS518",
                  "ServiceTemporarilyUnavailable")


def _not_ready(response: httpx.Response) -> bool:
    if response.status_code not in (400, 409, 503):
        return False
    info = parse_error_info(response)
    ids = [info.message_id or ""] + [m.message_id for m in info.messages]
    return any(i.endswith(k) for i in ids for k in _NOT_READY_IDS)


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        import ipaddress

        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _protocol_for(url: str) -> str:
    scheme = urlsplit(url).scheme.upper()
    return scheme or "HTTP"


def _param_values(info: Mapping[str, Any] | None, name: str) -> list[str]:
    for p in (info or {}).get("Parameters") or ():
        if isinstance(p, Mapping) and p.get("Name") == name:
            return [str(v) for v in p.get("AllowableValues") or ()]
    return []


def _param_required(info: Mapping[str, Any] | None, name: str) -> bool:
    for p in (info or {}).get("Parameters") or ():
        if isinstance(p, Mapping) and p.get("Name") == name:
            return bool(p.get("Required"))
    return False
