"""Vendor catalog importers: one module per catalog format, registered by name.

A reader turns a vendor catalog file into repository entries (plain dicts in the
repository schema) plus the items it skipped and why. Adding a vendor is adding a
module that calls `register()` and importing it at the bottom of this file; the CLI
offers every registered reader as `hwfw repo import <name>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from hwfw.errors import RepositoryError


@dataclass(frozen=True, slots=True)
class Skipped:
    """A catalog item that matched the request but could not become an entry."""

    name: str
    reason: str
    path: str | None = None


@dataclass
class CatalogEntries:
    """What a reader found: entries to add, items skipped (with reasons), and notes."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Per entry id: a suffix that tells it apart if the id is already taken.
    disambiguators: dict[str, str] = field(default_factory=dict)


class CatalogReader(Protocol):
    name: str
    vendor: str
    summary: str

    def read(self, path: Path, *, models: Sequence[str], base_url: str | None,
             include: Sequence[str] | None) -> CatalogEntries: ...


_READERS: dict[str, CatalogReader] = {}


def register(reader: CatalogReader) -> CatalogReader:
    _READERS[reader.name] = reader
    return reader


def readers() -> dict[str, CatalogReader]:
    return dict(_READERS)


def get_reader(name: str) -> CatalogReader:
    try:
        return _READERS[name]
    except KeyError:
        raise RepositoryError(f"unknown catalog format {name!r}",
                              hint="one of: " + ", ".join(sorted(_READERS))) from None


from hwfw.repository.catalogs import dell as _dell  # noqa: E402,F401  (registers itself)
