"""Dell iDRAC9 BIOS configuration: pending values need a BIOS configuration job.

- PATCH `…/Bios/Settings` without `@Redfish.SettingsApplyTime`: 200, values pending
  only; a reboot applies nothing while no job exists.
- PATCH with an apply time (OnReset, Immediate, maintenance windows): 202 and
  `Location: /redfish/v1/TaskService/Tasks/JID_…`, a `BIOSConfiguration` job
  (Scheduled, "Task successfully scheduled."); `Immediate` makes iDRAC reboot the host.
- Legacy: `POST /Managers/iDRAC.Embedded.1/Jobs {"TargetSettingsURI": …/Bios/Settings}`
  turns the pending values into a job (no pending values: 400).
- One staged BIOS job at a time: while it exists, further PATCHes, job creation and
  `DellManager.ClearPending` answer 400 `IDRAC.2.x.SYS011`; deleting the job drops
  its pending values.
- The job runs in the next POST (whatever caused the reboot): Running, then Completed,
  or CompletedWithErrors when the BIOS refused an attribute (profile locks).
Values are checked against the running BIOS's registry at PATCH time (400 with
Base messages). Registry shortcut: `…/Bios/BiosRegistry`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from hwfw.sim.bios.registry import Registry
from hwfw.sim.bios.state import Outcome
from hwfw.sim.http import HttpError, Request, Response
from hwfw.sim.messages import message
from hwfw.sim.profiles.dell_jobs import MGR, DellJobs
from hwfw.sim.service.resources import R
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task
from hwfw.sim.vclock import EPOCH

CONFIG_JOB = "bios-config"
CLEAR_PENDING = "#DellManager.ClearPending"


class DellBios(DellJobs):
    """BIOS configuration jobs on top of the Dell job machinery."""

    def registry_location(self, registry: Registry) -> str:
        return f"{self.bios_uri}/BiosRegistry"

    @route("GET", f"{R}/Systems/{{S}}/Bios/BiosRegistry")
    async def get_bios_registry_shortcut(self, req: Request) -> dict[str, Any] | Response:
        return self.registry_document(req, f"{self.bios_uri}/BiosRegistry")

    def settings_extra(self, body: dict[str, Any]) -> None:
        body["Actions"] = {"Oem": {CLEAR_PENDING: {
            "target": f"{self.settings_uri}/Actions/Oem/DellManager.ClearPending"}}}

    # ------------------------------------------------------------ the one-job rule
    def config_job(self) -> Task | None:
        return next((t for t in self.tasks.active() if t.kind == CONFIG_JOB), None)

    def committed(self, attrs: list[str]) -> HttpError:
        """SYS011: a BIOS configuration job already holds the pending values."""
        names = attrs or [""]
        infos = [message("IDRAC", "SYS011", (n,), self.dialect, related=[f"#/Attributes/{n}"] if n else None)
                 for n in names]
        self.bios_event("bios-settings-refused", None, status=400, attributes=sorted(attrs),
                        message_ids=[infos[0]["MessageId"]])
        body = {"error": {"code": self.dialect.message_id("Base", "GeneralError"),
                          "message": "A general error has occurred. See ExtendedInfo for more information.",
                          "@Message.ExtendedInfo": infos}}
        return HttpError(Response.json(400, body))

    def bios_stage(self, attrs: Mapping[str, Any], apply_time: Mapping[str, Any] | None, replace: bool) -> Response:
        if self.config_job() is not None:
            raise self.committed(sorted(attrs))
        self.bios.stage(attrs, replace)
        self.touch()
        if apply_time is None:
            self.bios_event("bios-settings-staged", attrs, apply_time=None, settings=self.settings_uri, job=None)
            return self.ok({"@Message.ExtendedInfo": [self.msg("Base", "Success")]})
        task = self.create_config_job(apply_time)
        self.bios_event("bios-settings-staged", attrs, apply_time=apply_time.get("ApplyTime"),
                        settings=self.settings_uri, job=task.id)
        return Response.empty(202, headers=[("location", f"{R}/TaskService/Tasks/{task.id}")])

    def create_config_job(self, apply_time: Mapping[str, Any]) -> Task:
        task = self.new_job("Configure: BIOS.Setup.1-1", {"component": CONFIG_JOB, "target": self.settings_uri,
                                                          "apply_time": apply_time.get("ApplyTime")},
                            job_type="BIOSConfiguration")
        task.kind = CONFIG_JOB
        self.tasks.schedule(task, [self.job_step(self.now(), "Scheduled", "JCP001", percent=0, waiting="reset")])
        when = apply_time.get("ApplyTime")
        if when == "Immediate":
            self.effect_dell_auto_reboot(task)
        elif when == "AtMaintenanceWindowStart":
            start = max(self.now(), _virtual(apply_time.get("MaintenanceWindowStartTime"), self.now()))
            self.world.scheduler.at(start, lambda: self._reboot_for(task))
        return task

    def _reboot_for(self, task: Task) -> None:
        """The maintenance window opened: reboot for the job if it is still the configuration job."""
        if self.config_job() is task:
            self.effect_dell_auto_reboot(task)

    @route("POST", f"{MGR}/Jobs")
    @route("POST", f"{MGR}/Oem/Dell/Jobs")
    async def post_config_job(self, req: Request) -> Response:
        """Legacy flow: turn the pending values into a job (the JID comes back in Location)."""
        data = await req.json()
        target = data.get("TargetSettingsURI") if isinstance(data, dict) else None
        if not isinstance(target, str):
            raise self.fail(400, "Base", "PropertyMissing", ("TargetSettingsURI",))
        if target.rstrip("/") != self.settings_uri:
            raise self.fail(400, "Base", "PropertyValueNotInList", (target, "TargetSettingsURI"))
        if self.config_job() is not None:
            raise self.committed(sorted(self.bios.pending))
        if not self.bios.pending:
            raise self.fail(400, "IDRAC", "BIOS012")
        task = self.create_config_job({"ApplyTime": "OnReset"})
        self.bios_event("bios-job-created", None, job=task.id, attributes=sorted(self.bios.pending))
        return Response.empty(200, headers=[("location", f"{MGR}/Jobs/{task.id}")])

    @route("POST", f"{R}/Systems/{{S}}/Bios/Settings/Actions/Oem/DellManager.ClearPending")
    async def post_clear_pending(self, req: Request) -> Response:
        await req.json()
        if self.config_job() is not None:
            raise self.committed(sorted(self.bios.pending))
        dropped = self.bios.clear_pending()
        self.touch()
        self.bios_event("bios-settings-cleared", None, reason="clear-pending", attributes=sorted(dropped))
        return self.ok({"@Message.ExtendedInfo": [self.msg("Base", "Success")]})

    # ------------------------------------------------------------ running the job at POST
    def bios_apply_due(self) -> bool:
        return self.config_job() is not None and not self.fault_active("stuck_jobs")

    def on_post(self, flash_at: float) -> float:
        extra = super().on_post(flash_at)
        job = self.config_job()
        if job is not None and not self.fault_active("stuck_jobs"):
            self.tasks.schedule(job, [self.job_step(flash_at + extra, "Running", percent=50)])
        return extra

    def bios_applied(self, outcome: Outcome) -> None:
        job = self.config_job()
        if job is None:
            return
        if outcome.rejected:
            first = self.bios.messages[0]
            step = self.job_step(self.now(), "CompletedWithErrors", percent=100)
            step["oem"].update({"Message": first["Message"], "MessageId": first["MessageId"]})
            step["message"] = first
        else:
            step = self.job_step(self.now(), "Completed", "PR19", percent=100)
        self.tasks.schedule(job, [step])

    def on_task_terminal(self, task: Task) -> None:
        super().on_task_terminal(task)
        if task.kind == CONFIG_JOB and task.state == "Cancelled" and self.bios.pending:
            dropped = self.bios.clear_pending()
            self.touch()
            self.bios_event("bios-settings-cleared", None, reason="job-deleted", job=task.id,
                            attributes=sorted(dropped))


def _virtual(text: Any, default: float) -> float:
    """Virtual seconds of an ISO time (the simulator's clock starts at EPOCH)."""
    if not isinstance(text, str):
        return default
    try:
        return (datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH).total_seconds()
    except ValueError:
        return default
