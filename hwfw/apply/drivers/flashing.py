"""Flashing: choose an update method from the vendor's table, and the tools every
method uses (streamed sends, "not ready yet" retries, following the task, turning its
outcome into a FlashResult).

- **Task state is a hint; the version is the truth.** A task that vanishes (404, wiped
  by a BMC reset) falls back to reading the inventory; `Completed` with
  `ResetRequired`/`AwaitToActivate` means "written, runs after a reset"
  (FLASH_PENDING). `UpdateSkippedSameVersion` ("already installed") is taken at its
  word only once a version read confirms it (FLASH_SKIPPED_SAME: nothing to activate);
  otherwise the flash fails with the BMC's message, before any reset. Skips for other
  reasons fail with theirs (taskstate.py). An answer with no task and no message that
  changed nothing is FLASH_UNCONFIRMED.
- **A BMC that resets itself is remembered** (`expectation`): the activation right
  after the flash then waits for that reset instead of sending a second one.
- **Images are checked while they stream** (upload.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import urlsplit

import httpx

from hwfw.apply.driver import (
    FLASH_ACTIVE,
    FLASH_PENDING,
    FLASH_SKIPPED_SAME,
    FLASH_UNCONFIRMED,
    FlashRequest,
    FlashResult,
    Progress,
)
from hwfw.apply.drivers.activation import Expectation
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.context import FlashContext, UpdateMethod, apply_time_for, image_filename, supported_values
from hwfw.apply.upload import FilePart, FormField, MultipartBody, RawBody, send_stream, upload_timeout
from hwfw.errors import ApplyError, BmcError
from hwfw.logs import get_logger
from hwfw.redfish.errors import parse_error_info
from hwfw.redfish.tasks import (
    FollowPolicy,
    Observation,
    TaskOutcome,
    TaskRef,
    TaskTimeout,
    follow_task,
    task_ref_from_response,
)
from hwfw.redfish.taskstate import RESET_HINTS
from hwfw.retry import Attempts, polling
from hwfw.vendors.base import action_targets, apply_time_support

if TYPE_CHECKING:
    from hwfw.apply.drivers.quirks import Quirks

__all__ = ["Flasher"]

log = get_logger("apply.drivers")

# Refusals that mean "not ready yet, ask again" (sushy retries both kinds too).
_NOT_READY_IDS = ("InvalidOperationForSystemState", "UnableToModifyDuringSystemPOST", "SYS518",
                  "ServiceTemporarilyUnavailable")


def not_ready(response: httpx.Response) -> bool:
    if response.status_code not in (400, 409, 503):
        return False
    info = parse_error_info(response)
    ids = [info.message_id or ""] + [m.message_id for m in info.messages]
    return any(i.endswith(k) for i in ids for k in _NOT_READY_IDS)


class Flasher:
    """Flashes one host's BMC with the update methods of its vendor's quirks."""

    def __init__(self, bmc: Bmc, quirks: Quirks) -> None:
        self.bmc = bmc
        self.quirks = quirks
        self.host = bmc.host
        self.session = bmc.session
        self.clock = bmc.clock
        self.timing = bmc.timing
        # Called with the task/job URI as soon as the BMC accepted an image (so a crash
        # right after can be settled from it).
        self.on_accepted: Callable[[str], None] | None = None
        # The reset the BMC performs by itself after the last flash, if any.
        self.expectation: Expectation | None = None

    # ------------------------------------------------------------------ choosing
    async def flash(self, request: FlashRequest, progress: Progress) -> FlashResult:
        self.expectation = None
        ctx = await self.context(request)
        name = self.choose_method(request, ctx)
        method: UpdateMethod = self.quirks.methods[name]
        limit = ctx.update_service.get("MaxImageSizeBytes")
        if method.push and isinstance(limit, int) and limit > 0 and ctx.size > limit:
            raise ApplyError(f"{self.host}: image {request.entry.id} is {ctx.size} bytes; the BMC accepts pushes of "
                             f"at most {limit} (UpdateService.MaxImageSizeBytes)",
                             hint="let the BMC pull it (method: simple-update with settings.image_server), or "
                                  "use a smaller package for this model")
        progress(0.0, f"sending {request.entry.id} ({ctx.size} bytes) by {name}")
        log.info("%s: flashing %s %s -> %s with %s (%s)", self.host, request.step.component,
                 request.step.from_version, request.step.to_version, request.entry.id, name)
        return await method.flash(self, request, ctx, progress)

    async def context(self, request: FlashRequest) -> FlashContext:
        facts = await self.bmc.facts(full=False)
        us = dict(facts.update_service or {})
        if not us:
            raise ApplyError(f"{self.host}: the BMC has no UpdateService; it cannot be updated over Redfish")
        comps = self.bmc.adapter.components(facts)
        key = request.step.component or request.kind
        comp = next((c for c in comps if c.key == key), None) or \
            next((c for c in comps if c.kind == request.kind and c.instance == request.instance), None)
        size = request.image_path.stat().st_size
        deadline = self.clock.monotonic() + self.timing.deadline_for(request.kind)
        return FlashContext(update_service=us, component=comp, components=comps, facts=facts, deadline=deadline,
                            size=size, filename=image_filename(request))

    def available(self, ctx: FlashContext) -> list[str]:
        return [name for name, method in self.quirks.methods.items() if method.available(ctx)]

    def choose_method(self, request: FlashRequest, ctx: FlashContext) -> str:
        """The repository entry's `method` if the BMC offers it, else the vendor's choice."""
        available = self.available(ctx)
        native = self.quirks.native_method
        wanted = request.entry.method or "auto"
        if wanted == "vendor":
            wanted = native
        if wanted in ("auto", "vendor"):
            return self.quirks.default_method(request, ctx, available, self.can_pull(request))
        if (wanted not in available and wanted != native) or wanted not in self.quirks.methods:
            raise ApplyError(f"{self.host}: repository entry {request.entry.id} asks for method {wanted!r}, "
                             f"but this BMC offers {', '.join(available) or 'no update method'}",
                             hint="remove `method:` from the repository entry to let hwfw choose")
        if wanted == "simple-update" and not self.has_image_server(request):
            raise ApplyError(f"{self.host}: method simple-update needs hwfw's image server "
                             "(settings.image_server) so the BMC can pull the image")
        return wanted

    def has_image_server(self, request: FlashRequest) -> bool:
        return bool(request.image_url or self.bmc.image_server)

    def can_pull(self, request: FlashRequest) -> bool:
        """An image server runs and the BMC can plausibly reach it: a loopback image URL is
        only usable by a BMC that is itself on loopback (the simulator), never by real ones."""
        server = self.bmc.image_server
        url = request.image_url or (server.base_url if server is not None else None)
        if not url:
            return False
        return not _is_loopback(urlsplit(url).hostname) or _is_loopback(self.bmc.client.base_url.host)

    # ------------------------------------------------------------------ sending
    def file(self, request: FlashRequest, ctx: FlashContext, name: str, **kw: Any) -> FilePart:
        return FilePart(name, request.image_path, request.entry.sha256, filename=ctx.filename,
                        expected_size=request.entry.size, **kw)

    def max_poll_wait(self) -> float:
        return max(self.timing.poll_interval, 6 * self.timing.poll_interval)

    def _upload_timeout(self, size: int) -> float:
        return upload_timeout(size, per_mib=self.timing.upload_timeout_per_mib, floor=self.timing.request_timeout)

    async def send_multipart(self, uri: str, fields: list[FormField], file: FilePart, ctx: FlashContext, *,
                             headers: Mapping[str, str] | None = None, what: str = "multipart upload",
                             trailing: list[FormField] | None = None) -> httpx.Response:
        body = MultipartBody(fields, file, trailing=trailing or ())
        polls = self._not_ready_polls(ctx)
        while True:
            response = await self.send_body(uri, body, ctx, headers=headers, what=what)
            wait = polls.next_delay() if not_ready(response) else None
            if wait is None:
                return response
            log.info("%s: %s refused, BMC not ready yet (%s); retrying", self.host, what,
                     parse_error_info(response).message_id)
            await self.clock.sleep(wait)

    async def send_body(self, uri: str, body: MultipartBody | RawBody, ctx: FlashContext, *,
                        headers: Mapping[str, str] | None = None, what: str = "upload") -> httpx.Response:
        return await send_stream(self.session, "POST", uri, body, clock=self.clock,
                                 timeout=self._upload_timeout(body.content_length()), deadline=ctx.deadline,
                                 headers=headers, auth_check_uri=self.bmc.update_service_uri(),
                                 max_wait=self.max_poll_wait(), what=what)

    async def post_action(self, uri: str, body: Mapping[str, Any], ctx: FlashContext) -> httpx.Response:
        """POST an update action, retrying "not ready yet" refusals until the deadline."""
        polls = self._not_ready_polls(ctx)
        while True:
            response = await self.session.request("POST", uri, json_body=dict(body), check=False)
            wait = polls.next_delay() if not_ready(response) else None
            if wait is None:
                return response
            await self.clock.sleep(wait)

    def _not_ready_polls(self, ctx: FlashContext) -> Attempts:
        """Retries of a request the BMC refused as "not ready yet": each poll interval
        until the flash's deadline."""
        return polling(self.timing.poll_interval).attempts(self.clock, deadline=ctx.deadline)

    def accepted(self, uri: str | None, progress: Progress, method: str) -> None:
        if not uri:
            return
        progress(1.0, f"accepted by the BMC ({method}): {uri}")
        if self.on_accepted is not None:
            try:
                self.on_accepted(uri)
            except Exception:  # pragma: no cover - a listener must not break the flash
                log.exception("on_accepted listener failed")

    def refused(self, request: FlashRequest, response: httpx.Response, method: str) -> ApplyError:
        info = parse_error_info(response)
        text = info.message or response.reason_phrase
        mid = f" [{info.message_id}]" if info.message_id else ""
        return ApplyError(f"{self.host}: {request.step.component}: the BMC refused the image {request.entry.id} "
                          f"({method}, HTTP {response.status_code}): {text}{mid}",
                          hint=info.resolution or _refusal_hint(response.status_code))

    async def install_held(self, request: FlashRequest, uri: str, progress: Progress, *,
                           method: str, ctx: FlashContext | None = None) -> FlashResult:
        """Install an image the BMC itself holds (an uploaded `Available-` or a kept
        `Previous-` inventory member) with SimpleUpdate, and follow it like a flash."""
        ctx = ctx or await self.context(request)
        us = ctx.update_service
        action = action_targets(us).get("SimpleUpdate")
        if not action:
            raise ApplyError(f"{self.host}: the BMC has no SimpleUpdate to install {uri}")
        params: dict[str, Any] = {"ImageURI": uri}
        at = apply_time_for(self.host, request, supported_values(action.get("@Redfish.OperationApplyTimeSupport"))
                            or apply_time_support(us))
        if at:
            params["@Redfish.OperationApplyTime"] = at
        progress(0.0, f"installing {uri.rstrip('/').rsplit('/', 1)[-1]} (held by the BMC)")
        response = await self.post_action(str(action["target"]), params, ctx)
        return await self.after_push(request, ctx, progress, response, method)

    # ------------------------------------------------------------------ following
    async def after_push(self, request: FlashRequest, ctx: FlashContext, progress: Progress,
                         response: httpx.Response, method: str) -> FlashResult:
        """The BMC's answer to a push or pull request, followed to the operation's end."""
        if response.status_code >= 400:
            running = await self._update_already_running(request, parse_error_info(response).message_id)
            if running is None:
                raise self.refused(request, response, method)
            return await self._follow_running(request, ctx, progress, running, method)
        ref = task_ref_from_response(self.session, response)
        if ref:
            self.accepted(ref.task or ref.monitor, progress, method)
        outcome = await self.await_task(ref if ref else response, request, ctx, progress)
        if outcome.kind == "failed":   # a job the BMC accepted, then failed for the same reason
            running = await self._update_already_running(request, outcome.message_id)
            if running is not None:
                return await self._follow_running(request, ctx, progress, running, method)
        return await self.result_of(request, ctx, outcome, method, progress)

    async def _follow_running(self, request: FlashRequest, ctx: FlashContext, progress: Progress, running: str,
                              method: str) -> FlashResult:
        progress(None, f"the BMC is already updating {request.step.component or request.kind} ({running}): "
                       "following that update instead of sending a second one")
        self.accepted(running, progress, method)   # recorded with the intent: a crash from here settles it
        outcome = await self.await_task(TaskRef(task=running), request, ctx, progress)
        return await self.result_of(request, ctx, outcome, method, progress)

    def refused_as_busy(self, response: httpx.Response) -> bool:
        """Did the BMC refuse because an update of the same component is still on it?
        (`after_push` then follows that update.)"""
        return self._busy(parse_error_info(response).message_id)

    def _busy(self, message_id: str | None) -> bool:
        return bool(message_id) and any(b in str(message_id) for b in self.quirks.busy_ids)

    async def _update_already_running(self, request: FlashRequest, message_id: str | None) -> str | None:
        """The update of this component the BMC is still working on, when it refused ours
        for that reason (`Quirks.busy_ids`); None otherwise. The BMC may well be finishing
        an image of an interrupted run: the socket buffers of a killed process still
        deliver its upload after the next run found nothing on the BMC. Followed, and
        verified by version like ours, it is never flashed a second time."""
        if not self._busy(message_id):
            return None
        kind = request.kind
        key = request.step.component or kind
        try:
            work = await self.quirks.in_flight()
        except BmcError:
            return None
        running = [w.uri for w in work if w.component in (key, kind)]
        if running:
            log.warning("%s: %s: the BMC refused a second update [%s]; following its update %s",
                        self.host, key, message_id, running[-1])
        return running[-1] if running else None

    def policy(self, request: FlashRequest, ctx: FlashContext, *, staged: frozenset[str] | None = None,
               **overrides: Any) -> FollowPolicy:
        t = self.timing
        return FollowPolicy(poll_interval=t.poll_interval, max_wait=max(0.0, ctx.deadline - self.clock.monotonic()),
                            retry_after_min=t.poll_interval, retry_after_max=self.max_poll_wait(),
                            staged_states=self.quirks.staged_states(request) if staged is None else staged,
                            grace_polls=self.quirks.creation_grace_polls, job_uri=self.quirks.job_uri_for,
                            **overrides)

    async def await_task(self, ref: TaskRef | httpx.Response, request: FlashRequest, ctx: FlashContext,
                     progress: Progress, *, staged: frozenset[str] | None = None,
                     label: str = "update") -> TaskOutcome:
        """Follow the operation (monitor, Task, then vendor job) until it really ends."""
        def report(obs: Observation) -> None:
            text = obs.messages[-1].message if obs.messages and obs.messages[-1].message else ""
            progress(float(obs.percent) if obs.percent is not None else None,
                     f"{label} {obs.state or '?'}" + (f": {text}" if text else ""))

        try:
            return await follow_task(self.session, ref, clock=self.clock,
                                     policy=self.policy(request, ctx, staged=staged), on_progress=report)
        except TaskTimeout as exc:
            where = ref.task or ref.monitor if isinstance(ref, TaskRef) else None
            raise ApplyError(
                f"{self.host}: {request.step.component}: the {label} did not finish within "
                f"{self.timing.deadline_for(request.kind):g}s (last state {exc.last_state or 'unknown'}"
                f"{', BMC unreachable' if exc.outage else ''}) at {where}",
                hint="the BMC may still be working: check its task list before retrying; raise "
                     f"settings.timing.component_deadlines.{request.kind} if it is just slow") from exc

    async def result_of(self, request: FlashRequest, ctx: FlashContext, outcome: TaskOutcome, method: str,
                        progress: Progress) -> FlashResult:
        """FlashResult from an outcome; the version read decides between active and pending."""
        comp = request.step.component or request.kind
        if outcome.kind == "failed":
            mid = f" [{outcome.message_id}]" if outcome.message_id else ""
            raise ApplyError(f"{self.host}: {comp}: flashing {request.entry.id} failed ({outcome.state}): "
                             f"{outcome.detail or 'no detail'}{mid}", hint=_failure_hint(outcome))
        if outcome.kind == "skipped":
            return await self._skipped(request, outcome, method, progress)
        if outcome.kind == "staged":
            progress(100.0, f"staged; runs after {request.step.activation or 'the next reset'}")
            return FlashResult(FLASH_PENDING, method, outcome.uri, outcome.detail or "staged")
        current = await self.bmc.version_of(comp, request.kind, request.instance)
        target = request.step.to_version
        if target is not None and current is not None and current.strip() == target.strip():
            activation = request.step.activation or ""
            if activation in ("bmc-reset", "host-reboot") and (request.step.apply_time or "Immediate") == "Immediate":
                # The BMC already did the reset during the flash: the activation only waits.
                self.expectation = Expectation(activation, self.clock.monotonic(), seen=True, done=True)
            progress(100.0, f"{comp} now runs {current}")
            return FlashResult(FLASH_ACTIVE, method, outcome.uri,
                               f"running {current}" + (" (task vanished; version verified)"
                                                       if outcome.kind == "vanished" else ""))
        if outcome.kind == "completed" and outcome.uri is None and not outcome.messages:
            # An answer with no task and no message (a 204), and nothing changed: the image
            # may be staged or may have been dropped. Not "pending activation": only the
            # activation and the verification after it can tell.
            message = (f"the BMC answered HTTP {outcome.status or 204} with no task and no message, and "
                       f"{comp} still runs {current!r}: nothing shows the image was written")
            progress(100.0, message)
            return FlashResult(FLASH_UNCONFIRMED, method, None, message)
        self.note_self_reset(request, outcome)
        note = {"vanished": "the task vanished before its end; the version will be verified after activation",
                "needs-action": outcome.detail or "written; needs a reboot or AC power cycle"}.get(outcome.kind)
        hints = [m.message_id for m in outcome.messages if any(h in m.message_id for h in RESET_HINTS)]
        message = note or ("written; " + (", ".join(hints) if hints else "waits for activation"))
        progress(100.0, message)
        return FlashResult(FLASH_PENDING, method, outcome.uri, message)

    async def _skipped(self, request: FlashRequest, outcome: TaskOutcome, method: str,
                       progress: Progress) -> FlashResult:
        """"Skipped: already installed": true when the version runs (nothing to activate);
        else a failure quoting the BMC (a reset would change nothing)."""
        comp = request.step.component or request.kind
        said = f"{outcome.detail or 'skipped: same version'} [{outcome.message_id}]"
        current = await self.bmc.version_of(comp, request.kind, request.instance)
        target = request.step.to_version
        if target is not None and current is not None and current.strip() == target.strip():
            progress(100.0, f"the BMC already runs {current}")
            return FlashResult(FLASH_SKIPPED_SAME, method, outcome.uri, f"the BMC skipped the update: {said}; "
                               f"{current} runs")
        raise ApplyError(f"{self.host}: {comp}: the BMC skipped {request.entry.id}, saying it is already installed "
                         f"({said}), but it reports {current or 'no version'} running, not {target}",
                         hint="an image of that version may be staged on the BMC, waiting for a reset nobody "
                              "requested: check its update queue or jobs before trying again")

    def note_self_reset(self, request: FlashRequest, outcome: TaskOutcome) -> None:
        """Remember that the BMC resets itself (BMC images applied Immediate) or reboots the
        host itself (vendors that do so for Immediate host-side jobs), so `activate` waits
        instead of resetting again."""
        at = request.step.apply_time or "Immediate"
        key, target = request.step.component or request.kind, request.step.to_version
        if request.kind == "bmc" and at == "Immediate":
            self.expectation = Expectation("bmc-reset", self.clock.monotonic(), seen=outcome.outage, key=key,
                                           target=target, token=self.session.token)
        elif self.quirks.immediate_host_reboot_by_bmc and at == "Immediate" and \
                (request.step.activation or "host-reboot") == "host-reboot":
            self.expectation = Expectation("host-reboot", self.clock.monotonic(), seen=outcome.outage, key=key,
                                           target=target)


def _refusal_hint(status: int) -> str | None:
    if status == 413:
        return "the image is larger than the BMC accepts (MaxImageSizeBytes)"
    if status == 411:
        return "the BMC wants a Content-Length (hwfw always sends one: a proxy may strip it)"
    if status == 503:
        return "the BMC stayed busy with another update until the component deadline"
    return None


def _failure_hint(outcome: TaskOutcome) -> str | None:
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
