"""`$expand` (one level): `*` all links, `.` subordinate links only, `~` only `Links`.

Dell scripts and HPE ilorest read whole inventories with `$expand=*($levels=1)` or
`$expand=.`. Collections expand their Members; other resources expand
their reference objects. Levels above 1 are served as 1 (MaxLevels advertises 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hwfw.sim.http import Request

if TYPE_CHECKING:
    from hwfw.sim.service.base import BmcService


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and "@odata.id" in value


async def _load(service: BmcService, ref: dict[str, Any], req: Request) -> dict[str, Any]:
    body = await service.internal_get(ref["@odata.id"], req)
    return body if body is not None else ref


async def expand(service: BmcService, req: Request, body: dict[str, Any]) -> dict[str, Any]:
    spec = req.query.get("$expand", "").strip()
    kind = spec[:1] or "*"
    if kind not in "*.~":
        return body
    out = dict(body)
    if isinstance(body.get("Members"), list):
        if kind != "~":
            out["Members"] = [await _load(service, m, req) if _is_ref(m) else m for m in body["Members"]]
        return out
    base = str(body.get("@odata.id", "")).rstrip("/") + "/"
    for key, value in body.items():
        if key == "Links":
            if kind in "*~" and isinstance(value, dict):
                out[key] = {k: (await _load(service, v, req) if _is_ref(v) else v) for k, v in value.items()}
            continue
        if kind == "~" or not _is_ref(value):
            continue
        if kind == "." and not value["@odata.id"].startswith(base):
            continue
        out[key] = await _load(service, value, req)
    return out
