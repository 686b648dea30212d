"""HPE iLO 5/6 (ProLiant Gen10/Gen10 Plus/Gen11): ids 1 (docs/vendor-behaviour.md, "HPE iLO").

No Task for uploads or SimpleUpdate: progress lives in `UpdateService.Oem.Hpe`
(State, FlashProgressPercent, Result.MessageId). Successes come back as HTTP 200 with
an error-shaped envelope (`iLO.0.10.ExtendedInfo` + `Base.1.4.Success` or
`iLO.2.25.SystemResetRequired`). Uploads go to `/cgi-bin/uploadFile` with a
`sessionKey` form part or cookie. FirmwareInventory is served as real iLOs serve it
(hpe_inventory.py); the Manager says "iLO 5 v2.72" with the build date in
`Oem.Hpe.Firmware.Current`; System ROM active/backup swap on activation.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from hwfw.sim.firmware import ImageInfo
from hwfw.sim.http import Request, Response
from hwfw.sim.messages import Dialect, hpe_envelope
from hwfw.sim.profiles import SimProfile, hpe_inventory
from hwfw.sim.profiles.hpe_bios import HpeBios
from hwfw.sim.profiles.hpe_queue import QUEUE, REPO, HpeQueue
from hwfw.sim.service import params
from hwfw.sim.service.resources import R, collection, ref
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task

# What a real HPE iLO server has burnt in: IPMI ids (IANA manufacturer, product), serial form.
PROFILE = SimProfile("hpe", ipmi_ids=(47196, 8224), serial_prefix="CZ", serial_length=8)

# Defaults from docs/vendor-behaviour.md, "HPE iLO": update states, iLO-flashable kinds,
# Result ids; iLO 5 self-update ~3 min 54 s including the upload, iLO reboot ~1 min.
HPE_TABLE: dict[str, Any] = {
    "vendor": "HPE", "manufacturer": "HPE", "product": "ProLiant", "manager_name": "Manager",
    "manager_model": "iLO 5", "redfish_version": "1.6.0",
    "session_limit": 10, "session_timeout": 1800.0,   # HPE publishes no exact session limit
    "session_context": "ignored",   # no public record of iLO storing a login's Context
    "system_reset_types": ["On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton",
                           "GracefulRestart"],
    "manager_reset_types": ["GracefulRestart", "ForceRestart"],
    "apply_times": ["Immediate"],
    "verify": 20.0, "flash": {"bmc": 180.0, "bios": 120.0, "cpld": 120.0, "default": 120.0},
    "activation": {"bmc": "bmc-reset", "bios": "host-reboot", "cpld": "ac-cycle", "nic": "host-reboot"},
    "ilo_flashable": ["bmc", "bios", "cpld"],
    "bmc_boot": 60.0, "bmc_partial": 20.0, "post": 240.0, "os_boot": 60.0, "down_mode": "refused",
    "max_image_size": 32 * 1024 * 1024,  # one upload section: larger images go in 32 MiB sections
    "cookie_auth": True, "bios_settings": "settings", "nic_when_host_down": "400", "bmc_reset_delay": 5.0,
    "bios_put": True, "bios_validation": "deferred", "bios_apply_times": ["OnReset"],
}
HPE_DIALECT = Dialect(versions={"Base": "1.4", "Update": "1.1", "TaskEvent": "1.0", "iLO": "2.25",
                                "iLO.ExtendedInfo": "0.10"}, severity="none")
_DATED = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)(?:\.\d+)*(?:\s+(?P<date>[A-Z][a-z]{2} \d{1,2} \d{4}))?$")
STATE_OF = {"Uploading": "Running", "Verifying": "Running", "Writing": "Running", "Updating": "Running",
            "Complete": "Completed", "Error": "Exception"}


class HpeService(HpeBios, HpeQueue):
    VENDOR = "hpe"
    IDS = {"S": "1", "M": "1", "C": "1"}
    TABLE = HPE_TABLE
    DIALECT = HPE_DIALECT
    UPDATE_TYPE = "#UpdateService.v1_1_1.UpdateService"
    INVENTORY_TYPE = hpe_inventory.MEMBER_TYPE
    OEM_CSDL = {"HpeOem_v1.xml": ["HpeiLO", "HpeiLO.v2_8_0",
                                  "HpeiLOUpdateServiceExt", "HpeiLOUpdateServiceExt.v2_1_1", "HpeiLOSoftwareInventory",
                                  "HpeiLOSoftwareInventory.v2_0_0", "HpeComponent", "HpeComponent.v1_0_1",
                                  "HpeComponentCollection", "HpeComponentUpdateTask", "HpeComponentUpdateTask.v1_1_0",
                                  "HpeComponentUpdateTaskQueueCollection", "HpeComputerSystemExt",
                                  "HpeComputerSystemExt.v2_11_0"]}
    EXTRA_NAMESPACES = {"Storage": ["Storage", "Storage.v1_8_0"], "StorageCollection": ["StorageCollection"],
                        "Drive": ["Drive", "Drive.v1_7_0"]}

    def setup(self) -> None:
        super().setup()
        self.flash_id: str | None = None

    def session_id(self, counter: int, rng: Any) -> str:
        return f"admin{rng.randbytes(8).hex()}"

    def product(self) -> str:
        return self.spec.model

    def extra_state(self) -> dict[str, Any]:
        return {"repo": self.repo, "queue": self.queue, "flash_id": self.flash_id}

    def restore_extra(self, d: Mapping[str, Any]) -> None:
        self.repo = dict(d.get("repo", {}))
        self.queue = list(d.get("queue", []))
        self.flash_id = d.get("flash_id")

    # ------------------------------------------------------------ iLO answer shapes
    def action_ok(self) -> Response:
        return self.ok(hpe_envelope("Base", "Success", (), self.dialect))

    def partial_response(self, req: Request) -> Response | None:
        if req.method == "GET" or req.path == f"{R}/SessionService/Sessions":
            return None
        return self.error(400, "iLO", "InvalidOperationForSystemState")

    def system_extra(self, body: dict[str, Any]) -> None:
        m = self.machine
        post = "PowerOff" if m.power_state == "Off" else ("InPost" if m.in_post else "FinishedPost")
        body["Oem"] = {"Hpe": {"@odata.type": "#HpeComputerSystemExt.v2_11_0.HpeComputerSystemExt", "PostState": post}}
        body["Actions"]["Oem"] = {"#HpeComputerSystemExt.SystemReset": {
            "target": f"{self.sys_uri}/Actions/Oem/HpeComputerSystemExt.SystemReset",
            "ResetType@Redfish.AllowableValues": ["ColdBoot", "AuxCycle"]}}

    def ilo_name(self) -> str:
        return "iLO 6" if "Gen11" in self.spec.model else "iLO 5"

    def manager_extra(self, body: dict[str, Any]) -> None:
        body["Model"] = self.ilo_name()
        m = _DATED.match(self.machine.bmc_version)
        if m is None:
            return
        version = f"{self.ilo_name()} v{m['major']}.{m['minor']}"
        body["FirmwareVersion"] = version
        current: dict[str, Any] = {"DebugBuild": False, "MajorVersion": int(m["major"]),
                                   "MinorVersion": int(m["minor"]), "VersionString": version}
        if m["date"]:
            current["Date"] = m["date"]
        body["Oem"] = {"Hpe": {"@odata.type": "#HpeiLO.v2_8_0.HpeiLO", "Firmware": {"Current": current}}}

    @route("POST", f"{R}/Systems/{{S}}/Actions/Oem/HpeComputerSystemExt.SystemReset")
    @route("POST", f"{R}/Systems/{{S}}/Actions/Oem/Hpe/HpeComputerSystemExt.SystemReset")
    async def post_hpe_system_reset(self, req: Request) -> Response:
        reset = await self.reset_type_param(req, "#HpeComputerSystemExt.SystemReset", ("ColdBoot", "AuxCycle"))
        self.reset_requested("HpeComputerSystemExt.SystemReset", reset)
        if reset == "AuxCycle":
            self.after_answer(lambda: self.machine.ac_cycle("hpe-aux-cycle"))
        else:
            self.machine.reset_host("PowerCycle", cause="hpe-cold-boot")
        return self.action_ok()

    # ------------------------------------------------------------ inventory
    def _members(self) -> list[hpe_inventory.Member]:
        return hpe_inventory.members(self.machine.components, self.spec.model, self.ilo_name())

    def trailing_slash(self) -> bool:
        """iLO 5 from 2.90 on (seen on 2.96) ends inventory URIs with "/"; `options.trailing_slash` overrides."""
        if "trailing_slash" in self.options:
            return bool(self.options["trailing_slash"])
        m = _DATED.match(self.machine.bmc_version)
        return m is not None and (int(m["major"]), int(m["minor"])) >= (2, 90)

    def inventory_ids(self) -> list[str]:
        return [str(i) for i in range(1, len(self._members()) + 1)]

    def inventory_member_uri(self, fid: str) -> str:
        return super().inventory_member_uri(fid) + ("/" if self.trailing_slash() else "")

    # Drives the inventory links (RelatedItem), so that a crawler finds what it is told.
    @route("GET", f"{R}/Systems/{{S}}/Storage")
    async def get_storage_collection(self, req: Request) -> dict[str, Any]:
        return collection(f"{self.sys_uri}/Storage", "StorageCollection", "Storage Collection",
                          [f"{self.sys_uri}/Storage/{hpe_inventory.STORAGE_ID}"]
                          if self.machine.of_kind("drive") else [])

    @route("GET", f"{R}/Systems/{{S}}/Storage/{{sid}}")
    async def get_storage(self, req: Request, sid: str) -> dict[str, Any] | Response:
        drives = self.machine.of_kind("drive")
        if sid != hpe_inventory.STORAGE_ID or not drives:
            return self.not_found(req)
        uri = f"{self.sys_uri}/Storage/{sid}"
        return {"@odata.id": uri, "@odata.type": "#Storage.v1_8_0.Storage", "Id": sid, "Name": "NVMe Storage System",
                "Drives": [ref(f"{uri}/Drives/{n}") for n in range(len(drives))],
                "Status": {"State": "Enabled", "Health": "OK"}}

    @route("GET", f"{R}/Systems/{{S}}/Storage/{{sid}}/Drives/{{did}}")
    async def get_drive(self, req: Request, sid: str, did: str) -> dict[str, Any] | Response:
        drives = hpe_inventory.drives_of(self.machine.components)
        if sid != hpe_inventory.STORAGE_ID or not did.isdigit() or int(did) >= len(drives):
            return self.not_found(req)
        return hpe_inventory.drive_body(f"{self.sys_uri}/Storage/{sid}/Drives/{did}", did, drives[int(did)])

    def inventory_item(self, fid: str) -> dict[str, Any] | None:
        members = self._members()
        if not fid.isdigit() or not 1 <= int(fid) <= len(members):
            return None
        return hpe_inventory.body(members[int(fid) - 1], fid, self.trailing_slash())

    # ------------------------------------------------------------ UpdateService
    def update_service_extra(self, body: dict[str, Any]) -> None:
        body["HttpPushUri"] = "/cgi-bin/uploadFile"
        flash = self.tasks.tasks.get(self.flash_id) if self.flash_id else None
        state = str(flash.oem.get("State", "Idle")) if flash else "Idle"
        percent = self.tasks.percent(flash) if flash else 0
        result = str(flash.oem.get("Result", self.dialect.message_id("Base", "Success"))) if flash else \
            self.dialect.message_id("Base", "Success")
        body["Oem"] = {"Hpe": {"@odata.type": "#HpeiLOUpdateServiceExt.v2_1_1.HpeiLOUpdateServiceExt",
                               "State": state, "FlashProgressPercent": percent, "Result": {"MessageId": result},
                               "ComponentRepository": ref(REPO), "UpdateTaskQueue": ref(QUEUE),
                               "DowngradePolicy": "AllowDowngrade",
                               "Capabilities": {"UpdateFWPKG": True, "PLDMFirmwareUpdate": True}}}

    def busy(self) -> bool:
        flash = self.tasks.tasks.get(self.flash_id) if self.flash_id else None
        return self.busy_uploads > 0 or (flash is not None and not flash.terminal)

    def start_flash(self, op: dict[str, Any], in_post_at: float | None = None) -> Task:
        """Run one iLO flash, reported only through UpdateService.Oem.Hpe (no visible Task)."""
        task = Task(id=f"flash-{self.next_id()}", name=f"iLO flash {op.get('image')}", created=self.now(),
                    data=op, hidden=True,
                    oem={"State": "Verifying", "Result": self.dialect.message_id("Base", "Success")})
        self.tasks.add(task)
        self.flash_id = task.id
        self.tasks.schedule(task, self.flash_plan(task, in_post_at))
        return task

    def hpe_step(self, at: float, state: str, percent: int, result: str | None = None, **extra: Any) -> dict[str, Any]:
        oem: dict[str, Any] = {"State": state}
        if result:
            oem["Result"] = result
        return {"at": at, "state": STATE_OF[state], "percent": percent, "oem": oem, **extra}

    def flash_plan(self, task: Task, in_post_at: float | None) -> list[dict[str, Any]]:
        op = task.data
        start = self.now() if in_post_at is None else in_post_at
        end = start + float(self.table["verify"])
        steps = [self.hpe_step(start, "Verifying", 0)]
        mid = self.dialect.message_id
        bad = self.verdict(op)
        if bad is not None:
            registry, key, _ = bad
            if key in ("VerificationFailed", "UpdateNotApplicable", "ApplyFailed"):
                return steps + [self.hpe_step(end, "Error", 0, mid("iLO", "FirmwareFlashFailed"))]
            return steps + [self.hpe_step(end, "Complete", 100, mid(registry, key))]
        if op["component"] not in self.table["ilo_flashable"] and op.get("method") != "queue":
            return steps + [self.hpe_step(end, "Error", 0, mid("iLO", "NotILOFlashable"))]
        if self.options.get("tpm") and not op.get("tpm_override") and op.get("method") != "queue":
            return steps + [self.hpe_step(end, "Error", 0, mid("iLO", "TPMOverrideRequired"))]
        f = self.flash_time(op["component"])
        act = self.activation(op["component"])
        result = mid("Base", "Success") if act in ("bmc-reset", "none") or in_post_at is not None else \
            mid("iLO", "SystemResetRequired")
        steps += [self.hpe_step(end, "Writing", 0, effect="flash_start"),
                  {"at": end + f, "percent": 100, "ramp": True, "effect": "flash_done"},
                  self.hpe_step(end + f, "Complete", 100, result)]
        return self.with_fault(task, steps)

    def with_fault(self, task: Task, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = super().with_fault(task, steps)
        for step in out:
            if step.get("state") == "Exception":
                step["oem"] = {"State": "Error", "Result": self.dialect.message_id("iLO", "FirmwareFlashFailed")}
        return out

    def on_task_terminal(self, task: Task) -> None:
        super().on_task_terminal(task)
        if task.data.get("queue_item"):
            self.world.scheduler.after(0, lambda: self.queue_flash_done(task))

    def on_post(self, flash_at: float) -> float:
        return self.queue_on_post(flash_at)

    def on_bmc_down(self) -> None:
        """iLO reboot: sessions go; the repository and the queue are kept."""
        super().on_bmc_down()
        for item in self.queue:
            if item["State"] == "InProgress" and item["Command"] == "ApplyUpdate":
                item["State"] = "Pending"

    # ------------------------------------------------------------ uploads and pulls
    @route("POST", "/cgi-bin/uploadFile", public=True)
    async def post_upload_file(self, req: Request) -> Response:
        if self.busy():
            return self.error(503, "iLO", "UpdateServiceBusy", headers=[("retry-after", "30")])
        upload = await self.receive_multipart(req, "hpe-form", ("file", "files[]"))
        key = upload.fields.get("sessionKey") or _cookie_key(req)
        if not key or self.sessions.lookup(key) is None:
            return self.error(401, "Base", "NoValidSession")
        parameters = upload.json_field("parameters")
        image = upload.image
        assert image is not None
        if image.filename.lower().endswith(".exe") and not any(p.name == "compsig" for p in upload.parts):
            return self.error(400, "iLO", "ComponentUploadFailed", ("missing compsig signature file",))
        op = self.make_op(image, None, "hpe-form", "Immediate", tpm_override=bool(parameters.get("TPMOverride")))
        if parameters.get("UpdateRepository", True):
            self.repo_add(image.filename, op, image.size)
        if parameters.get("UpdateTarget", False) and (op["component"] in self.table["ilo_flashable"] or image.error):
            self.start_flash(op)
        return self.ok(hpe_envelope("Base", "Success", (), self.dialect))

    @route("POST", f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate")
    async def post_simple_update(self, req: Request) -> Response:
        data = params.json_object(await req.json())
        uri = params.image_uri(self, data)
        params.apply_time(self, data, self.table["apply_times"], "Immediate")
        if self.busy():
            return self.error(503, "iLO", "UpdateServiceBusy", headers=[("retry-after", "30")])
        holder = Task(id=f"flash-{self.next_id()}", name=f"iLO pull {uri}", created=self.now(), hidden=True,
                      data=self.make_op(None, None, "simple-update", "Immediate", uri=uri), oem={"State": "Uploading"})
        self.tasks.add(holder)
        self.flash_id = holder.id
        self.tasks.schedule(holder, [self.hpe_step(self.now(), "Uploading", 0)])

        def done(info: ImageInfo | None, error: str | None, detail: str | None) -> None:
            self.world.scheduler.run_due()
            if holder.terminal:
                return
            if info is None:
                holder.oem["Result"] = self.dialect.message_id("Base" if error != "TransferFailed" else "Update",
                                                               error or "TransferFailed")
                self.tasks.finish(holder, "Exception")
                holder.oem["State"] = "Error"
                return
            holder.data.update(self.make_op(info, None, "simple-update", "Immediate", uri=uri))
            self.tasks.schedule(holder, self.flash_plan(holder, None))

        self.start_pull(uri, data.get("Username"), data.get("Password"), done)
        return self.ok(hpe_envelope("Base", "Success", (), self.dialect))


def _cookie_key(req: Request) -> str | None:
    for item in req.headers.get("cookie", "").split(";"):
        k, _, v = item.strip().partition("=")
        if k == "sessionKey":
            return v
    return None
