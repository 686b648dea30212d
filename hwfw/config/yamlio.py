"""YAML loading: fast when the file is valid, precise when it is not.

Files are parsed with yaml-rs (a Rust YAML 1.2 parser: safe by construction, rejects
duplicate keys, about 16x faster than PyYAML's C loader on a 10,000-host inventory).
Positions are only needed to report problems, so the PyYAML node tree (which keeps a
line and column for every node) is composed lazily, the first time a location is asked
for. YAML 1.2 also means `on`/`yes` stay strings, which is what operators expect, and
that dates stay text (`2023-01-01` is a version to hwfw, not a timestamp). A leading
byte-order mark is accepted, as YAML 1.2 allows. `yamllimits` bounds alias expansion,
nesting and values, so a hostile file costs milliseconds, not minutes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Sequence

import yaml
import yaml_rs

from hwfw.config import yamllimits
from hwfw.config.excerpt import MAX_CHARS, quote
from hwfw.errors import Problem, SourceLocation

try:  # the C composer keeps marks and is several times faster than the Python one
    _MarkLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML without libyaml
    _MarkLoader = yaml.SafeLoader

PathItem = str | int
_RS_POSITION = re.compile(r"line (\d+), column (\d+)")


class YamlSource:
    """A loaded YAML file: its text, its data and a lazy locator for its nodes."""

    def __init__(self, path: Path, display: str, text: str) -> None:
        self.path = path
        self.display = display
        self.text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def _node_root(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self.text, Loader=_MarkLoader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def location(self, path: Sequence[PathItem], *, key: bool = False) -> SourceLocation:
        """Location of the node at `path`; with `key=True`, of the mapping key itself.

        Falls back to the nearest existing ancestor when the path does not exist (for
        a missing required key, that is the mapping that should hold it).
        """
        node = self._node_root()
        if node is None:
            return SourceLocation(self.display, 1, 1)
        mark = node.start_mark
        for i, item in enumerate(path):
            last = i == len(path) - 1
            found = _child(node, item)
            if found is None:
                break
            key_node, value_node = found
            node = value_node
            mark = key_node.start_mark if (last and key and key_node is not None) else node.start_mark
        return SourceLocation(self.display, mark.line + 1, mark.column + 1)

    def scalar_text(self, path: Sequence[PathItem]) -> str | None:
        """The plain scalar at `path` as written in the file (`7.10`, which YAML reads as
        the number 7.1), or None when there is no such plain scalar."""
        node = self._node_root()
        for item in path:
            if node is None:
                return None
            found = _child(node, item)
            node = found[1] if found is not None else None
        if isinstance(node, yaml.ScalarNode) and not node.style:
            return str(node.value)
        return None


def _child(node: yaml.Node, item: PathItem) -> tuple[yaml.Node | None, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == str(item):
                return k, v
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(item, int):
        if 0 <= item < len(node.value):
            return None, node.value[item]
    return None


def read_text(path: Path) -> str:
    """A YAML file's text: UTF-8, without a leading byte-order mark."""
    text = path.read_text(encoding="utf-8")
    return text[1:] if text.startswith("\ufeff") else text


def _parse(text: str) -> Any:
    try:
        return yaml_rs.loads(text, parse_datetime=False, alias_limits=yaml_rs.AliasLimits(
            max_total_replayed_events=yamllimits.alias_budget(text)))
    except yaml_rs.YAMLDecodeError:
        raise
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. a list as a key: "unhashable type"
        raise yaml_rs.YAMLDecodeError(str(exc)) from None


def loads(text: str) -> Any:
    """Parse YAML text the way hwfw reads every file: YAML 1.2 without timestamps,
    duplicate keys refused, alias expansion, nesting and values within `yamllimits`.
    Raises `yaml_rs.YAMLDecodeError` (without a position) for anything refused."""
    if yamllimits.may_be_too_deep(text):
        try:
            too_deep = yamllimits.first_too_deep(text)
        except yaml.YAMLError as exc:
            raise yaml_rs.YAMLDecodeError("invalid YAML") from exc
        if too_deep is not None:
            raise yaml_rs.YAMLDecodeError(f"nested deeper than {yamllimits.MAX_DEPTH} levels")
    data = _parse(text)
    if yamllimits.has_odd_values(data):
        raise yaml_rs.YAMLDecodeError("a value is out of hwfw's limits (see hwfw validate)")
    return data


def load_yaml(path: Path, display: str) -> tuple[Any, YamlSource]:
    """Load one YAML file. Raises `YamlSyntaxError` holding located problems."""
    try:
        text = read_text(path)
    except UnicodeDecodeError as exc:
        raise YamlSyntaxError(
            Problem(f"file is not UTF-8 text ({exc.reason} at byte {exc.start})",
                    SourceLocation(display, 1, 1), code="yaml-syntax",
                    expected="a UTF-8 encoded YAML file")
        ) from exc
    source = YamlSource(path, display, text)
    if yamllimits.may_be_too_deep(text):
        deep = _depth_problem(source)
        if deep is not None:
            raise YamlSyntaxError(deep)
    try:
        data = _parse(text)
    except yaml_rs.YAMLDecodeError as exc:
        if "alias replay limit" in str(exc):
            raise YamlSyntaxError(_alias_problem(source)) from None
        raise YamlSyntaxError(_syntax_problem(source, str(exc))) from None
    if "!" in text:  # cheap pre-filter: only files that could hold a tag are walked
        tagged = _explicit_tag(source)
        if tagged is not None:
            raise YamlSyntaxError(tagged)
    if yamllimits.has_odd_values(data):
        raise YamlSyntaxError(*[Problem(message, source.location(where, key=key), code="invalid-value",
                                        expected=expected)
                                for where, key, message, expected in yamllimits.odd_values(data)])
    return data, source


def _depth_problem(source: YamlSource) -> Problem | None:
    try:
        mark = yamllimits.first_too_deep(source.text)
    except yaml.MarkedYAMLError as exc:
        return _problem_from_marked(source.display, exc)
    if mark is None:
        return None
    return Problem(f"YAML nested deeper than {yamllimits.MAX_DEPTH} levels",
                   SourceLocation(source.display, mark.line + 1, mark.column + 1), code="yaml-syntax",
                   expected=f"at most {yamllimits.MAX_DEPTH} levels of nesting")


def _alias_problem(source: YamlSource) -> Problem:
    budget = yamllimits.alias_budget(source.text)
    try:
        mark = yamllimits.first_costly_alias(source.text, budget)
    except yaml.MarkedYAMLError as exc:
        return _problem_from_marked(source.display, exc)
    where = SourceLocation(source.display, mark.line + 1, mark.column + 1) if mark else \
        SourceLocation(source.display, 1, 1)
    return Problem(f"YAML aliases expand to more than {budget:,} nodes from here on", where,
                   code="yaml-syntax", expected="plain data: repeat values instead of nesting aliases")


_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                  "timestamp", "binary", "merge", "set", "omap", "pairs")}


def _nodes(source: YamlSource) -> Iterator[yaml.Node]:
    """Every node of the file once (an alias is the same node object as its anchor, so
    a "billion laughs" file is walked in a few hundred steps, not 10^9)."""
    root = source._node_root()
    stack = [root] if root is not None else []
    visited: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        yield node
        if isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in reversed(node.value) for v in reversed(pair))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))


def _at(source: YamlSource, mark: yamllimits.Mark) -> SourceLocation:
    return SourceLocation(source.display, mark.line + 1, mark.column + 1)


def _explicit_tag(source: YamlSource) -> Problem | None:
    """hwfw files are plain data: an application tag (e.g. !!python/object) is refused,
    not silently dropped."""
    for node in _nodes(source):
        if node.tag not in _CORE_TAGS:
            return Problem(f"YAML tag {quote(node.tag)} is not allowed", _at(source, node.start_mark),
                           code="yaml-syntax", expected="plain YAML data without tags")
    return None


def _complex_key(source: YamlSource) -> Problem | None:
    """A list or mapping used as a mapping key (`? [a, b]`): no hwfw file has one."""
    for node in _nodes(source):
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode):
                    return Problem("a list or mapping used as a key", _at(source, key.start_mark),
                                   code="yaml-syntax", expected="a text key")
    return None


def _syntax_problem(source: YamlSource, rs_message: str) -> Problem:
    """Turn a parse failure into a problem, with PyYAML's marks where it has them.

    PyYAML reports both where the construct started (context mark: the unclosed
    bracket or quote) and where parsing failed (problem mark); yaml-rs only the latter.
    """
    try:
        yaml.compose(source.text, Loader=_MarkLoader)
    except yaml.MarkedYAMLError as exc:
        return _problem_from_marked(source.display, exc)
    except yaml.YAMLError:
        pass
    found = _duplicate_key(source) or _complex_key(source)
    if found is not None:
        return found
    first_line = rs_message.strip().splitlines()[0] if rs_message.strip() else "invalid YAML"
    last_line = rs_message.strip().splitlines()[-1]
    match = _RS_POSITION.search(rs_message)
    line, col = (int(match.group(1)), int(match.group(2))) if match else (1, 1)
    message = last_line if match and last_line != first_line else first_line
    # The parser's explanation only: never its excerpt of the file, and never long.
    message = message if len(message) <= MAX_CHARS * 2 else message[:MAX_CHARS * 2] + "…"
    return Problem(f"YAML syntax error: {message}", SourceLocation(source.display, line, col),
                   code="yaml-syntax", expected="valid YAML")


def _problem_from_marked(display: str, exc: yaml.MarkedYAMLError) -> Problem:
    problem_mark = exc.problem_mark
    context_mark = exc.context_mark
    loc = (SourceLocation(display, problem_mark.line + 1, problem_mark.column + 1)
           if problem_mark else SourceLocation(display, 1, 1))
    what = exc.problem or "invalid YAML"
    what = what if len(what) <= MAX_CHARS * 2 else what[:MAX_CHARS * 2] + "…"
    related: tuple[tuple[SourceLocation, str], ...] = ()
    if context_mark is not None and exc.context:
        ctx_loc = SourceLocation(display, context_mark.line + 1, context_mark.column + 1)
        related = ((ctx_loc, f"{exc.context} that started here"),)
        what = f"{what} ({exc.context} that started at line {ctx_loc.line}, column {ctx_loc.column})"
    return Problem(f"YAML syntax error: {what}", loc, code="yaml-syntax",
                   expected=_expected_from(exc.problem or ""), related=related)


def _expected_from(problem: str) -> str:
    if "expected ',' or ']'" in problem:
        return "a closing ']' for the flow sequence"
    if "expected ',' or '}'" in problem:
        return "a closing '}' for the flow mapping"
    if "quoted scalar" in problem or "end of stream" in problem:
        return "a closing quote"
    return "valid YAML"


def _duplicate_key(source: YamlSource) -> Problem | None:
    for node in _nodes(source):
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: dict[str, yaml.Node] = {}
        for k, _ in node.value:
            if not isinstance(k, yaml.ScalarNode):
                continue
            if k.value in seen:
                return Problem(f"duplicate key {quote(k.value)}", _at(source, k.start_mark),
                               code="yaml-duplicate-key", expected="each key once per mapping",
                               related=((_at(source, seen[k.value].start_mark), "first defined here"),))
            seen[k.value] = k
    return None


class YamlSyntaxError(Exception):
    """Internal: carries the located problems of a file hwfw cannot read as YAML data
    (`problem` is the first of `problems`)."""

    def __init__(self, problem: Problem, *more: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem
        self.problems = (problem, *more)
