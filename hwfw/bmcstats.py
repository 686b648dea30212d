"""BMC requests as they happen, for whoever counts them (the metrics of hwfw/metrics).

The Redfish client calls `note_request(host, outcome, seconds)` once per request sent
(`host` the hwfw host name; `outcome` ok, error: an HTTP error answer, unreachable: no
answer). Observers registered with `observe_requests` are called at once, on the event
loop; they must be cheap and must not raise (one that raises is dropped from the call,
never from the request). With no observer this costs one empty-list check.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["RequestObserver", "note_request", "observe_requests"]

RequestObserver = Callable[[str, str, float], None]
_observers: list[RequestObserver] = []


def observe_requests(observer: RequestObserver) -> Callable[[], None]:
    """Call `observer(host, outcome, seconds)` for every BMC request; returns the function that stops it."""
    _observers.append(observer)

    def stop() -> None:
        if observer in _observers:
            _observers.remove(observer)

    return stop


def note_request(host: str, outcome: str, seconds: float) -> None:
    for observer in list(_observers):
        try:
            observer(host, outcome, seconds)
        except Exception:  # counting must never break a request
            pass
