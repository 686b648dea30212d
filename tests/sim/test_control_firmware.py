"""POST /__sim/firmware: a component's running version changed out of band (a technician's
downgrade), seen by Redfish and in the event log; bad requests are refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.apply.support import serve_lab

pytestmark = pytest.mark.slow


def test_an_out_of_band_downgrade_is_what_the_bmc_reports(tmp_path: Path) -> None:
    lab = serve_lab(tmp_path, ["lab-gen-02"])
    try:
        url = lab.process.urls["lab-gen-02"]
        with httpx.Client(base_url=url, verify=lab._tls(), timeout=10) as client:
            bad = client.post("/__sim/firmware", json={"component": "nope", "version": "1"})
            assert bad.status_code == 400 and "bios" in bad.json()["error"]
            done = client.post("/__sim/firmware", json={"component": "bios", "version": "1.0.5"})
            assert done.status_code == 200
            assert done.json()["components"]["bios"]["version"] == "1.0.5"
            assert done.json()["components"]["bios"]["previous"] == "1.1.0"
            state = client.get("/__sim/state").json()
            assert state["components"]["bios"]["version"] == "1.0.5"
        activated = [e for e in lab.events(type_="activated") if e["bmc"] == "lab-gen-02"]
        assert activated[-1]["via"] == "control" and activated[-1]["to"] == "1.0.5"
    finally:
        lab.process.stop()
