"""Which requests one BMC had to wait for one after the other: the host's critical path.

At real BMC latencies (0.2 s to several seconds per request) a host costs its number of
round trips *in a row*, not its number of requests. Every `RedfishClient` keeps a
`RequestTrace`: each request, as it goes on the wire and as its answer is complete,
takes the next tick of a counter local to that client. Ticks, not clock readings: the
requests a caller starts together all take their start tick in the same pass of the
event loop, before any answer can arrive, so the result does not depend on how loaded
the machine is. A request that waited for the per-BMC request limit takes its start
tick when it gets its turn, so the limit shows up as requests in a row, as it should.

`longest_chain()` is the longest sequence of requests each of which started after the
previous one was answered: the round trips this host needed in a row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["RequestTrace", "TracedRequest", "longest_chain"]


@dataclass(frozen=True, slots=True)
class TracedRequest:
    """One request of one client: method, URL, and its start and end ticks."""

    method: str
    url: str
    start: int
    end: int

    def label(self, prefix: str = "") -> str:
        return f"{self.method} {self.url.removeprefix(prefix) or '/'}"


class RequestTrace:
    """The requests of one client, in the order their answers completed."""

    __slots__ = ("requests", "_tick")

    def __init__(self) -> None:
        self.requests: list[TracedRequest] = []
        self._tick = 0

    def start(self) -> int:
        """The tick of a request going on the wire now."""
        self._tick += 1
        return self._tick

    def done(self, method: str, url: str, started: int) -> None:
        """Record a request whose answer (or failure) is complete now."""
        self._tick += 1
        self.requests.append(TracedRequest(method, url, started, self._tick))

    def chain(self) -> list[TracedRequest]:
        return longest_chain(self.requests)


def longest_chain(requests: Iterable[TracedRequest]) -> list[TracedRequest]:
    """The longest run of requests each started after the previous one ended.

    Requests are intervals [start, end]; a chain is a set of pairwise disjoint
    intervals, and taking the one that ends first, again and again, gives a largest
    such set (the classic interval-scheduling argument).
    """
    chain: list[TracedRequest] = []
    for request in sorted(requests, key=_end):
        if not chain or request.start > chain[-1].end:
            chain.append(request)
    return chain


def describe(chain: Sequence[TracedRequest], prefix: str = "") -> str:
    """`GET /redfish/v1/ -> GET /redfish/v1/Systems?... -> DELETE ...` for logs."""
    return " -> ".join(r.label(prefix) for r in chain)


def _end(request: TracedRequest) -> int:
    return request.end
