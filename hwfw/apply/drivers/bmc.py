"""One host's BMC as every part of a driver sees it: the session, what discovery found
(System, Manager, Chassis), inventory reads, the task list, readiness probes.

A BMC resets under our feet (self-updates, activations): every read here goes back to
the BMC, and `fresh_login` starts a new session when the old one died with it.
`open_when_ready` logs in even when the BMC is still coming back from a reset (a run
resumed right after one, or started while a BMC resets for someone else): it asks
again, honouring Retry-After, until `bmc_ready_timeout`.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Mapping

from hwfw.aio import gather_or_cancel
from hwfw.apply.readiness import Readiness
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import BmcAuthError, BmcError, BmcSessionLimit, BmcUnreachable
from hwfw.inventory.collect import ResolvedHost, read_facts
from hwfw.inventory.model import ComponentState
from hwfw.logs import get_logger
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.errors import error_for_response
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.taskstate import task_messages
from hwfw.retry import Backoff, RetryPolicy, parse_retry_after, retry
from hwfw.vendor_registry import record_or_default
from hwfw.vendors.base import BmcFacts, VendorAdapter, action_targets, classify, link

__all__ = ["Bmc"]

log = get_logger("apply.drivers")


class Bmc:
    """The session and discovered resources of one host's BMC."""

    def __init__(self, rh: ResolvedHost, *, settings: Settings, clock: Clock, client: RedfishClient,
                 adapter: VendorAdapter, image_server: Any = None) -> None:
        self.rh = rh
        self.host = rh.name
        self.settings = settings
        self.timing = settings.timing
        self.clock = clock
        self.client = client
        self.adapter = adapter
        self.image_server = image_server
        self.session = RedfishSession(client, rh.username, rh.password,
                                      session_limit_wait=settings.timing.session_limit_wait,
                                      login_context=record_or_default(adapter.name).session_context)
        self.system_uri: str | None = None
        self.manager_uri: str | None = None
        self.chassis_uri: str | None = None
        self.system: dict[str, Any] = {}
        self.manager: dict[str, Any] = {}
        # Awaited once a reset has been requested (or the BMC was seen to reset itself):
        # from then on the rest of the activation is only waiting (a safe point).
        self.on_reset_requested: Callable[[str], Awaitable[None]] | None = None

    async def reset_requested(self, what: str) -> None:
        """Tell the listener a reset is under way (see `on_reset_requested`)."""
        if self.on_reset_requested is not None:
            await self.on_reset_requested(what)

    # ------------------------------------------------------------------ session
    async def open(self) -> None:
        try:
            await self._attempt()
        except BaseException:
            await self.session.__aexit__(None, None, None)
            raise

    async def open_when_ready(self, on_wait: Callable[[str], None] | None = None) -> bool:
        """`open`, waiting for a BMC that does not answer yet (see the module docstring):
        connection failures and 5xx answers are asked again every poll interval (or
        after the BMC's Retry-After, within the client's cap), a refused login too once
        the BMC was seen down (BMCs refuse logins for a while after a reset). Returns
        whether it had to wait; raises BmcUnreachable after `bmc_ready_timeout`."""
        t = self.timing
        interval = max(0.001, min(t.poll_interval, t.stability_interval))
        policy = RetryPolicy(retries=None, backoff=Backoff(base=interval, factor=1.0, cap=interval, jitter=0.0),
                             retry_after_max=max(interval, self.client.options.retry_after_max),
                             clamp_to_deadline=True)
        seen_down = False

        def not_ready(exc: Exception) -> bool:
            nonlocal seen_down
            if isinstance(exc, BmcSessionLimit) or not isinstance(exc, BmcError):
                return False
            if isinstance(exc, BmcUnreachable) or (exc.status or 0) >= 500:
                seen_down = True
                return True
            return seen_down and isinstance(exc, BmcAuthError)

        def waiting(exc: Exception, n: int, delay: float) -> None:
            if n == 1:
                text = (f"the BMC does not answer yet ({getattr(exc, 'message', exc)}); waiting up to "
                        f"{t.bmc_ready_timeout:g}s for it, as after a reset")
                log.info("%s: %s", self.host, text)
                if on_wait is not None:
                    on_wait(text)

        try:
            await retry(self._attempt, clock=self.clock, policy=policy, retryable=not_ready,
                        deadline=self.clock.monotonic() + t.bmc_ready_timeout,
                        retry_after_of=lambda exc: parse_retry_after(getattr(exc, "retry_after", None), self.clock),
                        on_retry=waiting)
        except BaseException as exc:
            await self.session.__aexit__(None, None, None)
            if seen_down and isinstance(exc, BmcError) and not isinstance(exc, BmcUnreachable):
                raise BmcUnreachable(f"the BMC did not come back within {t.bmc_ready_timeout:g}s (last: "
                                     f"{exc.message})", host=self.host, url=str(self.client.base_url),
                                     hint="check the BMC's console or power; raise "
                                          "settings.timing.bmc_ready_timeout if it is just slow") from exc
            raise
        return seen_down

    async def _attempt(self) -> None:
        """One login and discovery; a half-made session is logged out (the client stays open)."""
        try:
            await self.session.open()
            await self._discover()
        except BaseException:
            await asyncio.shield(self.session.logout())
            raise

    async def close(self, *exc_info: object) -> None:
        await self.session.__aexit__(*exc_info)

    async def _discover(self) -> None:
        root = self.session.root
        systems = await self.members(link(root, "Systems"))
        managers = await self.members(link(root, "Managers"))
        chassis = await self.members(link(root, "Chassis"), expand=False)
        self.system = systems[0] if systems else {}
        self.manager = managers[0] if managers else {}
        self.system_uri = self.system.get("@odata.id")
        self.manager_uri = self.manager.get("@odata.id")
        self.chassis_uri = chassis[0].get("@odata.id") if chassis else None

    async def members(self, uri: str | None, expand: bool = True) -> list[dict[str, Any]]:
        if not uri:
            return []
        return await self.session.members(uri, expand=expand)

    async def fresh_login(self) -> None:
        """Log in again from scratch (after a BMC reset every session is gone). A session
        the BMC may still hold is deleted first, so re-logins never leak one."""
        await self.session.login_again()
        self.session.relogins = 0

    async def try_fresh_login(self) -> None:
        """After a refused token in a poll loop: log in from scratch if the BMC lets us
        (the session's own re-login budget may be spent on a half-up BMC)."""
        try:
            await self.fresh_login()
        except BmcError as exc:
            log.debug("%s: login not possible yet: %s", self.host, exc.message)

    def readiness(self, vendor_check: Callable[[], Awaitable[str | None]] | None = None) -> Readiness:
        return Readiness(self.session, self.clock, self.timing, self.system_uri, self.manager_uri,
                         vendor_check=vendor_check, relogin=self.fresh_login)

    def update_service_uri(self) -> str:
        return link(self.session.root, "UpdateService") or "/redfish/v1/UpdateService"

    def system_reset_action(self) -> tuple[str | None, list[str]]:
        """The System's Reset target and its allowed ResetTypes (as discovery read them)."""
        action = action_targets(self.system).get("Reset")
        if not action:
            return None, []
        return str(action["target"]), [str(v) for v in action.get("ResetType@Redfish.AllowableValues") or ()]

    # ------------------------------------------------------------------ inventory
    async def facts(self, *, full: bool) -> BmcFacts:
        if full:
            facts = await read_facts(self.session)
            if facts.systems:
                self.system = dict(facts.system)
            if facts.managers:
                self.manager = dict(facts.manager)
            return facts
        root = self.session.root
        systems, managers, us = await gather_or_cancel(
            self.members(link(root, "Systems")), self.members(link(root, "Managers")),
            self.optional(link(root, "UpdateService")))
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

    async def optional(self, uri: str | None) -> dict[str, Any] | None:
        """The resource at `uri`, or None when there is none (no link, 404)."""
        if not uri:
            return None
        response = await self.session.request("GET", uri, check=False)
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise error_for_response(self.host, "GET", str(response.request.url), response)
        return self.client.json_of(response, uri)

    async def components(self) -> tuple[ComponentState, ...]:
        return self.adapter.components(await self.facts(full=False))

    async def read_versions(self) -> dict[str, str | None]:
        try:
            comps = await self.components()
        except BmcAuthError:
            # The session's re-login budget is spent (the BMC reset several times): start over.
            await self.fresh_login()
            comps = await self.components()
        return {c.key: c.version for c in comps}

    async def version_of(self, key: str, kind: str, instance: str) -> str | None:
        """The running version of one component, None when it cannot be read now."""
        try:
            versions = await self.read_versions()
        except BmcError:
            return None
        if key in versions:
            return versions[key]
        for k, v in versions.items():
            if k == kind or k.startswith(kind + ":") and k.endswith(instance):
                return v
        return None

    # ------------------------------------------------------------------ tasks
    def tasks_uri(self) -> str:
        root = self.session.root
        ts = link(root, "Tasks") or link(root, "TaskService") or "/redfish/v1/TaskService"
        return ts.rstrip("/") + "/Tasks"

    async def task_members(self) -> list[dict[str, Any]]:
        try:
            return await self.session.members(self.tasks_uri())
        except BmcError as exc:
            if exc.status in (404, 405, 501):
                return []
            raise

    def component_of_task(self, task: Mapping[str, Any]) -> str | None:
        """Best-effort component kind a task works on (from target URIs in its messages)."""
        for m in task_messages(task):
            for arg in m.args:
                kind = self._kind_of_uri(arg)
                if kind:
                    return kind
        name = str(task.get("Name") or "")
        return classify(name) if name else None

    def _kind_of_uri(self, uri: str) -> str | None:
        if self.manager_uri and uri.rstrip("/") == self.manager_uri.rstrip("/"):
            return "bmc"
        if uri.rstrip("/").endswith("/Bios"):
            return "bios"
        if "/FirmwareInventory/" in uri:
            return classify(uri.rsplit("/", 1)[-1])
        return None
