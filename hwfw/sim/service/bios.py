"""BIOS configuration every simulated BMC serves (DSP0266 "settings" model; Bios,
AttributeRegistry, Settings and MessageRegistryFile schemas).

- `…/Bios` reports what the BIOS reported at its last POST: `Attributes` for the
  running BIOS version's registry, `@Redfish.Settings` (SettingsObject, Time, ETag,
  Messages of the last application, SupportedApplyTimes), ResetBios/ChangePassword.
- The settings object (`…/Bios/Settings`, HPE `…/bios/settings`, Supermicro
  `…/Bios/SD`) holds pending values until the BIOS applies them at the end of the
  next POST (`on_post_end`).
- `/redfish/v1/Registries` lists the BIOS attribute registry; its `Location[].Uri`
  is where each vendor serves the registry document.

Vendor differences are hooks: when values are checked (`bios_validation`: "early" =
400 at PATCH time, "deferred" = messages after the reboot), what a PATCH answers and
what it sets in motion (`bios_stage`), when pending values apply (`bios_apply_due`),
If-Match enforcement, URIs. Events: docs/bios-settings.md, hwfw/sim/events.py.
"""

from __future__ import annotations

from typing import Any, Mapping

from hwfw.sim.bios.catalogs import catalog_for
from hwfw.sim.bios.registry import PASSWORD, Registry
from hwfw.sim.bios.state import BiosState, Outcome
from hwfw.sim.http import HttpError, Request, Response
from hwfw.sim.messages import error_body, message
from hwfw.sim.service.base import etag_of
from hwfw.sim.service.resources import CommonResources, R, collection, ref
from hwfw.sim.service.router import route

APPLY_TIMES = ("Immediate", "OnReset", "AtMaintenanceWindowStart", "InMaintenanceWindowOnReset")
REGISTRY_FILE_TYPE = "#MessageRegistryFile.v1_1_3.MessageRegistryFile"


class BiosResources(CommonResources):
    """Bios, its settings object, the attribute registry and the BIOS actions."""

    def setup(self) -> None:
        super().setup()
        # The fleet file may give the host stored values to start with (a configured host).
        self.bios = BiosState(stored=dict(self.spec.bios), applied_at=self.now())

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "bios": self.bios.to_dict()}

    def restore(self, d: Mapping[str, Any]) -> None:
        super().restore(d)
        self.bios = BiosState.from_dict(d.get("bios") or {}, self.bios)

    # ------------------------------------------------------------ names and policies
    @property
    def bios_uri(self) -> str:
        return f"{self.sys_uri}/Bios"

    def settings_name(self) -> str:
        return str(self.table.get("bios_settings", "Settings"))

    def is_settings_name(self, name: str) -> bool:
        return name == self.settings_name()

    @property
    def settings_uri(self) -> str:
        return f"{self.bios_uri}/{self.settings_name()}"

    def bios_option(self, key: str, default: Any) -> Any:
        return self.options.get(key, self.table.get(key, default))

    def bios_apply_times(self) -> list[str]:
        return list(self.bios_option("bios_apply_times", ["OnReset"]))

    def bios_registry(self) -> Registry:
        return Registry(catalog_for(self.VENDOR), self.spec.model, self.machine.version("bios"))

    def bios_current(self, registry: Registry | None = None) -> dict[str, Any]:
        facts = {"model": self.spec.model, "bios_version": self.machine.version("bios"), "serial": self.spec.serial}
        return (registry or self.bios_registry()).current(self.bios.stored, facts)

    def registry_member_id(self, registry: Registry) -> str:
        return registry.id

    def registry_location(self, registry: Registry) -> str:
        return f"{R}/Registries/{self.registry_member_id(registry)}/{registry.id}"

    def bios_summary(self) -> dict[str, Any]:
        registry = self.bios_registry()
        return {"registry": registry.id, "attributes": self.bios_current(registry), "pending": dict(self.bios.pending),
                "reset_pending": self.bios.reset_pending, "applied_at": self.bios.applied_at}

    def bios_event(self, type_: str, attrs: Mapping[str, Any] | None = None, **fields: Any) -> None:
        if attrs is not None:
            fields["attributes"] = sorted(attrs)
            fields["values"] = {k: self.shown_value(k, v) for k, v in attrs.items()}
        self.world.events.emit(self.name, type_, **fields)

    def shown_value(self, name: str, value: Any) -> Any:
        attr = self.bios_registry().attrs.get(name)
        return "****" if attr is not None and attr.type == PASSWORD else value

    # ------------------------------------------------------------ Bios
    @route("GET", f"{R}/Systems/{{S}}/Bios")
    async def get_bios(self, req: Request) -> dict[str, Any]:
        registry = self.bios_registry()
        current = self.bios_current(registry)
        b = self.bios
        body: dict[str, Any] = {
            "@odata.id": self.bios_uri, "@odata.type": self.t("Bios"), "Id": "Bios",
            "Name": "BIOS Configuration Current Settings", "Description": "BIOS Configuration Current Settings",
            "AttributeRegistry": registry.id, "Attributes": current, "ResetBiosToDefaultsPending": b.reset_pending,
            "@Redfish.Settings": {"@odata.type": "#Settings.v1_3_5.Settings", "SettingsObject": ref(self.settings_uri),
                                  "Time": self.world.clock.iso(b.applied_at),
                                  "ETag": b.etag or etag_of(current).strip('"'),
                                  "Messages": list(b.messages), "SupportedApplyTimes": self.bios_apply_times()},
            "Actions": {"#Bios.ChangePassword": {"target": f"{self.bios_uri}/Actions/Bios.ChangePassword"}}}
        if not self.reset_bios_on_settings():
            body["Actions"]["#Bios.ResetBios"] = {"target": f"{self.bios_uri}/Actions/Bios.ResetBios"}
        return body

    def reset_bios_on_settings(self) -> bool:
        """True where ResetBios is an action of the settings object instead (iLO 5)."""
        return False

    # ------------------------------------------------------------ the settings object
    def settings_body(self) -> dict[str, Any]:
        """The settings object lists the staged attributes only. (A full list, current values
        with the staged ones on top, would differ from Bios between two reads whenever a new
        BIOS activates in between, and look like pending changes.)"""
        registry = self.bios_registry()
        body: dict[str, Any] = {"@odata.id": self.settings_uri, "@odata.type": self.t("Bios"),
                                "Id": self.settings_name(), "Name": "BIOS Configuration Pending Settings",
                                "Description": "BIOS Configuration Pending Settings", "AttributeRegistry": registry.id,
                                "Attributes": dict(self.bios.pending)}
        self.settings_extra(body)
        body["@odata.etag"] = etag_of({"body": body, "revision": self.bios.revision})
        return body

    def settings_extra(self, body: dict[str, Any]) -> None:
        if self.reset_bios_on_settings():
            body["Actions"] = {"#Bios.ResetBios": {"target": f"{self.settings_uri}/Actions/Bios.ResetBios"}}

    @route("GET", f"{R}/Systems/{{S}}/Bios/{{settings}}")
    async def get_bios_settings(self, req: Request, settings: str) -> dict[str, Any] | Response:
        return self.settings_body() if self.is_settings_name(settings) else self.not_found(req)

    @route("PATCH", f"{R}/Systems/{{S}}/Bios/{{settings}}")
    async def patch_bios_settings(self, req: Request, settings: str) -> Response:
        if not self.is_settings_name(settings):
            return self.not_found(req)
        return await self.change_settings(req, replace=False)

    @route("PUT", f"{R}/Systems/{{S}}/Bios/{{settings}}")
    async def put_bios_settings(self, req: Request, settings: str) -> Response:
        if not self.is_settings_name(settings):
            return self.not_found(req)
        if not self.table.get("bios_put"):
            return self.error(405, "Base", "OperationNotAllowed", headers=[("allow", "GET, PATCH")])
        return await self.change_settings(req, replace=True)

    async def change_settings(self, req: Request, replace: bool) -> Response:
        self.bios_patch_gate()
        self.check_settings_etag(req)
        data = await req.json()
        attrs = data.get("Attributes") if isinstance(data, dict) else None
        if not isinstance(attrs, dict):
            raise self.fail(400, "Base", "PropertyMissing", ("Attributes",))
        apply_time = self.settings_apply_time(data)
        if self.bios_option("bios_validation", "deferred") == "early":
            self.validate_early(attrs)
        return self.bios_stage(attrs, apply_time, replace)

    def bios_patch_gate(self) -> None:
        """Profiles refuse pending BIOS changes in some states (HPE during POST)."""

    def check_settings_etag(self, req: Request) -> None:
        """`bios_if_match`: "require" (428 without If-Match, 412 stale) or the service's ETag policy."""
        if self.bios_option("bios_if_match", None) == "require" and "if-match" not in req.headers:
            raise self.refused(428, [message("Base", "PreconditionRequired", (), self.dialect)], [])
        try:
            self.check_if_match(req, self.settings_body()["@odata.etag"])
        except HttpError as exc:
            self.bios_event("bios-settings-refused", None, status=exc.response.status, attributes=[],
                            message_ids=[self.dialect.message_id("Base", "PreconditionFailed")])
            raise

    def settings_apply_time(self, data: Mapping[str, Any]) -> dict[str, Any] | None:
        raw = data.get("@Redfish.SettingsApplyTime")
        if raw is None:
            return None
        value = raw.get("ApplyTime") if isinstance(raw, dict) else None
        if value not in self.bios_apply_times():
            raise self.fail(400, "Base", "PropertyValueNotInList", (str(value), "ApplyTime"))
        return dict(raw)

    def validate_early(self, attrs: Mapping[str, Any]) -> None:
        """Check every attribute against the running BIOS's registry; 400 listing all problems."""
        registry = self.bios_registry()
        problems = [(name, registry.problem(name, value)) for name, value in attrs.items()]
        infos = [message("Base", p[0], p[1], self.dialect, related=[registry.related(name)])
                 for name, p in problems if p is not None]
        if infos:
            raise self.refused(400, infos, sorted(attrs))

    def refused(self, status: int, infos: list[dict[str, Any]], attrs: list[str]) -> HttpError:
        """A refused settings change: logged, answered with every message in one envelope."""
        self.bios_event("bios-settings-refused", None, status=status, attributes=attrs,
                        message_ids=[i["MessageId"] for i in infos])
        first = infos[0]
        body = error_body("Base", "GeneralError", ("see @Message.ExtendedInfo",), self.dialect)
        body["error"]["@Message.ExtendedInfo"] = infos
        if self.dialect.error_code_from_first:
            body["error"]["code"], body["error"]["message"] = first["MessageId"], first["Message"]
        return HttpError(Response.json(status, body))

    def bios_stage(self, attrs: Mapping[str, Any], apply_time: Mapping[str, Any] | None, replace: bool) -> Response:
        """Keep the values pending; `Immediate` resets the host right after answering."""
        self.bios.stage(attrs, replace)
        self.touch()
        when = apply_time.get("ApplyTime") if apply_time else None
        self.bios_event("bios-settings-staged", attrs, apply_time=when, settings=self.settings_uri, job=None)
        if when == "Immediate":
            self.after_answer(lambda: self.machine.reset_host("ForceRestart", cause="bios-settings-immediate"))
        return self.bios_patched()

    def bios_patched(self) -> Response:
        return Response.empty(204)

    # ------------------------------------------------------------ applying at POST
    def bios_apply_due(self) -> bool:
        """Whether this POST applies the pending values (Dell: only with a config job)."""
        return True

    def bios_on_post_end(self) -> None:
        b = self.bios
        if b.reset_pending:
            b.reset_pending = False
            restored = sorted(b.stored)
            b.stored = {}
            b.applied_at = self.now()
            b.messages = [message("Base", "Success", (), self.dialect)]
            b.etag = etag_of(self.bios_current()).strip('"')
            self.bios_event("bios-defaults-restored", None, attributes=restored)
            self.touch()
        if b.pending and self.bios_apply_due():
            self.bios_apply()

    def bios_apply(self) -> Outcome:
        registry = self.bios_registry()
        b = self.bios
        outcome = b.apply(registry, self.bios_current(registry))
        b.applied_at = self.now()
        b.etag = etag_of(self.bios_current(registry)).strip('"')
        b.messages = self.result_messages(registry, outcome)
        for r in outcome.rejected:
            self.bios_event("bios-settings-rejected", None, attribute=r.name, value=self.shown_value(r.name, r.value),
                            message_id=self.dialect.message_id("Base", r.key))
        self.bios_event("bios-settings-applied", outcome.applied, rejected=[r.name for r in outcome.rejected],
                        bios_version=registry.bios_version, registry=registry.id)
        self.touch()
        self.bios_applied(outcome)
        return outcome

    def result_messages(self, registry: Registry, outcome: Outcome) -> list[dict[str, Any]]:
        """`@Redfish.Settings.Messages` after an application: the problems, or one Success."""
        problems = [message("Base", r.key, r.args, self.dialect, related=[registry.related(r.name)])
                    for r in outcome.rejected]
        return problems or [message("Base", "Success", (), self.dialect)]

    def bios_applied(self, outcome: Outcome) -> None:
        """Hook: the pending values were applied (Dell completes its config job)."""

    # ------------------------------------------------------------ actions
    @route("POST", f"{R}/Systems/{{S}}/Bios/Actions/Bios.ResetBios")
    async def post_reset_bios(self, req: Request) -> Response:
        await req.json()
        self.bios.reset_pending = True
        dropped = self.bios.clear_pending()
        self.touch()
        self.bios_event("bios-reset-requested", None, dropped=sorted(dropped))
        return self.action_ok()

    @route("POST", f"{R}/Systems/{{S}}/Bios/Actions/Bios.ChangePassword")
    async def post_change_password(self, req: Request) -> Response:
        data = await req.json()
        data = data if isinstance(data, dict) else {}
        action = "Bios.ChangePassword"
        for param in ("PasswordName", "NewPassword"):
            if not isinstance(data.get(param), str):
                raise self.fail(400, "Base", "ActionParameterMissing", (action, param))
        name = data["PasswordName"]
        attr = self.bios_registry().attrs.get(name)
        if attr is None or attr.type != PASSWORD:
            raise self.fail(400, "Base", "ActionParameterValueNotInList", (name, "PasswordName", action))
        if str(data.get("OldPassword", "")) != self.bios.passwords.get(name, ""):
            raise self.fail(400, "Base", "ActionParameterValueFormatError", ("****", "OldPassword", action))
        self.bios.passwords[name] = data["NewPassword"]
        self.touch()
        self.bios_event("bios-password-changed", None, password=name)
        return self.action_ok()

    # ------------------------------------------------------------ registries
    @route("GET", f"{R}/Registries")
    async def get_registries(self, req: Request) -> dict[str, Any]:
        member = self.registry_member_id(self.bios_registry())
        return collection(f"{R}/Registries", "MessageRegistryFileCollection", "Registry File Collection",
                          [f"{R}/Registries/{member}"])

    @route("GET", f"{R}/Registries/{{rid}}")
    async def get_registry_file(self, req: Request, rid: str) -> dict[str, Any] | Response:
        registry = self.bios_registry()
        member = self.registry_member_id(registry)
        if rid != member:
            return self.not_found(req)
        return {"@odata.id": f"{R}/Registries/{member}", "@odata.type": REGISTRY_FILE_TYPE, "Id": member,
                "Name": "BIOS Attribute Registry File", "Description": "Location of the BIOS attribute registry",
                "Languages": ["en"], "Registry": registry.id,
                "Location": [{"Language": "en", "Uri": self.registry_location(registry)}]}

    @route("GET", f"{R}/Registries/{{rid}}/{{doc}}")
    async def get_registry_in_file(self, req: Request, rid: str, doc: str) -> dict[str, Any] | Response:
        return self.registry_document(req, f"{R}/Registries/{rid}/{doc}")

    def registry_document(self, req: Request, path: str) -> dict[str, Any] | Response:
        """The registry itself when `path` is where `registry_location` says it is."""
        registry = self.bios_registry()
        location = self.registry_location(registry)
        if path.lower() != location.lower().rstrip("/"):
            return self.not_found(req)
        return registry.body(location, self.bios_current(registry))
