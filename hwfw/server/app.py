"""The ASGI application of `hwfw serve`: FastAPI for the API, Starlette pieces for the rest.

`create_app(path, ...)` builds it; its lifespan opens the workspace's FirmwareService
(hwfw.api.service), so the service lives in uvicorn's event loop. Every response gets
the security headers (a Content-Security-Policy allowing only this server's own
scripts and styles, no inline script, no framing); every error is a problem-details
document (hwfw/server/problems.py); request bodies above settings.server.
max_request_bytes are refused with 413. The OpenAPI 3.1 document is served at
/api/openapi.json (hwfw/server/openapi.py), the dashboard at / and its files under
/static/ (hwfw/server/static, no asset from the network).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hwfw import __version__
from hwfw.api.service import FirmwareService
from hwfw.errors import HwfwError

from .auth import Auth
from .openapi import components
from .problems import Problem, log, problem_for, problem_response
from .routes import router as api_router
from .streams import router as stream_router

__all__ = ["CSP", "create_app"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
STATIC = Path(str(resources.files("hwfw.server").joinpath("static")))


class SecurityHeaders:
    """Adds the security headers to every HTTP response (pure ASGI: streams untouched)."""

    def __init__(self, app: ASGIApp, *, tls: bool) -> None:
        self.app = app
        headers = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                   (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
                   (b"cross-origin-opener-policy", b"same-origin")]
        if tls:
            headers.append((b"strict-transport-security", b"max-age=31536000"))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in names]
                if scope["path"].startswith("/api/") and b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Request bodies above `limit` bytes get 413 as a problem document: at once when
    Content-Length says so, else when the body read so far passes it (raised inside the
    route, where the problem handlers answer)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _problem(self) -> Problem:
        return Problem(413, f"the request body is larger than {self.limit} bytes (settings.server.max_request_bytes)",
                       slug="content-too-large")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await problem_response(Request(scope), self._problem())(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise self._problem()
            return message

        await self.app(scope, counted, send)


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        doc = get_openapi(title="hwfw serve", version=__version__, openapi_version="3.1.0", routes=app.routes,
                          description="Firmware status, plans, approvals, runs and their live events, the image "
                                      "repository and the audit trail of one hwfw workspace. Every route but "
                                      "/api/health needs a bearer token (hwfw token create) or a dashboard "
                                      "session. Bodies follow the JSON Schemas in hwfw's schemas/ folder.")
        generated = doc.setdefault("components", {})
        generated["schemas"] = {**components(), **generated.get("schemas", {})}
        doc["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a token from `hwfw token create`"},
            "session": {"type": "apiKey", "in": "cookie", "name": "hwfw_session",
                        "description": "the dashboard's session (POST /api/session)"}}
        doc["security"] = [{"bearer": []}, {"session": []}]
        for path, ops in doc["paths"].items():
            if path in ("/api/health", "/api/session"):
                for op in ops.values():
                    op["security"] = []   # the health check; signing in, out, and asking whether one is
        app.openapi_schema = doc
    return app.openapi_schema


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def on_problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(HwfwError)
    async def on_hwfw(request: Request, exc: HwfwError) -> Response:
        return problem_response(request, problem_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:   # every method of the path, not only those of the first route matched
            headers["Allow"] = ", ".join(_allowed(app, request.scope))
        return problem_response(request, Problem(exc.status_code, str(exc.detail), headers=headers))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"message": f"{'/'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}"} for e in exc.errors()]
        return problem_response(request, Problem(422, "invalid request: " + "; ".join(e["message"]
                                                                                      for e in errors[:3]),
                                                 slug="invalid-request", errors=errors))

    @app.exception_handler(Exception)
    async def on_bug(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=True)
        return problem_response(request, Problem(500, f"internal error ({type(exc).__name__}); the server's log "
                                                      "has the details", slug="internal-error"))


def _allowed(app: FastAPI, scope: Scope) -> list[str]:
    from starlette.routing import BaseRoute, Match, Route

    def walk(routes: list[BaseRoute]) -> Iterator[BaseRoute]:
        for route in routes:
            included = getattr(route, "original_router", None)   # FastAPI's included routers (no prefix here)
            yield from walk(included.routes) if included is not None else (route,)

    methods: set[str] = set()
    for route in walk(app.routes):
        if isinstance(route, Route) and route.methods and route.matches(scope)[0] != Match.NONE:
            methods |= route.methods
    return sorted(methods)


def create_app(path: str | Path | None = None, *, service: FirmwareService | None = None, tls: bool = False,
               insecure: bool = False, ca_bundle: str | Path | None = None, scan: bool = True,
               max_request_bytes: int | None = None) -> FastAPI:
    """The application for the workspace at `path` (opened by the lifespan), or for an
    already open `service`. `tls`: served over HTTPS (Secure cookies, HSTS)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            yield
            return
        assert path is not None
        async with FirmwareService.open(path, insecure=insecure, ca_bundle=ca_bundle, scan=scan) as opened:
            app.state.service = opened
            app.state.auth = Auth(opened, secure_cookie=tls)
            yield

    app = FastAPI(title="hwfw serve", version=__version__, openapi_url=None, docs_url=None, redoc_url=None,
                  lifespan=lifespan)
    if service is not None:    # also usable without a lifespan (an in-process test client)
        app.state.service = service
        app.state.auth = Auth(service, secure_cookie=tls)
    _handlers(app)
    app.include_router(api_router)
    app.include_router(stream_router)

    @app.get("/api/openapi.json", include_in_schema=False)
    async def openapi_document() -> Response:
        from fastapi.responses import JSONResponse

        return JSONResponse(_openapi(app))

    @app.get("/", include_in_schema=False)
    async def dashboard() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=max_request_bytes or 1024 * 1024)
    app.add_middleware(SecurityHeaders, tls=tls)
    return app
