"""The pure planning core of `hwfw plan`: diff, rules, activation, DAG, estimates, rendering.

`plan(workspace, inventory, state, ...) -> Plan` does no I/O. Modules, in pipeline
order: `profile` (per baseline/vendor/model: resolved targets, rules, stepping-stone
routes), `diff` (Action and Reason per component instance), `compat` (rule waits,
final-state checks, flash order), `activation` (which reset activates what: the
semantics the README quotes), `graph` (the DAG transformers), `estimate` (durations),
`shape` (plan each distinct host configuration once, stamp it per host), `planner`
(the entry point), `triage` (while the fleet is read: which hosts will have steps, so
pre-flight facts are read only for those hosts), `model` (the Plan value and its JSON), `render` (rich text and
markdown), `planfile` (saved plans and staleness), `bulk` (GC pause for bulk work).
"""

from hwfw.plan.model import (
    PLAN_FORMAT,
    Action,
    Change,
    Drift,
    Finding,
    HostPlan,
    Image,
    Meta,
    Options,
    Plan,
    Reason,
    Resets,
    Step,
    Summary,
)
from hwfw.plan.planner import plan
from hwfw.plan.triage import needs_preflight

__all__ = [
    "PLAN_FORMAT", "Action", "Change", "Drift", "Finding", "HostPlan", "Image", "Meta", "Options", "Plan",
    "Reason", "Resets", "Step", "Summary", "needs_preflight", "plan",
]
