"""Notification targets: their Apprise URLs resolved from references, and shown safely.

A URL comes from `url` (with `${ENV_VAR}` references expanded), `url_env` (an
environment variable holding it) or `url_file` (a file's first line). Every resolved
URL, and each secret part of it (the user-info, the expanded values), is registered
with the one credential redactor (hwfw/logs.py) before it is used, so it never reaches
a log, an event, the state or the audit log. People see `display` (Apprise's
`url(privacy=True)`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from hwfw.config.model import NotificationTarget
from hwfw.config.secrets import ENV_REFERENCE
from hwfw.errors import CredentialError, HwfwError
from hwfw.logs import redactor

__all__ = ["ResolvedTarget", "resolve_target"]

# Apprise's per-URL HTTP timeouts (connect, read) in seconds, so a worker thread never
# outlives the delivery timeout by much.
_HTTP_SCHEMES = ("json", "jsons", "form", "forms", "xml", "xmls", "slack", "workflow", "workflows", "ntfy", "ntfys",
                 "mmost", "mmosts", "pagerduty", "discord", "gotify", "gotifys", "mailto", "mailtos")


@dataclass(frozen=True)
class ResolvedTarget:
    config: NotificationTarget
    url: str          # the secret-bearing URL: only ever handed to Apprise
    display: str      # safe to show: Apprise's privacy form

    @property
    def name(self) -> str:
        return self.config.name


def _expand(text: str, env: Mapping[str, str], where: str) -> str:
    def value(match: object) -> str:
        name = match.group(1)  # type: ignore[attr-defined]
        if name not in env:
            raise CredentialError(f"{where}: the environment variable {name} is not set",
                              hint=f"export {name}=... before running hwfw")
        redactor.register(env[name])
        return env[name]
    return ENV_REFERENCE.sub(value, text)


def _raw_url(target: NotificationTarget, env: Mapping[str, str]) -> str:
    where = f"settings.notifications {target.name}"
    if target.url_env:
        if not env.get(target.url_env):
            raise CredentialError(f"{where}: url_env {target.url_env} is not set",
                              hint=f"export {target.url_env}='scheme://...' (an Apprise URL)")
        return env[target.url_env].strip()
    if target.url_file is not None:
        try:
            lines = target.url_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CredentialError(f"{where}: cannot read url_file {target.url_file}: {exc.strerror}",
                              hint="create the file with the Apprise URL on its first line (mode 0600)") from None
        if not lines or not lines[0].strip():
            raise CredentialError(f"{where}: url_file {target.url_file} is empty", hint="put the Apprise URL on its "
                              "first line")
        return lines[0].strip()
    return _expand(target.url or "", env, where)


def _register_parts(url: str) -> None:
    redactor.register(url)
    parts = urlsplit(url)
    if parts.password:
        redactor.register(parts.password)
    if parts.username and parts.password is None:
        redactor.register(parts.username)   # a token carried as the user name
    for segment in parts.path.split("/"):
        if len(segment) >= 16:              # webhook tokens travel as path segments
            redactor.register(segment)


def _with_timeouts(url: str, timeout: float) -> str:
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _HTTP_SCHEMES:
        return url
    extra = [f"{p}={timeout:g}" for p in ("cto", "rto") if f"{p}=" not in url]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


def resolve_target(target: NotificationTarget, env: Mapping[str, str] | None = None) -> ResolvedTarget:
    """The target's URL resolved and registered with the redactor (CredentialError when a
    reference is missing or Apprise cannot parse the URL: the message never shows it)."""
    import apprise

    url = _raw_url(target, os.environ if env is None else env)
    _register_parts(url)
    url = _with_timeouts(url, target.timeout)
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not plugin:
        scheme = url.split("://", 1)[0] if "://" in url else "(no scheme)"
        raise HwfwError(f"settings.notifications {target.name}: Apprise cannot use this URL (scheme {scheme})",
                          hint="see https://github.com/caronc/apprise/wiki for the URL of each service")
    return ResolvedTarget(target, url, redactor(plugin.url(privacy=True)))
