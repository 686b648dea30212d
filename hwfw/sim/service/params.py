"""Validation of update request parameters: apply time, Targets, ImageURI.

Errors are the ones sushy-tools and real BMCs give: 400 with
`ActionParameterValueNotInList` / `PropertyValueNotInList` / `ActionParameterMissing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from hwfw.sim.http import HttpError

if TYPE_CHECKING:
    from hwfw.sim.service.updateflow import UpdateFlow

SIMPLE_UPDATE = "#UpdateService.SimpleUpdate"


def apply_time(service: UpdateFlow, data: dict[str, Any], allowed: Sequence[str], default: str,
               action: str | None = SIMPLE_UPDATE) -> str:
    """`@Redfish.OperationApplyTime` from a body; 400 if the vendor does not support it."""
    value = data.get("@Redfish.OperationApplyTime", default)
    if value not in allowed:
        if action is None:
            raise service.fail(400, "Base", "PropertyValueNotInList", (value, "@Redfish.OperationApplyTime"))
        raise service.fail(400, "Base", "ActionParameterValueNotInList", (value, "@Redfish.OperationApplyTime", action))
    return str(value)


def targets(service: UpdateFlow, data: dict[str, Any], mapping: dict[str, str | None],
            action: str = SIMPLE_UPDATE, required: bool = False) -> list[str | None]:
    """Component kinds named by `Targets` (None = decided by the image); 400 for unknown URIs.

    `mapping` maps a target URI to a component kind, or to None for "any component"
    (a ComputerSystem target means every applicable component in it).
    """
    raw = data.get("Targets", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
        raise service.fail(400, "Base", "ActionParameterValueFormatError", (str(raw), "Targets", action))
    if required and not raw:
        raise service.fail(400, "Base", "ActionParameterMissing", (action, "Targets"))
    out: list[str | None] = []
    for uri in raw:
        key = uri.rstrip("/")
        if key not in mapping:
            raise service.fail(400, "Base", "ActionParameterValueNotInList", (uri, "Targets", action))
        out.append(mapping[key])
    return out


def image_uri(service: UpdateFlow, data: dict[str, Any], action: str = SIMPLE_UPDATE) -> str:
    value = data.get("ImageURI")
    if not isinstance(value, str) or not value:
        raise service.fail(400, "Base", "ActionParameterMissing", (action, "ImageURI"))
    return value


def check_target_fits(service: UpdateFlow, kinds: list[str | None], image_component: str | None) -> str | None:
    """The component to update given Targets and the image; 400 when they contradict."""
    named = {k for k in kinds if k is not None}
    if not named:
        return image_component
    if image_component is not None and image_component not in named:
        raise HttpError(service.error(400, "Update", "UpdateNotApplicable",
                                      (image_component, ", ".join(sorted(named)))))
    return image_component or next(iter(named))


def check_target_fits_soft(kinds: list[str | None], image_component: str | None) -> str | None:
    """Like check_target_fits for pulled images: a contradiction surfaces later as
    UpdateNotApplicable in the task (the image is only known once fetched)."""
    named = [k for k in kinds if k is not None]
    if not named or image_component in named:
        return image_component
    return named[0]


def json_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
