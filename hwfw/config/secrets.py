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
