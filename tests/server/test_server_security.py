"""The server's security model, in-process (httpx over ASGI, the service on the lab copy):
failed authentications rate-limited, session cookie flags and the CSRF header, roles,
the two-person rule, revoked tokens, request size limits, problem details for every
error, the Content-Security-Policy and a page without inline script, stale plans."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from hwfw.api.service import FirmwareService
from hwfw.server.app import CSP, STATIC, create_app
from tests.helpers import edit

pytestmark = pytest.mark.slow    # each test opens the service on a lab copy (Git, the simulator)

Body = Callable[[FirmwareService, Callable[..., httpx.AsyncClient]], Awaitable[None]]


def _serve(workspace: Path, body: Body, *, tls: bool = False) -> None:
    async def main() -> None:
        async with FirmwareService.open(workspace, scan=False) as service:
            app = create_app(service=service, tls=tls)

            def client(address: str = "10.0.0.7", token: str | None = None) -> httpx.AsyncClient:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                                         base_url="https://hwfw.test" if tls else "http://hwfw.test", headers=headers)

            await body(service, client)

    asyncio.run(main())


async def _token(service: FirmwareService, role: str, name: str | None = None) -> str:
    text, _ = await service.create_token(name=name or f"t-{role}", role=role, created_by="test")
    return text


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status and doc["type"].startswith("https://hwfw.dev/problems/") and doc["detail"]
    assert "Traceback" not in response.text
    return doc


def test_failed_authentications_are_rate_limited_per_address(lab_copy: Path) -> None:
    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        good = await _token(service, "viewer")
        async with client() as c, client("10.0.0.8", good) as elsewhere:
            for _ in range(service.settings.server.auth_failures_per_minute):
                _problem(await c.get("/api/firmware/status", headers={"Authorization": "Bearer hwfw_x"}), 401)
            limited = _problem(await c.get("/api/firmware/status", headers={"Authorization": f"Bearer {good}"}), 429)
            assert int((await c.get("/api/whoami", headers={"Authorization": "Bearer y"})).headers["retry-after"]) > 0
            assert "wait" in limited["hint"]
            assert (await elsewhere.get("/api/firmware/status")).status_code == 200     # another address
            assert (await c.get("/api/health")).status_code == 200                     # no auth there

    _serve(lab_copy, body)


def test_session_cookie_flags_csrf_header_and_sign_out(lab_copy: Path) -> None:
    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        token = await _token(service, "viewer", "carol")
        async with client() as c:
            assert (await c.get("/api/session")).status_code == 204                    # not signed in
            _problem(await c.post("/api/session", json={"token": token + "x"}), 401)
            signed = await c.post("/api/session", json={"token": token})
            assert signed.status_code == 204
            cookie = signed.headers["set-cookie"]
            assert cookie.startswith("hwfw_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
            assert "Path=/" in cookie and "Max-Age=28800" in cookie and "Secure" not in cookie
            assert (await c.get("/api/session")).json()["name"] == "carol"
            assert (await c.get("/api/firmware/status")).status_code == 200
            _problem(await c.post("/api/firmware/check", json={}), 403)                 # no X-Requested-With
            checked = await c.post("/api/firmware/check", json={}, headers={"X-Requested-With": "hwfw"})
            assert checked.status_code == 200 and checked.json()["ok"] is True
            assert (await c.delete("/api/session")).status_code == 204
            _problem(await c.get("/api/firmware/status"), 401)
        actions = [(a["action"], a["principal"]) for a in await service.audit()]
        assert ("signed-in", "carol (viewer)") in actions and ("signed-out", "carol (viewer)") in actions

    _serve(lab_copy, body)


def test_under_tls_the_cookie_is_secure_and_hsts_is_sent(lab_copy: Path) -> None:
    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        async with client() as c:
            signed = await c.post("/api/session", json={"token": await _token(service, "viewer")})
            assert "Secure" in signed.headers["set-cookie"]
            assert "max-age" in (await c.get("/api/health")).headers["strict-transport-security"]

    _serve(lab_copy, body, tls=True)


def test_sizes_malformed_bodies_unknown_routes_and_methods_are_problems(lab_copy: Path) -> None:
    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        async with client(token=await _token(service, "operator")) as c:
            big = b'{"live": false, "pad": "' + b"x" * (2 * 1024 * 1024) + b'"}'
            _problem(await c.post("/api/firmware/check", content=big, headers={"Content-Type": "application/json"}),
                     413)
            _problem(await c.post("/api/firmware/check", content=b"{not json",
                                  headers={"Content-Type": "application/json"}), 400)
            invalid = _problem(await c.post("/api/firmware/check", json={"live": "yes", "extra": 1}), 422)
            assert invalid["errors"]
            _problem(await c.get("/api/firmware/nothing-here"), 404)
            _problem(await c.get("/api/firmware/runs/nope"), 404)
            _problem(await c.get("/api/firmware/hosts/no-such-host"), 404)
            _problem(await c.get("/api/firmware/hosts?limit=1&baseline=a&baseline=b"), 422)
            wrong = await c.put("/api/firmware/plans")
            _problem(wrong, 405)
            assert set(wrong.headers["allow"].split(", ")) == {"GET", "POST"}
            _problem(await c.post("/api/firmware/update", json={"plan_id": "0123456789abcdef"}), 404)

    _serve(lab_copy, body)


def test_every_change_needs_its_role(lab_copy: Path) -> None:
    changes = [("post", "/api/firmware/plans", {}), ("post", "/api/firmware/update", {"plan_id": "0" * 16}),
               ("post", "/api/firmware/runs/r/cancel", {}), ("post", "/api/firmware/runs/r/resume", None),
               ("post", "/api/firmware/repository/sync", {}), ("post", f"/api/firmware/plans/{'0' * 16}/approve", {})]

    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        async with client(token=await _token(service, "viewer")) as viewer:
            for method, path, doc in changes:
                _problem(await viewer.request(method, path, json=doc), 403)
        async with client(token=await _token(service, "approver")) as approver:
            for method, path, doc in changes[:-1]:
                denied = _problem(await approver.request(method, path, json=doc), 403)
                assert "operator" in denied["hint"]
        assert service.runs.current() is None and await service.store.list_plans() == []

    _serve(lab_copy, body)


def test_the_page_has_a_strict_csp_and_no_inline_script(lab_copy: Path) -> None:
    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        async with client() as c:
            page = await c.get("/")
            assert page.status_code == 200 and page.headers["content-security-policy"] == CSP
            assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "script-src 'self'" in CSP
            assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
            script = await c.get("/static/app.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        html = (STATIC / "index.html").read_text()
        assert all('src="/static/' in tag for tag in re.findall(r"<script[^>]*>", html))
        assert not re.search(r"<script[^>]*>\s*[^<\s]", html) and not re.search(r"\son[a-z]+=", html)
        assert not re.search(r"https?://", html + (STATIC / "app.css").read_text())      # nothing from the network
        js = (STATIC / "app.js").read_text()
        assert not re.search(r"\binnerHTML\b|\beval\(|new Function|document\.write", js)

    _serve(lab_copy, body)


def test_two_person_rule_revoked_tokens_and_stale_plans(lab_copy: Path) -> None:
    edit(lab_copy / "hwfw.yaml", "settings:\n", "settings:\n  server: {two_person_rule: true}\n")

    async def body(service: FirmwareService, client: Callable[..., httpx.AsyncClient]) -> None:
        service.token_cache_seconds = 0
        alice_op, alice_ap = await _token(service, "operator", "alice"), await _token(service, "approver", "alice")
        bob = await _token(service, "approver", "bob")
        async with client(token=alice_op) as op, client(token=alice_ap) as same, client(token=bob) as other:
            made = await op.post("/api/firmware/plans", json={"targets": ["lab-dell-*"]})
            assert made.status_code == 201, made.text
            plan_id = made.json()["plan"]["plan_id"]
            refused = _problem(await same.post(f"/api/firmware/plans/{plan_id}/approve"), 403)
            assert "two_person_rule" in refused["detail"]
            assert (await other.post(f"/api/firmware/plans/{plan_id}/approve")).status_code == 200
            # the baselines change after the plan was made: it is stale, and not applied
            edit(lab_copy / "baselines.yaml", "baselines:\n", "# reviewed by the change board\nbaselines:\n")
            view = (await op.get(f"/api/firmware/plans/{plan_id}")).json()
            assert view["approved"] and any("baselines.yaml changed" in r for r in view["stale"])
            stale = _problem(await op.post("/api/firmware/update", json={"plan_id": plan_id}), 409)
            assert "stale" in stale["detail"] and service.runs.current() is None
            token_id = bob.split("_")[1]
            await service.store.revoke_token(token_id, "2026-01-01T00:00:00Z")
            _problem(await other.get("/api/firmware/status"), 401)

    _serve(lab_copy, body)
