"""One host's BMC as every part of a driver sees it: the session, what discovery found
(System, Manager, Chassis), inventory reads, the task list, readiness probes.

A BMC resets under our feet (self-updates, activations): every read here goes back to
the BMC, and `fresh_login` starts a new session when the old one died with it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from hwfw.aio import gather_or_cancel
from hwfw.apply.readiness import Readiness
from hwfw.clock import Clock
from hwfw.config.model import Settings
from hwfw.errors import BmcAuthError, BmcError
from hwfw.inventory.collect import ResolvedHost, read_facts
from hwfw.inventory.model import ComponentState
from hwfw.logs import get_logger
from hwfw.redfish.client import RedfishClient
from hwfw.redfish.errors import error_for_response
from hwfw.redfish.session import RedfishSession
from hwfw.redfish.taskstate import task_messages
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
        self.session = RedfishSession(client, rh.username, rh.password)
        self.system_uri: str | None = None
        self.manager_uri: str | None = None
        self.chassis_uri: str | None = None
        self.system: dict[str, Any] = {}
        self.manager: dict[str, Any] = {}

    # ------------------------------------------------------------------ session
    async def open(self) -> None:
        try:
            await self.session.open()
            await self._discover()
        except BaseException:
            await self.session.__aexit__(None, None, None)
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
