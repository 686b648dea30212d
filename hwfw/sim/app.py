"""The ASGI app serving every BMC of a fleet from one uvicorn server.

BMCs are told apart by the local address of the connection (`scope["server"]`): each
BMC listens on its own loopback address. In-process tests (httpx.ASGITransport sets no
per-BMC address) select the BMC with the `X-Hwfw-Sim-Bmc` header or with
`SimApp.for_bmc(name)`.

Transport-level faults (a BMC that is down, dropped connections, added latency, error
rates) are applied here, before the Redfish service sees the request; `lose_answer`
after it (the request is carried out, its answer never arrives).
The `inventory_latency` fault adds its delay to expanded FirmwareInventory reads only:
some iDRAC and iLO generations take seconds to assemble that one answer.

`request_log`, when set to a list, receives one `RequestRecord` per request a BMC
answered (tests count a host's requests and see which resources it read).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

from hwfw.sim.control import Control
from hwfw.sim.fleet import Latency
from hwfw.sim.http import ClientGone, Receive, Request, Response, Send
from hwfw.sim.messages import error_body
from hwfw.sim.service.base import BmcService
from hwfw.sim.world import Fleet

HTML_DOWN = ("<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1>"
             "<p>The management controller is restarting.</p></body></html>")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request a simulated BMC answered; times are `time.monotonic()` seconds."""

    bmc: str
    method: str
    path: str
    query: str
    status: int
    received: float
    answered: float


class SimApp:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.by_addr: dict[str, BmcService] = {}
        self.urls: dict[str, str] = {}
        # Addresses of BMCs answering as HTTP/1.0 (server.py rewrites their status lines).
        self.http10_addresses: set[str] = set()
        self.control = Control(fleet, self)
        self.dropper: Callable[[dict[str, Any]], bool] | None = None
        self.request_log: list[RequestRecord] | None = None
        self._rng = random.Random(f"{fleet.seed}:transport")

    def bind(self, name: str, address: str, url: str) -> None:
        self.by_addr[address] = self.fleet.bmcs[name]
        self.fleet.bmcs[name].address = address   # a BMC's own pulls leave from its address
        self.urls[name] = url
        if self.fleet.bmcs[name].HTTP_VERSION == "1.0":
            self.http10_addresses.add(address)

    def for_bmc(self, name: str) -> Callable[[dict[str, Any], Receive, Send], Any]:
        """An ASGI app that always serves BMC `name` (for httpx.ASGITransport in unit tests)."""
        async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
            await self._http(scope, receive, send, self.fleet.bmcs[name])
        return app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        server = scope.get("server")
        svc = self.by_addr.get(server[0]) if server else None
        if svc is None:
            for key, value in scope.get("headers", ()):
                if key == b"x-hwfw-sim-bmc":
                    svc = self.fleet.bmcs.get(value.decode())
        await self._http(scope, receive, send, svc)

    async def _http(self, scope: dict[str, Any], receive: Receive, send: Send, svc: BmcService | None) -> None:
        req = Request.from_scope(scope, receive)
        head = req.method == "HEAD"
        response: Response | None
        try:
            if req.path.startswith("/__sim"):
                response = await self.control.handle(req, svc)
            elif svc is None:
                response = Response.text(404, "no simulated BMC at this address\n")
            else:
                received = time.monotonic()
                response = await self._serve(svc, req, scope)
                if response is None:
                    return
                if self.request_log is not None:
                    self.request_log.append(RequestRecord(svc.name, req.method, req.path,
                                                          scope.get("query_string", b"").decode("latin-1"),
                                                          response.status, received, time.monotonic()))
                if svc.HTTP_VERSION == "1.0":
                    response.headers.append(("connection", "close"))  # HTTP/1.0: no keep-alive
        except ClientGone:
            return
        await response.send(send, head_only=head)

    async def _serve(self, svc: BmcService, req: Request, scope: dict[str, Any]) -> Response | None:
        fleet = self.fleet
        fleet.scheduler.run_due()
        machine = svc.machine
        if machine.bmc_state == "down":
            return await self._down(svc, req, scope)
        faults = svc.faults
        await self._latency(faults, req)
        if faults.get("drop_rate") and self._rng.random() < float(faults["drop_rate"]):
            fleet.events.emit(svc.name, "fault", kind="drop", path=req.path)
            await self._drop(scope, req)
            return None
        if faults.get("error_rate") and self._rng.random() < float(faults["error_rate"]):
            status = int(faults.get("error_status", 503))
            fleet.events.emit(svc.name, "fault", kind="error", status=status, path=req.path)
            key = "ServiceTemporarilyUnavailable" if status == 503 else "InternalError"
            args = ["5"] if status == 503 else []
            return Response.json(status, error_body("Base", key, args, svc.dialect),
                                 [("retry-after", "5")] if status == 503 else None)
        response = await svc.handle(req)
        if faults.get("lose_answer") == f"{req.method} {req.path.rstrip('/')}":
            # carried out, then the answer is lost: the client never learns what it caused
            fleet.events.emit(svc.name, "fault", kind="lose-answer", path=req.path, status=response.status)
            await self._drop(scope, req)
            return None
        return response

    async def _latency(self, faults: Any, req: Request) -> None:
        """Real-time delay: network latency is never scaled by the virtual clock."""
        base = self.fleet.latency
        fixed, jitter = base.fixed, base.jitter
        for key in ("latency", "inventory_latency"):
            extra = faults.get(key)
            if extra is None or (key == "inventory_latency" and not _expanded_inventory(req)):
                continue
            lat = Latency.parse(extra)
            fixed, jitter = fixed + lat.fixed, jitter + lat.jitter
        delay = fixed + (self._rng.random() * jitter if jitter else 0.0)
        if delay > 0:
            await asyncio.sleep(delay)

    async def _down(self, svc: BmcService, req: Request, scope: dict[str, Any]) -> Response | None:
        mode = svc.machine.down_mode
        if mode in ("refused", "timeout"):
            await self._drop(scope, req, refused=True)
            return None
        if mode == "hang":
            try:
                while (await req.receive())["type"] != "http.disconnect":
                    pass
            except Exception:
                pass
            return None
        if mode == "500":
            return Response.json(500, error_body("Base", "InternalError", [], svc.dialect))
        if mode == "html":
            return Response.text(503, HTML_DOWN, "text/html; charset=utf-8", [("retry-after", "30")])
        return Response.json(503, error_body("Base", "ServiceTemporarilyUnavailable", ["30"], svc.dialect),
                             [("retry-after", "30")])

    async def _drop(self, scope: dict[str, Any], req: Request, refused: bool = False) -> None:
        """Reset the TCP connection (server layer); in-process, raise like a dead peer."""
        if self.dropper is not None and self.dropper(scope):
            try:  # wait for uvicorn to see the disconnect, so it does not try to answer
                while (await req.receive())["type"] != "http.disconnect":
                    pass
            except Exception:
                pass
            return
        raise (ConnectionRefusedError if refused else ConnectionResetError)("simulated BMC dropped the connection")


def _expanded_inventory(req: Request) -> bool:
    return "$expand" in req.query and req.path.rstrip("/").endswith("/FirmwareInventory")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
