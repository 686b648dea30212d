"""The Redfish service of one simulated BMC: dispatch, auth, errors, ETags, persistence.

Vendor profiles subclass `BmcService` (through the resource and update mixins) and
declare their data table (`TABLE`), ids and dialect; behaviour differences are methods
they override. One instance per BMC; all of them share the fleet's clock and event log.
"""

from __future__ import annotations

import hashlib
import random
from typing import TYPE_CHECKING, Any, ClassVar, Mapping

from hwfw.sim.http import HttpError, Request, Response, dumps
from hwfw.sim.machine import Machine
from hwfw.sim.messages import GENERIC_DIALECT, Dialect, error_body
from hwfw.sim.service.expand import expand
from hwfw.sim.service.router import Router
from hwfw.sim.service.sessions import SessionTable, check_basic
from hwfw.sim.service.tasks import Task, TaskEngine

if TYPE_CHECKING:
    from hwfw.sim.world import Fleet

_ROUTERS: dict[tuple[type, tuple[tuple[str, str], ...]], Router] = {}
_INVENTORY = "/redfish/v1/UpdateService/FirmwareInventory/"
PUBLIC_ROOTS = frozenset({"/redfish", "/redfish/v1", "/redfish/v1/$metadata", "/redfish/v1/odata"})


def etag_of(data: Any) -> str:
    return '"' + hashlib.blake2b(dumps(data).encode(), digest_size=8).hexdigest() + '"'


class BmcService:
    """Base behaviour shared by every vendor; see hwfw/sim/profiles/ for the vendors."""

    VENDOR: ClassVar[str] = "generic"
    IDS: ClassVar[Mapping[str, str]] = {"S": "1", "M": "1", "C": "1"}
    TABLE: ClassVar[Mapping[str, Any]] = {}
    DIALECT: ClassVar[Dialect] = GENERIC_DIALECT
    # "1.0": answer as HTTP/1.0 and close the connection after each answer (app.py, server.py).
    HTTP_VERSION: ClassVar[str] = "1.1"

    CACHEABLE_PREFIX: ClassVar[frozenset[str]] = frozenset({
        "/redfish/v1", "/redfish", "/redfish/v1/UpdateService/FirmwareInventory", "/redfish/v1/Systems",
        "/redfish/v1/Managers", "/redfish/v1/Chassis", "/redfish/v1/$metadata", "/redfish/v1/odata"})

    def __init__(self, world: Fleet, machine: Machine) -> None:
        self.world = world
        self.machine = machine
        self.spec = machine.spec
        self.name = machine.name
        self.ids = dict(self.IDS)
        self.table: dict[str, Any] = {**self.TABLE, **dict(self.spec.timings)}
        self.options = {**self.TABLE.get("options", {}), **dict(self.spec.options)}
        self.dialect = self.DIALECT
        self.profile = self
        self.rng = random.Random(f"{world.seed}:{self.name}")
        self.accounts = dict(self.spec.credentials)
        self.password_changed = not self.spec.password_change_required
        self.revision = 0
        self._cache: dict[tuple[str, str | None], tuple[tuple[int, int], Response]] = {}
        self.id_counter = 0
        self.address: str | None = None   # the loopback address the BMC answers on, once bound
        self.cleared_faults: set[str] = set()
        self.sessions = SessionTable(self, int(self.options.get("session_limit", self.table["session_limit"])),
                                     float(self.options.get("session_timeout", self.table["session_timeout"])))
        self.tasks = TaskEngine(self, int(self.options.get("max_tasks", self.table.get("max_tasks", 64))))
        key = (type(self), tuple(sorted(self.ids.items())))
        if key not in _ROUTERS:
            _ROUTERS[key] = Router(type(self), self.ids)
        self.router = _ROUTERS[key]
        machine.post_hooks.append(self.on_post)
        machine.post_end_hooks.append(self.on_post_end)
        machine.bmc_down_hooks.append(self.on_bmc_down)
        machine.bmc_up_hooks.append(self.on_bmc_up)
        self.setup()

    # ------------------------------------------------------------ hooks for profiles
    def setup(self) -> None:
        """Profile-specific state (queues, repositories)."""

    def session_id(self, counter: int, rng: random.Random) -> str:
        return str(counter)

    def on_post(self, flash_at: float) -> float:
        """Host POST starts; return extra virtual seconds spent flashing during POST."""
        return 0.0

    def on_post_end(self) -> None:
        """Host POST finished."""

    def fault_active(self, name: str) -> bool:
        """A sticky fault (stuck queue, stuck update mode) that a BMC cold reset clears."""
        return bool(self.faults.get(name)) and name not in self.cleared_faults

    def on_bmc_down(self) -> None:
        """The BMC reboots: sessions are gone, and by default so is the task list."""
        self.cleared_faults.update(("stuck_jobs", "update_mode_stuck"))
        self.sessions.drop_all("bmc-reset")
        if self.table.get("tasks_survive_bmc_reset") is not True:
            self.tasks.wipe()

    def on_bmc_up(self) -> None:
        """The BMC is back (partially)."""

    def on_task_terminal(self, task: Task) -> None:
        now = self.world.clock.now()
        if self.faults.get("monitor_vanish"):
            task.purge_at = now
            task.monitor_purge_at = now
            return
        purge = self.faults.get("task_purge", self.table.get("task_purge"))
        if purge is not None:
            from hwfw.config.model import parse_duration

            task.purge_at = now + parse_duration(purge)
        monitor_purge = self.table.get("monitor_purge")
        if monitor_purge is not None:
            task.monitor_purge_at = now + float(monitor_purge)

    def task_effect(self, task: Task, name: str, args: Mapping[str, Any]) -> None:
        handler = getattr(self, f"effect_{name}", None)
        if handler is None:
            raise AttributeError(f"{type(self).__name__} has no task effect {name!r}")
        handler(task, **args)

    # ------------------------------------------------------------ state
    @property
    def faults(self) -> Mapping[str, Any]:
        return self.world.faults_for(self.name)

    def touch(self) -> None:
        self.revision += 1
        self.world.mark_dirty()

    def now(self) -> float:
        return self.world.clock.now()

    def after_answer(self, action: Any, delay: float = 1.0) -> None:
        """Run `action` a (virtual) second after this request: the BMC answers, then resets."""
        self.world.scheduler.after(delay, action)

    def next_id(self) -> int:
        """Monotonic per-BMC counter for task/job/session ids (persisted)."""
        self.id_counter += 1
        return self.id_counter

    def to_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks.to_list(), "password_changed": self.password_changed, "ids": self.id_counter,
                "accounts": self.accounts, "extra": self.extra_state()}

    def restore(self, d: Mapping[str, Any]) -> None:
        self.tasks.restore(list(d.get("tasks", [])))
        self.id_counter = int(d.get("ids", 0))
        self.password_changed = bool(d.get("password_changed", self.password_changed))
        self.accounts = dict(d.get("accounts", self.accounts))
        self.restore_extra(d.get("extra") or {})

    def pending_summary(self) -> list[dict[str, Any]]:
        """Work waiting on this BMC (queued jobs, staged images) for /__sim/state."""
        return [{"task": t.id, "name": t.name, "waiting": t.waiting} for t in self.tasks.active() if t.waiting]

    def bios_summary(self) -> dict[str, Any]:
        """BIOS configuration facts for /__sim/state (service/bios.py fills it in)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        return {}

    def restore_extra(self, d: Mapping[str, Any]) -> None:
        pass

    # ------------------------------------------------------------ responses
    def ok(self, data: dict[str, Any], status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
        return Response.json(status, data, headers)

    def error(self, status: int, registry: str, key: str, args: tuple[Any, ...] | list[Any] = (),
              headers: list[tuple[str, str]] | None = None, related: list[str] | None = None) -> Response:
        return Response.json(status, error_body(registry, key, list(args), self.dialect, related=related), headers)

    def fail(self, status: int, registry: str, key: str, args: tuple[Any, ...] | list[Any] = (),
             headers: list[tuple[str, str]] | None = None) -> HttpError:
        return HttpError(self.error(status, registry, key, args, headers))

    def not_found(self, req: Request) -> Response:
        return self.error(404, "Base", "ResourceNotFound", ("Resource", req.path))

    def action_ok(self) -> Response:
        """What a successful action answers; vendors differ (204 Dell, 200 Success SMC, iLO envelope)."""
        return Response.empty(204)

    # ------------------------------------------------------------ dispatch
    async def handle(self, req: Request) -> Response:
        self.world.scheduler.run_due()
        method = "GET" if req.method == "HEAD" else req.method
        match = self.router.match(method, req.path)
        if match is None:
            allowed = self.router.allowed(req.path)
            if allowed:
                return self.error(405, "Base", "OperationNotAllowed", (),
                                  headers=[("allow", ", ".join(allowed + (["HEAD"] if "GET" in allowed else [])))])
            return self.not_found(req)
        if not match.public and req.path not in PUBLIC_ROOTS:
            denied = self.authenticate(req)
            if denied is not None:
                return denied
        gate = self.gate(req)
        if gate is not None:
            return gate
        cacheable = method == "GET" and (req.path in self.CACHEABLE_PREFIX or req.path.startswith(_INVENTORY))
        stamp = (self.revision, self.machine.revision)
        if cacheable:
            hit = self._cache.get((req.path, req.query.get("$expand")))
            if hit is not None and hit[0] == stamp:
                return hit[1]
        try:
            result = await getattr(self, match.name)(req, **match.params)
        except HttpError as exc:
            return exc.response
        if isinstance(result, Response):
            return result
        if "$expand" in req.query and method == "GET":
            result = await expand(self, req, result)
        response = Response.json(200, result, etag=True)
        if cacheable and stamp == (self.revision, self.machine.revision):
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[(req.path, req.query.get("$expand"))] = (stamp, response)
        return response

    async def internal_get(self, path: str, req: Request) -> dict[str, Any] | None:
        """GET a resource body without HTTP (used by $expand)."""
        match = self.router.match("GET", path.rstrip("/") if len(path) > 1 else path)  # iLO-style "/x/" links
        if match is None:
            return None
        try:
            result = await getattr(self, match.name)(req, **match.params)
        except HttpError:
            return None
        return result if isinstance(result, dict) else None

    def gate(self, req: Request) -> Response | None:
        """Refuse requests the BMC cannot serve right now (partially up, password change)."""
        if self.machine.bmc_state == "partial" and req.path not in PUBLIC_ROOTS:
            return self.partial_response(req)
        if not self.password_changed and req.user is not None and not self.password_change_allowed(req):
            account = f"/redfish/v1/AccountService/Accounts/{self.account_id(req.user)}"
            return self.error(403, "Base", "PasswordChangeRequired", (account,))
        return None

    def partial_response(self, req: Request) -> Response | None:
        retry = str(int(self.table.get("bmc_partial", 30)))
        return self.error(503, "Base", "ServiceTemporarilyUnavailable", (retry,), headers=[("retry-after", retry)])

    def password_change_allowed(self, req: Request) -> bool:
        return req.method in ("PATCH", "GET") and req.path.startswith("/redfish/v1/AccountService/Accounts") or \
            req.path.startswith("/redfish/v1/SessionService/Sessions")

    def account_id(self, user: str) -> str:
        return str(list(self.accounts).index(user) + 2) if user in self.accounts else "2"

    # ------------------------------------------------------------ auth
    def authenticate(self, req: Request) -> Response | None:
        token = req.headers.get("x-auth-token")
        if token is None and "cookie" in req.headers and self.table.get("cookie_auth"):
            token = _cookie(req.headers["cookie"], "sessionKey")
        if token is not None:
            if self.faults.get("session_expire_rate") and self.rng.random() < float(self.faults["session_expire_rate"]):
                s = self.sessions.by_token.get(token)
                if s is not None:
                    self.world.events.emit(self.name, "fault", kind="expire-session", id=s.id)
                    self.sessions.delete(s.id, "fault")
            session = self.sessions.lookup(token)
            if session is not None:
                req.user, req.session = session.user, session
                return None
        elif "authorization" in req.headers:
            user = check_basic(req.headers["authorization"], self.accounts)
            if user is not None:
                req.user = user
                return None
        return self.unauthorized()

    def unauthorized(self) -> Response:
        return self.error(401, "Base", "NoValidSession", (),
                          headers=[("www-authenticate", 'Basic realm="Redfish"')])


def _cookie(header: str, name: str) -> str | None:
    for item in header.split(";"):
        key, _, value = item.strip().partition("=")
        if key == name:
            return value
    return None
