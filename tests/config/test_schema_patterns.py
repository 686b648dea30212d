"""Every `pattern` of every schema means in hwfw what it means in an editor (ECMA-262):
`$` is the end of the text, so a digest or a name followed by a newline is refused by
both validators hwfw runs (fastjsonschema, jsonschema), not only by one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any, Callable

import fastjsonschema
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwfw.config.schema import is_valid, python_patterns, validate
from tests.helpers import REPO_ROOT


def _patterns(node: Any, where: str) -> Iterator[tuple[str, str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield where, "pattern", value
            elif key == "patternProperties" and isinstance(value, dict):
                for pattern, sub in value.items():
                    yield f"{where}/patternProperties", "patternProperties", pattern
                    yield from _patterns(sub, f"{where}/patternProperties/{pattern}")
            else:
                yield from _patterns(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _patterns(value, f"{where}/{i}")


PATTERNS = sorted({(f"{path.name}#{where}", kind, pattern)
                   for path in sorted((REPO_ROOT / "schemas").glob("*.schema.json"))
                   for where, kind, pattern in _patterns(json.loads(path.read_text()), "")})


def test_the_schemas_have_patterns_of_both_kinds() -> None:
    assert len(PATTERNS) >= 25
    assert {kind for _, kind, _ in PATTERNS} == {"pattern", "patternProperties"}


@cache
def _validators(kind: str, pattern: str) -> tuple[Callable[[str], bool], Callable[[str], bool]]:
    """(fastjsonschema, jsonschema) verdicts for a string checked by `pattern` used as `kind`,
    with the schema prepared exactly as hwfw prepares its own."""
    if kind == "pattern":
        doc = {"type": "string", "pattern": pattern}
        wrap: Callable[[str], Any] = lambda s: s  # noqa: E731
    else:
        doc = {"type": "object", "patternProperties": {pattern: {}}, "additionalProperties": False}
        wrap = lambda s: {s: 1}  # noqa: E731
    prepared = python_patterns(doc)
    fast = fastjsonschema.compile(prepared)
    full = jsonschema.Draft202012Validator(prepared)

    def fast_ok(s: str) -> bool:
        try:
            fast(wrap(s))
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    return fast_ok, lambda s: full.is_valid(wrap(s))


@pytest.mark.parametrize(("where", "kind", "pattern"), PATTERNS, ids=[w for w, _, _ in PATTERNS])
def test_every_pattern_is_anchored_at_both_ends(where: str, kind: str, pattern: str) -> None:
    assert pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$"), where


@pytest.mark.parametrize(("where", "kind", "pattern"), PATTERNS, ids=[w for w, _, _ in PATTERNS])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_both_validators_read_every_pattern_as_ecma_262(where: str, kind: str, pattern: str,
                                                         data: st.DataObject) -> None:
    body = pattern[1:-1]
    text = data.draw(st.from_regex(body, fullmatch=True), label="matching text")
    fast_ok, full_ok = _validators(kind, pattern)
    for candidate in (text, text + "\n", text + "\n\n", "\n" + text):
        meant = re.fullmatch(body, candidate) is not None  # ECMA-262: ^ and $ are the ends of the text
        assert (fast_ok(candidate), full_ok(candidate)) == (meant, meant), (where, candidate)


def test_a_sha256_with_a_trailing_newline_is_invalid_in_every_file_that_holds_one() -> None:
    digest = "ab" * 32
    image = {"id": "x", "vendor": "dell", "component": "bios", "version": "1", "models": ["m"], "source": "x.bin"}
    assert is_valid("repository", {"images": [{**image, "sha256": digest}]})
    for bad in (digest + "\n", digest + "\n\n"):
        assert not is_valid("repository", {"images": [{**image, "sha256": bad}]})
        (problem,) = validate("repository", {"images": [{**image, "sha256": bad}]}, None)
        assert problem.code == "invalid-value" and problem.message.startswith("images[0].sha256:")
        assert not is_valid("hwfw", {"format": 1, "files": {"inventory": "i", "baselines": "b", "repository": "r"},
                                     "settings": {"allowed_sha256": [bad]}})
