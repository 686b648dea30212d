"""How a value from a workspace file may appear in a message: short, and only the scalar.

Messages of `validate` and `check` end up in CI logs, SARIF uploads and pull-request
annotations, so they quote at most the one offending scalar, cut to `MAX_CHARS` and
passed through the credential redactor, and describe collections by their kind instead
of printing them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from hwfw.logs import redactor

MAX_CHARS = 60


def quote(value: Any) -> str:
    """The value as a message may show it: a short repr for scalars, a kind otherwise."""
    if isinstance(value, bool) or value is None:
        return "null" if value is None else str(value).lower()
    if isinstance(value, (int, float)):
        return _cut(repr(value))
    if isinstance(value, str):
        return _cut_string(redactor(value))  # a URL's user-info or a token never reaches a report
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def describe(value: Any) -> str:
    """"a string ('x')", "a number (5)", "a mapping": what was found where something else was expected."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({quote(value)})"
    if isinstance(value, str):
        return f"a string ({quote(value)})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return f"a {type(value).__name__}"


def dotted(path: Sequence[str | int]) -> str:
    """A node's path as messages name it: `hosts[3].credentials.password_file`."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            name = item if len(item) <= MAX_CHARS else f"{item[:MAX_CHARS]}…"
            out += f".{name}" if out else name
    return out


def one_of(value: str, options: Iterable[str]) -> str:
    """`expected` text for a name that is not among `options`, with the closest match."""
    names = sorted(set(options))
    close = difflib.get_close_matches(value, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return f"{hint}one of: {shown}" if names else "a defined name"


def kind_of(value: Any) -> str:
    """Only the kind of a value, for places where even the scalar must not be shown."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return describe(value)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_CHARS else f"{text[:MAX_CHARS - 1]}…"


def _cut_string(value: str) -> str:
    if len(value) <= MAX_CHARS:
        return repr(value)
    # Head and tail: what is wrong is often at the end (a trailing newline or space).
    return repr(f"{value[:MAX_CHARS - 20]}…{value[-12:]}") + f" ({len(value)} characters)"
