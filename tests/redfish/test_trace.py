"""The critical-path measure: the longest run of requests each started after the previous ended."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from hwfw.redfish.trace import RequestTrace, TracedRequest, describe, longest_chain


def request(start: int, end: int, name: str = "r") -> TracedRequest:
    return TracedRequest("GET", f"http://bmc/{name}", start, end)


def test_requests_started_together_are_one_round_trip() -> None:
    trace = RequestTrace()
    a, b = trace.start(), trace.start()  # root and login go out together
    trace.done("GET", "http://bmc/redfish/v1/", a)
    trace.done("POST", "http://bmc/redfish/v1/SessionService/Sessions", b)
    c, d = trace.start(), trace.start()
    trace.done("GET", "http://bmc/redfish/v1/Systems", d)
    trace.done("GET", "http://bmc/redfish/v1/UpdateService/FirmwareInventory", c)
    e = trace.start()
    trace.done("DELETE", "http://bmc/redfish/v1/SessionService/Sessions/1", e)
    chain = trace.chain()
    assert len(chain) == 3
    assert describe(chain, "http://bmc") == ("GET /redfish/v1/ -> GET /redfish/v1/Systems -> "
                                             "DELETE /redfish/v1/SessionService/Sessions/1")


def test_a_request_waiting_for_another_is_in_a_row() -> None:
    # b starts only when a is done (per-BMC limit of one): two round trips, not one.
    assert len(longest_chain([request(1, 2, "a"), request(3, 4, "b")])) == 2
    assert len(longest_chain([request(1, 3, "a"), request(2, 4, "b")])) == 1
    assert longest_chain([]) == []


intervals = st.lists(st.tuples(st.integers(0, 40), st.integers(1, 10)), max_size=7).map(
    lambda pairs: [request(s, s + length, str(i)) for i, (s, length) in enumerate(pairs)])


@given(intervals)
def test_the_chain_is_a_longest_sequence_of_disjoint_requests(requests: list[TracedRequest]) -> None:
    chain = longest_chain(requests)
    assert all(later.start > earlier.end for earlier, later in itertools.pairwise(chain))
    best = 0
    for size in range(len(requests), 0, -1):  # brute force over every subset
        if any(all(b.start > a.end for a, b in itertools.pairwise(sorted(subset, key=lambda r: r.start)))
               for subset in itertools.combinations(requests, size)):
            best = size
            break
    assert len(chain) == best
