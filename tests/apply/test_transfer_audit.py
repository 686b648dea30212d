"""Image transfers in the run's audit log (issue 17 item 11): which BMC fetched which
image (digest), how many bytes, and how it ended, whatever the log level.

lab-gen-01's generic BMC pulls its images from hwfw's image server (SimpleUpdate); the
simulated BMC connects from its own loopback address, as a real BMC from its own.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest

from hwfw.apply.events import HOST_CONVERGED
from hwfw.apply.imagehttp import IMAGE_SERVED
from hwfw.apply.imageserver import BLOCK, ImageServer
from hwfw.apply.ledger import Ledger
from hwfw.apply.transfers import TransferAudit
from hwfw.clock import SystemClock
from hwfw.config import load_workspace
from hwfw.config.model import ImageServerSettings
from hwfw.events import CallbackSink, Event, FanOutSink
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


def test_a_transfer_cut_short_is_audited_as_failed_and_an_unknown_path_not_at_all(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_workspace(lab_with(tmp_path, {}, monkeypatch)).settings
    data = os.urandom(32 * BLOCK)         # far more than the loopback socket buffers hold
    image = tmp_path / "bios.bin"
    image.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    ledger = Ledger(settings, "run-cut", SystemClock(), offload=False)
    audit = TransferAudit(ledger, {})

    async def body() -> None:
        served: asyncio.Queue[Event] = asyncio.Queue()
        sink = FanOutSink(audit, CallbackSink(served.put_nowait, names=[IMAGE_SERVED]))
        async with ImageServer(ImageServerSettings(listen="127.0.0.1:0"), SystemClock(), events=sink,
                               run_id="run-cut") as srv:
            url = await srv.publish_async(image, digest)
            assert srv.address is not None
            reader, writer = await asyncio.open_connection(*srv.address)
            writer.write(f"GET {urlsplit(url).path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            await writer.drain()
            await reader.read(BLOCK // 4)     # a BMC that gives up after a few bytes
            writer.transport.abort()
            cut = await asyncio.wait_for(served.get(), 60)
            async with httpx.AsyncClient() as client:
                assert (await client.get(url.rsplit("/", 2)[0] + "/unknown/bios.bin")).status_code == 404
                whole = await client.get(url)
                assert whole.content == data
            others = [await asyncio.wait_for(served.get(), 60) for _ in range(2)]
        assert not cut.payload["complete"] and all(e.payload["status"] in (200, 404) for e in others)
        await audit.flush()

    asyncio.run(body())
    records = [r for r in read_json_lines(settings.runtime_dir / "audit.jsonl") if r["action"] == "image-transfer"]
    for record in records:
        jsonschema.validate(record, SCHEMA)
    assert [(r["outcome"], r["image_sha256"], r["host"]) for r in records] == [
        ("failed", digest, "127.0.0.1"), ("ok", digest, "127.0.0.1")]   # the 404 named no image
    assert "the client went away" in records[0]["message"] and f"{len(data)} bytes" in records[1]["message"]
