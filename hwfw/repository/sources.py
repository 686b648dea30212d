"""Where an image's bytes come from: an entry's `source` classified and resolved.

`https://` is the normal case; `http://` only on entries with `allow_http: true` (the
sha256 still guards integrity, but the metadata of the transfer is visible and
forgeable); `file://` URLs and plain paths (relative to the workspace root, the
directory of hwfw.yaml) are copied from the local filesystem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hwfw.config.model import RepositoryEntry
from hwfw.errors import RepositoryError


@dataclass(frozen=True, slots=True)
class Source:
    """A resolved source: `kind` is "https", "http" or "file"; `url` or `path` is set."""

    kind: str
    url: str | None = None
    path: Path | None = None

    @property
    def is_remote(self) -> bool:
        return self.kind in ("https", "http")

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)


def resolve_location(text: str, root: Path, *, allow_http: bool, what: str) -> Source:
    """Classify a source string (an image's, or a signature's). `what` names it in errors."""
    text = text.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "https":
        return Source("https", url=text)
    if scheme == "http":
        if not allow_http:
            raise RepositoryError(
                f"{what}: source {text} is plain http:// and the entry does not allow it",
                hint="use an https:// mirror, or add `allow_http: true` to this entry in the "
                     "repository file (the sha256 still guards the image's integrity)")
        return Source("http", url=text)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise RepositoryError(f"{what}: file:// URL {text} names a remote host {parts.netloc!r}",
                                  hint="use file:///absolute/path or a path relative to hwfw.yaml")
        return Source("file", path=Path(unquote(parts.path)))
    if scheme and len(scheme) > 1:
        raise RepositoryError(f"{what}: unsupported source scheme {scheme}:// in {text}",
                              hint="use https://, http:// (with allow_http: true), file:// or a path")
    path = Path(os.path.expanduser(text))
    return Source("file", path=path if path.is_absolute() else root / path)


def resolve_source(entry: RepositoryEntry, root: Path) -> Source:
    """The entry's image source. Raises RepositoryError naming the entry when refused."""
    return resolve_location(entry.source, root, allow_http=entry.allow_http, what=f"image {entry.id!r}")
