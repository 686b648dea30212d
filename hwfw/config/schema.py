"""JSON Schema validation of loaded files, reporting every error at its location.

Valid files (the common case) are checked with fastjsonschema, which compiles the
schema to Python (0.04 s for a 10,000-host inventory vs 1.3 s with jsonschema). Only
when that fails does jsonschema walk the document to list *every* error.

Schema `pattern`s are ECMA-262 regular expressions (what editors use), where `$` matches
only at the very end of the text. Python's `$` also matches before a final newline, so
both validators get the schemas with `$` rewritten to `\\Z`: a sha256 followed by a
newline is refused, as the schema means.

Messages quote at most the offending scalar, cut short (`hwfw.config.excerpt`): never a
mapping, a list or a whole document.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from functools import cache
from typing import Any, Callable

import fastjsonschema
import jsonschema

from hwfw.config.excerpt import describe, dotted, kind_of, quote
from hwfw.config.yamlio import YamlSource
from hwfw.errors import Problem
from hwfw.resources import schema_path

MAX_PROBLEMS = 1000
_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number",
    "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null",
}


@cache
def load_schema(kind: str) -> dict[str, Any]:
    with schema_path(kind).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def python_regex(ecma: str) -> str:
    """An ECMA-262 pattern as Python must read it: every `$` anchor (unescaped, outside
    a character class) becomes `\\Z`, the end of the text."""
    out, in_class, escaped = [], False, False
    for ch in ecma:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append("\\Z")
            continue
        out.append(ch)
    return "".join(out)


def python_patterns(node: Any) -> Any:
    """A copy of a schema whose `pattern`s and `patternProperties` read as ECMA-262 means."""
    if isinstance(node, list):
        return [python_patterns(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = python_regex(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {python_regex(p): python_patterns(s) for p, s in value.items()}
        else:
            out[key] = python_patterns(value)
    return out


@cache
def python_schema(kind: str) -> dict[str, Any]:
    """The schema of `kind` with its patterns rewritten for Python's `re`."""
    schema: dict[str, Any] = python_patterns(copy.deepcopy(load_schema(kind)))
    return schema


@cache
def _fast_validator(kind: str) -> Callable[[Any], Any]:
    return fastjsonschema.compile(python_schema(kind))


@cache
def _full_validator(kind: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(python_schema(kind))


def is_valid(kind: str, data: Any) -> bool:
    try:
        _fast_validator(kind)(data)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def validate(kind: str, data: Any, source: YamlSource | None) -> list[Problem]:
    """Validate `data` against schemas/<kind>.schema.json; return located problems."""
    if is_valid(kind, data):
        return []
    problems: list[Problem] = []
    for err in _full_validator(kind).iter_errors(data):
        if len(problems) >= MAX_PROBLEMS:  # nobody reads more; listing 200,000 takes seconds
            problems.append(Problem(f"more problems in this file: only the first {MAX_PROBLEMS} are listed",
                                    source.location([]) if source else None, code="schema"))
            break
        problems.extend(_problems_for(err, source))
    if not problems:  # the validators disagree: never let the file pass silently
        problems.append(Problem("the file does not match its schema", source.location([]) if source else None,
                                code="schema", expected=f"see schemas/{kind}.schema.json"))
    return problems


def _best(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    # For oneOf/anyOf the deepest, most specific sub-error is what a human needs.
    if err.context:
        return jsonschema.exceptions.best_match(err.context) or err
    return err


_BOUNDS = {"minimum": ("below the minimum", ">="), "exclusiveMinimum": ("not above", ">"),
           "maximum": ("above the maximum", "<="), "exclusiveMaximum": ("not below", "<")}
_SIZES = {"minLength": ("at least", "character"), "maxLength": ("at most", "character"),
          "minItems": ("at least", "item"), "maxItems": ("at most", "item"),
          "minProperties": ("at least", "key"), "maxProperties": ("at most", "key")}


def _problems_for(err: jsonschema.ValidationError, source: YamlSource | None) -> list[Problem]:
    """Located problems for one error. Messages are built here from the path and a
    short quote of the offending scalar, never from jsonschema's own text (which
    prints whole values)."""
    err = _best(err)
    path = list(err.absolute_path)
    where = dotted(path) or "document"
    schema = err.schema if isinstance(err.schema, dict) else {}
    description = schema.get("description")

    def loc(p: list[Any], key: bool = False) -> Any:
        return source.location(p, key=key) if source else None

    def problem(message: str, code: str, expected: str | None = None, *, at: list[Any] | None = None,
                key: bool = False) -> list[Problem]:
        return [Problem(message, loc(path if at is None else at, key), code=code, expected=expected)]

    # The stubs allow "unset" for errors built by hand; iter_errors() always sets them.
    validator: Any = err.validator
    value: Any = err.validator_value
    instance: Any = err.instance
    if validator == "additionalProperties":
        return _unknown_keys(err, path, loc)
    if validator == "required":
        missing = next((k for k in value if isinstance(instance, dict) and k not in instance), "?")
        within = f" in {dotted(path)}" if path else " at the top level"
        return problem(f"missing required key {quote(missing)}{within}", "missing-key", f"a {quote(missing)} key")
    if validator == "type":
        wanted: list[str] = value if isinstance(value, list) else [value]
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        if not path:  # the whole file is of the wrong kind: say so without quoting any of it
            return problem(f"the file holds {_kind(instance)}, not {expected}", "wrong-type", expected)
        hint = ""
        if "string" in wanted and isinstance(instance, (int, float)) and not isinstance(instance, bool):
            # Quote what the file says (`7.10`), not the number YAML made of it (7.1).
            written = source.scalar_text(path) if source else None
            hint = f"; quote it ({quote(written or quote(instance))}) so YAML keeps it as text"
        return problem(f"{where}: wrong type: got {describe(instance)}{hint}", "wrong-type", expected)
    if validator in ("enum", "const"):
        options = value if validator == "enum" else [value]
        return problem(f"{where}: {quote(instance)} is not allowed", "invalid-value",
                       f"one of {', '.join(quote(v) for v in options)}" if len(options) > 1 else quote(options[0]))
    if validator == "pattern":
        return problem(f"{where}: {quote(instance)} has the wrong form", "invalid-value",
                       description or f"text matching {value}")
    if validator == "propertyNames":
        return problem(f"{where}: key {quote(instance)} has the wrong form", "invalid-value",
                       (value or {}).get("description") if isinstance(value, dict) else None,
                       at=path + [instance] if isinstance(instance, str) else path, key=True)
    if validator == "not":
        parent_schema = err.parent.schema if err.parent is not None else None
        parent = parent_schema.get("description") if isinstance(parent_schema, Mapping) else None
        return problem(f"{where}: {parent or 'value not allowed here'}", "invalid-value", key=True)
    if validator in _BOUNDS:
        words, operator = _BOUNDS[validator]
        return problem(f"{where}: {quote(instance)} is {words} {quote(value)}", "invalid-value",
                       description or f"a number {operator} {quote(value)}")
    if validator in _SIZES:
        bound, unit = _SIZES[validator]
        return problem(f"{where}: needs {bound} {value} {unit}{'s' if value != 1 else ''}", "invalid-value",
                       description)
    if validator in ("oneOf", "anyOf"):
        return problem(f"{where}: {describe(instance) if path else _kind(instance)} matches none of the allowed forms",
                       "schema", description)
    return problem(f"{where}: not allowed by the schema ({validator})", "schema", description)


def _unknown_keys(err: jsonschema.ValidationError, path: list[Any], loc: Callable[..., Any]) -> list[Problem]:
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    properties = schema.get("properties") or {}
    allowed = sorted(properties)
    patterns = [re.compile(p) for p in schema.get("patternProperties") or {}]
    instance = err.instance if isinstance(err.instance, dict) else {}
    within = f" in {dotted(path)}" if path else ""
    out = []
    for extra in instance:
        if extra in properties or any(p.search(str(extra)) for p in patterns):
            continue
        out.append(Problem(f"unknown key {quote(extra)}{within}", loc(path + [extra], key=True), code="unknown-key",
                           expected=f"one of: {', '.join(allowed)}" if allowed else "no extra keys"))
    return out


def _kind(value: Any) -> str:
    """What a whole file holds, without any of its content."""
    if isinstance(value, str):
        return "text"
    return describe(value) if isinstance(value, (list, dict)) or value is None else kind_of(value)
