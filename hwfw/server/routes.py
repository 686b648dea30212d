"""The HTTP API: parse, check the role, call FirmwareService, answer JSON.

Request bodies are checked against the components of the OpenAPI document (the
schemas in schemas/) before anything runs; answers are the service's JSON documents.
Every route but the health check needs a principal (hwfw/server/auth.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from hwfw import __version__
from hwfw.api.formats import body_validator
from hwfw.api.service import FirmwareService, Principal
from hwfw.render.plan import render_markdown

from .auth import Auth
from .openapi import body, components, json_response, problem_responses, ref
from .problems import Problem

__all__ = ["router"]

router = APIRouter()

RUN_ID = r"^[A-Za-z0-9_.-]{1,64}$"
PLAN_ID = r"^[0-9a-f]{16}$"


def service_of(request: Request) -> FirmwareService:
    service: FirmwareService = request.app.state.service
    return service


def auth_of(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


def role(action: str) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        return await auth_of(request).require(action)(request)

    return dependency


Reader = Annotated[Principal, Depends(role("read"))]
HostStatus = Literal["compliant", "behind", "ahead", "unknown", "missing", "unreachable", "unmanaged"]


@cache
def _validator(schema: str) -> Callable[[Any], list[str]]:
    return body_validator({"$ref": f"#/components/schemas/{schema}", "components": {"schemas": components()}})


async def read_body(request: Request, schema: str, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise Problem(400, "this request needs a JSON body", slug="missing-body")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, f"the body is not JSON: {exc}", slug="malformed-json") from None
    problems = _validator(schema)(doc)
    if problems:
        raise Problem(422, f"the body does not match {schema}: " + "; ".join(problems[:3]), slug="invalid-body",
                      errors=[{"message": p} for p in problems])
    return dict(doc)


def single(request: Request, *names: str) -> None:
    """A query parameter that takes one value, given several times, is refused (422)."""
    repeated = [n for n in names if len(request.query_params.getlist(n)) > 1]
    if repeated:
        raise Problem(422, f"query parameter {', '.join(repeated)} given more than once", slug="invalid-request")


def accepted(doc: dict[str, Any], location: str) -> JSONResponse:
    return JSONResponse(doc, status_code=202, headers={"Location": location})


def run_view(run: Any) -> dict[str, Any]:
    doc = run.to_json()
    return {"run": doc, "resumable": False}


# ---------------------------------------------------------------------- health, session


@router.get("/api/health", responses={200: json_response("the server is up", "Health")}, tags=["server"])
async def health() -> dict[str, Any]:
    """The only route without authentication."""
    return {"status": "ok", "version": __version__}


@router.post("/api/session", status_code=204, tags=["server"], openapi_extra=body("SessionRequest"),
             responses={204: {"description": "signed in: the session cookie is set"}, **problem_responses()})
async def sign_in(request: Request) -> Response:
    """Sign the dashboard in with a token: answers a session cookie (HttpOnly, SameSite=Strict)."""
    doc = await read_body(request, "SessionRequest")
    auth = auth_of(request)
    principal = await auth.token_principal(request, doc["token"])
    response = Response(status_code=204)
    response.set_cookie(**auth.cookie(auth.sign_in(principal)))  # type: ignore[arg-type]
    await service_of(request).record(principal, "signed-in", principal.token_id or principal.name)
    return response


@router.get("/api/session", tags=["server"],
            responses={200: json_response("signed in: who", "Whoami"), 204: {"description": "not signed in"},
                       **problem_responses()})
async def session(request: Request) -> Response:
    """The dashboard's session, if any (no authentication needed: it only says whether the
    cookie sent is a live session, and whose)."""
    from .auth import COOKIE

    principal = auth_of(request).session_principal(request.cookies.get(COOKIE))
    if principal is None:
        return Response(status_code=204)
    return JSONResponse({**principal.to_json(), "via": "session"})


@router.delete("/api/session", status_code=204, tags=["server"],
               responses={204: {"description": "signed out"}, **problem_responses()})
async def sign_out(request: Request) -> Response:
    from .auth import COOKIE

    principal = auth_of(request).sign_out(request.cookies.get(COOKIE))
    if principal is not None:
        await service_of(request).record(principal, "signed-out", principal.token_id or principal.name)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/api/whoami", tags=["server"], responses={200: json_response("the principal", "Whoami"),
                                                        **problem_responses()})
async def whoami(request: Request) -> dict[str, Any]:
    principal, via = await auth_of(request).principal(request)
    return {**principal.to_json(), "via": via}


@router.get("/metrics", tags=["server"],
            responses={200: {"description": "Prometheus metrics (text exposition format 0.0.4; "
                                            "docs/alerts-and-metrics.md lists the series)",
                             "content": {"text/plain": {"schema": {"type": "string"}}}},
                       **problem_responses(403)})
async def metrics(request: Request, _: Reader) -> Response:
    """The fleet's compliance, runs, steps, BMC requests and notification deliveries, for
    Prometheus (a bearer token of any role: `authorization` in the scrape config)."""
    from hwfw.api.service.observe import CONTENT_TYPE_LATEST

    return Response(service_of(request).observers.exposition(), media_type=CONTENT_TYPE_LATEST)


# ---------------------------------------------------------------------- fleet


@router.get("/api/firmware/status", tags=["fleet"],
            responses={200: json_response("the fleet summary", "Status"), **problem_responses()})
async def status(request: Request, _: Reader) -> Response:
    """Per baseline and component: compliant, behind, ahead, unknown, missing,
    unreachable; the current run; when the fleet was last read; the workspace's
    validity and Git commit."""
    return JSONResponse(service_of(request).status())


@router.post("/api/firmware/check", tags=["fleet"], openapi_extra=body("CheckRequest", required=False),
             responses={200: json_response("the check (or, live, the compliance) report", "CheckResult"),
                        **problem_responses(403, 409, 502)})
async def check(request: Request, _: Annotated[Principal, Depends(role("read"))]) -> Response:
    """The offline gate (`hwfw check --format json`); with `{"live": true}` a fresh
    inventory and the compliance report (`hwfw compliance --format json`)."""
    doc = await read_body(request, "CheckRequest", optional=True)
    return JSONResponse(await service_of(request).check(live=bool(doc.get("live"))))


@router.get("/api/firmware/hosts", tags=["fleet"],
            responses={200: json_response("the hosts, behind on critical images first", "HostList"),
                       **problem_responses()})
async def hosts(request: Request, _: Reader,
                status: Annotated[list[HostStatus] | None, Query(max_length=10)] = None,
                baseline: Annotated[str | None, Query(max_length=200)] = None,
                q: Annotated[str | None, Query(max_length=200, description="part of a host name")] = None,
                critical: bool | None = None) -> dict[str, Any]:
    single(request, "baseline", "q", "critical")
    return {"hosts": service_of(request).hosts(status=status or (), baseline=baseline, query=q, critical=critical)}


@router.get("/api/firmware/hosts/{name}", tags=["fleet"],
            responses={200: json_response("one host", "HostDetail"), **problem_responses(404)})
async def host(request: Request, name: str, _: Reader) -> dict[str, Any]:
    """Inventory, settings, last runs and audit entries of one host."""
    return await service_of(request).host(name)


# ---------------------------------------------------------------------- plans


@router.get("/api/firmware/plans", tags=["plans"],
            responses={200: json_response("the saved plans, newest first", "PlanList"), **problem_responses()})
async def plans(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    single(request, "limit")
    return {"plans": await service_of(request).list_plans(limit)}


@router.post("/api/firmware/plans", status_code=201, tags=["plans"], openapi_extra=body("PlanRequest",
                                                                                         required=False),
             responses={201: json_response("the saved plan", "PlanView"), **problem_responses(403, 409, 502)})
async def make_plan(request: Request, principal: Annotated[Principal, Depends(role("plan"))]) -> Response:
    """Make and save a plan (reads every selected BMC); 201 with its id."""
    doc = await read_body(request, "PlanRequest", optional=True)
    service = service_of(request)
    record = await service.create_plan(principal, doc)
    return JSONResponse(await service.plan(record.plan_id), status_code=201,
                        headers={"Location": f"/api/firmware/plans/{record.plan_id}"})


@router.get("/api/firmware/plans/{plan_id}", tags=["plans"],
            responses={200: {"description": "the plan, its decisions and whether it is stale (or, with "
                                            "Accept: text/markdown, the plan as markdown)",
                             "content": {"application/json": {"schema": ref("PlanView")},
                                         "text/markdown": {"schema": {"type": "string"}}}},
                       **problem_responses(404)})
async def get_plan(request: Request, plan_id: str, _: Reader) -> Response:
    service = service_of(request)
    if "text/markdown" in request.headers.get("accept", ""):
        return PlainTextResponse(render_markdown(await service.plan_value(plan_id)), media_type="text/markdown")
    return JSONResponse(await service.plan(plan_id))


@router.post("/api/firmware/plans/{plan_id}/approve", tags=["plans"],
             openapi_extra=body("ApprovalRequest", required=False),
             responses={200: json_response("the decision recorded", "Approval"), **problem_responses(403, 404)})
async def approve(request: Request, plan_id: str,
                  principal: Annotated[Principal, Depends(role("approve"))]) -> dict[str, Any]:
    """Approve (or, with `{"verdict": "rejected"}`, reject) a plan."""
    doc = await read_body(request, "ApprovalRequest", optional=True)
    decision = await service_of(request).decide(principal, plan_id, doc.get("verdict", "approved"),
                                                doc.get("comment", ""))
    return decision.to_json()


# ---------------------------------------------------------------------- runs


@router.post("/api/firmware/update", status_code=202, tags=["runs"], openapi_extra=body("UpdateRequest"),
             responses={202: json_response("the run started", "RunView"), **problem_responses(403, 404, 409)})
async def update(request: Request, principal: Annotated[Principal, Depends(role("update"))]) -> Response:
    """Apply a saved, approved, not stale plan with its rollout; 202 with the run id.
    409 names the holder when a run holds the workspace."""
    doc = await read_body(request, "UpdateRequest")
    run = await service_of(request).start_update(principal, doc["plan_id"])
    return accepted(run_view(run), f"/api/firmware/runs/{run.run_id}")


@router.get("/api/firmware/runs", tags=["runs"],
            responses={200: json_response("the runs, newest first", "RunList"), **problem_responses()})
async def runs(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    single(request, "limit")
    return {"runs": await service_of(request).list_runs(limit)}


@router.get("/api/firmware/runs/{run_id}", tags=["runs"],
            responses={200: json_response("one run: per host, each step's state, timings, errors", "RunView"),
                       **problem_responses(404)})
async def run(request: Request, run_id: str, _: Reader) -> dict[str, Any]:
    return await service_of(request).run(run_id)


@router.post("/api/firmware/runs/{run_id}/cancel", status_code=202, tags=["runs"],
             openapi_extra=body("CancelRequest", required=False),
             responses={202: json_response("the cancel request was delivered", "RunView"),
                        **problem_responses(403, 404, 409)})
async def cancel(request: Request, run_id: str,
                 principal: Annotated[Principal, Depends(role("cancel"))]) -> Response:
    """Nothing new starts; in-flight steps reach a safe point (`force`: stop them now)."""
    doc = await read_body(request, "CancelRequest", optional=True)
    record = await service_of(request).cancel(principal, run_id, force=bool(doc.get("force")))
    return accepted(run_view(record), f"/api/firmware/runs/{run_id}")


@router.post("/api/firmware/runs/{run_id}/resume", status_code=202, tags=["runs"],
             responses={202: json_response("the run resuming it", "RunView"), **problem_responses(403, 404, 409)})
async def resume(request: Request, run_id: str,
                 principal: Annotated[Principal, Depends(role("update"))]) -> Response:
    """Resume an interrupted apply: settle what it left open, then continue its plan."""
    record = await service_of(request).resume(principal, run_id)
    return accepted(run_view(record), f"/api/firmware/runs/{record.run_id}")


# ---------------------------------------------------------------------- repository, audit


@router.post("/api/firmware/repository/sync", status_code=202, tags=["repository"],
             openapi_extra=body("SyncRequest", required=False),
             responses={202: json_response("the sync started", "RunView"), **problem_responses(403, 409)})
async def sync(request: Request, principal: Annotated[Principal, Depends(role("sync"))]) -> Response:
    """Fetch the images the baselines reference into the cache, in the background, with progress events."""
    doc = await read_body(request, "SyncRequest", optional=True)
    record = await service_of(request).start_sync(principal, all_images=bool(doc.get("all_images")))
    return accepted(run_view(record), f"/api/firmware/runs/{record.run_id}")


@router.get("/api/firmware/repository", tags=["repository"],
            responses={200: json_response("the images and their cache status", "Repository"),
                       **problem_responses()})
async def repository(request: Request, _: Reader) -> dict[str, Any]:
    return await service_of(request).repository()


@router.get("/api/firmware/audit", tags=["server"],
            responses={200: json_response("the server's audit trail, newest first", "AuditList"),
                       **problem_responses()})
async def audit(request: Request, _: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
                target: Annotated[str | None, Query(max_length=64)] = None) -> dict[str, Any]:
    single(request, "limit", "target")
    return {"entries": await service_of(request).audit(limit=limit, target=target)}
