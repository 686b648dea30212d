"""The RMCP+ login of hwfw's IPMI client: pyghmi's client session, made asynchronous
to the end and strict about the cipher suite.

Cipher suites (IPMI 2.0, table 22-20) hwfw uses: 17 (RAKP-HMAC-SHA256, HMAC-SHA256-128
integrity, AES-CBC-128) and 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128). pyghmi
proposes 17 and falls back to 3 only when the BMC *refuses* the Open Session Request
with a status code. It never reads the algorithms the BMC names in its Open Session
Response, so a BMC that answers a proposal of 17 with the algorithms of suite 3 (as
pyghmi's own BMC server does, and virtual BMCs built on it) breaks the handshake: the
20-byte SHA-1 key exchange code of RAKP 2 makes pyghmi raise `struct.error` while it
expects 32 bytes, the session never completes, and the caller waits for its whole
timeout. `LoginSession` detects the mismatch (in the Open Session Response, or by the
length of the RAKP 2 code or the RAKP 4 integrity value) and ends the login at once
with `retry_suite`, the suite the BMC offers, so the caller can log in again with it;
any other exception inside the handshake also ends the login at once, with the
protocol error named, instead of escaping into pyghmi's shared event loop.
"""

from __future__ import annotations

from typing import Any, Callable

import pyghmi.ipmi.private.session as pyghmi_session

__all__ = ["SUITE_ALGORITHMS", "LoginSession", "command_done", "session_class"]

# Cipher suite -> (authentication algorithm, integrity algorithm) numbers (IPMI 2.0 tables 13-17, 13-18).
SUITE_ALGORITHMS = {17: (3, 4), 3: (1, 1)}
_SUITE_OF = {algorithms: suite for suite, algorithms in SUITE_ALGORITHMS.items()}
_AUTH_CODE_BYTES = {17: 32, 3: 20}       # RAKP 2 key exchange code: HMAC-SHA256 / HMAC-SHA1
_INTEGRITY_BYTES = {17: 16, 3: 12}       # RAKP 4 integrity check value: SHA256-128 / SHA1-96
_PAYLOAD_NAMES = {0x11: "the Open Session Response", 0x13: "RAKP 2", 0x15: "RAKP 4"}


def command_done(session: Any) -> None:
    """raw_command(callback=...) leaves the "command in flight" marker to the caller; a
    stale one would make the next raw_command or logout block the driver until it expires."""
    session.incommand = False
    while session.evq:
        session.evq.popleft().set()


class LoginSession(pyghmi_session.Session):
    """pyghmi's client session with the login made asynchronous and strict.

    After RAKP 4, pyghmi's `_req_priv_level` sends Set Session Privilege Level with the
    *synchronous* `raw_command`, inside packet processing: a BMC going quiet right then
    would hold the driver thread (and every other conversation) in pyghmi's retry ladder.
    This version sends it with a callback and finishes the login from there, with the
    same outcome as pyghmi's: level 4, falling back to 3 on 0x80/0x81, then `onlogon`.

    `suite`: None proposes 17 and lets pyghmi fall back to 3 on a refusal; 3 proposes 3
    only. A handshake the BMC breaks ends with `onlogon({"error": ..., "protocol": True,
    "retry_suite": N or None})` (see the module docstring).
    """

    suite: int | None = None

    #: Requests to send from the driver's tick, not from inside a response callback:
    #: after a callback returns, pyghmi's `_parse_ipmi_payload` removes the request entry
    #: of (expectednetfn, seqlun, expectedcmd), which by then describe the *new* request,
    #: so its answer would be dropped as unsolicited.
    deferred: list[Callable[[], None]]

    @property
    def proposed_suite(self) -> int:
        return 3 if getattr(self, "attemptedhash", 256) == 1 else 17

    # -- cipher suite --------------------------------------------------------------------

    def _open_rmcpplus_request(self) -> None:
        if self.suite == 3:
            self.attemptedhash = 1
        super()._open_rmcpplus_request()

    def _handle_ipmi2_packet(self, data: Any) -> Any:
        ptype = data[5] & 0b00111111 if len(data) > 5 else None
        try:
            if ptype == 0x11 and self._suite_mismatch(data[16:]):
                return -9
            if ptype == 0x13 and self._wrong_length(data[16:], "RAKP 2", 40, _AUTH_CODE_BYTES, "key exchange code"):
                return -9
            if ptype == 0x15 and self._wrong_length(data[16:], "RAKP 4", 8, _INTEGRITY_BYTES, "integrity check value"):
                return -9
            return super()._handle_ipmi2_packet(data)
        except Exception as exc:
            if getattr(self, "sessioncontext", None) == "ESTABLISHED":
                raise
            where = _PAYLOAD_NAMES.get(ptype or -1, "the RMCP+ handshake")
            self._broken_handshake(f"the BMC's {where} could not be read ({type(exc).__name__}: {exc})", None)
            return -9

    def _suite_mismatch(self, body: Any) -> bool:
        """The BMC accepted our proposal but named other algorithms."""
        if len(body) < 36 or body[0] != self.rmcptag or body[1] != 0 or self.sessioncontext != "OPENSESSION":
            return False
        named = (body[16] & 0x3F, body[24] & 0x3F)
        proposed = self.proposed_suite
        if named == SUITE_ALGORITHMS[proposed]:
            return False
        other = _SUITE_OF.get(named)
        what = f"cipher suite {other}" if other else f"authentication algorithm {named[0]}, integrity {named[1]}"
        self._broken_handshake(f"the BMC answered our Open Session Request for cipher suite {proposed} with the "
                               f"algorithms of {what}", other)
        return True

    def _wrong_length(self, body: Any, what: str, offset: int, sizes: dict[int, int], name: str) -> bool:
        """A RAKP message whose code has the other suite's length: the BMC uses that suite."""
        expecting = "EXPECTINGRAKP2" if what == "RAKP 2" else "EXPECTINGRAKP4"
        if len(body) < offset or body[0] != self.rmcptag or body[1] != 0 or self.sessioncontext != expecting:
            return False
        proposed = self.proposed_suite
        given = len(body) - offset
        if given == sizes[proposed]:
            return False
        other = next((s for s, n in sizes.items() if n == given), None)
        self._broken_handshake(f"{what} carries a {given}-byte {name} where cipher suite {proposed} has "
                               f"{sizes[proposed]} bytes" + (f" (cipher suite {other} has {given})" if other else ""),
                               other)
        return True

    def _broken_handshake(self, reason: str, retry_suite: int | None) -> None:
        self.sessioncontext = "FAILED"
        self.onlogon({"error": f"RMCP+ handshake with cipher suite {self.proposed_suite} failed: {reason}",
                      "protocol": True, "retry_suite": retry_suite})

    # -- the asynchronous last step ------------------------------------------------------

    def _req_priv_level(self) -> None:
        self.deferred = []
        self.logged = 1
        self.logoutexpiry = None
        self.maxtimeout = 4  # as pyghmi: switch quickly to the relogin recovery
        self.logontries = 1
        self._request_privilege(self.privlevel)

    def _request_privilege(self, level: int) -> None:
        def answered(response: dict[str, Any]) -> None:
            if "error" not in response and response.get("command") != 0x3B:
                return  # the answer to a payload pyghmi re-sent after a relogin
            command_done(self)
            code = response.get("code", 0xFFFF)
            if code in (0x80, 0x81) and level == 4:
                self.privlevel = 3
                self.deferred.append(lambda: self._request_privilege(3))
                return
            if code:
                self.logged = 0
                self.onlogpayload = None
                self.logging = False
                suffix = f" while requesting privilege level {level}"
                self.onlogon({"error": pyghmi_session.get_ipmi_error(response, suffix=suffix) or "login failed"})
                return
            self.logging = False
            with pyghmi_session.util.protect(pyghmi_session.KEEPALIVE_SESSIONS):
                pyghmi_session.Session.keepalive_sessions[self] = {
                    "ipmisession": self,
                    "timeout": pyghmi_session._monotonic_time() + pyghmi_session.MAX_IDLE - 5,
                }
            self.onlogon({"success": True})

        self.raw_command(netfn=0x06, command=0x3B, data=[level], callback=answered)


class _Suite3Session(LoginSession):
    suite = 3


class _Suite17Session(LoginSession):
    suite = 17


def session_class(suite: int | None) -> type[LoginSession]:
    """The session class that proposes `suite` (None: 17, falling back to 3 on a refusal)."""
    return {None: LoginSession, 3: _Suite3Session, 17: _Suite17Session}[suite]
