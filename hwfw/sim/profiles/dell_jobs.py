"""Dell iDRAC9 jobs: JID_/RID_ jobs, their three views, the job queue, LC readiness.

A Dell job is a task in the engine whose Dell fields live in `task.oem` (JobState,
Message, MessageId). Views: /redfish/v1/TaskService/Tasks/JID_ (a Task, purged soon
after completion, and gone after an iDRAC reboot), /redfish/v1/Managers/
iDRAC.Embedded.1/Oem/Dell/Jobs/JID_ and /redfish/v1/JobService/Jobs/JID_ (the job,
which survives both). Scheduled jobs run during the next host POST, whatever caused
the reboot. (docs/vendor-behaviour.md, "Dell iDRAC9: jobs".)
"""

from __future__ import annotations

from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.messages import message
from hwfw.sim.service.odata import ODataResources
from hwfw.sim.service.resources import R, collection, ref
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task

MGR = f"{R}/Managers/iDRAC.Embedded.1"
JOB_TYPE = "#DellJob.v1_5_0.DellJob"
# Dell JobState -> DMTF TaskState for the TaskService view (UserIntervention is Dell's own).
TASK_STATE = {"New": "New", "Downloading": "Running", "Downloaded": "Running", "Scheduling": "Starting",
              "Scheduled": "Pending", "Running": "Running", "Completed": "Completed", "Failed": "Exception",
              "CompletedWithErrors": "Exception", "PendingActivation": "UserIntervention",
              "RebootPending": "Running", "RebootCompleted": "Running", "Waiting": "Pending"}


class DellJobs(ODataResources):
    """Job bookkeeping shared by the Dell update flows (dell.py)."""

    def setup(self) -> None:
        super().setup()
        self.machine.ac_cycle_hooks.append(self.on_ac_cycle)

    # ------------------------------------------------------------ ids and messages
    def new_job_id(self, prefix: str = "JID") -> str:
        base = 700_000_000_000 + int(self.now()) * 10 + self.next_id()
        return f"{prefix}_{base % 10**12:012d}"

    def idrac(self, key: str, *args: Any) -> dict[str, Any]:
        return message("IDRAC", key, args, self.dialect)

    def job_step(self, at: float, job_state: str, key: str | None = None, **fields: Any) -> dict[str, Any]:
        """A step that moves the Dell job and its Task view together."""
        oem: dict[str, Any] = {"JobState": job_state}
        step: dict[str, Any] = {"at": at, "state": TASK_STATE.get(job_state, "Running"), "oem": oem, **fields}
        if key is not None:
            msg = self.idrac(key)
            oem.update({"Message": msg["Message"], "MessageId": msg["MessageId"]})
            step.setdefault("message", msg)
        return step

    def new_job(self, name: str, op: dict[str, Any], job_type: str = "FirmwareUpdate", prefix: str = "JID") -> Task:
        jid = self.new_job_id(prefix)
        race = self.faults.get("job_404", self.table.get("job_404", 0))
        from hwfw.config.model import parse_duration

        task = Task(id=jid, name=name, created=self.now(), data=op, visible_at=self.now() + parse_duration(race),
                    oem={"JobType": job_type, "JobState": "New", "Message": "Job created", "MessageId": "",
                         "StartTime": "TIME_NOW"})
        return self.tasks.add(task)

    def same_component_job(self, kind: str) -> Task | None:
        """An unfinished job for this component (RED014 refuses a second one)."""
        for task in self.tasks.active():
            if task.kind == "update" and task.data.get("component") == kind:
                return task
        return None

    # ------------------------------------------------------------ views
    def job_body(self, task: Task, uri: str) -> dict[str, Any]:
        o = task.oem
        done = task.terminal
        return {"@odata.id": uri, "@odata.type": JOB_TYPE, "Id": task.id, "Name": task.name,
                "Description": "Job Instance", "JobType": o.get("JobType", "FirmwareUpdate"),
                "JobState": o.get("JobState", "New"), "Message": o.get("Message", ""),
                "MessageId": o.get("MessageId", ""), "MessageArgs": [], "PercentComplete": self.tasks.percent(task),
                "StartTime": o.get("StartTime", "TIME_NOW"),
                "EndTime": self.world.clock.iso(task.end) if done else "TIME_NA",
                "CompletionTime": self.world.clock.iso(task.end) if done else None, "TargetSettingsURI": None}

    def task_extra(self, task: Task, body: dict[str, Any]) -> None:
        dell = self.job_body(task, body["@odata.id"])
        dell.pop("@odata.id")
        body["Oem"] = {"Dell": dell}

    def job(self, jid: str) -> Task | None:
        task = self.tasks.tasks.get(jid)
        if task is None or self.now() < task.visible_at:
            return None
        return task

    # The job queue is served at Oem/Dell/Jobs and at the older Managers/iDRAC.Embedded.1/Jobs
    # alias. (Handlers never take URIs from `req.path`: $expand calls them with the
    # collection's request.)
    def job_queue(self, base: str) -> dict[str, Any]:
        jobs = [t.id for t in self.tasks.tasks.values() if self.job(t.id)]
        body = collection(base, "DellJobCollection", "JobQueue", [f"{base}/{j}" for j in jobs])
        body["Description"] = "Collection of Job Instances"
        return body

    def job_at(self, req: Request, jid: str, base: str) -> dict[str, Any] | Response:
        task = self.job(jid)
        return self.job_body(task, f"{base}/{jid}") if task else self.not_found(req)

    @route("GET", f"{MGR}/Oem/Dell/Jobs")
    async def get_dell_jobs(self, req: Request) -> dict[str, Any]:
        return self.job_queue(f"{MGR}/Oem/Dell/Jobs")

    @route("GET", f"{MGR}/Jobs")
    async def get_jobs_alias(self, req: Request) -> dict[str, Any]:
        return self.job_queue(f"{MGR}/Jobs")

    @route("GET", f"{MGR}/Oem/Dell/Jobs/{{jid}}")
    async def get_dell_job(self, req: Request, jid: str) -> dict[str, Any] | Response:
        return self.job_at(req, jid, f"{MGR}/Oem/Dell/Jobs")

    @route("GET", f"{MGR}/Jobs/{{jid}}")
    async def get_job_alias(self, req: Request, jid: str) -> dict[str, Any] | Response:
        return self.job_at(req, jid, f"{MGR}/Jobs")

    @route("DELETE", f"{MGR}/Oem/Dell/Jobs/{{jid}}")
    @route("DELETE", f"{MGR}/Jobs/{{jid}}")
    async def delete_dell_job(self, req: Request, jid: str) -> Response:
        task = self.job(jid)
        if task is None:
            return self.not_found(req)
        self.delete_jobs([task], force=False)
        return self.ok({"@Message.ExtendedInfo": [self.idrac("JCP037")]})

    @route("GET", f"{R}/JobService")
    async def get_job_service(self, req: Request) -> dict[str, Any]:
        return {"@odata.id": f"{R}/JobService", "@odata.type": "#JobService.v1_0_6.JobService", "Id": "JobService",
                "Name": "Job Service", "ServiceEnabled": True, "DateTime": self.world.clock.iso(),
                "ServiceCapabilities": {"Scheduling": True, "MaxJobs": 500, "MaxSteps": 1},
                "Status": {"State": "Enabled", "Health": "OK"}, "Jobs": ref(f"{R}/JobService/Jobs")}

    @route("GET", f"{R}/JobService/Jobs")
    async def get_job_collection(self, req: Request) -> dict[str, Any]:
        jobs = [t.id for t in self.tasks.tasks.values() if self.job(t.id)]
        return collection(f"{R}/JobService/Jobs", "JobCollection", "Job Collection",
                          [f"{R}/JobService/Jobs/{j}" for j in jobs])

    @route("GET", f"{R}/JobService/Jobs/{{jid}}")
    async def get_dmtf_job(self, req: Request, jid: str) -> dict[str, Any] | Response:
        task = self.job(jid)
        return self.job_body(task, f"{R}/JobService/Jobs/{jid}") if task else self.not_found(req)

    # ------------------------------------------------------------ DellJobService
    def dell_job_service_body(self) -> dict[str, Any]:
        base = f"{MGR}/Oem/Dell/DellJobService"
        return {"@odata.id": base, "@odata.type": "#DellJobService.v1_1_0.DellJobService", "Id": "Job Service",
                "Name": "DellJobService",
                "Description": "The DellJobService resource provides some actions to support Job management "
                               "functionality.",
                "Actions": {"#DellJobService.DeleteJobQueue": {
                                "target": f"{base}/Actions/DellJobService.DeleteJobQueue"},
                            "#DellJobService.CreateRebootJob": {
                                "target": f"{base}/Actions/DellJobService.CreateRebootJob",
                                "RebootJobType@Redfish.AllowableValues": [
                                    "GracefulRebootWithForcedShutdown", "GracefulRebootWithoutForcedShutdown",
                                    "PowerCycle"]},
                            "#DellJobService.SetupJobQueue": {
                                "target": f"{base}/Actions/DellJobService.SetupJobQueue"}}}

    @route("GET", f"{MGR}/Oem/Dell/DellJobService")
    async def get_dell_job_service(self, req: Request) -> dict[str, Any]:
        return self.dell_job_service_body()

    @route("POST", f"{MGR}/Oem/Dell/DellJobService/Actions/DellJobService.DeleteJobQueue")
    async def post_delete_job_queue(self, req: Request) -> Response:
        data = await req.json()
        jid = data.get("JobID") if isinstance(data, dict) else None
        if not isinstance(jid, str):
            raise self.fail(400, "Base", "ActionParameterMissing", ("DeleteJobQueue", "JobID"))
        if jid in ("JID_CLEARALL", "JID_CLEARALL_FORCE"):
            self.delete_jobs(list(self.tasks.tasks.values()), force=jid.endswith("FORCE"))
            return self.ok({"@Message.ExtendedInfo": [self.idrac("SUP001")]})
        task = self.job(jid)
        if task is None:
            raise self.fail(400, "IDRAC", "SUP024")
        self.delete_jobs([task], force=False)
        return self.ok({"@Message.ExtendedInfo": [self.idrac("JCP037")]})

    def delete_jobs(self, tasks: list[Task], force: bool) -> None:
        """Delete jobs; a running flash survives unless forced (force also restarts LC)."""
        for task in tasks:
            if task.data.get("flashing") and not force:
                continue
            if not task.terminal:
                self.tasks.finish(task, "Cancelled")
            self.tasks.tasks.pop(task.id, None)
        if force:
            self.cleared_faults.add("stuck_jobs")
        self.touch()

    @route("POST", f"{MGR}/Oem/Dell/DellJobService/Actions/DellJobService.CreateRebootJob")
    async def post_create_reboot_job(self, req: Request) -> Response:
        data = await req.json()
        kind = data.get("RebootJobType", "GracefulRebootWithForcedShutdown") if isinstance(data, dict) else None
        if kind not in ("GracefulRebootWithForcedShutdown", "GracefulRebootWithoutForcedShutdown", "PowerCycle"):
            raise self.fail(400, "Base", "ActionParameterValueNotInList", (kind, "RebootJobType", "CreateRebootJob"))
        task = self.new_job("Reboot Job", {"reboot": kind}, job_type="RebootNoForce", prefix="RID")
        task.kind = "reboot"
        task.visible_at = self.now()
        self.tasks.schedule(task, [self.job_step(self.now(), "Scheduled", "JCP001", waiting="setup")])
        return Response.empty(200, headers=[("location", f"{MGR}/Oem/Dell/Jobs/{task.id}")])

    @route("POST", f"{MGR}/Oem/Dell/DellJobService/Actions/DellJobService.SetupJobQueue")
    async def post_setup_job_queue(self, req: Request) -> Response:
        data = await req.json()
        ids = data.get("JobArray") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not ids:
            raise self.fail(400, "Base", "ActionParameterMissing", ("SetupJobQueue", "JobArray"))
        for jid in ids:
            task = self.job(str(jid))
            if task is None:
                raise self.fail(400, "IDRAC", "SUP024")
            if task.kind == "reboot" and not task.terminal:
                self.run_reboot_job(task)
        return Response.empty(200)

    def run_reboot_job(self, task: Task) -> None:
        kind = task.data.get("reboot", "GracefulRebootWithForcedShutdown")
        now = self.now()
        self.tasks.schedule(task, [self.job_step(now, "RebootPending"),
                                   self.job_step(now + 1, "RebootCompleted"),
                                   self.job_step(now + 2, "Completed", "PR19", percent=100)])
        reset = {"PowerCycle": "PowerCycle",
                 "GracefulRebootWithoutForcedShutdown": "GracefulRestart"}.get(kind, "ForceRestart")
        self.world.scheduler.after(1.0, lambda: self.machine.reset_host(reset, cause=f"dell-reboot-job {task.id}"))

    def effect_dell_auto_reboot(self, task: Task) -> None:
        """Immediate host-side update: iDRAC schedules and performs the reboot itself."""
        pending = [t for t in self.tasks.active() if t.kind == "reboot" and t.oem.get("JobState") != "Scheduled"]
        if pending:
            return
        rid = self.new_job("Reboot Job", {"reboot": "GracefulRebootWithForcedShutdown"}, job_type="RebootForce",
                           prefix="RID")
        rid.kind = "reboot"
        rid.visible_at = self.now()
        self.run_reboot_job(rid)

    # ------------------------------------------------------------ LC readiness
    @route("POST", f"{R}/Dell/Managers/iDRAC.Embedded.1/DellLCService/Actions/DellLCService.GetRemoteServicesAPIStatus")
    async def post_lc_status(self, req: Request) -> Response:
        m = self.machine
        ready = m.bmc_state == "up" and not any(t.data.get("flashing") for t in self.tasks.active())
        server = "PoweredOff" if m.power_state == "Off" else ("InPOST" if m.in_post else "OutOfPOST")
        return self.ok({"LCStatus": "Ready" if ready else "NotReady", "RTStatus": "Ready" if ready else "NotReady",
                        "ServerStatus": server, "Status": "Ready" if ready else "NotReady", "TelemetryStatus": "Ready",
                        "@Message.ExtendedInfo": [self.msg("Base", "Success")]})

    def partial_response(self, req: Request) -> Response | None:
        """iDRAC back but Lifecycle Controller not ready: reads work, changes get SYS518."""
        if req.method == "GET" or req.path.endswith("GetRemoteServicesAPIStatus") or \
                req.path == f"{R}/SessionService/Sessions":
            return None
        return self.error(503, "IDRAC", "SYS518", headers=[("retry-after", "30")])

    # ------------------------------------------------------------ host events
    def on_bmc_down(self) -> None:
        """iDRAC reboot: sessions and Task views go, Dell jobs stay."""
        self.cleared_faults.update(("stuck_jobs", "update_mode_stuck"))
        self.sessions.drop_all("bmc-reset")
        now = self.now()
        for task in self.tasks.tasks.values():
            task.purge_at = now if task.purge_at is None or task.purge_at > now else task.purge_at
            task.data["task_view_gone"] = True

    def on_task_terminal(self, task: Task) -> None:
        super().on_task_terminal(task)
        if task.data.get("task_view_gone"):
            task.purge_at = self.now()

    def on_ac_cycle(self) -> None:
        for task in self.tasks.waiting_for("ac-cycle"):
            now = self.now()
            self.tasks.schedule(task, [self.job_step(now, "Completed", "PR19", percent=100)])

    def on_post(self, flash_at: float) -> float:
        """Every Scheduled job runs now, in Lifecycle Controller, during this POST."""
        if self.fault_active("stuck_jobs"):
            return 0.0
        total = 0.0
        for task in self.tasks.waiting_for("reset"):
            if task.kind != "update":
                continue
            start = flash_at + total
            total += self.flash_time(task.data["component"])
            self.tasks.schedule(task, self.post_flash_steps(task, start))
        return total

    def with_fault(self, task: Task, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = super().with_fault(task, steps)
        for step in out:
            if step.get("state") == "Exception" and "message" in step:
                step["oem"] = {"JobState": "Failed", "Message": step["message"]["Message"],
                               "MessageId": step["message"]["MessageId"]}
        return out

    def post_flash_steps(self, task: Task, start: float) -> list[dict[str, Any]]:
        kind = task.data["component"]
        end = start + self.flash_time(kind)
        steps = [self.job_step(start, "Running", effect="flash_start", percent=0),
                 {"at": end, "percent": 100, "ramp": True, "effect": "flash_done"}]
        if self.activation(kind) == "ac-cycle":
            steps.append(self.job_step(end, "PendingActivation", "SUP0518", percent=100, waiting="ac-cycle"))
        else:
            steps.append(self.job_step(end, "Completed", "PR19", percent=100))
        return self.with_fault(task, steps)
