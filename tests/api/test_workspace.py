"""hwfw.api on the bundled lab: the same operations the CLI runs, as typed coroutines.

The lab's hosts are sim:// (the embedded simulator on loopback); `observe` hands the
test the connection, whose simulator event log is the ground truth.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hwfw import api
from hwfw.errors import HwfwError
from hwfw.resources import schema_path

pytestmark = pytest.mark.slow


def schema(name: str) -> dict[str, Any]:
    return json.loads(schema_path(name).read_text())


@pytest.fixture
def lab(lab_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HWFW_CACHE", str(tmp_path / "cache"))
    return lab_copy


def test_plan_save_load_apply_and_state_through_the_api(lab: Path, tmp_path: Path) -> None:
    ws = api.open_workspace(lab)
    events: list[api.Event] = []
    box: dict[str, Any] = {}

    async def main() -> tuple[api.PlanDocument, api.PlanDocument, api.ApplyResult, str]:
        made = await ws.plan(targets=["lab-gen-*", "lab-smc-01"], exclude=["lab-gen-02"])
        made.save(tmp_path / "plans" / "gen.json", ws.path)
        loaded = api.load_plan(tmp_path / "plans" / "gen.json")
        run = ws.start_apply(loaded, api.ApplyOptions(auto_approve=True), on_event=events.append,
                             observe=lambda conn: box.setdefault("conn", conn))
        result = await run.wait()
        return made, loaded, result, run.status

    made, loaded, result, status = asyncio.run(main())
    jsonschema.validate(made.to_json(), schema("plan"))
    jsonschema.validate(loaded.to_json(), schema("plan"))
    assert loaded.workspace == lab.resolve() and loaded.document["workspace"] == {"path": "../lab"}
    assert loaded.id == made.id  # the workspace record is not part of the plan's identity
    assert [h.name for h in made.plan.hosts] == ["lab-gen-01", "lab-smc-01"]
    assert made.plan.options.exclude == ("lab-gen-02",) and not made.plan.complete
    assert result.exit_code == 0 and status == "succeeded"
    assert result.summary is not None and set(result.summary.hosts) == {"lab-gen-01", "lab-smc-01"}
    for e in events:
        jsonschema.validate(e.to_json(), schema("events"))
    assert {e.run_id for e in events} == {result.run_id}
    touched = {e["bmc"] for e in box["conn"].fleet.fleet.events.query(type_="image-received")}
    assert touched == {"lab-gen-01", "lab-smc-01"}

    async def after() -> tuple[list[api.StateRow], api.StateView, api.PlanDocument]:
        return await ws.state.list(), await ws.state.show("lab-gen-*"), await ws.plan(targets=["lab-gen-01"])

    rows, view, again = asyncio.run(after())
    assert {(r.host, r.component, r.record.status) for r in rows} >= {("lab-gen-01", "bios", "ok")}
    assert view.hosts == ("lab-gen-01",) and set(view.to_json()["hosts"]) == {"lab-gen-01"}
    gen1 = view.to_json()["hosts"]["lab-gen-01"]          # the host's BIOS settings and validation beside its firmware
    assert gen1["bios_settings"]["status"] == "applied" and gen1["validation"]["ok"] is True
    assert not again.plan.has_changes
    # no Supermicro licence warning: BMC and BIOS update without it, and lab-smc-01 is done
    assert not any(f.code == "licence" for h in again.plan.hosts for f in h.findings)


def test_validate_check_and_compliance_documents_follow_their_schemas(lab: Path) -> None:
    ws = api.open_workspace(lab)

    async def main() -> tuple[api.ValidationReport, api.CheckReport, api.ComplianceReport]:
        return await ws.validate(), await ws.check(), await ws.compliance(exclude=["lab-hpe-*"])

    valid, check, report = asyncio.run(main())
    assert valid.ok and valid.errors == 0
    assert check.ok
    jsonschema.validate(json.loads(api.format_check_report(check, "json")), schema("check"))
    doc = report.to_json("test")
    jsonschema.validate(doc, schema("compliance"))
    assert {h["name"] for h in doc["hosts"]} == {f"lab-{n}" for n in
                                                  ("dell-01", "dell-02", "dell-03", "smc-01", "smc-02", "gen-01",
                                                   "gen-02")}


def test_firmware_manager_updates_one_batch_and_reports_the_fleet(lab: Path) -> None:
    manager = api.FirmwareManager(lab)
    events: list[api.Event] = []

    async def main() -> tuple[api.ApplyResult, api.ComplianceReport]:
        result = await manager.update_firmware_batch(["lab-gen-01"], on_event=events.append)
        return result, await manager.check_firmware_versions(["lab-gen-*", "lab-dell-01"])

    result, report = asyncio.run(main())
    assert result.exit_code == 0 and result.summary is not None and list(result.summary.hosts) == ["lab-gen-01"]
    status = {h.name: h.status for h in report.hosts}
    assert status == {"lab-gen-01": "compliant", "lab-gen-02": "compliant", "lab-dell-01": "behind"}
    assert Counter(e.name for e in events)["host-finished"] == 1
    with pytest.raises(ValueError):
        asyncio.run(manager.update_firmware_batch([]))


def test_a_stale_plan_hint_names_the_workspace_as_given(lab: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A hint built inside an operation names the workspace the way this caller reaches it."""
    monkeypatch.chdir(lab.parent)
    ws = api.open_workspace("lab")
    saved = asyncio.run(ws.plan(targets=["lab-gen-01"])).save(tmp_path / "p.json", ws.path)
    with pytest.raises(HwfwError) as narrowed:  # a saved plan is applied exactly as made
        asyncio.run(ws.apply(saved, api.ApplyOptions(auto_approve=True, exclude=("lab-gen-01",))))
    assert "--exclude cannot change a saved plan" in narrowed.value.message
    (lab / "baselines.yaml").write_text((lab / "baselines.yaml").read_text() + "\n# reviewed\n")
    with pytest.raises(HwfwError) as info:
        asyncio.run(ws.apply(saved, api.ApplyOptions(auto_approve=True)))
    assert "workspace file baselines.yaml changed since the plan was made" in info.value.message
    assert info.value.hint is not None
    assert f"hwfw plan --out {tmp_path / 'p.json'} -C lab" in info.value.hint
    assert f"hwfw apply --plan {tmp_path / 'p.json'} --refresh-stale -C lab" in info.value.hint


def test_api_constants_equal_the_layers_they_stand_for() -> None:
    from hwfw.api import plans, repository, sim
    from hwfw.plan.model import PLAN_FORMAT
    from hwfw.repository.sync import DEFAULT_JOBS
    from hwfw.sim.profiles import profiles

    assert plans.PLAN_FORMAT == PLAN_FORMAT
    assert repository.DEFAULT_SYNC_PARALLELISM == DEFAULT_JOBS
    assert list(sim.PROFILES) == list(profiles())
    assert set(api.__all__) == set(api._EXPORTS)
    for name in api.__all__:
        assert getattr(api, name) is not None
