"""Every path a workspace names must resolve inside it, or under `settings.allowed_roots`.

A workspace is reviewed as a unit (a pull request), so what it makes hwfw read or write
has to be part of it. A path that leaves the workspace (`../x`, `/etc/passwd`, or a
symbolic link committed in the repository that points anywhere on the CI runner) is an
error naming the path as written; hwfw never opens it, so nothing of the target ends up
in a message, a SARIF upload or a pull-request annotation. A workspace that really
keeps files elsewhere (a shared image store, a cache on another disk) lists those
directories under `settings.allowed_roots` in hwfw.yaml, where reviewers see them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from hwfw.config.excerpt import quote

EXPECTED = "a path inside the workspace, or under a directory listed in settings.allowed_roots"


def local_part(location: str) -> str | None:
    """The local path in an image `source` or `signature`: the text itself, or the path of a
    file:// URL; None for network URLs (and for forms hwfw refuses elsewhere)."""
    text = location.strip()
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        return unquote(parts.path) if parts.netloc in ("", "localhost") else None
    if scheme and len(scheme) > 1:  # https://, http://, or a scheme hwfw refuses when fetching
        return None
    return text


class PathPolicy:
    """Decides whether a path named by a workspace stays inside it."""

    def __init__(self, root: Path, allowed: tuple[str, ...] = ()) -> None:
        self.root = root.resolve()
        self.allowed = tuple(self._real(a) for a in allowed)
        self._seen: dict[str, str | None] = {}

    def _real(self, written: str) -> Path:
        return (self.root / os.path.expanduser(written)).resolve()

    def _inside(self, path: Path) -> bool:
        return path.is_relative_to(self.root) or any(path.is_relative_to(a) for a in self.allowed)

    def outside(self, written: str) -> str | None:
        """None if `written` (relative to the workspace, or absolute) resolves inside the
        workspace or an allowed root; otherwise why not, naming only what was written."""
        if written not in self._seen:
            self._seen[written] = self._check(written)
        return self._seen[written]

    def _check(self, written: str) -> str | None:
        try:
            real = self._real(written)
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
            return f"{quote(written)} cannot be resolved"
        if self._inside(real):
            return None
        lexical = Path(os.path.normpath(self.root / os.path.expanduser(written)))
        if self._inside(lexical):
            return f"{quote(written)} leads outside the workspace through a symbolic link"
        return f"{quote(written)} is outside the workspace"


def has_userinfo(url: str) -> bool:
    """Does a URL carry a user name or password (`https://admin:secret@host`)?"""
    if "@" not in url:  # the common case, without parsing 10,000 BMC URLs
        return False
    try:
        return "@" in urlsplit(url.strip()).netloc
    except ValueError:
        return False


PathItem = str | int
Named = tuple[list[PathItem], str]
_CREDENTIAL_FILES = ("password_file", "file")
_DEFAULTS = {"state_path": ".hwfw/state.json", "runtime_dir": ".hwfw"}


def named_paths(kind: str, data: Any) -> Iterator[Named]:
    """(location, path as written) of every local path a validated file of `kind` names."""
    if not isinstance(data, dict):
        return
    if kind == "hwfw":
        settings = data.get("settings") or {}
        for key, default in _DEFAULTS.items():  # a committed `.hwfw` symlink counts too
            yield ["settings", key], settings.get(key, default)
        for key in ("cache_dir", "ca_bundle"):
            if isinstance(settings.get(key), str):
                yield ["settings", key], settings[key]
        for section in ("image_server", "server"):
            server = settings.get(section) or {}
            for key in ("tls_cert", "tls_key"):
                if isinstance(server.get(key), str):
                    yield ["settings", section, key], server[key]
        for i, key_file in enumerate(settings.get("signing_keys") or ()):
            yield ["settings", "signing_keys", i], key_file
        for i, target in enumerate(settings.get("notifications") or ()):
            if isinstance(target, dict) and isinstance(target.get("url_file"), str):
                yield ["settings", "notifications", i, "url_file"], target["url_file"]
    elif kind == "inventory":
        defaults = data.get("defaults") or {}
        yield from _host_paths(["defaults"], defaults)
        for i, host in enumerate(data.get("hosts") or ()):
            yield from _host_paths(["hosts", i], host)
    elif kind == "repository":
        for i, image in enumerate(data.get("images") or ()):
            for key in ("source", "signature"):
                local = local_part(image[key]) if isinstance(image.get(key), str) else None
                if local:
                    yield ["images", i, key], local
            if isinstance(image.get("public_key"), str):
                yield ["images", i, "public_key"], image["public_key"]


def _host_paths(at: list[PathItem], host: dict[str, Any]) -> Iterator[Named]:
    if isinstance(host.get("ca_bundle"), str):
        yield [*at, "ca_bundle"], host["ca_bundle"]
    creds = host.get("credentials") or {}
    for key in _CREDENTIAL_FILES:
        if isinstance(creds.get(key), str):
            yield [*at, "credentials", key], creds[key]


def named_urls(kind: str, data: Any) -> Iterator[Named]:
    """(location, URL) of every network address a validated file of `kind` names."""
    if not isinstance(data, dict):
        return
    if kind == "hwfw":
        url = ((data.get("settings") or {}).get("image_server") or {}).get("advertise_url")
        if isinstance(url, str):
            yield ["settings", "image_server", "advertise_url"], url
    elif kind == "inventory":
        for i, host in enumerate(data.get("hosts") or ()):
            if isinstance(host.get("bmc"), str):
                yield ["hosts", i, "bmc"], host["bmc"]
    elif kind == "repository":
        for i, image in enumerate(data.get("images") or ()):
            for key in ("source", "signature"):
                if isinstance(image.get(key), str):
                    yield ["images", i, key], image[key]
