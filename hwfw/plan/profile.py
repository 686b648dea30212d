"""What every host of one baseline, vendor and model shares: resolved targets, rules, paths.

A `Profile` is computed once per (baseline, vendor, model): target versions and images
resolved, the matrix rules that apply, repository candidates parsed, and stepping-stone
routes searched (breadth-first over repository versions, shortest route first). A
10,000-host fleet of a few models therefore parses each version and constraint once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from hwfw import versions
from hwfw.config.model import Baseline, ComponentTarget, RepositoryEntry, Workspace
from hwfw.vendor_registry import record_for
from hwfw.versions import IncomparableVersions, InvalidConstraint, InvalidVersion, Version


class NoPath(Exception):
    """No stepping-stone route to the target; `message` names the blocking rules."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(slots=True)
class TargetInfo:
    """A baseline target resolved once per profile: scheme, parsed version, image, minimums."""

    target: ComponentTarget
    scheme: str | None
    version: Version | None
    entry: RepositoryEntry | None
    problem: str | None = None         # the target itself is unusable (error)
    below_minimum: str | None = None   # message naming the minimum rule


class Profile:
    """What every host with the same baseline, vendor and model shares; computed once.

    Caches resolved targets, applicable rules, repository candidates and hop paths, so
    a 10,000-host fleet of a few models parses each version and constraint once.
    """

    def __init__(self, ws: Workspace, baseline: Baseline, vendor: str | None, model: str | None) -> None:
        self.ws, self.vendor, self.model = ws, vendor, model
        self.record = record_for(vendor)
        m = ws.matrix
        self.rules = [r for r in m.rules if r.applies_to(vendor, model)]
        self.minimums = [r for r in m.minimums if r.applies_to(vendor, model)]
        self.stones = [r for r in m.stepping_stones if r.applies_to(vendor, model)]
        seq = ws.sequences.for_vendor(vendor)
        self.seq_index = {k: i for i, k in enumerate(seq)}
        self.seq_len = len(seq)
        self.schemes: dict[str, str | None] = {}
        self.targets = [self._resolve(t) for t in baseline.components]
        self._candidates: dict[str, list[tuple[Version, RepositoryEntry]]] = {}
        self._paths: dict[tuple[str, Version, Version], list[tuple[Version, RepositoryEntry | None]]] = {}
        self._path_errors: dict[tuple[str, Version, Version], str] = {}
        self.order_cache: dict[object, list[int] | str] = {}  # compat.flash_order results

    def rank(self, kind: str, key: str, hop: int) -> tuple[int, str, str, int]:
        """Sort key of a flash: the sequence position, then unlisted kinds alphabetically."""
        i = self.seq_index.get(kind)
        return (i, "", key, hop) if i is not None else (self.seq_len, kind, key, hop)

    def scheme(self, kind: str) -> str | None:
        return self.schemes.get(kind)

    def constraint(self, text: str, kind: str) -> versions.Constraint:
        """A rule constraint parsed with the component's forced scheme (if any)."""
        return versions.parse_constraint(text, self.schemes.get(kind))

    def _resolve(self, t: ComponentTarget) -> TargetInfo:
        entry = self.ws.repository.get(t.image) if t.image else None
        scheme = t.scheme or (entry.scheme if entry else None)
        try:
            version = versions.parse(t.version, scheme)
        except InvalidVersion as exc:
            return TargetInfo(t, scheme, None, entry, problem=f"target version of {t.id!r}: {exc}")
        if entry is None:
            entry = self._find_image(t, version)
            scheme = t.scheme or (entry.scheme if entry else None)
        self.schemes.setdefault(t.kind, scheme)
        info = TargetInfo(t, scheme, version, entry)
        for mn in self.minimums:
            if mn.component != t.kind:
                continue
            try:
                if not versions.parse_constraint(mn.constraint, scheme).contains(version):
                    info.below_minimum = (f"target {t.version} is below minimum rule {mn.id!r} "
                                          f"({t.kind} {mn.constraint})")
            except (IncomparableVersions, InvalidConstraint) as exc:
                info.problem = f"cannot check minimum rule {mn.id!r} for {t.id} {t.version}: {exc}"
        return info

    def _find_image(self, t: ComponentTarget, version: Version) -> RepositoryEntry | None:
        for e in sorted(self.ws.repository.candidates(self.vendor, t.kind, self.model), key=lambda e: e.id):
            try:
                if versions.parse(e.version, e.scheme or t.scheme) == version:
                    return e
            except InvalidVersion:
                continue
        return None

    def candidates(self, kind: str) -> list[tuple[Version, RepositoryEntry]]:
        """Repository images for this vendor/model's `kind`, parsed, in id order."""
        out = self._candidates.get(kind)
        if out is None:
            out = []
            for e in sorted(self.ws.repository.candidates(self.vendor, kind, self.model), key=lambda e: e.id):
                try:
                    out.append((versions.parse(e.version, e.scheme or self.schemes.get(kind)), e))
                except InvalidVersion:
                    continue
            self._candidates[kind] = out
        return out

    def rollback(self, kind: str, replaced: Version | None, entry: RepositoryEntry | None) -> str:
        """How a flash could be undone: the image's own rule, the previous image the BMC
        keeps (Dell), the repository's copy of the replaced version, or not at all."""
        if entry is not None and entry.rollback:
            return entry.rollback
        if self.record is not None and self.record.keeps_previous_image(kind):
            return "bmc-previous"
        if replaced is not None and any(v == replaced for v, _ in self.candidates(kind)):
            return "repository"
        return "irreversible"

    def change_rollback(self, kind: str, current: Version | None,
                        entries: list[RepositoryEntry | None]) -> tuple[str, str | None]:
        """How a whole change (every hop) would be undone, back to `current`, and the
        repository image that restores it if there is one. An image marked irreversible
        makes the change irreversible; the BMC's previous image undoes one hop only."""
        rules = {e.rollback for e in entries if e is not None and e.rollback}
        if "irreversible" in rules:
            return "irreversible", None
        back = next((e for v, e in self.candidates(kind) if current is not None and v == current), None)
        keeps = len(entries) == 1 and ("bmc-previous" in rules or (
            self.record is not None and self.record.keeps_previous_image(kind)))
        if keeps and "repository" not in rules:
            return "bmc-previous", back.id if back else None
        if back is not None:
            return "repository", back.id
        return ("bmc-previous", None) if keeps else ("irreversible", None)

    def path(self, kind: str, current: Version, target: Version,
             entry: RepositoryEntry | None) -> list[tuple[Version, RepositoryEntry | None]]:
        """Versions to flash in order (the last is `target`): the shortest route that
        respects every stepping stone. Raises NoPath naming the blocking rules."""
        key = (kind, current, target)
        if key in self._paths:
            return self._paths[key]
        if key in self._path_errors:
            raise NoPath(self._path_errors[key])
        try:
            result = self._search(kind, current, target, entry)
        except NoPath as exc:
            self._path_errors[key] = exc.message
            raise
        self._paths[key] = result
        return result

    def meets_minimums(self, kind: str, v: Version) -> bool:
        """Does `v` satisfy every minimum rule for `kind` (False when undecidable)?"""
        for mn in self.minimums:
            if mn.component != kind:
                continue
            try:
                if not self.constraint(mn.constraint, kind).contains(v):
                    return False
            except (IncomparableVersions, InvalidConstraint):
                return False
        return True

    def _hop_blockers(self, kind: str, a: Version, b: Version) -> list[str]:
        """Rule ids that forbid flashing `b` over `a` (an undecidable rule forbids too)."""
        out = []
        for s in self.stones:
            if s.component != kind:
                continue
            try:
                if self.constraint(s.target, kind).contains(b) and not self.constraint(s.from_, kind).contains(a):
                    out.append(s.id)
            except (IncomparableVersions, InvalidConstraint):
                out.append(s.id)
        return out

    def _search(self, kind: str, current: Version, target: Version,
                entry: RepositoryEntry | None) -> list[tuple[Version, RepositoryEntry | None]]:
        blockers = self._hop_blockers(kind, current, target)
        if not blockers:
            return [(target, entry)]
        up = current < target
        nodes = [(v, e) for v, e in self.candidates(kind) if v.scheme == target.scheme
                 and v.family == target.family and v.scheme != "opaque"
                 and ((current < v < target) if up else (target < v < current))]
        if self.meets_minimums(kind, current):
            # Minimums hold at every step: no hop below one, unless the host starts below it.
            nodes = [(v, e) for v, e in nodes if self.meets_minimums(kind, v)]
        # Prefer hops nearest the target among equally short routes (deterministic).
        nodes.sort(key=lambda ve: ve[0], reverse=up)
        unique: dict[Version, RepositoryEntry] = {}
        for v, e in nodes:
            unique.setdefault(v, e)
        parent: dict[Version, Version] = {}
        queue = deque([current])
        seen = {current}
        while queue:
            a = queue.popleft()
            if not self._hop_blockers(kind, a, target):
                route = [target]
                while a != current:
                    route.append(a)
                    a = parent[a]
                route.reverse()
                return [(v, entry if v == target else unique[v]) for v in route]
            for b in unique:
                if b not in seen and not self._hop_blockers(kind, a, b):
                    seen.add(b)
                    parent[b] = a
                    queue.append(b)
        rules = ", ".join(repr(r) for r in blockers)
        raise NoPath(f"no upgrade path from {current} to {target} with the images in the repository: "
                     f"stepping stone rule {rules} forbids the direct flash and no chain of repository "
                     f"versions satisfies it")
