"""Where workspace files name a vendor, and the check that each name is a known one.

The JSON Schemas declare these fields as plain strings: the names themselves come from
hwfw's vendor registry (`hwfw.vendor_registry.VENDOR_NAMES`), so adding a vendor needs
no schema change. `vendor_problems` is the check the schemas no longer make. It runs
where a file is loaded, on the parsed document, so an unknown name is reported at its
file:line:col with the known names and the closest one.

The caller passes the names: the workspace loader passes the registry's, the simulator
(which must not read the client's registry) passes its own list of profiles. This
module imports neither.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from hwfw.config.excerpt import dotted, one_of, quote
from hwfw.config.yamlio import YamlSource
from hwfw.errors import Problem

__all__ = ["ANY", "KEYS", "VENDOR_FIELDS", "vendor_fields_of", "vendor_problems"]

ANY = "*"      # a path step: every item of a list, every value of a mapping
KEYS = "<keys>"  # the last path step: the keys of a mapping are the names

# Per file kind, the paths of its vendor names. The simulator's fleet file names a
# simulator profile per host, and the simulator has one profile per vendor.
VENDOR_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "inventory": (("hosts", ANY, "vendor"),),
    "baselines": (("baselines", ANY, "select", "vendor"),),
    "repository": (("images", ANY, "vendor"),),
    "compatibility": (("rules", ANY, "vendor"), ("minimums", ANY, "vendor"), ("stepping_stones", ANY, "vendor")),
    "sequences": (("vendors", KEYS),),
    "fleet": (("hosts", ANY, "profile"),),
}
_WHAT = {"fleet": "simulator profile"}


def vendor_fields_of(data: Any, paths: Sequence[tuple[str, ...]]) -> Iterator[tuple[list[str | int], Any, bool]]:
    """(path, value, is_key) of every vendor name the document holds at `paths`.

    The document may not match its schema: anything of an unexpected shape is skipped
    here (the schema reports it)."""
    for steps in paths:
        yield from _walk(data, list(steps), [])


def _walk(node: Any, steps: list[str], at: list[str | int]) -> Iterator[tuple[list[str | int], Any, bool]]:
    step, rest = steps[0], steps[1:]
    if step == KEYS:
        if isinstance(node, dict):
            yield from ((at + [key], key, True) for key in node)
        return
    if step == ANY:
        items: Iterator[tuple[str | int, Any]] = (
            iter(node.items()) if isinstance(node, dict) else iter(enumerate(node)) if isinstance(node, list)
            else iter(()))
        for key, child in items:
            yield from _walk(child, rest, at + [key])
        return
    if not isinstance(node, dict) or step not in node:
        return
    if rest:
        yield from _walk(node[step], rest, at + [step])
    else:
        yield at + [step], node[step], False


def vendor_problems(kind: str, data: Any, source: YamlSource | None, known: Collection[str]) -> list[Problem]:
    """A located error for each vendor name of a `kind` file that is not in `known`."""
    what = _WHAT.get(kind, "vendor")
    problems = []
    for path, value, is_key in vendor_fields_of(data, VENDOR_FIELDS.get(kind, ())):
        if not isinstance(value, str) or value in known:
            continue  # a value of another type is the schema's to report
        location = source.location(path, key=is_key) if source else None
        where = dotted(path[:-1] if is_key else path)
        problems.append(Problem(f"{where}: unknown {what} {quote(value)}", location,
                                code=f"unknown-{what.replace(' ', '-')}", expected=one_of(value, known)))
    return problems
