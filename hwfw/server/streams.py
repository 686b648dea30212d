"""A run's events, live: Server-Sent Events and a WebSocket carrying the same stream.

Both send every event numbered above where the client is (SSE: the `Last-Event-ID`
header or `?after=N`; WebSocket: `?after=N`), then the live ones, then an end message
with the run's record, and close. The numbers are the store's, so a client that lost
its connection resumes exactly where it was; a client too slow to keep up is caught up
from the store instead of stalling the others (hwfw.api.service.hub).

SSE: each event is `id: SEQ` + `data: EVENT` (schemas/events.schema.json); the end is
`event: end` + `data: RUN`. WebSocket: text messages `{"events": [{"seq": SEQ, "event":
EVENT}, ...]}`, each carrying every event ready when it was sent (one, or a burst a
client fell behind on: a slow client catches up in a few messages, not one per event;
`"published": UNIX_TIME` on an event sent as it happened, so a client can measure its
lag), then `{"end": RUN}`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.websockets import WebSocketState

from hwfw.api.service import Principal, Streamed

from .openapi import problem_responses
from .problems import Problem
from .routes import auth_of, role, service_of

__all__ = ["router"]

router = APIRouter()

# One event of the stream (OpenAPI 3.1: the `schema` of an event stream describes each event).
SSE_EVENT = {
    "type": "object", "required": ["data"],
    "properties": {
        "event": {"enum": ["message", "end"], "description": "message: a run event; end: the stream ends"},
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's number (Last-Event-ID)"},
        "data": {"type": "string", "contentMediaType": "application/json",
                 "description": "message: one event of schemas/events.schema.json; end: the run's record "
                                "(schemas/run.schema.json)"},
        "retry": {"type": "integer", "minimum": 0}}}


def _start(after: int | None, last_event_id: str | None) -> int:
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return max(0, after or 0)


def _dumps(doc: Any) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


@router.get("/api/firmware/runs/{run_id}/events", tags=["runs"],
            responses={200: {"description": "the run's events as Server-Sent Events, then an `end` event",
                             "content": {"text/event-stream": {"schema": SSE_EVENT}}},
                       **problem_responses(404)})
async def events(request: Request, run_id: str, _: Annotated[Principal, Depends(role("read"))],
                 after: Annotated[int | None, Query(ge=0, le=2**31)] = None) -> EventSourceResponse:
    """Resumable with `Last-Event-ID` (or `?after=N`)."""
    service = service_of(request)
    record = await service.runs.get(run_id)       # 404 before the stream starts
    start = _start(after, request.headers.get("last-event-id"))

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with aclosing(service.follow(run_id, start)) as events:
            async for item in events:
                yield ServerSentEvent(data=item.text, id=str(item.seq))
        final = await service.runs.get(record.run_id)
        yield ServerSentEvent(data=_dumps(final.to_json()), event="end")

    return EventSourceResponse(stream(), ping=15, send_timeout=10, headers={"Cache-Control": "no-store"})


def _ws_message(batch: list[Streamed]) -> str:
    """`{"events": [{"seq": N, "published": T, "event": EVENT}, ...]}`, from each event's
    text serialised once for every client."""
    parts = []
    for item in batch:
        published = f',"published":{item.published:.6f}' if item.published is not None else ""
        parts.append(f'{{"seq":{item.seq}{published},"event":{item.text}}}')
    return '{"events":[' + ",".join(parts) + "]}"


@router.websocket("/api/firmware/runs/{run_id}/ws")
async def websocket(ws: WebSocket, run_id: str, after: int = 0) -> None:
    auth = auth_of(ws)  # type: ignore[arg-type]
    await ws.accept()   # then refuse with a close code saying why (4401, 4403, 4404): a refused handshake says nothing
    try:
        principal, _ = await auth.principal(ws)
        if not principal.can("read"):
            raise Problem(403, f"{principal.display} may not read", slug="forbidden")
        service = service_of(ws)  # type: ignore[arg-type]
        await service.runs.get(run_id)
    except Problem as problem:
        await ws.close(code=4000 + problem.status, reason=problem.detail[:120])
        return
    except Exception as exc:   # NotFoundError and the like
        await ws.close(code=4404, reason=str(exc).splitlines()[0][:120])
        return
    try:
        async with aclosing(service.runs.follow_batches(run_id, max(0, after))) as stream:
            async for batch in stream:
                await ws.send_text(_ws_message(batch))
        final = await service.runs.get(run_id)
        await ws.send_text(_dumps({"end": final.to_json()}))
        await ws.close(code=1000)
    except WebSocketDisconnect:
        return
    finally:
        if ws.client_state == WebSocketState.CONNECTED:
            try:
                await ws.close(code=1011)
            except RuntimeError:
                pass
