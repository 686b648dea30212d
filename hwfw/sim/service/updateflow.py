"""Update operations as tasks: verdicts, step plans, flash effects.

An *op* (stored in `task.data`) names the component, its instances, the image version
and the apply time. `verdict` decides what a real BMC would say about it
(VerificationFailed, UpdateNotApplicable, UpdateSkippedSameVersion...). The generic
plan follows DMTF semantics; vendor profiles override `plan_update` and friends.
"""

from __future__ import annotations

from typing import Any

from hwfw.sim.firmware import ImageInfo, not_applicable_reason
from hwfw.sim.machine import Component
from hwfw.sim.messages import message
from hwfw.sim.service.tasks import Task, inject_exception, steps_from
from hwfw.sim.service.update import UpdateResources

DEFAULT_ACTIVATION = {"bmc": "bmc-reset", "bios": "host-reboot", "nic": "host-reboot", "raid": "host-reboot",
                      "drive": "host-reboot", "psu": "host-reboot", "backplane": "host-reboot", "me": "host-reboot",
                      "gpu": "host-reboot", "cpld": "ac-cycle"}


FAILURES = ("VerificationFailed", "UpdateNotApplicable", "ApplyFailed")
# The `update_skip` fault's reasons, as the DMTF Update registry names them.
SKIP_KEYS = {"same-version": "UpdateSkippedSameVersion", "version-too-low": "UpdateSkippedVersionTooLow",
             "skipped": "UpdateSkipped"}


def _below(version: str, lowest: str) -> bool:
    """version < lowest, by hwfw's version rules; False when they cannot be compared."""
    try:
        from hwfw import versions

        return bool(versions.parse(version) < versions.parse(lowest))
    except Exception:
        return False


class UpdateFlow(UpdateResources):
    """Generic (DMTF) update behaviour; profiles override the planning hooks."""

    def activation(self, kind: str) -> str:
        return dict(self.table.get("activation", {})).get(kind, DEFAULT_ACTIVATION.get(kind, "host-reboot"))

    def flash_time(self, kind: str) -> float:
        times: dict[str, Any] = dict(self.table.get("flash", {}))
        seconds: Any = self.table.get(f"flash_{kind}", times.get(kind, times.get("default", 60.0)))
        return float(seconds)

    # ------------------------------------------------------------ ops
    def make_op(self, info: ImageInfo | None, kind: str | None, method: str, apply_time: str,
                force: bool = False, **extra: Any) -> dict[str, Any]:
        h = info.header if info else None
        kind = kind or (h.component if h else None) or "unknown"
        comps = self.machine.of_kind(kind)
        return {"component": kind, "instances": [c.instance for c in comps],
                "from": comps[0].active if comps else None, "version": h.version if h else None,
                "image": info.filename if info else None, "sha256": info.sha256 if info else None,
                "error": (info.error if info else None), "image_component": h.component if h else None,
                "image_model": h.model if h else None, "image_vendor": h.vendor if h else None,
                "method": method, "apply_time": apply_time, "force": force, **extra}

    def components_of(self, op: dict[str, Any]) -> list[Component]:
        return [c for c in self.machine.of_kind(op["component"]) if c.instance in op["instances"]]

    def verdict(self, op: dict[str, Any]) -> tuple[str, str, tuple[Any, ...]] | None:
        """(registry, key, args) that ends the op early, or None to go ahead."""
        image = op.get("image") or "image"
        target = self.target_uri(op["component"])
        if op.get("error"):
            return ("Update", "VerificationFailed", (image, target))
        info = ImageInfo(op.get("sha256") or "", 0, image)
        from hwfw.sim.images import ImageHeader

        info.header = ImageHeader(op["image_vendor"], op["image_model"], op["image_component"], op["version"], 0, "")
        if not self.components_of(op) or not_applicable_reason(info, self.VENDOR, self.spec.model, op["component"]):
            return ("Update", "UpdateNotApplicable", (image, target))
        skip = self.faults.get("update_skip")
        if isinstance(skip, dict) and skip.get("component") in (None, op["component"]):
            return ("Update", SKIP_KEYS[str(skip.get("reason", "same-version"))], (target, image))
        if op["component"] == "nic" and self.options.get("pldm_nic_needs_reboot_after_bmc") and \
                self.machine.bmc_updated_since_host_boot:
            # PLDM NIC updates fail until the host rebooted after a BMC update (OpenStack ironic bug 2141574)
            return ("Update", "ApplyFailed", (image, target))
        lowest = {**dict(self.table.get("lowest_supported", {})),
                  **dict(self.options.get("lowest_supported", {}))}.get(op["component"])
        if lowest and _below(op["version"], lowest) and not op.get("force"):
            return ("Update", "UpdateSkippedVersionTooLow", (target, image))
        comps = self.components_of(op)
        current = {(c.pending[0] if c.pending else c.active) for c in comps}
        if current == {op["version"]} and not op.get("force"):
            return ("Update", "UpdateSkippedSameVersion", (target, image))
        return None

    def target_uri(self, kind: str) -> str:
        return {"bmc": self.mgr_uri, "bios": f"{self.sys_uri}/Bios"}.get(kind, self.sys_uri)

    def msg(self, registry: str, key: str, *args: Any) -> dict[str, Any]:
        return message(registry, key, args, self.dialect)

    # ------------------------------------------------------------ generic plan
    def plan_update(self, task: Task) -> list[dict[str, Any]]:
        op = task.data
        now = self.now()
        image, target = op.get("image") or "image", self.target_uri(op["component"])
        head = steps_from(now, (0.5, {"state": "Running", "percent": 5,
                                      "message": self.msg("Update", "TargetDetermined", target, image)}),
                          (float(self.table.get("verify", 10)), {
                              "percent": 20, "ramp": True,
                              "message": self.msg("Update", "VerifyingAtComponent", image, target)}))
        end = head[-1]["at"]
        bad = self.verdict(op)
        if bad is not None:
            registry, key, args = bad
            state = "Exception" if key in FAILURES else "Completed"
            return head + [{"at": end, "state": state, "percent": 100 if state == "Completed" else 20,
                            "message": self.msg(registry, key, *args)}]
        if op["apply_time"] == "OnReset" and self.activation(op["component"]) == "host-reboot":
            return head + [{"at": end, "state": "Pending", "waiting": "reset",
                            "message": self.msg("Update", "AwaitToActivate", image, target)}]
        return head + self.flash_steps(task, end)

    def flash_steps(self, task: Task, start: float, in_post: bool = False) -> list[dict[str, Any]]:
        op = task.data
        kind = op["component"]
        image, target = op.get("image") or "image", self.target_uri(kind)
        steps = steps_from(start, (0.0, {"state": "Running", "effect": "flash_start",
                                         "message": self.msg("Update", "InstallingOnComponent", image, target)}),
                           (self.flash_time(kind), {"percent": 100, "ramp": True, "effect": "flash_done"}))
        done = self.completion_messages(op, in_post)
        steps.append({"at": steps[-1]["at"], "state": "Completed", "add_messages": done})
        return self.with_fault(task, steps)

    def completion_messages(self, op: dict[str, Any], in_post: bool) -> list[dict[str, Any]]:
        kind, image = op["component"], op.get("image") or "image"
        act = self.activation(kind)
        target = self.target_uri(kind)
        if in_post or act == "none":
            return [self.msg("Update", "UpdateSuccessful", target, image)]
        if act == "bmc-reset":
            if op["apply_time"] == "OnReset":
                return [self.msg("Base", "ResetRequired", f"{self.mgr_uri}/Actions/Manager.Reset", "GracefulRestart")]
            return [self.msg("Update", "UpdateSuccessful", target, image)]
        reset = "ForceRestart" if act == "host-reboot" else self.table.get("ac_reset_type", "FullPowerCycle")
        return [self.msg("Update", "AwaitToActivate", image, target),
                self.msg("Base", "ResetRequired", f"{self.sys_uri}/Actions/ComputerSystem.Reset", reset)]

    def with_fault(self, task: Task, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        fault = self.faults.get("task_exception")
        if not fault:
            return steps
        spec = fault if isinstance(fault, dict) else {}
        if spec.get("component") not in (None, task.data.get("component")):
            return steps
        key = spec.get("message", "ApplyFailed")
        msg = self.msg("Update", key, task.data.get("image") or "image", self.target_uri(task.data["component"]))
        return inject_exception(steps, int(spec.get("at_percent", 50)), msg)

    def schedule_update(self, task: Task) -> None:
        self.tasks.schedule(task, self.plan_update(task))

    # ------------------------------------------------------------ POST hook: OnReset work
    def on_post(self, flash_at: float) -> float:
        total = 0.0
        for task in self.tasks.waiting_for("reset"):
            steps = self.flash_steps(task, flash_at + total, in_post=True)
            total += self.flash_time(task.data["component"])
            self.tasks.schedule(task, steps)
        return total

    def on_post_end(self) -> None:
        self.bios_on_post_end()

    # ------------------------------------------------------------ effects
    def effect_flash_start(self, task: Task) -> None:
        op = task.data
        op["flashing"] = True
        for comp in self.components_of(op):
            self.world.events.emit(self.name, "flash-started", component=comp.kind, instance=comp.instance,
                                   task=task.id, **{"from": comp.active, "to": op["version"]})

    def effect_flash_done(self, task: Task, activation: str | None = None) -> None:
        op = task.data
        op["flashing"] = False
        act = activation or self.activation(op["component"])
        for comp in self.components_of(op):
            old = comp.active
            self.world.events.emit(self.name, "flash-finished", component=comp.kind, instance=comp.instance,
                                   task=task.id, result="ok", **{"from": old, "to": op["version"]})
            self.machine.stage(comp, op["version"], act)
        if act == "bmc-reset" and op.get("apply_time") != "OnReset" and self.table.get("bmc_self_reset", True):
            self.world.scheduler.after(float(self.table.get("bmc_reset_delay", 5.0)),
                                       lambda: self.machine.bmc_reset("firmware-update"))

    def effect_failed(self, task: Task) -> None:
        op = task.data
        if op.get("flashing"):
            op["flashing"] = False
            for comp in self.components_of(op):
                self.world.events.emit(self.name, "flash-finished", component=comp.kind, instance=comp.instance,
                                       task=task.id, result="failed", **{"from": comp.active, "to": op["version"]})
