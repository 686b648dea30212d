"""One exception hierarchy for everything hwfw reports to a user.

Every error carries a message that says what went wrong, where, and what to do. Only
the CLI prints errors and chooses exit codes; library code raises these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, slots=True, order=True)
class SourceLocation:
    """A position in a workspace file: 1-based line and column, as editors show them."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding about a workspace file: an error or a warning at a location.

    `code` is a stable machine-readable identifier (`schema`, `yaml-syntax`,
    `unknown-image`, `literal-secret`...) used by JSON, SARIF and JUnit outputs.
    `related` holds secondary locations, for example where an unclosed bracket opened.
    """

    message: str
    location: SourceLocation | None = None
    code: str = "error"
    expected: str | None = None
    severity: str = "error"
    related: tuple[tuple[SourceLocation, str], ...] = field(default=())

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.expected:
            text += f"\n    expected: {self.expected}"
        for loc, note in self.related:
            text += f"\n    {loc}: note: {note}"
        return text

    def to_json(self) -> dict[str, object]:
        loc = self.location
        out: dict[str, object] = {
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "column": loc.column if loc else None,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }
        if self.expected:
            out["expected"] = self.expected
        if self.related:
            out["related"] = [
                {"file": r.file, "line": r.line, "column": r.column, "message": note}
                for r, note in self.related
            ]
        return out


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Order problems by file, line and column so output is stable and readable."""

    def key(p: Problem) -> tuple[str, int, int, str]:
        loc = p.location
        return (loc.file, loc.line, loc.column, p.message) if loc else ("", 0, 0, p.message)

    return sorted(problems, key=key)


class HwfwError(Exception):
    """Root of all hwfw errors. `hint` says what the user can do about it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(HwfwError):
    """A workspace (or another file hwfw reads) is invalid; holds every problem found."""

    def __init__(self, problems: Iterable[Problem], *, hint: str | None = None) -> None:
        self.problems = sort_problems(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        summary = f"{len(errors)} problem(s) found"
        super().__init__(summary, hint=hint)

    def __str__(self) -> str:
        return "\n".join(p.render() for p in self.problems)


class WorkspaceNotFound(HwfwError):
    """The directory given as workspace has no hwfw.yaml."""


class CredentialError(HwfwError):
    """A credentials reference cannot be resolved (unset variable, unreadable file)."""


class BmcError(HwfwError):
    """A BMC answered with an error or could not be talked to.

    Carries the host name, the URL, the HTTP status and the Redfish MessageId when known,
    and the answer's `Retry-After` header (as sent) when it had one. `kind` names the
    class of failure for machine-readable output (inventory snapshots): `bmc` (the BMC
    answered with an error), `auth`, `tls`, `connection`, `session-limit`.
    """

    kind = "bmc"

    def __init__(
        self,
        message: str,
        *,
        host: str,
        url: str | None = None,
        status: int | None = None,
        message_id: str | None = None,
        hint: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        self.host = host
        self.url = url
        self.status = status
        self.message_id = message_id
        self.retry_after = retry_after
        parts = [f"{host}: {message}"]
        if url:
            parts.append(f"({url}")
            parts[-1] += f", HTTP {status})" if status else ")"
        if message_id:
            parts.append(f"[{message_id}]")
        super().__init__(" ".join(parts), hint=hint)


class BmcUnreachable(BmcError):
    """The BMC could not be talked to: refused, timed out, TLS failure.

    `retryable` says whether trying again can help: a refused or timed-out connection
    may (the BMC is booting), a certificate that does not verify never does."""

    retryable = True
    kind = "unreachable"


class BmcConnectionError(BmcUnreachable):
    """No connection: refused, reset, timed out, no route. Check the address, the
    network path and that the BMC is up."""

    kind = "connection"


class BmcTlsError(BmcUnreachable):
    """The BMC's TLS certificate did not verify (or the handshake failed). Not retried."""

    retryable = False
    kind = "tls"


class BmcAuthError(BmcError):
    """The BMC refused the credentials (HTTP 401/403 on login, or no credentials).

    Carries the user name (never the password) when it is known."""

    kind = "auth"

    def __init__(self, message: str, *, host: str, url: str | None = None, status: int | None = None,
                 message_id: str | None = None, hint: str | None = None, username: str | None = None) -> None:
        self.username = username
        super().__init__(message, host=host, url=url, status=status, message_id=message_id, hint=hint)


class BmcSessionLimit(BmcError):
    """The BMC refused a login because its session table is full: it answers, and the
    credentials may be fine; sessions must be logged out or expire first."""

    kind = "session-limit"


class IpmiError(BmcError):
    """An IPMI exchange with a BMC failed."""


class Interrupted(HwfwError):
    """The operation was cancelled (SIGINT, SIGTERM, a cancel token) before it changed anything."""

    exit_code = 130


class PlanError(HwfwError):
    """The plan cannot be built: unsatisfiable rules, cycles, missing images."""


class StalePlanError(PlanError):
    """A saved plan no longer matches the workspace, the state or the hardware."""


class ApplyError(HwfwError):
    """Executing a plan step failed."""


class StateError(HwfwError):
    """The state file is unreadable, of another lineage, or locked."""


class LockHeldError(StateError):
    """Another hwfw process holds the workspace lock."""


class StaleStateError(StateError):
    """A state write was refused: the stored serial (or lineage) is not the one the
    writer read, so someone else wrote in between."""


class RepositoryError(HwfwError):
    """A firmware image cannot be found, fetched or trusted."""


class IntegrityError(RepositoryError):
    """An image's bytes do not match its declared sha256, size or signature."""


class RequestError(HwfwError):
    """A request to a service (`hwfw serve`, hwfw.api's service) that cannot be done as asked."""


class NotFoundError(RequestError):
    """The plan, run, host or token asked for does not exist."""


class ConflictError(RequestError):
    """Not now: another run holds the workspace, the plan is not approved or is stale."""


class PermissionDeniedError(RequestError):
    """The principal's role does not allow it (or the two-person rule forbids it)."""


class InvalidRequestError(RequestError):
    """The request's body or parameters are not what the API takes."""
