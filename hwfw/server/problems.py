"""Every error answer is an RFC 9457 problem-details document, never a traceback.

`type` is a stable URI naming the kind of problem (`https://hwfw.dev/problems/<slug>`),
`title` the status' phrase, `detail` what went wrong, `hint` what to do, `errors`
every problem of an invalid body or workspace. hwfw's own errors map to statuses by
class; anything else is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hwfw.errors import (
    BmcError,
    ConfigError,
    ConflictError,
    HwfwError,
    InvalidRequestError,
    LockHeldError,
    NotFoundError,
    PermissionDeniedError,
    StalePlanError,
    StaleStateError,
    StateError,
)
from hwfw.logs import get_logger, redactor

__all__ = ["Problem", "problem_for", "problem_response"]

log = get_logger("server")

# hwfw error classes, most specific first -> (status, slug)
STATUS_OF: tuple[tuple[type[HwfwError], int, str], ...] = (
    (NotFoundError, 404, "not-found"),
    (PermissionDeniedError, 403, "forbidden"),
    (ConflictError, 409, "conflict"),
    (LockHeldError, 409, "workspace-locked"),
    (StalePlanError, 409, "stale-plan"),
    (StaleStateError, 409, "stale-state"),
    (InvalidRequestError, 422, "invalid-request"),
    (ConfigError, 422, "invalid-workspace"),
    (BmcError, 502, "bmc-error"),
    (StateError, 503, "state-unavailable"),
)


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, slug: str | None = None, hint: str | None = None,
                 errors: list[Any] | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.hint = hint
        self.errors = errors
        self.headers = headers or {}


def problem_for(exc: HwfwError) -> Problem:
    status, slug = 422, "request-failed"
    for cls, code, name in STATUS_OF:
        if isinstance(exc, cls):
            status, slug = code, name
            break
    errors = [p.to_json() for p in exc.problems] if isinstance(exc, ConfigError) else None
    detail = exc.message if not isinstance(exc, ConfigError) else \
        f"the workspace is invalid: {exc.message}; " + "; ".join(p.render() for p in exc.problems[:3])
    return Problem(status, redactor(detail), slug=slug, hint=exc.hint, errors=errors)


def problem_response(request: Request | None, problem: Problem) -> JSONResponse:
    doc: dict[str, Any] = {"type": f"https://hwfw.dev/problems/{problem.slug}",
                           "title": HTTPStatus(problem.status).phrase, "status": problem.status,
                           "detail": problem.detail}
    if request is not None:
        doc["instance"] = request.url.path
    if problem.hint:
        doc["hint"] = redactor(problem.hint)
    if problem.errors:
        doc["errors"] = problem.errors
    return JSONResponse(doc, status_code=problem.status, media_type="application/problem+json",
                        headers=problem.headers)
