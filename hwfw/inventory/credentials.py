"""Resolve a host's credentials reference into a user name and a password.

A `CredentialsRef` names where secrets live (environment variables, a password file, or
a YAML/JSON file with `username`/`password`); this module reads them at run time and
registers every password with the log redactor before returning it. Errors name the
host and the variable or file, never the value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hwfw.config.model import CredentialsRef, Host
from hwfw.errors import CredentialError
from hwfw.logs import redactor

__all__ = ["resolve_credentials"]


def resolve_credentials(host: Host | str, ref: CredentialsRef | None = None,
                        *, environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(username, password) for `host` from `ref` (default: the host's own reference).

    Precedence: `username` literal, else `username_env`, else the file's `username`;
    `password_env`, else `password_file`, else the file's `password`. A missing
    reference gives (None, None); the caller decides whether that is acceptable.
    """
    name = host if isinstance(host, str) else host.name
    if ref is None and not isinstance(host, str):
        ref = host.credentials
    if ref is None:
        return None, None
    env = os.environ if environ is None else environ
    from_file: Mapping[str, Any] = _read_credentials_file(name, ref.file) if ref.file else {}

    username: str | None = ref.username
    if username is None and ref.username_env:
        username = _env(name, env, ref.username_env, "user name")
    if username is None and from_file.get("username") is not None:
        username = str(from_file["username"])

    password: str | None = None
    if ref.password_env:
        password = _env(name, env, ref.password_env, "password")
    elif ref.password_file:
        password = _read_password_file(name, ref.password_file)
    elif from_file.get("password") is not None:
        password = str(from_file["password"])
    elif ref.file:
        raise CredentialError(f"host {name!r}: credentials file {ref.file} has no 'password' key",
                              hint="the file must hold a mapping with username and password keys")
    redactor.register(password)
    return username, password


def _env(host: str, env: Mapping[str, str], var: str, what: str) -> str:
    value = env.get(var)
    if value is None or value == "":
        raise CredentialError(f"host {host!r}: environment variable {var} (the {what}) is not set",
                              hint=f"export {var}=... before running hwfw")
    return value


def _read_password_file(host: str, path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialError(f"host {host!r}: cannot read password file {path}: {exc.strerror or exc}",
                              hint="check the path (relative to hwfw.yaml) and its permissions") from None
    # Strip exactly one trailing newline (what `echo secret > file` adds); a password
    # may legitimately end in other whitespace.
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise CredentialError(f"host {host!r}: password file {path} is empty")
    return text


def _read_credentials_file(host: str, path: Path) -> Mapping[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CredentialError(f"host {host!r}: cannot read credentials file {path}: {exc.strerror or exc}",
                              hint="check the path (relative to hwfw.yaml) and its permissions") from None
    try:
        data = json.loads(text) if Path(path).suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError):
        # Never quote the parser's message: it may echo the secret.
        raise CredentialError(f"host {host!r}: credentials file {path} is not valid YAML/JSON",
                              hint="expected e.g. {username: admin, password: ...}") from None
    if not isinstance(data, Mapping):
        raise CredentialError(f"host {host!r}: credentials file {path} must hold a mapping with "
                              "username and password keys")
    return data
