"""Find literal secrets in loaded YAML: hwfw only accepts references to credentials."""

from __future__ import annotations

import re
from typing import Any, Iterator

# Keys whose literal value would be a secret. `*_env` and `*_file` keys hold references.
_SECRET_KEY = re.compile(r"(?i)(^|[_-])(password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key)$")


# A key that *ends* in a secret word followed by ':' (so `password_env:` does not match).
_SECRET_KEY_IN_TEXT = re.compile(
    r"(?i)(?<![\w-])[\w-]*?(password|passwd|passphrase|secret|token|api[_-]?key|private[_-]?key)[\"']?\s*:")


def may_hold_secret(text: str) -> bool:
    """Fast pre-filter on the raw text; only files that match are walked."""
    return _SECRET_KEY_IN_TEXT.search(text) is not None


def find_literal_secrets(data: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Yield (path, key) for every mapping key that holds a literal secret value."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _SECRET_KEY.search(key) and isinstance(value, (str, int)) \
                    and not isinstance(value, bool) and str(value).strip():
                yield path + (key,), key
            else:
                yield from find_literal_secrets(value, path + (key,))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from find_literal_secrets(item, path + (i,))


# `${NAME}` references in a notification URL: expanded from the environment at run time.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://([^/?#@]*)@", re.IGNORECASE)
_SECRET_PARAM = re.compile(r"(?i)[?&]((?:[a-z_]*[_-])?(?:password|pass|passwd|pwd|secret|token|key|apikey|api_key|"
                           r"apitoken|auth)[a-z_]*)=([^&#]*)")


def literal_secret_in_url(url: str) -> str | None:
    """Why `url` (an Apprise URL as written in YAML) holds a literal secret, or None.

    A password in the user-info (`scheme://user:PASSWORD@host`) or a query parameter
    named like a secret (`?token=...`, `&pass=...`) must be a `${ENV}` reference. Secrets
    some services carry in the URL's path (webhook tokens) cannot be told apart from
    ordinary path segments: such URLs belong in `url_env` or `url_file` (documented)."""
    match = _URL_USERINFO.match(url)
    if match and ":" in match.group(1):
        password = match.group(1).split(":", 1)[1]
        if password and not ENV_REFERENCE.fullmatch(password):
            return "the password in the URL's user-info is written out"
    for param in _SECRET_PARAM.finditer(url):
        value = param.group(2)
        if value and not ENV_REFERENCE.fullmatch(value):
            return f"the query parameter {param.group(1)!r} is written out"
    return None
