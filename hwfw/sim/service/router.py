"""Route table for a BMC service: `@route("GET", "/redfish/v1/Systems/{S}")`.

`{S}`, `{M}`, `{C}` stand for the profile's System, Manager and Chassis ids; any other
`{name}` is a path parameter passed to the handler. Static paths are found with one
dict lookup, which matters at thousands of requests per second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

ROUTE_ATTR = "_hwfw_routes"


@dataclass(frozen=True)
class RouteSpec:
    method: str
    pattern: str
    public: bool = False


def route(method: str, pattern: str, *, public: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a handler method for (method, pattern); stackable."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        specs = list(getattr(func, ROUTE_ATTR, ()))
        specs.append(RouteSpec(method, pattern, public))
        setattr(func, ROUTE_ATTR, specs)
        return func

    return decorate


@dataclass(frozen=True)
class Match:
    name: str
    params: dict[str, str]
    public: bool


class Router:
    def __init__(self, cls: type, ids: Mapping[str, str]) -> None:
        self.static: dict[tuple[str, str], tuple[str, bool]] = {}
        self.dynamic: list[tuple[str, re.Pattern[str], str, bool]] = []
        self.paths: dict[str, set[str]] = {}
        seen: set[tuple[str, str]] = set()
        for klass in cls.__mro__:
            for attr, func in vars(klass).items():
                for spec in getattr(func, ROUTE_ATTR, ()):
                    path = spec.pattern
                    for key, value in ids.items():
                        path = path.replace("{" + key + "}", value)
                    if (spec.method, path) in seen:
                        continue  # a subclass overrode this route
                    seen.add((spec.method, path))
                    if "{" in path:
                        escaped = re.escape(path).replace(r"\{", "{").replace(r"\}", "}")
                        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", escaped) + "$")
                        self.dynamic.append((spec.method, regex, attr, spec.public))
                    else:
                        self.static[(spec.method, path)] = (attr, spec.public)

    def match(self, method: str, path: str) -> Match | None:
        hit = self.static.get((method, path))
        if hit is not None:
            return Match(hit[0], {}, hit[1])
        for m, regex, attr, public in self.dynamic:
            if m == method:
                found = regex.match(path)
                if found:
                    return Match(attr, found.groupdict(), public)
        return None

    def allowed(self, path: str) -> list[str]:
        """Methods that exist for `path` (for 405 + Allow)."""
        methods = {m for (m, p) in self.static if p == path}
        methods |= {m for m, regex, _, _ in self.dynamic if regex.match(path)}
        return sorted(methods)
