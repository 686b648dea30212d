"""The plan document: schema, round trip, determinism; saved plans and staleness."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hwfw.config.model import Workspace
from hwfw.errors import StalePlanError
from hwfw.inventory.model import Inventory, PreflightFacts
from hwfw.plan import Plan, plan
from hwfw.plan.estimate import critical_path, makespan
from hwfw.plan.planfile import build, check_fresh, digest, staleness
from hwfw.state.model import ComponentRecord, State
from hwfw.state.store import state_to_json
from tests.plan.builders import (
    DELL_SEQUENCE,
    baseline,
    comp,
    host,
    hp,
    image,
    inv_host,
    inventory,
    rule,
    state,
    stone,
    target,
    workspace,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
INPUTS = {"baselines.yaml": digest(b"baselines"), "hwfw.yaml": digest(b"root")}


def schema(kind: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
    return doc


def fleet() -> tuple[Workspace, Inventory, State]:
    ws = workspace([host("lab-dell-01"), host("lab-dell-02"), host("lab-dell-03"), host("lab-hpe-01", "hpe", "DL380")],
                   [baseline("r750", target("bmc", "7.10"), target("bios", "1.12.1"),
                             target("nic", "22.31.6", match="NIC.Slot.*"), target("cpld", "1.1.2"),
                             target("raid", "52.26.0-5179"))],
                   [image("bmc", "7.10"), image("bmc", "6.10"), image("bios", "1.12.1"), image("nic", "22.31.6"),
                    image("cpld", "1.1.2"), image("raid", "52.26.0-5179")],
                   rules=[rule("bios-needs-idrac7", ("bios", ">=1.12"), ("bmc", ">=7.0"))],
                   stones=[stone("idrac7-via-6.10", "bmc", ">=7", ">=6.10")], vendors={"dell": DELL_SEQUENCE})
    inv = inventory(
        inv_host("lab-dell-01", comp("bmc", "6.00"), comp("bios", "1.10.2"), comp("nic", "22.0", "NIC.Slot.1-1"),
                 comp("nic", "20.0", "NIC.Embedded.1-1"), comp("cpld", "1.0.0"), comp("raid", None),
                 preflight=PreflightFacts(pending_jobs=("JID_1",))),
        inv_host("lab-dell-02", comp("bmc", "7.10"), comp("bios", "1.12.1"), comp("nic", "22.31.6", "NIC.Slot.1-1"),
                 comp("cpld", "1.1.2"), comp("raid", "52.26.0-5179")),
        inv_host("lab-dell-03", reachable=False, error="timed out"))
    st = state({"lab-dell-02": {"bios": ComponentRecord("1.12.0", "ok")}}, serial=3)
    return ws, inv, st


def make() -> Plan:
    ws, inv, st = fleet()
    return plan(ws, inv, st, accept_unknown=[("lab-dell-01", "raid")], allow_unreachable=True)


def test_the_plan_document_validates_and_round_trips() -> None:
    p = make()
    doc = p.to_json("2026-01-02T03:04:05Z", INPUTS, "0.1.0")
    jsonschema.validate(doc, schema("plan"), cls=jsonschema.Draft202012Validator)
    again = Plan.from_json(json.loads(json.dumps(doc)))
    assert again.to_json("2026-01-02T03:04:05Z", INPUTS, "0.1.0") == doc
    assert again.meta is not None and again.meta.inputs == INPUTS
    assert sorted(again.graph.edges) == sorted(p.graph.edges)
    assert dict(again.graph.nodes["lab-dell-01/flash/bios"]) == dict(p.graph.nodes["lab-dell-01/flash/bios"])


def test_a_plan_pickles_and_copies() -> None:
    p = make()
    for again in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert again == p and sorted(again.graph.edges) == sorted(p.graph.edges)


def test_an_errored_plan_validates_too() -> None:
    ws, inv, st = fleet()
    doc = plan(ws, inv, st).to_json("t", {}, "0.1.0")
    assert doc["errored"] and not doc["applyable"]
    jsonschema.validate(doc, schema("plan"), cls=jsonschema.Draft202012Validator)


def test_planning_is_deterministic() -> None:
    a = json.dumps(make().to_json("t", INPUTS, "v"), sort_keys=False)
    b = json.dumps(make().to_json("t", INPUTS, "v"), sort_keys=False)
    assert a == b


def test_steps_are_topologically_ordered_and_carry_every_attribute() -> None:
    p = make()
    pos = {s.id: i for i, s in enumerate(p.steps)}
    assert all(pos[a] < pos[s.id] for s in p.steps for a in s.after)
    for n, attrs in p.graph.nodes(data=True):
        assert set(attrs) == {"host", "kind", "component", "from_version", "to_version", "image", "sha256",
                              "apply_time", "activation", "estimate_seconds", "rollback", "activates",
                              "cause"}, n
    flash = p.graph.nodes["lab-dell-01/flash/bios"]
    assert (flash["kind"], flash["apply_time"], flash["activation"], flash["rollback"]) == \
        ("flash", "OnReset", "host-reboot", "bmc-previous")
    assert flash["image"] == "dell-bios-1.12.1" and len(flash["sha256"]) == 64


def test_state_documents_validate_against_the_state_schema() -> None:
    doc = state_to_json(state({"h1": {
        "bios": ComponentRecord("1.12.1", "pending-activation", image_sha256="a" * 64, image_id="bios-1.12.1",
                                previous_version="1.10.2", updated_at="2026-01-02T03:04:05Z", run_id="r1",
                                task_uri="/redfish/v1/TaskService/Tasks/JID_1", activation="host-reboot"),
        "nic:NIC.Slot.1-1": ComponentRecord("22.31.6", "failed", error="task failed")}}, serial=4))
    jsonschema.validate(doc, schema("state"), cls=jsonschema.Draft202012Validator)
    bad = {**doc, "hosts": {"h1": {"bios": {"version": "1", "status": "flashed"}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema("state"), cls=jsonschema.Draft202012Validator)


# ------------------------------------------------------------------ saved plans


def test_a_fresh_saved_plan_has_no_staleness() -> None:
    _ws, inv, st = fleet()
    saved = build(make(), created_at="t", inputs=INPUTS, hwfw_version="v")
    assert staleness(saved, INPUTS, st, inv) == []
    check_fresh(saved, INPUTS, st, inv)


def test_staleness_explains_every_change() -> None:
    _ws, inv, st = fleet()
    saved = json.loads(json.dumps(build(make(), created_at="t", inputs=INPUTS, hwfw_version="v")))
    inputs = {**INPUTS, "baselines.yaml": digest(b"edited"), "repository.yaml": digest(b"new")}
    st5 = State(lineage=st.lineage, serial=5, hosts=st.hosts)
    h = inv.hosts["lab-dell-01"]
    changed = inv_host("lab-dell-01", *[comp(c.kind, "1.12.1" if c.kind == "bios" else c.version, c.instance)
                                        for c in h.components])
    inv2 = inventory(changed, inv.hosts["lab-dell-02"], inv.hosts["lab-dell-03"])
    assert staleness(saved, inputs, st5, inv2) == [
        "workspace file baselines.yaml changed since the plan was made",
        "workspace file repository.yaml was added since the plan was made",
        "state serial is 5, plan was made at serial 3",
        "host lab-dell-01 hardware changed: bios 1.10.2 -> 1.12.1",
    ]
    with pytest.raises(StalePlanError, match="saved plan is stale"):
        check_fresh(saved, inputs, st5, inv2)


def test_another_state_lineage_is_stale() -> None:
    _ws, inv, _st = fleet()
    saved = build(make(), created_at="t", inputs=INPUTS, hwfw_version="v")
    other = State(lineage="6c1f9f0e-0000-4000-8000-000000000002", serial=3)
    (reason,) = staleness(saved, INPUTS, other, inv)
    assert "lineage" in reason and "different state file" in reason


# ------------------------------------------------------------------ estimates


def test_summary_wording_and_fleet_estimate() -> None:
    p = make()
    assert p.summary.line().startswith("Plan: 4 hosts, 5 component updates, 0 refused, 0 host reboots, "
                                       "1 AC power cycle, est. ")
    assert p.summary.line().endswith(" min at parallelism 10")
    h = hp(p, "lab-dell-01")
    assert (h.resets.bmc_resets, h.resets.ac_cycles) == (2, 1)
    assert h.critical_path[0] == "lab-dell-01/flash/bmc@6.10" and h.estimate_seconds > 20 * 60


def test_makespan_is_longest_first_list_scheduling() -> None:
    assert makespan([10, 10, 10, 10], 2) == 20
    assert makespan([30, 20, 20, 10], 2) == 40
    assert makespan([5, 5], 8) == 5 and makespan([], 4) == 0


def test_critical_path_is_the_longest_weighted_path() -> None:
    seconds, path = critical_path(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")],
                                  {"a": 1, "b": 5, "c": 2, "d": 1})
    assert (seconds, path) == (7, ["a", "b", "d"])
