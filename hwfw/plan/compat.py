"""Compatibility rules on one host: waits between flashes, final-state checks, flash order.

A `CompatRule` "`when` => `requires`" must hold at every flash and at the end. For each
flash whose version matches `when`, every instance of the required component must
already run (`active: true`, the default) or at least be flashed with (`active:
false`) a version matching `requires` from then on; the flash *waits* for the earliest
hop after which that stays true. Rules that cannot hold at the end are errors naming
the rule; rules that cannot be evaluated (incomparable versions) are reported, never
guessed. Then the flash order is the vendor sequence, with required flashes moved
ahead of the flashes that wait for them; a cycle of waits is an error naming its steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx

from hwfw.config.model import CompatRule
from hwfw.plan.diff import HOST, HostDiff, Item, Track, Wait
from hwfw.plan.profile import Profile
from hwfw.versions import Constraint, IncomparableVersions, InvalidConstraint, Version


def analyse(hd: HostDiff) -> None:
    """Add rule waits to the host's items and report rules that cannot hold."""
    prof = hd.profile
    if prof is None or not prof.rules:
        return
    reported: set[str] = set()
    for it in hd.items:
        if it.preflashed:
            continue
        for r in prof.rules:
            if r.when.component != it.kind:
                continue
            holds = _holds(prof, r.when.constraint, r.when.component, it.version)
            if holds is None:
                _report(hd, reported, r, True, f"cannot evaluate rule {r.id!r} for {it.key} {it.to_version}: "
                        f"{_why(prof, r.when.constraint, r.when.component, it.version)}")
                continue
            if not holds:
                continue
            for tr in hd.tracks.get(r.requires.component, ()):
                if tr.key != it.key:
                    _add_wait(prof, r, tr, it)
    _check_final(hd, prof, reported)


def _add_wait(prof: Profile, r: CompatRule, tr: Track, dependent: Item) -> None:
    """Wait for the hop of `tr` after which `requires` holds for good (none if it holds now)."""
    seq: list[tuple[Version | None, Item | None]] = [(tr.current, None)] + [(i.version, i) for i in tr.items]
    j = len(seq)
    while j > 0 and _holds(prof, r.requires.constraint, r.requires.component, seq[j - 1][0]) is True:
        j -= 1
    if j == len(seq) or j == 0:
        return  # never holds at the end (reported by _check_final), or already holds throughout
    required = seq[j][1]
    assert required is not None
    dependent.waits.append(Wait(required, r.active, r.id))


def _check_final(hd: HostDiff, prof: Profile, reported: set[str]) -> None:
    for r in prof.rules:
        whens = hd.tracks.get(r.when.component, [])
        reqs = hd.tracks.get(r.requires.component, [])
        if not whens or not reqs:
            continue
        req_vals = [_holds(prof, r.requires.constraint, r.requires.component, t.final) for t in reqs]
        if all(v is True for v in req_vals):
            continue
        when_vals = [_holds(prof, r.when.constraint, r.when.component, t.final) for t in whens]
        when = True if any(v is True for v in when_vals) else (None if None in when_vals else False)
        if when is False:
            continue
        changed = any(t.items for t in whens + reqs)
        src = f" ({r.source})" if r.source else ""
        if when is True and False in req_vals:
            bad = [t for t, v in zip(reqs, req_vals, strict=True) if v is False]
            runs = ", ".join(f"{t.key} {t.final_text}" for t in bad)
            tail = "" if changed else " (this plan does not change those components)"
            _report(hd, reported, r, changed,
                    f"compatibility rule {r.id!r} cannot hold: {r.when.component} {r.when.constraint} "
                    f"requires {r.requires.component} {r.requires.constraint}, but the host will run "
                    f"{runs}{tail}{src}")
        else:
            unknown = [t for t, v in zip(whens + reqs, when_vals + req_vals, strict=True) if v is None]
            which = ", ".join(f"{t.key} {t.final_text or '?'}" for t in unknown)
            _report(hd, reported, r, changed,
                    f"cannot evaluate compatibility rule {r.id!r}: versions not comparable with its "
                    f"constraints ({which}); hwfw does not guess")


def _report(hd: HostDiff, reported: set[str], r: CompatRule, error: bool, message: str) -> None:
    if r.id in reported:
        return
    reported.add(r.id)
    (hd.error if error else hd.warn)("incompatible" if error else "rule-warning", message)


def _constraint(prof: Profile, text: str, kind: str) -> Constraint | None:
    try:
        return prof.constraint(text, kind)
    except InvalidConstraint:
        return None


def _holds(prof: Profile, text: str, kind: str, v: Version | None) -> bool | None:
    """True/False, or None when it cannot be decided (unknown or incomparable version)."""
    if v is None:
        return None
    c = _constraint(prof, text, kind)
    if c is None:
        return None
    try:
        return c.contains(v)
    except IncomparableVersions:
        return None


def _why(prof: Profile, text: str, kind: str, v: Version) -> str:
    try:
        prof.constraint(text, kind).contains(v)
    except (InvalidConstraint, IncomparableVersions) as exc:
        return str(exc)
    return "unknown"


def flash_order(hd: HostDiff) -> list[Item] | None:
    """The host's items in flash order, or None after reporting a cycle of waits.

    The vendor sequence decides, except where a wait needs a later-ranked flash first:
    then a reverse lexicographic topological sort pulls the required flash forward,
    as late as possible, keeping everything else in sequence order. The result depends
    only on the items' ranks and waits, so it is cached per profile for that structure.
    """
    items = sorted(hd.items, key=lambda it: it.rank)
    if all(w.required.preflashed or w.required.rank < it.rank for it in items for w in it.waits):
        return items
    pos = {id(it): i for i, it in enumerate(items)}
    edges = tuple((pos[id(w.required)], i, w.why) for i, it in enumerate(items) for w in it.waits
                  if not w.required.preflashed)
    key = (tuple(it.node for it in items), edges)
    cache = hd.profile.order_cache if hd.profile is not None else {}
    if key not in cache:
        cache[key] = _order(key[0], edges)
    result = cache[key]
    if isinstance(result, str):
        hd.error("cycle", result)
        return None
    return [items[i] for i in result]


def _order(nodes: tuple[str, ...], edges: tuple[tuple[int, int, str], ...]) -> list[int] | str:
    """Positions in flash order, or the message naming a cycle."""
    g: nx.DiGraph[int] = nx.DiGraph()
    g.add_nodes_from(range(len(nodes)))
    g.add_edges_from((u, v) for u, v, _ in edges)
    try:
        return list(reversed(list(nx.lexicographical_topological_sort(g.reverse(copy=False), key=lambda n: -n))))
    except nx.NetworkXUnfeasible:
        cycle: Sequence[tuple[int, int]] = nx.find_cycle(g)
        why = {(u, v): w for u, v, w in edges}
        path = " -> ".join(f"{HOST}/{nodes[n]}" for n in [cycle[0][0]] + [v for _, v in cycle])
        rules = ", ".join(repr(r) for r in sorted({why[(u, v)] for u, v in cycle}))
        return (f"dependency cycle: {path} (rules {rules} need each other's component running first); "
                "change one rule or flash one component by hand first")
