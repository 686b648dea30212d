"""UpdateService, FirmwareInventory and image intake shared by the profiles.

Intake is the same everywhere: the body streams to a spool file (multipart) or is
pulled from `ImageURI` with httpx, the image is verified streaming, and an
`image-received` event records its sha256. What happens next (tasks, jobs, HPE state)
is the profile's business, see updateflow.py and hwfw/sim/profiles/.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from hwfw.sim.firmware import FetchError, ImageInfo, fetch, inspect_file
from hwfw.sim.http import HttpError, Request, Response
from hwfw.sim.multipart import MultipartError, Part, parse_multipart
from hwfw.sim.service.accounts import AccessResources
from hwfw.sim.service.resources import R, collection, ref
from hwfw.sim.service.router import route

UPLOAD_CHUNK_DELAY_BYTES = 64 * 1024


class Upload:
    """A received multipart push: form fields, the image file part and its verdict."""

    def __init__(self, fields: dict[str, str], image: ImageInfo | None, parts: list[Part]) -> None:
        self.fields = fields
        self.image = image
        self.parts = parts

    def json_field(self, name: str) -> dict[str, Any]:
        raw = self.fields.get(name)
        if raw is None:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            raise HttpError(Response.json(400, {"error": {"code": "Base.1.0.MalformedJSON",
                                                          "message": f"{name} is not valid JSON"}})) from None
        return value if isinstance(value, dict) else {}

    def discard(self) -> None:
        for part in self.parts:
            part.discard()


class UpdateResources(AccessResources):
    """UpdateService + FirmwareInventory + the intake helpers."""

    UPDATE_TYPE = "#UpdateService.v1_11_0.UpdateService"
    INVENTORY_TYPE = "#SoftwareInventory.v1_10_0.SoftwareInventory"

    def setup(self) -> None:
        super().setup()
        self.busy_uploads = 0

    # ------------------------------------------------------------ resources
    @route("GET", f"{R}/UpdateService")
    async def get_update_service(self, req: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "@odata.id": f"{R}/UpdateService", "@odata.type": self.UPDATE_TYPE, "Id": "UpdateService",
            "Name": "Update Service", "ServiceEnabled": True, "Status": {"State": "Enabled", "Health": "OK"},
            "FirmwareInventory": ref(f"{R}/UpdateService/FirmwareInventory"),
            "Actions": {"#UpdateService.SimpleUpdate": {
                "target": f"{R}/UpdateService/Actions/UpdateService.SimpleUpdate"}}}
        self.update_service_extra(body)
        if not self.has_firmware_inventory():
            body.pop("FirmwareInventory", None)
        return body

    def update_service_extra(self, body: dict[str, Any]) -> None:
        pass

    def has_firmware_inventory(self) -> bool:
        """`options: {firmware_inventory: false}`: a service without FirmwareInventory
        (clients then read Manager.FirmwareVersion and ComputerSystem.BiosVersion)."""
        return bool(self.options.get("firmware_inventory", True))

    @route("GET", f"{R}/UpdateService/FirmwareInventory")
    async def get_firmware_inventory(self, req: Request) -> dict[str, Any] | Response:
        if not self.has_firmware_inventory():
            return self.not_found(req)
        return collection(f"{R}/UpdateService/FirmwareInventory", "SoftwareInventoryCollection",
                          "Firmware Inventory Collection",
                          [self.inventory_member_uri(i) for i in self.inventory_ids()])

    def inventory_member_uri(self, fid: str) -> str:
        return f"{R}/UpdateService/FirmwareInventory/{fid}"

    @route("GET", f"{R}/UpdateService/FirmwareInventory/{{fid}}")
    async def get_firmware_item(self, req: Request, fid: str) -> dict[str, Any] | Response:
        body = self.inventory_item(fid) if self.has_firmware_inventory() else None
        return body if body is not None else self.not_found(req)

    def inventory_ids(self) -> list[str]:
        raise NotImplementedError

    def inventory_item(self, fid: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def inv_body(self, fid: str, name: str, version: str, *, updateable: bool = True,
                 software_id: str | None = None, related: list[str] | None = None, state: str = "Enabled",
                 **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"@odata.id": f"{R}/UpdateService/FirmwareInventory/{fid}",
                                "@odata.type": self.INVENTORY_TYPE, "Id": fid, "Name": name, "Version": version,
                                "Updateable": updateable, "Status": {"State": state, "Health": "OK"}}
        if software_id:
            body["SoftwareId"] = software_id
        if related:
            body["RelatedItem"] = [ref(u) for u in related]
        body.update(extra)
        return body

    def related_for(self, kind: str) -> list[str]:
        if kind == "bmc":
            return [self.mgr_uri]
        if kind == "bios":
            return [self.sys_uri, f"{self.sys_uri}/Bios"]
        if kind == "nic":
            return [self.sys_uri]
        return [self.chassis_uri]

    # ------------------------------------------------------------ intake
    def max_image_size(self) -> int | None:
        value = self.options.get("max_image_size", self.table.get("max_image_size"))
        return int(value) if value else None

    def spool_dir(self) -> Path:
        return self.world.spool_dir / self.name

    def check_push_headers(self, req: Request) -> None:
        """411 without Content-Length, 413 above MaxImageSizeBytes."""
        length = req.content_length
        if length is None and self.table.get("require_content_length", True):
            raise HttpError(self.error(411, "Base", "GeneralError", ("Content-Length is required",)))
        limit = self.max_image_size()
        if limit is not None and length is not None and length > limit + 64 * 1024:
            raise HttpError(self.error(413, "Base", "PayloadTooLarge"))

    async def throttled(self, req: Request) -> Any:
        """The body stream, slowed down by the `upload_rate` fault (real time)."""
        rate = self.faults.get("upload_rate")
        async for chunk in req.stream():
            if rate:
                await asyncio.sleep(len(chunk) / float(rate))
            yield chunk

    async def receive_multipart(self, req: Request, method: str, file_fields: tuple[str, ...]) -> Upload:
        """Stream a multipart push to disk and verify its image; 400 on malformed bodies."""
        self.check_push_headers(req)
        ctype = req.headers.get("content-type", "")
        self.busy_uploads += 1
        try:
            parts = await parse_multipart(self.throttled(req), ctype, self.spool_dir(), self.max_image_size())
        except MultipartError as exc:
            if str(exc) == "too-large":
                raise HttpError(self.error(413, "Base", "PayloadTooLarge")) from None
            raise HttpError(self.error(400, "Base", "GeneralError", (str(exc),))) from None
        finally:
            self.busy_uploads -= 1
        fields = {p.name: p.text() for p in parts if not p.is_file}
        files = [p for p in parts if p.is_file and p.name in file_fields]
        if len(files) != 1:
            for p in parts:
                p.discard()
            raise HttpError(self.error(400, "Base", "ActionParameterMissing", ("push", file_fields[0])))
        image = await self.ingest(files[0], method)
        return Upload(fields, image, parts)

    async def ingest(self, part: Part, method: str) -> ImageInfo:
        assert part.path is not None
        info = await inspect_file(part.path, part.filename or "image.bin", part.sha256, part.size)
        part.discard()
        self.world.events.emit(self.name, "image-received", method=method, **info.to_event())
        return info

    async def pull(self, uri: str, username: str | None, password: str | None) -> ImageInfo:
        """Fetch ImageURI for real and verify it; raise FetchError on transfer problems."""
        path, sha, size = await fetch(uri, self.spool_dir(), username, password, local_address=self.address)
        try:
            info = await inspect_file(path, uri.rsplit("/", 1)[-1] or "image.bin", sha, size)
        finally:
            path.unlink(missing_ok=True)
        self.world.events.emit(self.name, "image-received", method="simple-update", uri=uri, **info.to_event())
        return info

    def start_pull(self, uri: str, username: str | None, password: str | None,
                   done: Any) -> None:
        """Pull in the background; `done(info, error_key, detail)` runs on the loop when finished."""
        async def run() -> None:
            try:
                info = await self.pull(uri, username, password)
            except FetchError as exc:
                done(None, exc.key, exc.detail)
                return
            done(info, None, None)

        task = asyncio.get_running_loop().create_task(run())
        self.world.background.add(task)
        task.add_done_callback(self.world.background.discard)
