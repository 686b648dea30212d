"""The served OpenAPI 3.1 document: FastAPI's paths, with bodies from schemas/.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so the files in schemas/ go into
`components.schemas` as they are, with two changes: each file's `$defs` are hoisted
to components of their own (`PlanRecord_rollout`), and every `$ref` is rewritten to
point at the component (`#/$defs/x`, `run.schema.json`, `plan-record.schema.json#/$defs/x`).
`$id` and `$schema` are dropped, so references resolve inside the document. Only the
files the API's bodies reach are included. The API's own bodies are the `$defs` of
schemas/server-api.schema.json, named in CamelCase (`PlanRequest`, `Status`).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from hwfw.resources import data_dir

__all__ = ["PROBLEM", "body", "components", "json_response", "problem_responses", "ref"]

API_FILE = "server-api"
PROBLEM = "application/problem+json"


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[-_.]", name) if part)


def _component(file: str, definition: str | None = None) -> str:
    if file == API_FILE:
        assert definition is not None
        return _camel(definition)
    return _camel(file) + (f"_{definition}" if definition else "")


def ref(name: str) -> dict[str, str]:
    """A reference to component `name` (a server-api $def in CamelCase, or a file's)."""
    return {"$ref": f"#/components/schemas/{name}"}


def _load(file: str) -> dict[str, Any]:
    with (data_dir("schemas") / f"{file}.schema.json").open(encoding="utf-8") as fh:
        return dict(json.load(fh))


def _rewrite(node: Any, file: str, reached: set[str]) -> Any:
    if isinstance(node, list):
        return [_rewrite(v, file, reached) for v in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            target, _, pointer = value.partition("#")
            other = target.removesuffix(".schema.json") if target else file
            reached.add(other)
            definition = pointer.removeprefix("/$defs/") if pointer.startswith("/$defs/") else None
            out[key] = f"#/components/schemas/{_component(other, definition)}"
        else:
            out[key] = _rewrite(value, file, reached)
    return out


@cache
def components() -> dict[str, Any]:
    """Every schema the API's bodies reach, as OpenAPI components."""
    out: dict[str, Any] = {}
    todo, done = [API_FILE], set()
    while todo:
        file = todo.pop()
        if file in done:
            continue
        done.add(file)
        reached: set[str] = set()
        doc = _load(file)
        defs = doc.pop("$defs", {})
        for key in ("$schema", "$id"):
            doc.pop(key, None)
        if file != API_FILE:
            out[_component(file)] = _rewrite(doc, file, reached)
        for name, schema in defs.items():
            out[_component(file, name)] = _rewrite(schema, file, reached)
        todo.extend(sorted(reached - done))
    return out


def json_response(description: str, schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": ref(schema)}}}


ERRORS = {
    400: "the body is not JSON",
    401: "no valid bearer token or session",
    403: "the principal's role does not allow it",
    404: "no such plan, run or host",
    409: "not now: another run holds the workspace, the plan is not approved or is stale",
    413: "the body is larger than settings.server.max_request_bytes",
    422: "the body or a parameter is not what the API takes, or the workspace is invalid",
    429: "too many failed authentications from this address: retry after Retry-After seconds",
    502: "a BMC could not be read",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Problem-details responses for the given status codes (401, 413, 422 and 429 always)."""
    wanted = sorted(set(codes) | {400, 401, 413, 422, 429})
    return {code: {"description": ERRORS[code], "content": {PROBLEM: {"schema": ref("Problem")}}}
            for code in wanted}


def body(schema: str, *, required: bool = True) -> dict[str, Any]:
    """`openapi_extra` declaring a JSON request body of component `schema`."""
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": ref(schema)}}}}
