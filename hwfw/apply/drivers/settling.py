"""Settling an intent a crash left open: what became of a flash or a reset, decided
from the BMC's own tasks, jobs and inventory (see `HostDriver.settle_intent`).

Verdicts: `done` (the change took effect or is staged), `in-flight:<uri>` (still
running: re-attach), `not-sent` (safe to redo), `failed:<message>`. Evidence, in order:
the running version; the task or job the intent recorded; the vendor's own evidence
(`Quirks.settle`: Dell jobs, the iLO repository and queue, Supermicro staging); any
task on the BMC naming the component or our image file.
"""

from __future__ import annotations

from typing import Any, Mapping

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
    any_message,
    judge_messages,
    task_messages,
)
from hwfw.retry import Backoff, RetryPolicy

__all__ = ["Settler"]


class Settler:
    """Settles open intents of one host."""

    def __init__(self, bmc: Bmc, quirks: Quirks) -> None:
        self.bmc = bmc
        self.quirks = quirks

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
                return self._later()  # the BMC is resetting or starting: look again later
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
            response = await self.bmc.session.request("GET", uri, check=False, retries=1)
        except BmcError:
            return f"in-flight:{uri}"
        if response.status_code == 404:
            job = self.quirks.job_uri_for(uri)
            if job and job != uri:
                return await self._task(job)
            return None
        body = json_object(response)
        if response.status_code >= 400 or body is None:
            return None
        return verdict_of_task_body(body, uri)

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
