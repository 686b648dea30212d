"""Logging set-up with credential redaction.

Every log record passes through `Redactor` before it is written anywhere: registered
secret values (passwords read from the environment or files at run time), the values
of `Authorization`, `X-Auth-Token`, `Password` and `sessionKey` fields and the user-info
of URLs are replaced by `***`. Diagnostics go to stderr (and optionally a log file), never stdout, which is
reserved for machine-readable output.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from threading import Lock

REDACTED = "***"

# Header and field spellings that carry credentials in Redfish, HPE forms and URLs.
_FIELD_PATTERNS = [
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(basic|bearer)?\s*[^'\",\s}]+"),
    re.compile(r"(?i)(x-auth-token['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+"),
    re.compile(r"(?i)((?:password|passwd|sessionkey)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}&]+"),
    # User-info of any URL (`scheme://user:password@host`, `scheme://token@host`): all of it,
    # since a token often travels as the user name.
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/?#@\s'\"<>]+(@)"),
]


class Redactor:
    """Removes secrets from text. Secret values are registered as they are resolved."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = Lock()
        self._ordered: tuple[str, ...] = ()   # longest first; rebuilt when the set changes

    def register(self, secret: str | None) -> None:
        # Very short values would redact ordinary words; BMC passwords are longer.
        if secret and len(secret) >= 4:
            with self._lock:
                if secret not in self._secrets:
                    self._secrets.add(secret)
                    self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))

    def forget(self, secret: str | None) -> None:
        """Stop looking for a secret that is no longer valid (a session token after logout):
        a long-running process (hwfw serve) opens a session per BMC on every scan and run,
        and every text redacted pays for each secret held."""
        if secret:
            with self._lock:
                if secret in self._secrets:
                    self._secrets.discard(secret)
                    self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _FIELD_PATTERNS:
            text = pattern.sub(_field_sub, text)
        return text


def _field_sub(match: re.Match[str]) -> str:
    groups = match.groups()
    if len(groups) >= 2 and groups[-1] == "@":
        return f"{groups[0]}{REDACTED}@"
    prefix = groups[0]
    scheme = groups[1] if len(groups) > 1 and groups[1] else ""
    return f"{prefix}{scheme + ' ' if scheme else ''}{REDACTED}"


redactor = Redactor()


class RedactingFormatter(logging.Formatter):
    """A formatter whose output has passed through the global redactor."""

    def format(self, record: logging.LogRecord) -> str:
        return redactor(super().format(record))


def configure(verbosity: int, log_file: Path | None = None) -> None:
    """Set up the `hwfw` logger: -v INFO, -vv DEBUG, stderr plus an optional file."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logger = logging.getLogger("hwfw")
    logger.handlers.clear()
    logger.setLevel(logging.DEBUG if log_file else level)
    logger.propagate = False
    fmt = RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(level)
    err.setFormatter(fmt)
    logger.addHandler(err)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    if verbosity >= 2:
        # httpx logs request lines at INFO, including header-free URLs; route through us.
        for name in ("httpx", "httpcore"):
            lib = logging.getLogger(name)
            lib.handlers = logger.handlers
            lib.setLevel(logging.DEBUG if verbosity >= 3 else logging.INFO)
            lib.propagate = False


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"hwfw.{name}" if not name.startswith("hwfw") else name)
