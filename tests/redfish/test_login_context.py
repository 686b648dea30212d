"""What a login answer says about the BMC's `Context` support (hwfw/redfish/login_context.py),
and what the session journal remembers of it (hwfw/apply/sessions.py)."""

from __future__ import annotations

import httpx
import pytest

from hwfw.apply.sessions import context_verdicts
from hwfw.redfish import login_context as ctx


def _answer(status: int, body: dict[str, object]) -> httpx.Response:
    return httpx.Response(status, json=body,
                          request=httpx.Request("POST", "https://bmc/redfish/v1/SessionService/Sessions"))


@pytest.mark.parametrize(("odata_type", "version", "defines"), [
    ("#Session.v1_7_0.Session", (1, 7), True),
    ("#Session.v1_5_0.Session", (1, 5), True),
    ("#Session.v1_4_1.Session", (1, 4), False),
    ("#Session.v1_0_2.Session", (1, 0), False),
    ("#Task.v1_7_0.Task", None, False),
    ("", None, False),
])
def test_the_session_schema_version_of_a_login_answer(odata_type: str, version: tuple[int, int] | None,
                                                      defines: bool) -> None:
    answer = _answer(201, {"@odata.type": odata_type, "Id": "1"})
    assert ctx.session_version(answer) == version
    assert ctx.defines_context(ctx.session_version(answer)) is defines


def test_a_context_counts_as_stored_only_when_the_answer_shows_it_back() -> None:
    sent = ctx.context_value(ctx.new_nonce())
    assert sent.startswith("hwfw:") and len(sent) == len("hwfw:") + 24
    assert ctx.verdict_of(_answer(201, {"Id": "1", "Context": sent}), sent) == ctx.STORED
    assert ctx.verdict_of(_answer(201, {"Id": "1", "Context": "hwfw:someone-else"}), sent) == ctx.IGNORED
    assert ctx.verdict_of(_answer(201, {"Id": "1"}), sent) == ctx.IGNORED
    assert ctx.refuses_context(_answer(400, {"error": {"code": "Base.1.8.PropertyUnknown"}}))
    assert not ctx.refuses_context(_answer(401, {}))
    assert not ctx.refuses_context(_answer(503, {}))


def test_the_journal_remembers_the_last_verdict_per_host() -> None:
    records = [
        {"intent": "a", "host": "h1", "action": "login"},
        {"resolves": "a", "outcome": "refused", "details": {"context": "refused"}},
        {"intent": "b", "host": "h2", "action": "login"},
        {"resolves": "b", "outcome": "opened", "details": {"context": "stored", "session": "/s/1"}},
        {"intent": "c", "host": "h2", "action": "login"},
        {"resolves": "c", "outcome": "opened", "details": {"context": "ignored"}},
        {"intent": "d", "host": "h3", "action": "login"},
        {"resolves": "d", "outcome": "opened", "details": {}},   # sent none: nothing learnt
    ]
    assert context_verdicts(records) == {"h1": "refused", "h2": "ignored"}
