"""Rollback readiness as a plan-time fact (issue 17 item 13).

Each change says how it would be undone, back to the version the host runs now: the
BMC's own previous image (a vendor that keeps one, a single hop), the repository's
image of the running version (named), or not at all. Under `on_failure: rollback-host`
a change that could not be undone is a warning on its host, an error for `check`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from hwfw.compliance.findings import RULES
from hwfw.compliance.fleet import fleet_findings
from hwfw.plan import plan
from hwfw.plan.model import Action
from tests.plan.builders import baseline, comp, host, image, inv_host, inventory, state, stone, target, workspace

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json").read_text())
GEN_MODEL = "Contoso OpenServer 2"


def _fleet(extra_repo: tuple = ()):  # type: ignore[no-untyped-def]
    ws = workspace([host("d1"), host("g1", "generic", GEN_MODEL), host("g2", "generic", GEN_MODEL)],
                   [baseline("d", target("bios", "2.0"), target("cpld", "1.1")),
                    baseline("g", target("bmc", "2.15.0"), target("bios", "1.1.0"), vendor="generic")],
                   [image("bios", "2.0"), image("cpld", "1.1"),
                    image("bmc", "2.15.0", vendor="generic"), image("bios", "1.1.0", vendor="generic"),
                    image("bmc", "2.14.0", vendor="generic"), *extra_repo])
    inv = inventory(inv_host("d1", comp("bios", "1.0"), comp("cpld", "1.0")),
                    inv_host("g1", comp("bmc", "2.14.0"), comp("bios", "1.0.5"), vendor="generic", model=GEN_MODEL),
                    inv_host("g2", comp("bmc", "2.15.0"), comp("bios", "1.0.5"), vendor="generic", model=GEN_MODEL))
    return ws, inv


def _with_policy(ws, on_failure: str):  # type: ignore[no-untyped-def]
    pol = replace(ws.settings.policies, on_failure=on_failure)
    return replace(ws, settings=replace(ws.settings, policies=pol))


def _changes(p):  # type: ignore[no-untyped-def]
    return {(h.name, c.key): (c.rollback, c.rollback_image) for h in p.hosts for c in h.changes if c.does_work}


def test_each_change_says_how_it_would_be_rolled_back() -> None:
    ws, inv = _fleet()
    p = plan(ws, inv, state())
    assert _changes(p) == {
        ("d1", "bios"): ("bmc-previous", None),             # iDRAC keeps the replaced image
        ("d1", "cpld"): ("irreversible", None),             # ... but not for the CPLD
        ("g1", "bmc"): ("repository", "generic-bmc-2.14.0"),  # the repository holds what runs now
        ("g1", "bios"): ("irreversible", None),             # neither
        ("g2", "bios"): ("irreversible", None)}
    doc = p.to_json("2026-01-01T00:00:00Z", {}, "test")
    jsonschema.validate(doc, SCHEMA)
    assert {c["rollback_image"] for h in doc["hosts"] for c in h["changes"]} >= {"generic-bmc-2.14.0", None}


def test_the_previous_image_undoes_one_hop_only() -> None:
    ws = workspace([host("d1")], [baseline("d", target("bios", "2.0"))],
                   [image("bios", "2.0"), image("bios", "1.5")], stones=[stone("via-1.5", "bios", ">=2.0", "1.5")])
    p = plan(ws, inventory(inv_host("d1", comp("bios", "1.0"))), state())
    (c,) = p.hosts[0].changes
    assert c.hops == ("1.5", "2.0") and c.rollback == "irreversible"


def test_under_rollback_host_plan_warns_where_a_host_could_not_be_rolled_back() -> None:
    ws, inv = _fleet()
    quiet = plan(ws, inv, state())
    assert not [f for h in quiet.hosts for f in h.findings if f.code == "rollback-impossible"]
    p = plan(_with_policy(ws, "rollback-host"), inv, state())
    found = {h.name: [f for f in h.findings if f.code == "rollback-impossible"] for h in p.hosts}
    assert [f.message.split(" could")[0] for f in found["g1"]] == ["bios 1.0.5 -> 1.1.0"]
    assert "no image of 1.0.5" in found["g1"][0].message and "add the 1.0.5 image" in found["g1"][0].message
    assert [f.message.split(" could")[0] for f in found["d1"]] == ["cpld 1.0 -> 1.1"]
    assert all(f.severity == "warning" for fs in found.values() for f in fs)
    assert p.applyable and not p.errored      # a warning: plan --strict and check turn it into a failure
    assert p.options.on_failure == "rollback-host"
    # apply's own --on-failure choice overrides the workspace policy
    assert not [f for h in plan(_with_policy(ws, "rollback-host"), inv, state(), on_failure="halt-host").hosts
                for f in h.findings if f.code == "rollback-impossible"]
    # with the replaced images in the repository, every change can be undone
    ready, _ = _fleet((image("bios", "1.0.5", vendor="generic"), image("cpld", "1.0")))
    assert not [f for h in plan(_with_policy(ready, "rollback-host"), inv, state()).hosts
                for f in h.findings if f.code == "rollback-impossible"]


def test_check_with_a_snapshot_fails_where_a_host_could_not_be_rolled_back() -> None:
    class Here:
        def host(self, i: int) -> str:
            return f"inventory.yaml:{i}"

        def at(self, *a: object) -> str:
            return "baselines.yaml"

        def component(self, *a: object) -> str:
            return "baselines.yaml"

    ws, inv = _fleet()
    findings, _ = fleet_findings(_with_policy(ws, "rollback-host"), Here(), inv)  # type: ignore[arg-type]
    bad = [f for f in findings if f.rule == "rollback-impossible"]
    assert {(f.host, f.severity) for f in bad} == {("g1", "error"), ("g2", "error"), ("d1", "error")}
    assert RULES["rollback-impossible"].check == "fleet"
    findings, _ = fleet_findings(ws, Here(), inv)  # type: ignore[arg-type]
    assert not [f for f in findings if f.rule == "rollback-impossible"]


@settings(max_examples=60, deadline=None)
@given(current=st.sampled_from(["1.0.5", "1.0.4", "0.9"]), in_repo=st.booleans(),
       policy=st.sampled_from(["halt-host", "rollback-host", "abort-run"]))
def test_a_rollback_warning_exactly_when_policy_is_rollback_host_and_nothing_restores(current: str, in_repo: bool,
                                                                                       policy: str) -> None:
    extra = (image("bios", current, vendor="generic"),) if in_repo else ()
    ws, _ = _fleet(extra)
    inv = inventory(inv_host("g1", comp("bmc", "2.15.0"), comp("bios", current), vendor="generic", model=GEN_MODEL))
    p = plan(_with_policy(ws, policy), inv, state(), targets=["g1"])
    (c,) = [c for c in p.hosts[0].changes if c.key == "bios"]
    assert c.action is Action.UPGRADE
    assert (c.rollback, c.rollback_image) == (("repository", f"generic-bios-{current}") if in_repo
                                              else ("irreversible", None))
    warned = any(f.code == "rollback-impossible" for f in p.hosts[0].findings)
    assert warned == (policy == "rollback-host" and not in_repo)
