"""The connection string of the PostgreSQL backend: read from the environment or a
file (never from YAML), its password registered with the log redactor, and a masked
form for messages."""

from __future__ import annotations

import os

from hwfw.config.model import BackendSettings
from hwfw.errors import StateError
from hwfw.logs import redactor

EXAMPLE = "postgresql://hwfw@db.example:5432/hwfw (password in ~/.pgpass or PGPASSWORD)"


def _where(backend: BackendSettings) -> str:
    return f"{backend.location}: " if backend.location else ""


def resolve_dsn(backend: BackendSettings) -> str:
    """The libpq connection string `settings.backend` points at; errors say where."""
    where = _where(backend)
    if backend.dsn_env:
        value = os.environ.get(backend.dsn_env, "").strip()
        if not value:
            raise StateError(f"{where}settings.backend.dsn_env: environment variable {backend.dsn_env} is not set",
                             hint=f"export {backend.dsn_env}='{EXAMPLE.split(' ')[0]}' before running hwfw")
        source = f"environment variable {backend.dsn_env}"
    elif backend.dsn_file:
        try:
            lines = backend.dsn_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise StateError(f"{where}settings.backend.dsn_file: cannot read {backend.dsn_file}: {exc.strerror}",
                             hint="create it with the connection string on its first line, mode 0600") from exc
        value = lines[0].strip() if lines else ""
        if not value:
            raise StateError(f"{where}settings.backend.dsn_file: {backend.dsn_file} is empty",
                             hint=f"put the connection string on its first line, e.g. {EXAMPLE}")
        source = f"file {backend.dsn_file}"
    else:
        raise StateError(f"{where}settings.backend: type postgres needs dsn_env or dsn_file",
                         hint="add dsn_env: HWFW_PG_DSN (an environment variable holding the connection string)")
    register_secrets(value, f"{where}settings.backend ({source})")
    return value


def register_secrets(dsn: str, where: str) -> None:
    """Register the DSN's password (and the whole string) with the log redactor."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception as exc:  # psycopg.ProgrammingError: a malformed string
        redactor.register(dsn)
        raise StateError(f"{where}: not a PostgreSQL connection string: {redactor(str(exc))}",
                         hint=f"use a URI or key=value pairs, e.g. {EXAMPLE}") from None
    password = params.get("password")
    if password:
        redactor.register(str(password))


def mask_dsn(dsn: str) -> str:
    """postgresql://***@host:port/dbname: where the database is, without credentials."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(dsn)
    except Exception:
        return "postgresql://***"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    user = "***@" if params.get("user") or params.get("password") else ""
    return f"postgresql://{user}{host}{port}/{params.get('dbname') or ''}"
