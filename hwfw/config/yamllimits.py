"""Limits on what a workspace YAML file may make hwfw do, each reported at its position.

A workspace file is plain configuration, so hwfw refuses what configuration never needs
and what costs time or crashes before anyone reads the file:

* alias expansion beyond `alias_budget(text)` replayed nodes (a "billion laughs" file
  is a few hundred bytes that expand to 10^9 nodes);
* nesting deeper than `MAX_DEPTH` (the parser and the validators recurse);
* integers of `INT_BITS` bits or more (Python cannot even print one of 4,300 digits),
  infinite or NaN numbers, and mapping keys that are not text (`1:`, `? [a, b]`).

The checks run on the parsed data in one pass over its containers (about 50 ms for a
10,000-host inventory); positions are only computed for a file that breaks a limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

import yaml

from hwfw.config.excerpt import quote

MAX_DEPTH = 64
INT_BITS = 63
# Nodes that alias expansion may add on top of the file's own: generous for anchors of
# host defaults repeated on every host, tiny next to an exponential expansion.
ALIAS_BUDGET = 100_000
# Block nesting needs one more column per level: a line indented this far is the only
# way to nest deeply in block style (checked before parsing: the Rust parser recurses
# on block nesting without a limit).
_DEEP_INDENT = re.compile(rf"\n[ ?-]{{{2 * MAX_DEPTH}}}")  # "\n" first: 6 ms on 7 MiB, not 40

PathItem = str | int


def alias_budget(text: str) -> int:
    """Nodes alias expansion may replay in a file: linear in the file's size."""
    return ALIAS_BUDGET + len(text)


def may_be_too_deep(text: str) -> bool:
    return _DEEP_INDENT.search(text) is not None or _DEEP_INDENT.match("\n" + text[:2 * MAX_DEPTH]) is not None


class Mark(Protocol):
    """Where a YAML event starts (0-based), as PyYAML's and libyaml's marks both say."""

    line: int
    column: int


def first_too_deep(text: str) -> Mark | None:
    """Where the first node nested deeper than MAX_DEPTH starts (None if none).

    Uses libyaml's event stream, which keeps its own stack (no recursion); a
    `yaml.MarkedYAMLError` (including libyaml's own depth limit) propagates."""
    depth = 0
    for event in yaml.parse(text, Loader=_EventLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return None


def first_costly_alias(text: str, budget: int) -> Mark | None:
    """Where alias expansion first exceeds `budget` replayed events (else the first
    alias; None without aliases).

    Counts the events of every anchored node from the event stream (a collection is a
    start and an end event plus its content, as the parser replays it), so the bomb is
    found without expanding it."""
    sizes: dict[str, int] = {}
    open_nodes: list[tuple[str | None, int]] = []   # (anchor, events so far) per open collection
    replayed = 0
    first: Mark | None = None

    def add(count: int) -> None:
        if open_nodes:
            anchor, n = open_nodes[-1]
            open_nodes[-1] = (anchor, n + count)

    for event in yaml.parse(text, Loader=_EventLoader):
        if isinstance(event, yaml.AliasEvent):
            first = first or event.start_mark
            size = sizes.get(event.anchor or "", 1)
            replayed += size
            if replayed > budget:
                return event.start_mark
            add(size)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            add(1)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            open_nodes.append((event.anchor, 2))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            anchor, n = open_nodes.pop()
            if anchor:
                sizes[anchor] = n
            add(n)
    return first


try:
    _EventLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _EventLoader = yaml.SafeLoader


# ---------------------------------------------------------------- values

def has_odd_values(data: Any) -> bool:
    """Fast check: does the data break a value limit? (containers walked once, no paths)"""
    limit = 1 << INT_BITS
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is dict:
            items: Any = node.values()
            if any(type(k) is not str for k in node):
                return True
        elif type(node) is list:
            items = node
        else:
            return _odd_scalar(node, limit)
        if depth >= MAX_DEPTH:
            return bool(items)
        for value in items:
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, depth + 1))
            elif (kind is int and not -limit <= value < limit) or (kind is float and value - value != 0):
                return True
    return False


def _odd_scalar(value: Any, limit: int) -> bool:
    if type(value) is int:
        return not -limit <= value < limit
    return type(value) is float and value - value != 0


def odd_values(data: Any) -> Iterator[tuple[list[PathItem], bool, str, str]]:
    """Every value breaking a limit: (path, at the key itself?, message, expected)."""
    limit = 1 << INT_BITS
    stack: list[tuple[Any, list[PathItem]]] = [(data, [])]
    while stack:
        node, path = stack.pop()
        if type(node) is dict:
            pairs: list[tuple[PathItem, Any]] = []
            for key, value in node.items():
                if type(key) is not str:
                    yield path + [_key_text(key)], True, _key_message(key), "a text key (quote it)"
                    continue
                pairs.append((key, value))
        elif type(node) is list:
            pairs = list(enumerate(node))
        else:
            pairs = []
            if _odd_scalar(node, limit):
                yield path, False, _scalar_message(node), _scalar_expected(node)
        if len(path) >= MAX_DEPTH and pairs:
            yield path, False, f"nested deeper than {MAX_DEPTH} levels", f"at most {MAX_DEPTH} levels of nesting"
            continue
        for item, value in reversed(pairs):
            kind = type(value)
            if kind is dict or kind is list:
                stack.append((value, path + [item]))
            elif _odd_scalar(value, limit):
                yield path + [item], False, _scalar_message(value), _scalar_expected(value)


def _key_text(key: Any) -> str:
    """The key as its YAML node reads, so the problem points at the key itself."""
    if type(key) is int:
        return str(key) if key.bit_length() <= INT_BITS else "?"
    if isinstance(key, (bool, float)) or key is None:
        return quote(key)
    return "?"


def _key_message(key: Any) -> str:
    if isinstance(key, (bool, int, float)) or key is None:
        return f"key {quote(key)} is not text"
    return "a list or mapping used as a key"


def _scalar_message(value: Any) -> str:
    if type(value) is int:
        digits = int((value.bit_length() - 1) * 0.30103) + 1
        return f"an integer of about {digits} digits is too large"
    return f"{quote(value)} is not a finite number"


def _scalar_expected(value: Any) -> str:
    if type(value) is int:
        return f"an integer below 2**{INT_BITS} (quote it if it is text)"
    return "a finite number (quote it if it is text)"
