"""Settling an intent a crash left open: what became of a flash or a reset, decided
from the BMC's own tasks, jobs and inventory (see `HostDriver.settle_intent`).

Verdicts: `done` (the change took effect or is staged), `in-flight:<uri>` (still
running: re-attach), `not-sent` (safe to redo), `failed:<message>`. Evidence, in order:
the running version; the task or job the intent recorded; the vendor's own evidence
(`Quirks.settle`: Dell jobs, the iLO repository and queue, Supermicro staging); any
task on the BMC naming the component or our image file.

An activation whose intent is marked `requested` (the reset was sent, or the BMC was
seen resetting itself, before the run stopped) is never sent again: settling waits for that
reset to end (`Activator.wait_requested`) and is `done`; the versions read afterwards
say what it activated.
"""

from __future__ import annotations

from typing import Any, Mapping

from hwfw.apply.drivers.activation import Activator
from hwfw.apply.drivers.bmc import Bmc
from hwfw.apply.drivers.quirks import Quirks
from hwfw.errors import BmcAuthError, BmcError, BmcUnreachable
from hwfw.redfish.errors import bmc_not_back_yet
from hwfw.redfish.tasks import json_object
from hwfw.redfish.taskstate import (
    FAILED_STATES,
    FAILURE_IDS,
    NEEDS_ACTION_STATES,
    OK_STATES,
    Observation,
    any_message,
    judge_messages,
    judge_task,
    task_messages,
    task_view,
)
from hwfw.retry import Backoff, RetryPolicy

__all__ = ["Settler"]


class Settler:
    """Settles open intents of one host."""

    def __init__(self, bmc: Bmc, quirks: Quirks, activator: Activator | None = None) -> None:
        self.bmc = bmc
        self.quirks = quirks
        self.activator = activator or Activator(bmc, quirks)

    async def settle(self, intent: Mapping[str, Any]) -> str:
        """"Not sent" is only concluded after `creation_grace_polls` more looks a poll
        interval apart: a job the BMC accepted may 404 for a few seconds (Dell), and
        calling that "not sent" would flash the image twice."""
        verdict = await self._once(intent)
        looks = RetryPolicy(retries=self.quirks.creation_grace_polls,
                            backoff=Backoff.constant(self.bmc.timing.poll_interval)).attempts(self.bmc.clock)
        while verdict == "not-sent" and str(intent.get("action") or "flash") == "flash":
            wait = looks.next_delay()
            if wait is None:
                break
            await self.bmc.clock.sleep(wait)
            verdict = await self._once(intent)
        return verdict

    async def _once(self, intent: Mapping[str, Any]) -> str:
        try:
            return await self._reading(intent)
        except BmcAuthError:
            await self.bmc.try_fresh_login()  # half up after a reset: look again later
            return self._later()
        except BmcError as exc:
            if bmc_not_back_yet(exc):
                return self._later()  # the BMC is resetting or starting (503 + Retry-After): look again later
            raise

    def _later(self) -> str:
        return f"in-flight:{self.bmc.client.base_url}"

    async def _reading(self, intent: Mapping[str, Any]) -> str:
        details = dict(intent.get("details") or {})
        action = str(intent.get("action") or "flash")
        key = str(intent.get("component") or details.get("component") or "")
        target = details.get("to_version") or details.get("to") or details.get("version")
        try:
            versions = await self.bmc.read_versions()
        except BmcUnreachable:
            return self._later()
        running = versions.get(key)
        if target and running and running.strip() == str(target).strip():
            return "done"
        if action == "activate" and details.get("requested"):
            expect = details.get("versions") or {}
            if not (expect and all(_runs(versions.get(k), v) for k, v in expect.items())):
                await self.activator.wait_requested(str(details.get("activation") or ""), _quiet)
            return "done"
        if action != "flash":
            return "not-sent"
        task_uri = details.get("task_uri")
        if isinstance(task_uri, str) and task_uri:
            verdict = await self._task(task_uri)
            if verdict:
                return verdict
        verdict = await self.quirks.settle(intent, key, target, details)
        if verdict:
            return verdict
        return await self._from_tasks(key, details) or "not-sent"

    async def _task(self, uri: str) -> str | None:
        try:
            found = await self._task_body(uri)
        except BmcError:
            return f"in-flight:{uri}"
        return verdict_of_task_body(found[1], found[0]) if found else None

    async def _task_body(self, uri: str) -> tuple[str, dict[str, Any]] | None:
        """(URI, body) of a task, or of the vendor job behind it once the task is purged."""
        response = await self.bmc.session.request("GET", uri, check=False, retries=1)
        if response.status_code == 404:
            job = self.quirks.job_uri_for(uri)
            return await self._task_body(job) if job and job != uri else None
        body = json_object(response)
        if response.status_code >= 400 or body is None:
            return None
        return uri, body

    async def failure_of(self, uri: str | None, key: str) -> str | None:
        """Why the BMC's task or job that carried `key`'s image (the one the state
        recorded) failed, in its own words; None when it did not, or is gone. (Another
        task naming the component could be an older run's: never quoted.)"""
        found = await self._task_body(uri) if uri else None
        if found is None:
            return None
        where, body = found
        state, percent, msgs = task_view(body)
        outcome = judge_task(Observation(where, state, percent, msgs, body), frozenset())
        if outcome is None or outcome.kind != "failed":
            return None
        mid = f" [{outcome.message_id}]" if outcome.message_id else ""
        return f"the BMC's task {where} ended {state}: {outcome.detail or 'no detail'}{mid}"

    async def _from_tasks(self, key: str, details: Mapping[str, Any]) -> str | None:
        """A task on the BMC that names this component (or our image file) decides."""
        kind = key.split(":", 1)[0]
        filename = str(details.get("filename") or "")
        best: str | None = None
        for task in await self.bmc.task_members():
            uri = str(task.get("@odata.id") or "")
            names = [a for m in task_messages(task) for a in m.args]
            mentions_file = bool(filename) and any(filename in a for a in names)
            if not mentions_file and self.bmc.component_of_task(task) != kind:
                continue
            verdict = verdict_of_task_body(task, uri)
            if verdict.startswith("in-flight"):
                return verdict
            if verdict == "done" or best is None:
                best = verdict
        return best


def _runs(running: str | None, version: Any) -> bool:
    return running is not None and running.strip() == str(version).strip()


def _quiet(percent: float | None, message: str) -> None:
    pass


def verdict_of_task_body(body: Mapping[str, Any], uri: str) -> str:
    """A settle verdict from a Task or job body."""
    state = str(body.get("TaskState") or body.get("JobState") or "")
    msgs = task_messages(body)
    if state in OK_STATES:
        outcome = judge_messages(msgs, state, uri)
        if outcome.kind == "failed":
            return f"failed:{outcome.detail or outcome.message_id}"
        return "done"
    if state in NEEDS_ACTION_STATES:
        return "done"
    if state in FAILED_STATES:
        bad = any_message(msgs, *FAILURE_IDS) or (msgs[-1] if msgs else None)
        return f"failed:{(bad.message or bad.message_id) if bad else state}"
    if state in ("Scheduled", "PendingActivation", "RebootPending") or (
            state == "Pending" and any_message(msgs, "AwaitToActivate", "JCP001")):
        return "done"  # staged: only the activation remains
    return f"in-flight:{uri}"
