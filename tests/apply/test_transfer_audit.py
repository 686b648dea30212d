"""Image transfers in the run's audit log (issue 17 item 11): which BMC fetched which
image (digest), how many bytes, and how it ended, whatever the log level.

lab-gen-01's generic BMC pulls its images from hwfw's image server (SimpleUpdate); the
simulated BMC connects from its own loopback address, as a real BMC from its own.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from hwfw.apply.events import HOST_CONVERGED
from hwfw.config import load_workspace
from hwfw.state.files import read_json_lines

from .test_executor_faults import apply, lab_with, statuses

pytestmark = pytest.mark.slow
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "audit.schema.json").read_text())


def test_every_image_a_bmc_pulled_is_in_the_audit_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch)
    result = apply(ws, targets=("lab-gen-01",))
    assert statuses(result) == {"lab-gen-01": HOST_CONVERGED}
    received = result.extra["sim"].query("lab-gen-01", "image-received")
    assert received and all(e["method"] == "simple-update" for e in received)
    audit = read_json_lines(ws / ".hwfw" / "audit.jsonl")
    for record in audit:
        jsonschema.validate(record, SCHEMA)
    transfers = [r for r in audit if r["action"] == "image-transfer"]
    repo = {e.sha256: e for e in load_workspace(ws).repository.entries}
    assert {r["image_sha256"] for r in transfers} == {e["sha256"] for e in received}
    for r in transfers:
        assert r["host"] == "lab-gen-01"                            # who: the BMC's address, named
        assert r["component"] == repo[r["image_sha256"]].id         # which image
        assert r["outcome"] == "ok" and r["run_id"] == result.run_id
        assert f"{repo[r['image_sha256']].size} bytes" in r["message"]   # how much
