"""`/__sim/*`: the simulator's control and inspection API (no auth; loopback only).

On any BMC socket the endpoints act on that BMC unless a `bmc` field/query names
another one (`"*"` = fleet-wide for faults). Endpoints:

- GET  /__sim/fleet                     every BMC: name, profile, url, bmc state, power
- GET  /__sim/state[?bmc=N]             installed/pending versions, power, tasks, queues
- GET  /__sim/events[?since=&type=&bmc=&all=1]   event log (see events.py)
- GET  /__sim/sessions[?bmc=N]          live sessions now
- GET|POST|DELETE /__sim/faults         read / merge / clear injected faults (schemas/fleet.schema.json
                                        $defs.faults, e.g. {"bmc": "h1", "hang_in_post": true})
- GET|POST /__sim/clock                 {"advance": seconds} and/or {"speed": factor}
- POST /__sim/machine                   {"action": "bmc-reset"|"ac-cycle"|"reset", "reset_type": ...}
- POST /__sim/firmware                  {"component": KEY, "version": V}: what runs now, changed out of band
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import TYPE_CHECKING, Any

import jsonschema

from hwfw.config.schema import load_schema
from hwfw.sim.http import Request, Response
from hwfw.sim.service.base import BmcService

if TYPE_CHECKING:
    from hwfw.sim.app import SimApp
    from hwfw.sim.world import Fleet


@cache
def _fault_validator() -> jsonschema.Draft202012Validator:
    schema = copy.deepcopy(load_schema("fleet"))
    return jsonschema.Draft202012Validator({"$id": schema["$id"], "$defs": schema["$defs"],
                                            **schema["$defs"]["faults"]})


def _json(status: int, data: Any) -> Response:
    return Response(status, json.dumps(data, indent=1, sort_keys=True).encode(),
                    [("content-type", "application/json")])


class Control:
    def __init__(self, fleet: Fleet, app: SimApp) -> None:
        self.fleet = fleet
        self.app = app

    async def handle(self, req: Request, svc: BmcService | None) -> Response:
        self.fleet.scheduler.run_due()
        name = req.path.removeprefix("/__sim").strip("/") or "index"
        handler = getattr(self, f"{req.method.lower()}_{name}", None)
        if handler is None:
            return _json(404, {"error": f"no control endpoint {req.method} {req.path}"})
        try:
            body = await req.json() if req.method in ("POST", "DELETE") else {}
        except Exception:
            return _json(400, {"error": "body is not JSON"})
        if not isinstance(body, dict):
            return _json(400, {"error": "body must be a JSON object"})
        target = body.pop("bmc", None) or req.query.get("bmc") or (svc.name if svc else None)
        if target not in (None, "*") and target not in self.fleet.bmcs:
            return _json(404, {"error": f"unknown BMC {target!r}"})
        return await handler(req, body, target)

    async def get_index(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        return _json(200, {"endpoints": [line.strip() for line in (__doc__ or "").splitlines() if "/__sim/" in line]})

    async def get_fleet(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        bmcs = [{"name": n, "profile": m.spec.profile, "model": m.spec.model, "url": self.app.urls.get(n),
                 "bmc": m.bmc_state, "power": m.redfish_power_state} for n, m in self.fleet.machines.items()]
        return _json(200, {"bmcs": bmcs, "clock": self.fleet.clock.now(), "speed": self.fleet.clock.speed})

    async def get_state(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        if target in (None, "*"):
            return _json(200, {n: self.fleet.host_state(n) for n in self.fleet.machines})
        return _json(200, self.fleet.host_state(target))

    async def get_events(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        bmc = None if req.query.get("all") or target == "*" else target
        since = int(req.query.get("since", "0") or 0)
        events = self.fleet.events.query(bmc, req.query.get("type"), since)
        return _json(200, {"events": events, "last": events[-1]["seq"] if events else since})

    async def get_sessions(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        names = list(self.fleet.bmcs) if target in (None, "*") else [target]
        out = {n: [{"id": s.id, "user": s.user, "created": s.created, "last_used": s.last_used}
                   for s in self.fleet.bmcs[n].sessions.live()] for n in names}
        return _json(200, out if target in (None, "*") else {"sessions": out[target]})

    async def get_faults(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        if target in (None, "*"):
            return _json(200, {"runtime": self.fleet.runtime_faults})
        return _json(200, {"effective": dict(self.fleet.faults_for(target))})

    async def post_faults(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        replace = bool(body.pop("replace", False))
        errors = sorted(e.message for e in _fault_validator().iter_errors(body))
        if errors:
            return _json(400, {"error": "invalid faults", "details": errors})
        self.fleet.set_faults(target or "*", body, replace=replace)
        return _json(200, {"bmc": target or "*", "faults": self.fleet.runtime_faults.get(target or "*", {})})

    async def delete_faults(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        self.fleet.clear_faults(None if target in (None, "*") and not body.get("only_fleet_wide") else target)
        return _json(200, {"runtime": self.fleet.runtime_faults})

    async def get_clock(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        return _json(200, {"now": self.fleet.clock.now(), "speed": self.fleet.clock.speed})

    async def post_clock(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        if "speed" in body:
            self.fleet.clock.set_speed(float(body["speed"]))
        now = self.fleet.advance(float(body.get("advance", 0)))
        return _json(200, {"now": now, "speed": self.fleet.clock.speed})

    async def post_machine(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        if target in (None, "*"):
            return _json(400, {"error": "name the BMC with 'bmc'"})
        machine = self.fleet.machines[target]
        action = body.get("action")
        if action == "bmc-reset":
            machine.bmc_reset("control")
        elif action == "ac-cycle":
            machine.ac_cycle("control")
        elif action == "reset":
            machine.reset_host(str(body.get("reset_type", "ForceRestart")), cause="control")
        else:
            return _json(400, {"error": "action must be bmc-reset, ac-cycle or reset"})
        return _json(200, self.fleet.host_state(target))

    async def post_firmware(self, req: Request, body: dict[str, Any], target: str | None) -> Response:
        """A component's running version changed behind hwfw's back (a technician's
        downgrade, a board swap): it runs `version` now, nothing pending."""
        if target in (None, "*"):
            return _json(400, {"error": "name the BMC with 'bmc'"})
        machine = self.fleet.machines[target]
        key, version = body.get("component"), body.get("version")
        if not isinstance(version, str) or not version or key not in machine.components:
            return _json(400, {"error": "give 'component' (one of " + ", ".join(sorted(machine.components)) +
                                        ") and 'version' (text)"})
        machine.set_running(machine.components[key], version)
        return _json(200, self.fleet.host_state(target))
