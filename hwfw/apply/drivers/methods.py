"""The DMTF update methods every Redfish BMC may offer (DSP0266 "Update service"):

- `multipart`: `MultipartHttpPushUri`, UpdateParameters + UpdateFile streamed from disk
  (one round trip, no image server needed);
- `simple-update`: `UpdateService.SimpleUpdate` with `ImageURI` on hwfw's short-lived
  image server: the BMC pulls at its own pace, the server re-verifies every byte;
- `http-push`: the deprecated `HttpPushUri`, the raw image as the body.

Vendor modules reuse them (configured, or wrapped) in their own method tables.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

import httpx

from hwfw.apply.driver import FlashRequest, FlashResult, Progress
from hwfw.apply.drivers.context import FlashContext, apply_time_for, supported_values
from hwfw.apply.drivers.flashing import Flasher
from hwfw.apply.upload import FormField, RawBody
from hwfw.errors import ApplyError, BmcError
from hwfw.redfish.errors import parse_error_info
from hwfw.vendors.base import action_targets, apply_time_support

__all__ = ["HttpPush", "MultipartPush", "SimpleUpdatePull", "apply_time_for", "supported_values"]


@dataclass(frozen=True)
class MultipartPush:
    """`MultipartHttpPushUri` with `UpdateParameters` (Targets, apply time, and the
    vendor's `extra` parameters)."""

    extra: Mapping[str, Any] = field(default_factory=dict)
    name: str = "multipart"
    push: bool = True
    what: str = "multipart upload"

    def available(self, ctx: FlashContext) -> bool:
        return bool(ctx.update_service.get("MultipartHttpPushUri"))

    def refusal(self, kit: Flasher, request: FlashRequest, response: httpx.Response) -> ApplyError:
        return kit.refused(request, response, self.name)

    def parameters(self, kit: Flasher, request: FlashRequest, ctx: FlashContext) -> dict[str, Any]:
        us = ctx.update_service
        support = supported_values(us.get("MultipartHttpPushUri@Redfish.OperationApplyTimeSupport")) or \
            apply_time_support(us)
        params: dict[str, Any] = {"Targets": kit.quirks.target_uris(request, ctx)}
        at = apply_time_for(kit.host, request, support)
        if at:
            params["@Redfish.OperationApplyTime"] = at
        params.update(self.extra)
        return params

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        uri = ctx.update_service.get("MultipartHttpPushUri")
        if not uri:
            raise ApplyError(f"{kit.host}: the BMC offers no MultipartHttpPushUri")
        params = self.parameters(kit, request, ctx)
        response = await kit.send_multipart(
            uri, [FormField("UpdateParameters", json.dumps(params), "application/json")],
            kit.file(request, ctx, "UpdateFile"), ctx, what=self.what)
        if response.status_code >= 400 and not kit.refused_as_busy(response):
            raise self.refusal(kit, request, response)
        return await kit.after_push(request, ctx, progress, response, self.name)


async def image_url(kit: Flasher, request: FlashRequest, ctx: FlashContext) -> str:
    """Where the BMC pulls the image from: the executor's URL, else one published now."""
    if request.image_url is not None:
        return request.image_url
    if kit.bmc.image_server is None:
        raise ApplyError(f"{kit.host}: SimpleUpdate needs hwfw's image server; none is running",
                         hint="configure settings.image_server")
    return str(await kit.bmc.image_server.publish_async(request.image_path, request.entry.sha256, name=ctx.filename))


@dataclass(frozen=True)
class SimpleUpdatePull:
    """`UpdateService.SimpleUpdate`: the BMC pulls the image from hwfw's image server.
    TransferProtocol is sent only when the BMC requires it (or refuses without it)."""

    name: str = "simple-update"
    push: bool = False

    def available(self, ctx: FlashContext) -> bool:
        return "SimpleUpdate" in action_targets(ctx.update_service)

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        us = ctx.update_service
        action = action_targets(us).get("SimpleUpdate")
        if not action:
            raise ApplyError(f"{kit.host}: the BMC offers no SimpleUpdate action")
        url = await image_url(kit, request, ctx)
        body: dict[str, Any] = {"ImageURI": url}
        info = await _action_info(kit, action)
        targets = kit.quirks.target_uris(request, ctx)
        if targets and _param_accepted(info, "Targets"):
            body["Targets"] = targets
        support = supported_values(action.get("@Redfish.OperationApplyTimeSupport"))
        at = apply_time_for(kit.host, request, support or apply_time_support(us))
        if at:
            body["@Redfish.OperationApplyTime"] = at
        protocol = (urlsplit(url).scheme.upper() or "HTTP")
        allowed = [str(v) for v in action.get("TransferProtocol@Redfish.AllowableValues") or ()] or \
            _param_values(info, "TransferProtocol")
        if _param_required(info, "TransferProtocol"):
            body["TransferProtocol"] = protocol
        if allowed and protocol not in allowed:
            raise ApplyError(f"{kit.host}: the BMC cannot pull over {protocol} (it offers {', '.join(allowed)})",
                             hint="serve images over a protocol the BMC accepts (settings.image_server.tls_cert "
                                  "for HTTPS, or plain HTTP)")
        target = str(action["target"])
        response = await kit.post_action(target, body, ctx)
        if response.status_code == 400 and "TransferProtocol" not in body:
            error = parse_error_info(response)
            if "TransferProtocol" in (error.message or "") or any("TransferProtocol" in a for m in error.messages
                                                                 for a in m.args):
                # Some BMCs demand TransferProtocol although it is optional.
                body["TransferProtocol"] = protocol
                response = await kit.session.request("POST", target, json_body=body, check=False)
        return await kit.after_push(request, ctx, progress, response, self.name)


async def _action_info(kit: Flasher, action: Mapping[str, Any]) -> dict[str, Any] | None:
    uri = action.get("@Redfish.ActionInfo")
    if not isinstance(uri, str):
        return None
    try:
        return await kit.bmc.optional(uri)
    except BmcError:
        return None


def _param_values(info: Mapping[str, Any] | None, name: str) -> list[str]:
    for p in (info or {}).get("Parameters") or ():
        if isinstance(p, Mapping) and p.get("Name") == name:
            return [str(v) for v in p.get("AllowableValues") or ()]
    return []


def _param_accepted(info: Mapping[str, Any] | None, name: str) -> bool:
    """False only when the action's ActionInfo lists its parameters and `name` is not
    among them (DSP0266: ActionInfo describes the parameters a service supports)."""
    params = (info or {}).get("Parameters")
    if not isinstance(params, list) or not params:
        return True
    return any(isinstance(p, Mapping) and p.get("Name") == name for p in params)


def _param_required(info: Mapping[str, Any] | None, name: str) -> bool:
    for p in (info or {}).get("Parameters") or ():
        if isinstance(p, Mapping) and p.get("Name") == name:
            return bool(p.get("Required"))
    return False


@dataclass(frozen=True)
class HttpPush:
    """Deprecated `HttpPushUri`: the raw image as the body. Apply time and targets go
    through HttpPushUriOptions / HttpPushUriTargets when the BMC has them."""

    name: str = "http-push"
    push: bool = True

    def available(self, ctx: FlashContext) -> bool:
        return bool(ctx.update_service.get("HttpPushUri"))

    async def flash(self, kit: Flasher, request: FlashRequest, ctx: FlashContext, progress: Progress) -> FlashResult:
        us = ctx.update_service
        uri = us.get("HttpPushUri")
        if not uri:
            raise ApplyError(f"{kit.host}: the BMC offers no HttpPushUri")
        patch: dict[str, Any] = {}
        opts = us.get("HttpPushUriOptions")
        if isinstance(opts, Mapping) and isinstance(opts.get("HttpPushUriApplyTime"), Mapping):
            allowed = [str(v) for v in opts["HttpPushUriApplyTime"].get("ApplyTime@Redfish.AllowableValues") or ()]
            at = apply_time_for(kit.host, request, allowed)
            if at and opts["HttpPushUriApplyTime"].get("ApplyTime") != at:
                patch["HttpPushUriOptions"] = {"HttpPushUriApplyTime": {"ApplyTime": at}}
        targets = kit.quirks.target_uris(request, ctx)
        if "HttpPushUriTargets" in us and targets:
            patch["HttpPushUriTargets"] = targets
            if "HttpPushUriTargetsBusy" in us:
                patch["HttpPushUriTargetsBusy"] = True
        us_uri = kit.bmc.update_service_uri()
        if patch:
            await kit.session.request("PATCH", us_uri, json_body=patch)
        try:
            response = await kit.send_body(str(uri), RawBody(kit.file(request, ctx, "file")), ctx, what="HTTP push")
        finally:
            if patch.get("HttpPushUriTargetsBusy"):
                try:
                    await kit.session.request("PATCH", us_uri, json_body={"HttpPushUriTargetsBusy": False},
                                              check=False)
                except BmcError:
                    pass
        return await kit.after_push(request, ctx, progress, response, self.name)
