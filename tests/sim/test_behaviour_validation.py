"""The simulator over raw HTTP: wrong, corrupt or same-version images, bad ImageURIs and
Targets, each vendor's error envelope, ETag policies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.sim.fileserver import serve_files
from tests.sim.support import (
    advance,
    client,
    host,
    image,
    login,
    multipart,
    run,
    sim_fleet,
)

pytestmark = pytest.mark.slow

PUSH = "/redfish/v1/UpdateService/update"
SIMPLE = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate"


async def _final(c, monitor: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    await advance(c, 400)
    return (await c.get(monitor.replace("TaskMonitors", "Tasks"))).json()


# Raw protocol test of the simulator itself: it fills or abandons session slots on purpose.
@pytest.mark.leaves_sessions
def test_wrong_corrupt_same_and_too_low_images(tmp_path: Path) -> None:
    """Other model -> UpdateNotApplicable; corrupt -> VerificationFailed; same version ->
    Completed UpdateSkippedSameVersion unless ForceUpdate; below LowestSupportedVersion ->
    UpdateSkippedVersionTooLow; HPE Smart Component without compsig -> 400."""
    other_model = image(tmp_path, "generic", "bios", "1.1.0", model="Contoso OpenServer 3")
    same = image(tmp_path, "generic", "bios", "1.0.5")
    low = image(tmp_path, "generic", "bmc", "2.0.0")
    corrupt = tmp_path / "corrupt.bin"
    corrupt.write_bytes(b"HWFWSIM1\n{not json")
    exe = image(tmp_path, "hpe", "nic", "9.9")
    exe = exe.rename(tmp_path / "cp012345.exe")

    async def main() -> None:
        hosts = {"g1": host("generic", options={"lowest_supported": {"bmc": "2.10.0"}}), "h1": host("hpe")}
        async with sim_fleet(tmp_path, hosts) as sim, client(sim, "g1") as c:
            results = {}
            for label, img, force in (("model", other_model, False), ("corrupt", corrupt, False),
                                      ("same", same, False), ("forced", same, True), ("low", low, False)):
                r = await c.post(PUSH, files=multipart({"ForceUpdate": force}, img))
                assert r.status_code == 202, r.text
                task = await _final(c, r.headers["location"])
                results[label] = (task["TaskState"], task["Messages"][-1]["MessageId"].split(".")[-1])
            assert results["model"] == ("Exception", "UpdateNotApplicable")
            assert results["corrupt"] == ("Exception", "VerificationFailed")
            assert results["same"] == ("Completed", "UpdateSkippedSameVersion")
            assert results["forced"][0] == "Completed" and results["forced"][1] != "UpdateSkippedSameVersion"
            assert results["low"] == ("Completed", "UpdateSkippedVersionTooLow")
            async with client(sim, "h1", auth=None) as h:
                token, _ = await login(h)
                files = {"sessionKey": (None, token), "parameters": (None, json.dumps({"UpdateTarget": True})),
                         "file": (exe.name, exe.read_bytes(), "application/octet-stream")}
                r = await h.post("/cgi-bin/uploadFile", files=files)
                assert r.status_code == 400 and "compsig" in r.text

    run(main())


def test_bad_image_uri_and_credentials(tmp_path: Path) -> None:
    """202 then Exception TransferFailed (404), CouldNotEstablishConnection (nobody listening),
    ResourceAtUriUnauthorized (image server refuses the credentials)."""
    img = image(tmp_path, "generic", "bios", "1.1.0")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic")}) as sim, client(sim, "g1") as c:
            async with serve_files(img.parent, credentials=("fw", "s3cret")) as base:
                cases = {"missing": {"ImageURI": f"{base}/nope.bin", "Username": "fw", "Password": "s3cret"},
                         "auth": {"ImageURI": f"{base}/{img.name}", "Username": "fw", "Password": "wrong"},
                         "down": {"ImageURI": "http://127.0.0.1:9/x.bin"}}
                monitors = {}
                for label, body in cases.items():
                    r = await c.post(SIMPLE, json=body)
                    assert r.status_code == 202
                    monitors[label] = r.headers["location"]
                for _ in range(200):  # the pulls are real HTTP; wait for them without sleeping
                    states = [(await c.get(m)).json()["TaskState"] for m in monitors.values()]
                    if all(s == "Exception" for s in states):
                        break
                    await advance(c, 1)
            got = {label: (await c.get(m)).json()["Messages"][-1]["MessageId"].split(".")[-1]
                   for label, m in monitors.items()}
            assert got == {"missing": "TransferFailed", "auth": "ResourceAtUriUnauthorized",
                           "down": "CouldNotEstablishConnection"}

    run(main())


def test_invalid_targets(tmp_path: Path) -> None:
    """Target not in inventory, malformed Targets, Manager target on a BIOS image (generic);
    missing Targets on Supermicro -> 400 with @Message.ExtendedInfo."""
    bios = image(tmp_path, "generic", "bios", "1.1.0")
    smc = image(tmp_path, "supermicro", "bios", "1.6")

    async def main() -> None:
        async with sim_fleet(tmp_path, {"g1": host("generic"), "s1": host("supermicro")}) as sim:
            async with client(sim, "g1") as c:
                r = await c.post(SIMPLE, json={"ImageURI": "http://127.0.0.1:9/x",
                                               "Targets": ["/redfish/v1/Systems/nope"]})
                assert r.status_code == 400 and r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
                    "ActionParameterValueNotInList")
                r = await c.post(SIMPLE, json={"ImageURI": "http://127.0.0.1:9/x",
                                               "Targets": "/redfish/v1/Systems/system"})
                assert r.status_code == 400
                r = await c.post(PUSH, files=multipart({"Targets": ["/redfish/v1/Managers/bmc"]}, bios))
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("UpdateNotApplicable")
                r = await c.post(SIMPLE, json={"Targets": []})
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterMissing")
            async with client(sim, "s1") as c:
                r = await c.post("/redfish/v1/UpdateService/upload", files=multipart({}, smc))
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterMissing")

    run(main())


def test_error_envelopes_per_vendor(tmp_path: Path) -> None:
    """Standard envelope (MessageSeverity), Dell IDRAC ids with both severities, HPE success
    wrapped in `error` with HTTP 200, Supermicro `Success`/`Accepted` objects and legacy `Severity`."""

    async def main() -> None:
        hosts = {"g1": host("generic"), "d1": host("dell"), "h1": host("hpe"), "s1": host("supermicro")}
        async with sim_fleet(tmp_path, hosts) as sim:
            bodies = {}
            for name in hosts:
                async with client(sim, name) as c:
                    bodies[name] = (await c.get("/redfish/v1/NoSuchThing")).json()["error"]["@Message.ExtendedInfo"][0]
            assert "MessageSeverity" in bodies["g1"] and "Severity" not in bodies["g1"]
            assert {"MessageSeverity",
                    "Severity"} <= set(bodies["d1"]) and bodies["d1"]["MessageId"].startswith("Base.1.12")
            assert "Severity" in bodies["s1"] and "MessageSeverity" not in bodies["s1"]
            assert set(bodies["h1"]) >= {"MessageId"} and "MessageSeverity" not in bodies["h1"]
            async with client(sim, "h1") as c:
                r = await c.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "Nmi"})
                assert r.status_code == 200 and "error" in r.json()
            async with client(sim, "s1") as c:
                r = await c.post("/redfish/v1/Systems/1/Actions/ComputerSystem.Reset", json={"ResetType": "Nmi"})
                assert r.status_code == 200 and r.json()["Success"]["code"].endswith("Success")
            async with client(sim, "d1") as c:
                r = await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                                 json={"ResetType": "Nmi"})
                assert r.status_code == 204
                r = await c.post("/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset",
                                 json={"ResetType": "Suspend"})
                assert r.status_code == 400 and r.json()["error"]["code"].endswith("ActionParameterValueNotInList")

    run(main())


def test_etag_policies(tmp_path: Path) -> None:
    """Ignore / require If-Match (428) / strong-only (412 on W/); a stale ETag -> 412.
    (Dell's legacy push requiring If-Match: test_dell_profile.)"""

    async def main() -> None:
        hosts = {"ignore": host("generic"), "require": host("generic", options={"etag_policy": "require"}),
                 "strong": host("generic", options={"etag_policy": "strong-only"})}
        settings = "/redfish/v1/Systems/system/Bios/Settings"
        body = {"Attributes": {"ProcTurboMode": "Disabled"}}
        async with sim_fleet(tmp_path, hosts) as sim:
            async with client(sim, "ignore") as c:
                assert (await c.patch(settings, json=body)).status_code == 204
                assert (await c.patch(settings, json=body, headers={"If-Match": '"stale"'})).status_code == 412
            async with client(sim, "require") as c:
                r = await c.patch(settings, json=body)
                assert r.status_code == 428 and r.json()["error"]["code"].endswith("PreconditionRequired")
                etag = (await c.get(settings)).headers["etag"]
                assert (await c.patch(settings, json=body, headers={"If-Match": etag})).status_code == 204
            async with client(sim, "strong") as c:
                etag = (await c.get(settings)).headers["etag"]
                assert (await c.patch(settings, json=body, headers={"If-Match": f"W/{etag}"})).status_code == 412
                assert (await c.patch(settings, json=body, headers={"If-Match": etag})).status_code == 204

    run(main())
