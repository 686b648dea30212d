"""The rollout's max-unavailable slots across continue-as-new.

Hosts ask the rollout for a slot by signal and wait for the answer; the rollout
continues as new while some wait and some hold one. Every request must be answered,
and never more hosts down at once than the limit. Temporal drops a signal a workflow
sent if the run that sent it has closed before the server delivered it, so a slot
decision sent just before a run continues as new must have reached the host first.

The rollout here continues as new every few dozen events, and its workflow tasks are
made slow (a test interceptor holds each one for a moment), so the signals, replies and
run changes that a large fleet meets only now and then come together in one workflow
task again and again. Judged from the in-memory BMCs' own log (who was down when) and
the rollout's result; a slot decision lost leaves its host waiting, and the rollout
never ends.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from temporalio import client as tclient
from temporalio import worker as tworker
from temporalio import workflow

from hwfw.apply.events import HOST_CONVERGED
from hwfw.engine.temporal.model import ROLLOUT_WORKFLOW
from tests.apply.support import generic_hosts
from tests.temporalserver import DevServer

from .rigs import memory_rig, rollout, run_temporal

pytestmark = pytest.mark.slow

HOSTS = 120
MAX_UNAVAILABLE = 20
HISTORY = 40          # events per run of the rollout before it continues as new
SCALE = 2000.0       # a generic host's plan (about 25 minutes) takes well under a second
HOLD = 0.1           # seconds each workflow task of the rollout that handles a signal takes


class _SlowSignals(tworker.WorkflowInboundInterceptor):
    def __init__(self, nxt: tworker.WorkflowInboundInterceptor) -> None:
        super().__init__(nxt)
        self.held_at = -1

    async def handle_signal(self, input: tworker.HandleSignalInput) -> None:
        info = workflow.info()
        if info.workflow_type == ROLLOUT_WORKFLOW and info.get_current_history_length() != self.held_at:
            self.held_at = info.get_current_history_length()   # once per workflow task
            with workflow.unsafe.sandbox_unrestricted():
                time.sleep(HOLD)
        await super().handle_signal(input)


class SlowRollout(tclient.Interceptor, tworker.Interceptor):
    """Holds each workflow task of the rollout that handles a signal (see the module docstring)."""

    def workflow_interceptor_class(
            self, input: tworker.WorkflowInterceptorClassInput) -> type[tworker.WorkflowInboundInterceptor]:
        return _SlowSignals


@pytest.mark.timeout(600)
def test_hosts_waiting_for_a_slot_are_answered_after_the_rollout_continues_as_new(
        tmp_path: Path, temporal_server: DevServer) -> None:
    rig = memory_rig(tmp_path / "ws", generic_hosts(HOSTS), SCALE)
    plan = rig.plan()

    async def run() -> tuple[dict[str, Any], Any]:
        client = await tclient.Client.connect(temporal_server.address, interceptors=[SlowRollout()])
        return await run_temporal(rig, plan, rollout(rig, parallelism=HOSTS, max_unavailable=MAX_UNAVAILABLE),
                                  client, run_id="slots1", tuning={"history": HISTORY}, timeout=240)

    out, result = asyncio.run(run())
    assert result.runs >= 4, result.runs          # it did continue as new, several times
    assert {s for s, _ in out.values()} == {HOST_CONVERGED}, out
    assert len(out) == HOSTS
    assert 2 <= rig.fleet.peak_down() <= MAX_UNAVAILABLE
    flashed = Counter((e["host"], e["key"]) for e in rig.fleet.of("flash-started"))
    assert set(flashed.values()) == {1} and len(flashed) == 2 * HOSTS
