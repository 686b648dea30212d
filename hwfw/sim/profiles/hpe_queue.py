"""HPE iLO ComponentRepository and UpdateTaskQueue (docs/vendor-behaviour.md, "HPE iLO: update flows").

The queue is strictly ordered: the updater never skips a Pending, InProgress,
Exception or Expired head item. A `Uefi` item at the head waits for the next host
POST; an Exception blocks until someone deletes it; an item past its `Expire` time
becomes Expired (and blocks too). Complete items delete themselves after 24 h.
"""

from __future__ import annotations

import hashlib
from typing import Any

from hwfw.sim.http import Request, Response
from hwfw.sim.messages import hpe_envelope
from hwfw.sim.service.odata import ODataResources
from hwfw.sim.service.resources import R, collection
from hwfw.sim.service.router import route
from hwfw.sim.service.tasks import Task

REPO = f"{R}/UpdateService/ComponentRepository"
QUEUE = f"{R}/UpdateService/UpdateTaskQueue"
BLOCKING = ("Exception", "Expired", "Canceled")


class HpeQueue(ODataResources):
    """Repository + queue; the flash itself is HpeService.start_flash (hpe.py)."""

    def setup(self) -> None:
        super().setup()
        self.repo: dict[str, dict[str, Any]] = {}
        self.queue: list[dict[str, Any]] = []

    def start_flash(self, op: dict[str, Any], in_post_at: float | None = None) -> Task:  # pragma: no cover
        raise NotImplementedError  # implemented in hpe.py

    # ------------------------------------------------------------ repository
    def repo_id(self, filename: str) -> str:
        return hashlib.sha1(filename.encode()).hexdigest()[:8]

    def repo_add(self, filename: str, op: dict[str, Any], size: int) -> dict[str, Any]:
        rid = self.repo_id(filename)
        existing = self.repo.get(rid)
        if existing is not None and self.repo_locked(filename):
            raise self.fail(400, "Base", "ResourceInUse")
        kind = op.get("component")
        entry = {"Id": rid, "Filename": filename, "Version": op.get("version") or "", "SizeBytes": size,
                 "Created": self.world.clock.iso(), "Name": f"{kind} firmware" if kind else filename,
                 "Activates": "Immediately" if kind == "bmc" else "AfterReboot", "op": op}
        self.repo[rid] = entry
        self.touch()
        return entry

    def repo_by_filename(self, filename: str) -> dict[str, Any] | None:
        return self.repo.get(self.repo_id(filename))

    def repo_locked(self, filename: str) -> bool:
        return any(i["Filename"] == filename and i["State"] in ("Pending", "InProgress") for i in self.queue)

    def repo_body(self, entry: dict[str, Any]) -> dict[str, Any]:
        return {"@odata.id": f"{REPO}/{entry['Id']}", "@odata.type": "#HpeComponent.v1_0_1.HpeComponent",
                "Id": entry["Id"], "Name": entry["Name"], "Filename": entry["Filename"], "Version": entry["Version"],
                "SizeBytes": entry["SizeBytes"], "Created": entry["Created"],
                "Locked": self.repo_locked(entry["Filename"]), "ComponentUri": f"/fwrepo/{entry['Filename']}",
                "Activates": entry["Activates"], "Criticality": "Recommended", "Configuration": ""}

    @route("GET", REPO)
    async def get_repository(self, req: Request) -> dict[str, Any]:
        return collection(REPO, "HpeComponentCollection", "Component Repository",
                          [f"{REPO}/{rid}" for rid in self.repo])

    @route("GET", f"{REPO}/{{rid}}")
    async def get_repository_item(self, req: Request, rid: str) -> dict[str, Any] | Response:
        entry = self.repo.get(rid)
        return self.repo_body(entry) if entry else self.not_found(req)

    @route("DELETE", f"{REPO}/{{rid}}")
    async def delete_repository_item(self, req: Request, rid: str) -> Response:
        entry = self.repo.get(rid)
        if entry is None:
            return self.not_found(req)
        if self.repo_locked(entry["Filename"]):
            raise self.fail(400, "Base", "ResourceInUse")
        del self.repo[rid]
        self.touch()
        return self.ok(hpe_envelope("Base", "Success", (), self.dialect))

    # ------------------------------------------------------------ task queue
    def queue_body(self, item: dict[str, Any]) -> dict[str, Any]:
        body = {"@odata.id": f"{QUEUE}/{item['Id']}",
                "@odata.type": "#HpeComponentUpdateTask.v1_1_0.HpeComponentUpdateTask",
                "Id": item["Id"], "Name": item["Name"], "Command": item["Command"], "State": item["State"],
                "UpdatableBy": list(item["UpdatableBy"]), "Created": item["Created"],
                "TPMOverride": item["TPMOverride"], "WaitTimeSeconds": item["WaitTimeSeconds"],
                "Result": {"MessageId": item["Result"]}}
        if item.get("Filename"):
            body["Filename"] = item["Filename"]
        if item.get("Expire") is not None:
            body["Expire"] = self.world.clock.iso(item["Expire"])
        return body

    @route("GET", QUEUE)
    async def get_queue(self, req: Request) -> dict[str, Any]:
        self.pump_queue()
        return collection(QUEUE, "HpeComponentUpdateTaskQueueCollection", "Update Task Queue",
                          [f"{QUEUE}/{i['Id']}" for i in self.queue])

    @route("GET", f"{QUEUE}/{{qid}}")
    async def get_queue_item(self, req: Request, qid: str) -> dict[str, Any] | Response:
        self.pump_queue()
        item = next((i for i in self.queue if i["Id"] == qid), None)
        return self.queue_body(item) if item else self.not_found(req)

    @route("DELETE", f"{QUEUE}/{{qid}}")
    async def delete_queue_item(self, req: Request, qid: str) -> Response:
        item = next((i for i in self.queue if i["Id"] == qid), None)
        if item is None:
            return self.not_found(req)
        if item["State"] == "InProgress":
            raise self.fail(400, "Base", "ResourceInUse")
        self.queue.remove(item)
        self.touch()
        self.pump_queue()
        return self.ok(hpe_envelope("Base", "Success", (), self.dialect))

    @route("POST", QUEUE)
    async def post_queue_item(self, req: Request) -> Response:
        data = await req.json()
        if not isinstance(data, dict) or not isinstance(data.get("Name"), str):
            raise self.fail(400, "Base", "PropertyMissing", ("Name",))
        command = data.get("Command", "ApplyUpdate")
        if command not in ("ApplyUpdate", "Wait", "ResetServer"):
            raise self.fail(400, "Base", "PropertyValueNotInList", (command, "Command"))
        if any(i["Name"] == data["Name"] for i in self.queue):
            raise self.fail(400, "Base", "ResourceAlreadyExists", ("Name", data["Name"]))
        filename = data.get("Filename") or data.get("Component")
        if command == "ApplyUpdate" and (not filename or self.repo_by_filename(str(filename)) is None):
            raise self.fail(400, "iLO", "ComponentNotFound", (filename,))
        from hwfw.config.model import parse_duration

        expire = data.get("Expire")
        item = {"Id": str(self.next_id()), "Name": data["Name"], "Command": command, "Filename": filename,
                "UpdatableBy": list(data.get("UpdatableBy") or ["Bmc"]), "State": "Pending",
                "Result": self.dialect.message_id("Base", "Success"), "Created": self.world.clock.iso(),
                "TPMOverride": bool(data.get("TPMOverride", False)),
                "WaitTimeSeconds": int(data.get("WaitTimeSeconds", 0)),
                "Expire": self.now() + parse_duration(data["ExpireAfter"]) if data.get("ExpireAfter") else
                (self._parse_iso(expire) if isinstance(expire, str) else None)}
        self.queue.append(item)
        if item["Expire"] is not None:
            self.world.scheduler.at(item["Expire"], self.pump_queue)
        self.touch()
        self.pump_queue()
        return self.ok(self.queue_body(item), 201, headers=[("location", f"{QUEUE}/{item['Id']}")])

    def _parse_iso(self, text: str) -> float | None:
        from datetime import datetime

        from hwfw.sim.vclock import EPOCH

        try:
            return (datetime.fromisoformat(text.replace("Z", "+00:00")) - EPOCH).total_seconds()
        except ValueError:
            return None

    def pump_queue(self) -> None:
        """Run the head of the queue as far as it can go now (strict order)."""
        for item in self.queue:
            state = item["State"]
            if state == "Complete":
                continue
            if state in BLOCKING or state == "InProgress":
                return
            if item["Expire"] is not None and self.now() >= item["Expire"]:
                self._set(item, "Expired", self.dialect.message_id("iLO", "InvalidOperationForSystemState"))
                return
            if not self._start(item):
                return
            if item["State"] != "Complete":
                return

    def _start(self, item: dict[str, Any], post_flash_at: float | None = None) -> bool:
        """Start a Pending head item; False if it has to wait (Uefi, RuntimeAgent)."""
        if item["Command"] == "Wait":
            self._set(item, "InProgress")
            self.world.scheduler.after(item["WaitTimeSeconds"], lambda: self._finish(item, True))
            return True
        if item["Command"] == "ResetServer":
            self._set(item, "Complete")
            self.machine.reset_host("ForceRestart", cause=f"hpe-queue {item['Name']}")
            return True
        by = item["UpdatableBy"]
        if "Bmc" not in by and post_flash_at is None:
            return False  # Uefi waits for POST; RuntimeAgent waits for SUM/SUT (forever here)
        entry = self.repo_by_filename(item["Filename"])
        if entry is None:
            self._set(item, "Exception", self.dialect.message_id("iLO", "ComponentNotFound"))
            return True
        if self.options.get("tpm") and not item["TPMOverride"]:
            self._set(item, "Exception", self.dialect.message_id("iLO", "TPMOverrideRequired"))
            return True
        self._set(item, "InProgress")
        self.start_flash(dict(entry["op"], method="queue", queue_item=item["Id"]), in_post_at=post_flash_at)
        return True

    def queue_flash_done(self, task: Task) -> None:
        """A flash started by a queue item ended: the item follows it."""
        item = next((i for i in self.queue if i["Id"] == task.data.get("queue_item")), None)
        if item is not None and item["State"] == "InProgress":
            self._flashed(item, task.state == "Completed", str(task.oem.get("Result", "")))

    def _flashed(self, item: dict[str, Any], ok: bool, result: str) -> None:
        self._set(item, "Complete" if ok else "Exception", result)
        if ok:
            self.world.scheduler.after(86400, lambda: self._expire_complete(item))
        self.pump_queue()

    def _finish(self, item: dict[str, Any], ok: bool) -> None:
        self._set(item, "Complete" if ok else "Exception")
        self.pump_queue()

    def _expire_complete(self, item: dict[str, Any]) -> None:
        if item in self.queue and item["State"] == "Complete":
            self.queue.remove(item)
            self.touch()

    def _set(self, item: dict[str, Any], state: str, result: str | None = None) -> None:
        item["State"] = state
        if result is not None:
            item["Result"] = result
        self.world.events.emit(self.name, "task", id=f"queue:{item['Id']}", state=state, name=item["Name"])
        self.touch()

    def queue_on_post(self, flash_at: float) -> float:
        """UEFI items at the head run during this POST, one after the other."""
        total = 0.0
        for item in self.queue:
            if item["State"] == "Complete":
                continue
            if item["State"] != "Pending" or "Uefi" not in item["UpdatableBy"] or item["Command"] != "ApplyUpdate":
                break
            entry = self.repo_by_filename(item["Filename"])
            if entry is None:
                break
            self._start(item, post_flash_at=flash_at + total)
            total += self.flash_time(entry["op"]["component"])
            if item["State"] == "Exception":
                break
        return total
