"""Helpers for simulator tests: fleets on real loopback sockets, raw HTTP, virtual time.

Tests drive the simulator over raw HTTP with httpx (no hwfw client code) and move
virtual time with `POST /__sim/clock {"advance": s}`; fleets run at speed 0 so nothing
moves unless the test says so. `run(coro)` runs one test body in a fresh event loop.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import httpx
import yaml

from hwfw.sim.images import make_image
from hwfw.sim.runtime import EmbeddedFleet

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
LAB_IMAGES = REPO / "examples" / "lab" / "images"

MODELS = {"dell": "PowerEdge R750", "hpe": "ProLiant DL380 Gen10", "supermicro": "SYS-120U-TNR",
          "generic": "Contoso OpenServer 2"}
FIRMWARE = {
    "dell": {"bmc": "6.10.30.00", "bios": "1.10.2", "cpld": "1.0.6", "nic": {"NIC.Integrated.1-1": "22.31.6"}},
    "hpe": {"bmc": "2.72 Sep 04 2022", "bios": "U30 v2.68 (07/14/2022)", "cpld": "0x11"},
    "supermicro": {"bmc": "01.01.10", "bios": "1.4", "cpld": "F1.02"},
    "generic": {"bmc": "2.14.0", "bios": "1.0.5", "cpld": "1.0"},
}


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def host(profile: str, **extra: Any) -> dict[str, Any]:
    """A fleet host entry with the profile's default model and firmware."""
    return {"profile": profile, "model": MODELS[profile], "firmware": FIRMWARE[profile], **extra}


def write_fleet(directory: Path, hosts: dict[str, dict[str, Any]], **top: Any) -> Path:
    path = directory / "fleet.yaml"
    path.write_text(yaml.safe_dump({"seed": 3, **top, "hosts": hosts}, sort_keys=False))
    return path


@asynccontextmanager
async def sim_fleet(tmp_path: Path, hosts: dict[str, dict[str, Any]], *, speed: float = 0,
                    state: str = "state", **kwargs: Any) -> AsyncIterator[EmbeddedFleet]:
    fleet_file = write_fleet(tmp_path, hosts)
    async with EmbeddedFleet(fleet_file, tmp_path / state, speed=speed, **kwargs) as sim:
        yield sim


def image(tmp_path: Path, profile: str, component: str, version: str, model: str | None = None,
          size: int = 4096) -> Path:
    out = tmp_path / f"{profile}-{component}-{version}.bin".replace(" ", "_").replace("/", "_")
    make_image(profile, model or MODELS[profile], component, version, size, out)
    return out


def client(sim: EmbeddedFleet, name: str, **kwargs: Any) -> httpx.AsyncClient:
    """Raw HTTP client for one BMC, Basic auth with the simulator's default account."""
    kwargs.setdefault("auth", ("admin", "password"))
    kwargs.setdefault("timeout", 10)
    return httpx.AsyncClient(base_url=sim.url(name), **kwargs)


def control(sim: EmbeddedFleet) -> httpx.AsyncClient:
    """Client for the fleet-wide control address (up even while a BMC is down)."""
    return httpx.AsyncClient(base_url=sim.control_url, timeout=10)


async def advance(c: httpx.AsyncClient, seconds: float) -> float:
    """Move virtual time through the control endpoint."""
    r = await c.post("/__sim/clock", json={"advance": seconds})
    assert r.status_code == 200, r.text
    return float(r.json()["now"])


async def sim_state(c: httpx.AsyncClient) -> dict[str, Any]:
    r = await c.get("/__sim/state")
    assert r.status_code == 200
    return r.json()


async def events(c: httpx.AsyncClient, type_: str | None = None) -> list[dict[str, Any]]:
    r = await c.get("/__sim/events", params={"type": type_} if type_ else None)
    return r.json()["events"]


async def until(c: httpx.AsyncClient, check: Callable[[], Awaitable[bool]], step: float = 10.0,
                limit: int = 400) -> float:
    """Advance virtual time in `step`s until `check()` is true; bounded, never sleeps."""
    for _ in range(limit):
        if await check():
            return float((await c.get("/__sim/clock")).json()["now"])
        await advance(c, step)
    raise AssertionError("condition not reached within the virtual time limit")


def multipart(params: dict[str, Any] | None, file_path: Path, file_field: str = "UpdateFile",
              param_field: str = "UpdateParameters", extra: dict[str, Any] | None = None) -> dict[str, Any]:
    files: dict[str, Any] = {}
    if params is not None:
        files[param_field] = (None, json.dumps(params), "application/json")
    files.update(extra or {})
    files[file_field] = (file_path.name, file_path.read_bytes(), "application/octet-stream")
    return files


async def login(c: httpx.AsyncClient, user: str = "admin", password: str = "password") -> tuple[str, str]:
    r = await c.post("/redfish/v1/SessionService/Sessions", json={"UserName": user, "Password": password}, auth=None)
    assert r.status_code == 201, r.text
    return r.headers["x-auth-token"], r.headers["location"]
