"""`hwfw apply` records its run in the workspace's run store (what `hwfw serve` and the
`hwfw run` commands read): the record, its owner and every event, numbered."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import pytest

from hwfw.api.service import FirmwareService
from tests.helpers import REPO_ROOT, run_hwfw

pytestmark = pytest.mark.slow


def test_a_cli_apply_is_recorded_and_listed_by_the_server(lab_copy: Path) -> None:
    result = run_hwfw("apply", str(lab_copy), "--auto-approve", "--target", "lab-dell-03", "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    run_id = printed[0]["run_id"]
    validator = jsonschema.Draft202012Validator(json.loads((REPO_ROOT / "schemas/events.schema.json").read_text()))

    async def main() -> None:
        async with FirmwareService.open(lab_copy, scan=False) as service:
            runs = await service.list_runs()
            assert [r["run"]["run_id"] for r in runs] == [run_id]
            view = await service.run(run_id)
            record = view["run"]
            assert record["status"] == "succeeded" and record["engine"] == "local" and record["kind"] == "apply"
            assert "@" in record["created_by"] and record["owner"]["pid"] > 0 and record["hosts"] == ["lab-dell-03"]
            assert record["summary"]["exit_code"] == 0 and record["message"].startswith("Apply finished")
            stored = [item async for item in service.follow(run_id)]
            assert [i.seq for i in stored] == list(range(1, len(printed) + 1))
            assert [i.event for i in stored] == printed                      # the same events the CLI printed
            for item in stored:
                validator.validate(item.event)
            assert view["progress"]["hosts"][0]["state"] == "done"

    asyncio.run(main())
