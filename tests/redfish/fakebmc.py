"""A tiny programmable Redfish BMC for client edge cases the simulator does not model.

Built on a raw asyncio HTTP/1.x server (no framework), so a test controls every byte:
HTTP/1.0 without keep-alive, HTML error pages, odd status codes. `asyncio.start_server`
returns once the socket listens, so tests never sleep to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self, version: str, keep_alive: bool) -> bytes:
        if self.raw is not None:
            payload = self.raw
        elif self.body is None:
            payload = b""
        else:
            payload = json.dumps(self.body).encode()
        headers = {"Content-Length": str(len(payload))}
        if self.body is not None and self.raw is None:
            headers["Content-Type"] = "application/json"
        headers.update(self.headers)
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        reason = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 302: "Found",
                  307: "Temporary Redirect",
                  400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  500: "Internal Server Error", 503: "Service Unavailable"}.get(self.status, "Status")
        head = f"{version} {self.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode() + b"\r\n" + payload


Handler = Callable[[Request], Awaitable[Response]]


class RawHttpServer:
    """HTTP/1.1 (or 1.0 only, `http10=True`) on 127.0.0.1, optionally over TLS."""

    def __init__(self, handler: Handler, *, http10: bool = False, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.http10 = http10
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[Request] = []
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, version = line.decode().strip().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, v = h.decode().split(":", 1)
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                req = Request(method, target, version, headers, body)
                self.requests.append(req)
                resp = await self.handler(req)
                keep = not self.http10 and headers.get("connection", "").lower() != "close"
                writer.write(resp.encode("HTTP/1.0" if self.http10 else "HTTP/1.1", keep))
                await writer.drain()
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()


def _collection(uri: str, members: list[str], *, lie: bool = False) -> dict[str, Any]:
    return {"@odata.id": uri, "Members": [{"@odata.id": m} for m in members],
            "Members@odata.count": len(members) + (5 if lie else 0)}


class FakeBmc:
    """A minimal standard Redfish service with switches for client edge cases.

    `session_status`: what the session POST answers (201, 200 or 204);
    `session_service`: advertise a SessionService (else the client must use Basic);
    `expand`: advertise `$expand`; `count_lies`: Members@odata.count disagrees with Members;
    `faults[(method, path)]`: responses served (once each) before the normal answer.
    """

    def __init__(self, *, username: str = "admin", password: str = "secret-pw", session_status: int = 201,
                 session_service: bool = True, expand: bool = True, count_lies: bool = False,
                 location_absolute: bool = False) -> None:
        self.username, self.password = username, password
        self.session_status = session_status
        self.session_service = session_service
        self.expand = expand
        self.count_lies = count_lies
        self.location_absolute = location_absolute
        self.sessions: dict[str, str] = {}  # token -> session id
        self.faults: dict[tuple[str, str], list[Response]] = {}
        self.base_url = ""
        self.logins = 0
        self.resources: dict[str, dict[str, Any]] = self._resources()

    # -- state -----------------------------------------------------------------
    def reset_bmc(self) -> None:
        """Drop every session, as a BMC reset does."""
        self.sessions.clear()

    def fault(self, method: str, path: str, *responses: Response) -> None:
        self.faults.setdefault((method, path), []).extend(responses)

    def _resources(self) -> dict[str, dict[str, Any]]:
        fw = {
            "BMC": {"Id": "BMC", "Name": "Contoso BMC Firmware", "Version": "2.14.0", "Updateable": True,
                    "RelatedItem": [{"@odata.id": "/redfish/v1/Managers/BMC"}]},
            "BIOS": {"Id": "BIOS", "Name": "Contoso BIOS", "Version": "1.0.5", "Updateable": True,
                     "RelatedItem": [{"@odata.id": "/redfish/v1/Systems/1/Bios"}]},
        }
        res: dict[str, dict[str, Any]] = {
            "/redfish/v1/Systems": _collection("/redfish/v1/Systems", ["/redfish/v1/Systems/1"], lie=self.count_lies),
            "/redfish/v1/Systems/1": {"@odata.id": "/redfish/v1/Systems/1", "Id": "1", "Model": "OpenServer 2",
                                      "Manufacturer": "Contoso", "SerialNumber": "CSO123", "PowerState": "On",
                                      "BiosVersion": "1.0.5", "Status": {"Health": "OK", "HealthRollup": "OK"},
                                      "Actions": {"#ComputerSystem.Reset": {
                                          "target": "/redfish/v1/Systems/1/Actions/ComputerSystem.Reset",
                                          "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"]}}},
            "/redfish/v1/Managers": _collection("/redfish/v1/Managers", ["/redfish/v1/Managers/BMC"]),
            "/redfish/v1/Managers/BMC": {"@odata.id": "/redfish/v1/Managers/BMC", "Id": "BMC",
                                         "FirmwareVersion": "2.14.0", "Manufacturer": "Contoso"},
            "/redfish/v1/UpdateService": {
                "@odata.id": "/redfish/v1/UpdateService",
                "FirmwareInventory": {"@odata.id": "/redfish/v1/UpdateService/FirmwareInventory"},
                "Actions": {"#UpdateService.SimpleUpdate": {
                    "target": "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"}}},
            "/redfish/v1/UpdateService/FirmwareInventory": _collection(
                "/redfish/v1/UpdateService/FirmwareInventory",
                [f"/redfish/v1/UpdateService/FirmwareInventory/{k}" for k in fw], lie=self.count_lies),
        }
        for k, v in fw.items():
            res[f"/redfish/v1/UpdateService/FirmwareInventory/{k}"] = {
                "@odata.id": f"/redfish/v1/UpdateService/FirmwareInventory/{k}", **v}
        return res

    def root(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"@odata.id": "/redfish/v1/", "RedfishVersion": "1.15.0", "Vendor": "Contoso",
                               "Systems": {"@odata.id": "/redfish/v1/Systems"},
                               "Managers": {"@odata.id": "/redfish/v1/Managers"},
                               "UpdateService": {"@odata.id": "/redfish/v1/UpdateService"}}
        if self.session_service:
            doc["SessionService"] = {"@odata.id": "/redfish/v1/SessionService"}
            doc["Links"] = {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}
        if self.expand:
            doc["ProtocolFeaturesSupported"] = {"ExpandQuery": {"ExpandAll": True, "Levels": True, "NoLinks": True,
                                                                "MaxLevels": 1}}
        return doc

    # -- HTTP ------------------------------------------------------------------
    async def __call__(self, req: Request) -> Response:
        path, _, query = req.path.partition("?")
        queued = self.faults.get((req.method, path))
        if queued:
            return queued.pop(0)
        if req.method == "GET" and path.rstrip("/") == "/redfish/v1":
            return Response(200, self.root())
        if req.method == "POST" and path == "/redfish/v1/SessionService/Sessions" and self.session_service:
            return self._login(req)
        if not self._authorised(req):
            return Response(401, {"error": {"code": "Base.1.8.GeneralError", "message": "Unauthorized",
                                            "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.NoValidSession",
                                                                       "Message": "No valid session.",
                                                                       "Severity": "Critical"}]}},
                            headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if req.method == "DELETE" and path.startswith("/redfish/v1/SessionService/Sessions/"):
            sid = path.rsplit("/", 1)[1]
            for token, s in list(self.sessions.items()):
                if s == sid:
                    del self.sessions[token]
                    return Response(204)
            return Response(404)
        doc = self.resources.get(path.rstrip("/"))
        if req.method == "GET" and doc is not None:
            if "$expand" in query and self.expand and "Members" in doc:
                doc = {**doc, "Members": [self.resources[m["@odata.id"]] for m in doc["Members"]]}
            return Response(200, doc)
        return Response(404, {"error": {"code": "Base.1.8.ResourceNotFound", "message": "not found",
                                        "@Message.ExtendedInfo": [{"MessageId": "Base.1.8.ResourceNotFound",
                                                                   "MessageSeverity": "Critical"}]}})

    def _authorised(self, req: Request) -> bool:
        token = req.headers.get("x-auth-token")
        if token:
            return token in self.sessions
        auth = req.headers.get("authorization", "")
        if auth.startswith("Basic ") and not self.session_service:
            import base64

            return base64.b64decode(auth[6:]).decode() == f"{self.username}:{self.password}"
        return False

    def _login(self, req: Request) -> Response:
        body = req.json() or {}
        if body.get("UserName") != self.username or body.get("Password") != self.password:
            return Response(401, {"error": {"code": "Base.1.8.GeneralError", "message": "login failed",
                                            "@Message.ExtendedInfo": [{
                                                "MessageId": "Base.1.8.ResourceAtUriUnauthorized",
                                                                       "Message": "Invalid credentials."}]}})
        self.logins += 1
        sid = str(self.logins)
        token = f"tok-{sid}-{len(self.sessions)}"
        self.sessions[token] = sid
        uri = f"/redfish/v1/SessionService/Sessions/{sid}"
        location = f"{self.base_url}{uri}" if self.location_absolute else uri
        headers = {"X-Auth-Token": token, "Location": location}
        if self.session_status == 204:
            return Response(204, None, headers)
        return Response(self.session_status, {"@odata.id": uri, "Id": sid, "UserName": self.username}, headers)


class GatedBmc(FakeBmc):
    """A FakeBmc where one read fails while a sibling read is still in flight.

    GET `held` waits (after setting `holding`) until `release` is set; GET `failing`
    answers 500 once `held` is being held, so a client reading both concurrently sees one
    read fail while the other is certainly still pending."""

    def __init__(self, *, held: str, failing: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.held, self.failing = held, failing
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, req: Request) -> Response:
        path = req.path.partition("?")[0].rstrip("/")
        if req.method == "GET" and path == self.held:
            self.holding.set()
            await self.release.wait()
        elif req.method == "GET" and path == self.failing:
            await self.holding.wait()
            return Response(500, {"error": {"code": "Base.1.8.InternalError", "message": "internal error"}})
        return await super().__call__(req)


def running_hwfw_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running code of the hwfw package (not the test's, not the server's)."""
    package = Path(__file__).resolve().parents[2] / "hwfw"
    current = asyncio.current_task()
    found = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if task is not current and not task.done() and code is not None \
                and Path(code.co_filename).resolve().is_relative_to(package):
            found.append(task)
    return found


@contextlib.asynccontextmanager
async def serve(bmc: FakeBmc, **kwargs: Any) -> AsyncIterator[RawHttpServer]:
    """Run `bmc` on a loopback port; yields the server (`.url`, `.requests`)."""
    async with RawHttpServer(bmc, **kwargs) as server:
        bmc.base_url = server.url
        yield server


def make_tls(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A throw-away CA and a 127.0.0.1 server certificate: (server context, CA bundle path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hwfw test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_path = tmp / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, ca_path
