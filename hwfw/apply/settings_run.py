"""The executor's BIOS settings work on one host: configure, verify, validate, restore.

- **configure** (`HOST/configure/bios-settings`): every attribute the plan sets, in one
  staging (`HostDriver.stage_bios_settings`: one PATCH and the vendor's job), bracketed
  by the ledger like a flash: intent (action `configure`, the values) -> stage -> state
  record `staged` (with the Dell job) -> resolve. Values hwfw already staged (the state
  says so and the BMC still holds them) are not sent again, so a run killed between the
  PATCH and the reboot resumes without a second PATCH. The host reboot that activates
  the step applies them.
- **verify** (`HOST/verify/bios-settings`): a setting is done only when `Bios.Attributes`
  reads as declared. What the BIOS refused is reported per attribute with the MessageId
  of `@Redfish.Settings.Messages` (HPE's leading Success skipped), and the step fails.
- **post-configuration validation**, after the host's last step: powered on, POST
  complete, health OK, every declared setting and firmware version read back. Recorded
  in the state (`validations`) and the audit log; a failure fails the host.
- **restore** (`on_failure: rollback-host`): the checkpointed values of the attributes
  the plan set are staged again (hwfw's own staged job dropped first) and applied by
  the rollback's host reboot.

State: `bios_settings.HOST` (status staged | applied | failed | rolled-back, the values,
the values before, the job, the BMC's rejections) and `validations.HOST`, `watchdog.HOST`
(schemas/state.schema.json).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from hwfw.apply import checkpoint as cpmod
from hwfw.apply.driver import ActivationReport, BiosReading, HostDriver, SettingsRejected
from hwfw.apply.events import STEP_FAILED, STEP_OK, STEP_PENDING, StepOutcome
from hwfw.apply.ledger import Ledger
from hwfw.errors import HwfwError
from hwfw.inventory.bios import SettingsMessage, failures_by_attribute, shown
from hwfw.logs import redactor
from hwfw.plan.model import Action, HostPlan, Step
from hwfw.retry import polling

if TYPE_CHECKING:
    from hwfw.apply.executor import HostRun

__all__ = ["RECORDS", "SettingsSteps", "own_staged", "record_activation", "settle_configure"]

RECORDS, VALIDATIONS, WATCHDOG = "bios_settings", "validations", "watchdog"
CHECKPOINT_KEY = "bios_settings"


def record(ledger: Ledger, host: str) -> dict[str, Any] | None:
    return (ledger.extra.get(RECORDS) or {}).get(host)


def _put(ledger: Ledger, section: str, host: str, value: Mapping[str, Any]) -> None:
    records = dict(ledger.extra.get(section) or {})
    records[host] = dict(value)
    ledger.put_extra(section, records)


def own_staged(ledger: Ledger, host: str) -> dict[str, Any]:
    """The BIOS values hwfw staged on `host` and has not seen applied (pre-flight: not foreign)."""
    rec = record(ledger, host)
    return dict(rec.get("attributes") or {}) if rec and rec.get("status") == "staged" else {}


def _summary(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={shown(v)}" for k, v in sorted(values.items()))


class SettingsSteps:
    """One host's BIOS settings steps (see the module docstring)."""

    def __init__(self, run: HostRun) -> None:
        self.run = run
        self.host = run.host
        self.ledger = run.ledger
        hp = run.ex.plan.host(run.host)
        self.plan: HostPlan | None = hp

    @property
    def driver(self) -> HostDriver:
        assert self.run.driver is not None
        return self.run.driver

    @property
    def wanted(self) -> dict[str, Any]:
        """The attributes the plan sets (name -> declared value)."""
        return self.plan.settings_to_apply if self.plan is not None else {}

    @property
    def declared(self) -> dict[str, Any]:
        """Every declared attribute the plan did not refuse (set ones and `=` ones)."""
        return {s.attribute: s.target for s in self.plan.settings if not s.refused} if self.plan else {}

    def _base(self, status: str, values: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
        return {"status": status, "attributes": dict(values), "run_id": self.run.ex.options.run_id,
                "updated_at": self.ledger.now(), **extra}

    # ------------------------------------------------------------------ configure
    async def configure(self, step: Step) -> StepOutcome:
        values = self.wanted
        if not values:
            return StepOutcome(STEP_OK, "no BIOS setting to change")
        reading = await self.driver.read_bios_settings()
        if all(reading.attributes.get(k) == v for k, v in values.items()):
            return StepOutcome(STEP_OK, f"{len(values)} BIOS setting(s) already read as declared (nothing staged)")
        rec = record(self.ledger, self.host)
        if rec is not None and rec.get("status") == "staged" and rec.get("attributes") == values \
                and all(k in reading.pending and reading.pending[k] == v for k, v in values.items()):
            return StepOutcome(STEP_PENDING, f"already staged by run {rec.get('run_id')} (not sent again)",
                               method=rec.get("method"), task_uri=rec.get("job"))
        previous = {k: reading.attributes.get(k) for k in values}
        iid = await self.ledger.open_intent(host=self.host, component=step.component or "bios-settings",
                                            action="configure", step=step.id, values=dict(values))
        try:
            staged = await self.driver.stage_bios_settings(values, self.run._progress(step))
        except HwfwError as exc:
            rejected = [m.to_json() for m in exc.messages] if isinstance(exc, SettingsRejected) else []
            message = redactor(exc.message)
            _put(self.ledger, RECORDS, self.host, self._base("failed", values, previous=previous, error=message,
                                                               rejected=rejected))
            await self.ledger.commit()
            await self.ledger.resolve(iid, "failed", message=message)
            await self.ledger.audit(host=self.host, component="bios-settings", action="configure", outcome="failed",
                                    before=_summary(previous), after=_summary(values), message=message)
            return StepOutcome(STEP_FAILED, message)
        _put(self.ledger, RECORDS, self.host, self._base("staged", values, previous=previous, job=staged.job_uri,
                                                           method=staged.method, settings_time=reading.applied_at))
        await self.ledger.commit()
        await self.ledger.resolve(iid, "staged", method=staged.method, task_uri=staged.job_uri)
        await self.ledger.audit(host=self.host, component="bios-settings", action="configure", outcome="staged",
                                before=_summary(previous), after=_summary(values), message=staged.message)
        return StepOutcome(STEP_PENDING, redactor(staged.message), method=staged.method, task_uri=staged.job_uri)

    # ------------------------------------------------------------------ verify
    async def read_settled(self, names: Iterable[str]) -> BiosReading:
        """`Bios` once the reboot has dealt with what was staged for `names`. `Bios` shows
        what the BIOS reported at the end of its POST, and BootProgress says the hardware
        is initialised before that, so a read in between shows the old values with the new
        ones still pending. Waits while any of `names` is pending and `@Redfish.Settings.Time`
        is still the one read before the staging (a new Time: the BIOS has dealt with
        them, whatever it left pending), at most `timing.post_timeout`; then the caller
        judges what it reads."""
        timing = self.run.ex.workspace.settings.timing
        wanted = tuple(names)
        rec = record(self.ledger, self.host) or {}
        clock = self.run.clock
        polls = polling(timing.poll_interval).attempts(clock, deadline=clock.monotonic() + timing.post_timeout)
        staged_at = rec.get("settings_time")
        while True:
            reading = await self.driver.read_bios_settings()
            moved = bool(reading.applied_at) and reading.applied_at != staged_at
            if "settings_time" in rec and moved:
                return reading
            # Nothing pending, and the Time has not moved since the staging: `Bios` and its
            # settings object are two reads, and the POST may have ended between them (the
            # values read before it, the emptied settings object after). Read again.
            if not any(k in reading.pending for k in wanted) and not (staged_at and reading.applied_at == staged_at):
                return reading
            wait = polls.next_delay()
            if wait is None:
                return reading
            await clock.sleep(wait)

    async def verify(self, step: Step) -> StepOutcome:
        values = self.wanted
        timing = self.run.ex.workspace.settings.timing
        wrong: dict[str, Any] = {}
        for attempt in range(max(1, timing.stability_checks)):
            if attempt:
                await self.run.clock.sleep(timing.stability_interval)
            reading = await self.read_settled(values)
            wrong = {k: reading.attributes.get(k) for k, v in values.items() if reading.attributes.get(k) != v}
            if not wrong:
                break
        rec = record(self.ledger, self.host) or {}
        if not wrong:
            _put(self.ledger, RECORDS, self.host, {**self._base("applied", values), "previous": rec.get("previous"),
                                                   "applied_at": reading.applied_at})
            await self.ledger.commit()
            await self.ledger.audit(host=self.host, component="bios-settings", action="verify", outcome="ok",
                                    after=_summary(values))
            return StepOutcome(STEP_OK, f"{len(values)} BIOS setting(s) read as declared", version=step.to_version)
        message, rejected = _not_applied(values, wrong, reading.messages)
        _put(self.ledger, RECORDS, self.host, {**self._base("failed", values), "previous": rec.get("previous"),
                                               "rejected": rejected, "error": message})
        await self.ledger.commit()
        await self.ledger.audit(host=self.host, component="bios-settings", action="verify", outcome="failed",
                                after=_summary(values), message=message)
        return StepOutcome(STEP_FAILED, message)

    def staged_by(self, step: Step) -> bool:
        """Did a configure step this reset activates stage something?"""
        return any(self.run.steps.get(a) is not None and self.run.steps[a].kind == "configure"
                   and self.run.results.get(a) is not None and self.run.results[a].status == STEP_PENDING
                   for a in step.activates)

    # ------------------------------------------------------------------ checkpoint and restore
    async def checkpoint_values(self) -> dict[str, Any]:
        """The current values of the attributes the plan sets (the checkpoint's)."""
        if not self.wanted:
            return {}
        reading = await self.driver.read_bios_settings()
        return {k: reading.attributes.get(k) for k in sorted(self.wanted)}

    async def stage_restore(self, checkpoint: Mapping[str, Any]) -> bool:
        """Stage the checkpointed values back (dropping hwfw's own staged job first); True
        when something was staged, so the rollback's host reboot must run."""
        before = {k: v for k, v in (checkpoint.get(CHECKPOINT_KEY) or {}).items() if v is not None}
        if not before:
            return False
        rec = record(self.ledger, self.host)
        if rec is not None and rec.get("status") == "staged":
            await self.driver.discard_bios_settings(rec.get("job"))
        reading = await self.driver.read_bios_settings()
        todo = {k: v for k, v in before.items() if reading.attributes.get(k) != v or k in reading.pending}
        if not todo:
            return False
        staged = await self.driver.stage_bios_settings(todo, lambda p, m: None)
        _put(self.ledger, RECORDS, self.host, self._base("staged", todo, job=staged.job_uri, method=staged.method,
                                                           rollback=True, settings_time=reading.applied_at))
        await self.ledger.commit()
        await self.ledger.audit(host=self.host, component="bios-settings", action="rollback", outcome="staged",
                                after=_summary(todo), message=staged.message)
        return True

    async def restore_problems(self, checkpoint: Mapping[str, Any]) -> list[str]:
        before = {k: v for k, v in (checkpoint.get(CHECKPOINT_KEY) or {}).items() if v is not None}
        if not before:
            return []
        reading = await self.read_settled(before)
        bad = [f"BIOS setting {k} reads {shown(reading.attributes.get(k))}, checkpoint {shown(v)}"
               for k, v in sorted(before.items()) if reading.attributes.get(k) != v]
        if not bad:
            _put(self.ledger, RECORDS, self.host, self._base("rolled-back", before))
        return bad

    # ------------------------------------------------------------------ post-configuration validation
    async def validate(self) -> str | None:
        """Power, POST, health, declared settings and firmware versions read back; the
        result goes to the state and the audit log. Returns why it failed, or None."""
        assert self.plan is not None
        status = await self.driver.host_status()
        running = await self.driver.read_versions()
        reading = await self.driver.read_bios_settings()
        problems: list[str] = []
        if status.power != "On":
            problems.append(f"the host is powered {status.power or 'unknown'}")
        if not status.post_done:
            problems.append(f"POST is not complete (boot progress {status.last_state or '?'})")
        if status.health not in (None, "OK"):
            problems.append(f"health is {status.health}")
        firmware = {}
        for c in self.plan.changes:
            if c.refused or c.action in (Action.MISSING, Action.UNREACHABLE) or not c.key:
                continue
            entry = self.run._entry(c.image)
            ok = cpmod.same_version(running.get(c.key), c.target, entry.scheme if entry else None)
            firmware[c.key] = {"expected": c.target, "running": running.get(c.key), "ok": ok}
            if not ok:
                problems.append(f"{c.key} runs {running.get(c.key)!r}, expected {c.target!r}")
        settings = {}
        for name, value in sorted(self.declared.items()):
            ok = reading.attributes.get(name) == value
            settings[name] = {"expected": value, "reads": reading.attributes.get(name), "ok": ok}
            if not ok:
                problems.append(f"BIOS setting {name} reads {shown(reading.attributes.get(name))}, "
                                f"declared {shown(value)}")
        doc = {"run_id": self.run.ex.options.run_id, "at": self.ledger.now(), "ok": not problems,
               "power_state": status.power, "post_complete": status.post_done, "boot_progress": status.last_state,
               "health": status.health, "firmware": firmware, "settings": settings, "problems": problems}
        _put(self.ledger, VALIDATIONS, self.host, doc)
        await self.ledger.commit()
        text = "; ".join(problems)
        await self.ledger.audit(host=self.host, component="host", action="validate",
                                outcome="failed" if problems else "ok",
                                message=text or f"powered on, POST complete, health {status.health or 'OK'}, "
                                                f"{len(firmware)} firmware version(s) and {len(settings)} BIOS "
                                                "setting(s) read back")
        return f"post-configuration validation: {text}" if problems else None


def _not_applied(values: Mapping[str, Any], wrong: Mapping[str, Any],
                 messages: tuple[SettingsMessage, ...]) -> tuple[str, list[dict[str, Any]]]:
    """The failure message (each attribute with the BMC's MessageId) and the state's list."""
    by_attr = failures_by_attribute(messages)
    parts, rejected = [], []
    for name in sorted(wrong):
        m = by_attr.get(name)
        why = f" [{m.message_id}{': ' + m.message if m.message else ''}]" if m else ""
        parts.append(f"{name}={shown(values[name])} reads {shown(wrong[name])}{why}")
        rejected.append({"attribute": name, "value": values[name], "reads": wrong[name],
                         "message_id": m.message_id if m else None, "message": m.message if m else None})
    return "BIOS settings not applied: " + "; ".join(parts), rejected


async def settle_configure(ledger: Ledger, driver: HostDriver, intent: Mapping[str, Any], verdict: str) -> None:
    """Record what a configure intent a crash left open became (resume)."""
    if verdict != "done":
        return
    d = intent.get("details") or {}
    values = dict(d.get("values") or {})
    reading = await driver.read_bios_settings()
    applied = all(reading.attributes.get(k) == v for k, v in values.items())
    job = None if applied else await driver.staged_settings_job()
    _put(ledger, RECORDS, intent["host"], {"status": "applied" if applied else "staged", "attributes": values,
                                           "run_id": intent.get("run_id"), "updated_at": ledger.now(), "job": job})


async def record_activation(run: HostRun, kind: str, report: ActivationReport | None) -> None:
    """What happened around a reset besides it (the IPMI watchdog): warnings, state, audit."""
    if report is None:
        return
    for w in report.warnings:
        run.events.warning(w, run.host)
    if report.watchdog is None:
        return
    doc = {**report.watchdog, "reset": kind, "run_id": run.ex.options.run_id, "at": run.ledger.now()}
    _put(run.ledger, WATCHDOG, run.host, doc)
    await run.ledger.audit(host=run.host, component="host", action="watchdog",
                           outcome="fired" if doc.get("fired") else ("armed" if doc.get("armed") else "not-armed"),
                           message=doc.get("problem") or f"{doc.get('action')} after {doc.get('timeout')}s ({kind})")
