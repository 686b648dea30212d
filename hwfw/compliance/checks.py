"""Workspace checks of `hwfw check` that read only the loaded workspace.

* images: every image a baseline uses is acceptable to the integrity policy
  (`hwfw.repository.policy.policy_problems`: allow-list, signatures);
* sequences: every component a baseline declares is placed by its vendor's sequence;
* critical images: no baseline pins a version below a `critical: true` image of the
  same vendor, component and model.
"""

from __future__ import annotations

import fnmatch

from hwfw import versions
from hwfw.compliance.findings import Finding
from hwfw.compliance.locate import Locator
from hwfw.compliance.scenarios import baseline_vendor
from hwfw.config.model import Baseline, ComponentTarget, RepositoryEntry, Workspace
from hwfw.config.paths import PathPolicy
from hwfw.versions import IncomparableVersions, InvalidVersion


def policy_applies(ws: Workspace) -> bool:
    """Could the integrity policy refuse any image? Only with an allow-list, with unsigned
    images refused, or with signed images (whose keys must exist); its remaining rule
    (plain http:// sources) is the loader's `insecure-source`. Otherwise `images` does not
    import the repository package, whose fetch stack (httpx, TLS, asyncio) would cost a
    clean `hwfw check` a few hundred milliseconds."""
    s = ws.settings
    return (s.allowed_sha256 is not None or not s.policies.allow_unsigned
            or any(e.signature for e in ws.repository.entries))


def images(ws: Workspace, loc: Locator) -> list[Finding]:
    """Every image a baseline uses is acceptable to `hwfw.repository.policy.policy_problems`."""
    if not policy_applies(ws):
        return []
    from hwfw.repository.policy import policy_problems
    from hwfw.repository.sync import referenced_entries

    out: list[Finding] = []
    index = {id(e): i for i, e in enumerate(ws.repository.entries)}
    for e in referenced_entries(ws):
        for problem in policy_problems(e, ws):
            if "http://" in problem:
                continue  # the loader reports insecure sources (insecure-source), for every image
            if "allowed_sha256" in problem:
                out.append(Finding("image-not-allowed", "error", problem, loc.image(index[id(e)], "sha256"),
                                   expected="a sha256 listed under settings.allowed_sha256 in hwfw.yaml"))
            else:
                out.append(Finding("image-policy", "error", problem, loc.image(index[id(e)])))
    return out


def image_sources(ws: Workspace, loc: Locator, policy: PathPolicy, *, verify: bool = False) -> list[Finding]:
    """Every image a baseline uses can be obtained (hwfw.repository.availability): its
    local source file is there and matches, or the cache holds it, or it is a URL (a
    note until it is fetched). Located at the entry's `source:` line; paths the
    workspace's `policy` refuses are never opened (the loader reports them)."""
    from hwfw.connect import IMAGE_CODES, IMAGE_EXPECTED, IMAGE_SEVERITY
    from hwfw.repository.availability import image_availability

    out = []
    for a in image_availability(ws, verify=verify, allowed=lambda p: policy.outside(p) is None):
        severity = IMAGE_SEVERITY.get(a.status)
        if severity is not None:
            out.append(Finding(IMAGE_CODES[a.status], severity, a.message, loc.image(a.index, "source"),
                               expected=IMAGE_EXPECTED.get(a.status)))
    return out


def sequences(ws: Workspace, loc: Locator) -> list[Finding]:
    out: list[Finding] = []
    for b in ws.baselines:
        vendor = baseline_vendor(ws, b)
        named = vendor if vendor in ws.sequences.vendors else None
        seq = ws.sequences.for_vendor(vendor)
        seq_path = ["vendors", named] if named else ["default"]
        which = f"update sequence {named!r}" if named else "the default update sequence"
        for t in b.components:
            if t.kind in seq:
                continue
            seq_loc = loc.at("sequences", seq_path)
            out.append(Finding(
                "sequence-coverage", "warning",
                f"baseline {b.name!r} declares {t.kind} but {which} ({', '.join(seq)}) does not list it; "
                f"it would be flashed after every listed component", loc.component(b.name, t.id, None),
                expected=f"{t.kind} in {'vendors.' + named if named else 'default'} of the sequences file",
                related=((seq_loc, "the sequence is defined here"),) if seq_loc else ()))
    return out


def critical_images(ws: Workspace, loc: Locator) -> list[Finding]:
    out: list[Finding] = []
    critical = [(i, e) for i, e in enumerate(ws.repository.entries) if e.critical]
    if not critical:
        return out
    for b in ws.baselines:
        vendor = baseline_vendor(ws, b)
        models = _models(ws, b)
        for t in b.components:
            for i, e in critical:
                if e.component != t.kind or (vendor is not None and e.vendor != vendor):
                    continue
                if not _overlap(models, e.models):
                    continue
                if _older(ws, t, e):
                    about = f": {e.description}" if e.description else ""
                    image_loc = loc.image(i)
                    out.append(Finding(
                        "critical-left-behind", "warning",
                        f"baseline {b.name!r} pins {t.kind} {t.version}, below critical image {e.id!r} "
                        f"({e.version}){about}", loc.component(b.name, t.id),
                        expected=f"version: {e.version!r} or newer (image: {e.id})",
                        related=((image_loc, f"critical image {e.id!r}"),) if image_loc else ()))
    return out


def _models(ws: Workspace, b: Baseline) -> tuple[str, ...]:
    models = tuple(b.select.models)
    for t in b.components:
        e = ws.repository.get(t.image) if t.image else None
        if e is not None:
            models += e.models
    return models


def _overlap(selected: tuple[str, ...], supported: tuple[str, ...]) -> bool:
    if not selected:
        return True
    return any(fnmatch.fnmatchcase(s, p) or fnmatch.fnmatchcase(p, s) for s in selected for p in supported)


def _older(ws: Workspace, t: ComponentTarget, e: RepositoryEntry) -> bool:
    own = ws.repository.get(t.image) if t.image else None
    scheme = t.scheme or e.scheme or (own.scheme if own else None)
    try:
        return versions.parse(t.version, scheme) < versions.parse(e.version, scheme)
    except (InvalidVersion, IncomparableVersions):
        return False  # never guessed; `plan` reports versions it cannot order
