"""Acceptance (issue 6, point 4): apply refuses an image that is not on the allow-list or
whose signature does not verify, before any byte is sent (the simulator saw no upload);
a good signature passes and the host converges."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hwfw.apply.events import HOST_CONVERGED
from hwfw.apply.run import ApplyOptions, run_apply
from hwfw.config import load_workspace
from hwfw.errors import HwfwError
from tests.apply.test_executor_faults import lab_with, statuses
from tests.helpers import edit
from tests.repository.test_policy import make_key, sign

pytestmark = pytest.mark.slow
HOST = "lab-gen-01"
BIOS_ENTRY = "source: images/generic-bios-1.1.0.bin"


def run(ws: Path) -> tuple[Any, Exception | None, list[dict[str, Any]]]:
    box: dict[str, Any] = {}
    try:
        result = asyncio.run(run_apply(load_workspace(ws), ApplyOptions(auto_approve=True, targets=(HOST,)),
                                       observe=lambda c: box.setdefault("conn", c)))
        error = None
    except HwfwError as exc:
        result, error = None, exc
    events = list(box["conn"].fleet.fleet.events) if "conn" in box else []
    return result, error, events


def uploads(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "image-received"]


def test_image_not_on_the_allow_list_is_refused_before_any_upload(tmp_path: Path, monkeypatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch)
    bmc_digest = "bff9d3ff99b81f07bca52945321d8ccbd7e7754a01c1c9a980cf86e9c519aada"  # generic-bmc-2.15.0.bin
    edit(ws / "hwfw.yaml", "  parallelism: 9", f"  parallelism: 9\n  allowed_sha256: [{bmc_digest}]")
    result, error, events = run(ws)
    assert error is not None and "allow" in str(error).lower(), (result, error)
    assert uploads(events) == []


def test_bad_signature_is_refused_and_a_good_one_passes(tmp_path: Path, monkeypatch) -> None:
    ws = lab_with(tmp_path, {}, monkeypatch)
    image = ws / "images" / "generic-bios-1.1.0.bin"
    vendor, _ = make_key(ws, "vendor")
    intruder, _ = make_key(tmp_path, "intruder")
    sign(intruder, image, ws / "images" / "generic-bios-1.1.0.bin.sig")
    edit(ws / "repository.yaml", BIOS_ENTRY,
         f"{BIOS_ENTRY}\n    signature: images/generic-bios-1.1.0.bin.sig\n    public_key: vendor.asc")
    result, error, events = run(ws)
    assert error is not None and "signature" in str(error).lower(), (result, error)
    assert uploads(events) == []

    sign(vendor, image, ws / "images" / "generic-bios-1.1.0.bin.sig")
    result, error, events = run(ws)
    assert error is None and statuses(result) == {HOST: HOST_CONVERGED}
    assert {e["sha256"] for e in uploads(events)} >= {
        "10cd8daf191985eb2fc2285162b405c732e11c78cffd036572070491bf25cde5"}
