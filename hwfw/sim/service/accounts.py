"""Sessions, accounts and the task views every simulated BMC has (DSP0266 sessions and
asynchronous operations; docs/vendor-behaviour.md)."""

from __future__ import annotations

from typing import Any

from hwfw.sim.http import HttpError, Request, Response
from hwfw.sim.service.bios import BiosResources
from hwfw.sim.service.resources import R, collection, ref
from hwfw.sim.service.router import route
from hwfw.sim.service.sessions import SessionLimit
from hwfw.sim.service.tasks import Task


class AccessResources(BiosResources):
    """SessionService, AccountService and TaskService routes."""

    # ------------------------------------------------------------ sessions and accounts
    @route("GET", f"{R}/SessionService")
    async def get_session_service(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/SessionService", "@odata.type": self.t("SessionService"), "Id": "SessionService",
                "Name": "Session Service", "ServiceEnabled": True, "SessionTimeout": int(self.sessions.timeout),
                "Sessions": ref(f"{R}/SessionService/Sessions"), "Status": {"State": "Enabled", "Health": "OK"}}

    @route("PATCH", f"{R}/SessionService")
    async def patch_session_service(self, req: Request) -> Response:
        data = await req.json()
        timeout = data.get("SessionTimeout") if isinstance(data, dict) else None
        if not isinstance(timeout, int) or not 30 <= timeout <= 86400:
            raise self.fail(400, "Base", "PropertyValueNotInList", (timeout, "SessionTimeout"))
        self.sessions.timeout = float(timeout)
        return Response.empty(204)

    def no_sessions(self, req: Request) -> Response | None:
        """`options: {sessions: "404"|"405"}`: a service that offers no sessions (a static
        mockup server serving a captured root that still links Sessions): the login
        POST answers 404, or 405 with `Allow: GET, HEAD`."""
        mode = str(self.options.get("sessions", "enabled"))
        if mode == "404":
            return self.not_found(req)
        if mode == "405" and req.method == "POST":
            return self.error(405, "Base", "OperationNotAllowed", (), headers=[("allow", "GET, HEAD")])
        return None

    @route("GET", f"{R}/SessionService/Sessions")
    async def get_sessions(self, req: Request) -> dict[str, Any] | Response:
        refused = self.no_sessions(req)
        if refused is not None:
            return refused
        return collection(f"{R}/SessionService/Sessions", "SessionCollection", "Session Collection",
                          [f"{R}/SessionService/Sessions/{s.id}" for s in self.sessions.live()])

    @route("POST", f"{R}/SessionService/Sessions", public=True)
    async def post_session(self, req: Request) -> Response:
        refused = self.no_sessions(req)
        if refused is not None:
            return refused
        data = await req.json()
        user = data.get("UserName") if isinstance(data, dict) else None
        password = data.get("Password") if isinstance(data, dict) else None
        if not isinstance(user, str) or not isinstance(password, str):
            raise self.fail(400, "Base", "PropertyMissing", ("UserName" if not isinstance(user, str) else "Password",))
        context = data.get("Context")
        mode = self.session_context_mode()
        if context is not None and mode == "refused":
            raise self.fail(400, "Base", "PropertyUnknown", ("Context",))
        if context is not None and not isinstance(context, str):
            raise self.fail(400, "Base", "PropertyValueTypeError", (str(context), "Context"))
        if self.accounts.get(user) != password:
            return self.unauthorized()
        try:
            session = self.sessions.create(user, context if mode == "stored" else None)
        except SessionLimit:
            return self.session_limit_response()
        uri = f"{R}/SessionService/Sessions/{session.id}"
        body = self.session_body(session.id)
        assert body is not None
        if not self.password_changed:
            from hwfw.sim.messages import message

            account = f"{R}/AccountService/Accounts/{self.account_id(user)}"
            body["@Message.ExtendedInfo"] = [message("Base", "PasswordChangeRequired", (account,), self.dialect)]
        return self.ok(body, 201, headers=[("x-auth-token", session.token), ("location", uri)])

    def session_limit_response(self) -> Response:
        return self.error(503, "Base", "SessionLimitExceeded")

    def session_context_mode(self) -> str:
        """What the login POST does with a client's `Context` (Session v1.5): `stored`
        (kept and shown with the session), `ignored`, or `refused` (400 PropertyUnknown);
        per profile (`session_context` in its table), overridable per BMC in `options`."""
        return str(self.options.get("session_context", self.table.get("session_context", "ignored")))

    def session_body(self, sid: str) -> dict[str, Any] | None:
        s = self.sessions.by_id.get(sid)
        if s is None:
            return None
        return {"@odata.id": f"{R}/SessionService/Sessions/{sid}", "@odata.type": self.t("Session"), "Id": sid,
                "Name": "User Session", "UserName": s.user, "CreatedTime": self.world.clock.iso(s.created),
                **({"Context": s.context} if s.context is not None else {})}

    @route("GET", f"{R}/SessionService/Sessions/{{sid}}")
    async def get_session(self, req: Request, sid: str) -> dict[str, Any] | Response:
        self.sessions.sweep()
        return self.session_body(sid) or self.not_found(req)

    @route("DELETE", f"{R}/SessionService/Sessions/{{sid}}")
    async def delete_session(self, req: Request, sid: str) -> Response:
        if not self.sessions.delete(sid, "logout"):
            return self.not_found(req)
        return Response.empty(204)

    @route("GET", f"{R}/AccountService")
    async def get_account_service(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/AccountService", "@odata.type": self.t("AccountService"), "Id": "AccountService",
                "Name": "Account Service", "ServiceEnabled": True, "MinPasswordLength": 8, "MaxPasswordLength": 40,
                "Accounts": ref(f"{R}/AccountService/Accounts"), "Status": {"State": "Enabled", "Health": "OK"}}

    @route("GET", f"{R}/AccountService/Accounts")
    async def get_accounts(self, req: Request) -> dict[str, Any]:
        return collection(f"{R}/AccountService/Accounts", "ManagerAccountCollection", "Accounts Collection",
                          [f"{R}/AccountService/Accounts/{self.account_id(u)}" for u in self.accounts])

    def _account_user(self, aid: str) -> str | None:
        return next((u for u in self.accounts if self.account_id(u) == aid), None)

    @route("GET", f"{R}/AccountService/Accounts/{{aid}}")
    async def get_account(self, req: Request, aid: str) -> dict[str, Any] | Response:
        user = self._account_user(aid)
        if user is None:
            return self.not_found(req)
        return {"@odata.id": f"{R}/AccountService/Accounts/{aid}", "@odata.type": self.t("ManagerAccount"),
                "Id": aid, "Name": "User Account", "UserName": user, "RoleId": "Administrator", "Enabled": True,
                "Locked": False, "PasswordChangeRequired": not self.password_changed,
                "AccountTypes": ["Redfish", "WebUI"] + (["IPMI"] if self.spec.ipmi_enabled else [])}

    @route("PATCH", f"{R}/AccountService/Accounts/{{aid}}")
    async def patch_account(self, req: Request, aid: str) -> Response:
        user = self._account_user(aid)
        if user is None:
            return self.not_found(req)
        data = await req.json()
        password = data.get("Password") if isinstance(data, dict) else None
        if not isinstance(password, str) or len(password) < 8:
            raise self.fail(400, "Base", "PropertyValueNotInList", ("***", "Password"))
        self.accounts[user] = password
        self.password_changed = True
        self.touch()
        return Response.empty(204)

    # ------------------------------------------------------------ tasks
    @route("GET", f"{R}/TaskService")
    async def get_task_service(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/TaskService", "@odata.type": self.t("TaskService"), "Id": "TaskService",
                "Name": "Task Service", "ServiceEnabled": True, "CompletedTaskOverWritePolicy": "Oldest",
                "LifeCycleEventOnTaskStateChange": True, "DateTime": self.world.clock.iso(),
                "Status": {"State": "Enabled", "Health": "OK"}, "Tasks": ref(f"{R}/TaskService/Tasks")}

    @route("GET", f"{R}/TaskService/Tasks")
    async def get_tasks(self, req: Request) -> dict[str, Any]:
        return collection(f"{R}/TaskService/Tasks", "TaskCollection", "Task Collection",
                          [f"{R}/TaskService/Tasks/{t.id}" for t in self.tasks.visible()])

    @route("GET", f"{R}/TaskService/Tasks/{{tid}}")
    async def get_task(self, req: Request, tid: str) -> dict[str, Any] | Response:
        task = self.tasks.get(tid)
        if task is None or task.hidden:
            return self.not_found(req)
        return self.task_body(task)

    def task_body(self, task: Task) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@odata.id": f"{R}/TaskService/Tasks/{task.id}", "@odata.type": self.t("Task"), "Id": task.id,
            "Name": task.name, "TaskState": task.state, "PercentComplete": self.tasks.percent(task),
            "StartTime": self.world.clock.iso(task.created), "Messages": list(task.messages)}
        if task.terminal:
            body["TaskStatus"] = task.status
            body["EndTime"] = self.world.clock.iso(task.end)
        else:
            body["TaskStatus"] = "OK"
        if task.monitor:
            body["TaskMonitor"] = task.monitor
        self.task_extra(task, body)
        return body

    def task_extra(self, task: Task, body: dict[str, Any]) -> None:
        pass

    @route("DELETE", f"{R}/TaskService/Tasks/{{tid}}")
    async def delete_task(self, req: Request, tid: str) -> Response:
        task = self.tasks.get(tid)
        if task is None:
            return self.not_found(req)
        return self.cancel_task(task)

    def cancel_task(self, task: Task) -> Response:
        """DELETE on a task or monitor cancels it while nothing was written yet."""
        if task.terminal:
            return Response.empty(204)
        if task.data.get("flashing"):
            raise HttpError(self.error(409, "Base", "ResourceInUse"))
        from hwfw.sim.messages import message

        self.tasks.finish(task, "Cancelled", [message("TaskEvent", "TaskCancelled", (task.id,), self.dialect)])
        self.on_task_cancelled(task)
        return Response.empty(204)

    def on_task_cancelled(self, task: Task) -> None:
        pass
