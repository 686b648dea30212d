"""`hwfw repo add` and catalog imports: new entries for a workspace's repository file.

These commands must work on a workspace that does not validate yet (a baseline that
names an image not added so far is the usual way to start), so they find the
repository file and cache from hwfw.yaml directly instead of loading the workspace.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from hwfw.config.loader import display_path, find_root
from hwfw.config.model import Settings
from hwfw.config.paths import EXPECTED as EXPECTED_INSIDE
from hwfw.config.paths import PathPolicy
from hwfw.config.yamlio import YamlSyntaxError, load_yaml
from hwfw.errors import ConfigError, RepositoryError
from hwfw.repository.cache import Cache, hash_file, resolve_cache_dir
from hwfw.repository.maintenance import store_local_file
from hwfw.repository.sources import resolve_location
from hwfw.repository.writer import RepositoryFile

_ID_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


def make_id(*parts: str) -> str:
    """An entry id from free text: `dell`, `PowerEdge R750`, `bmc` -> `dell-poweredge-r750-bmc`."""
    text = "-".join(_ID_CHARS.sub("-", p.strip()).strip("-._+") for p in parts if p and p.strip())
    text = re.sub(r"-{2,}", "-", text).lower()
    if not text or not text[0].isalnum():
        text = "image-" + text
    return text


@dataclass(frozen=True, slots=True)
class WorkspaceFiles:
    root: Path
    repository: Path
    cache_dir: Path

    def cache(self) -> Cache:
        return Cache(self.cache_dir)


def locate(root: Path, *, cache_dir: Path | None = None) -> WorkspaceFiles:
    """The repository file and cache of the workspace at `root`, from hwfw.yaml alone."""
    root = root.resolve()
    hwfw_yaml = find_root(root)
    try:
        data, _ = load_yaml(hwfw_yaml, display_path(hwfw_yaml))
    except YamlSyntaxError as exc:
        raise ConfigError(list(exc.problems)) from exc
    data = data if isinstance(data, dict) else {}
    files = data.get("files") if isinstance(data.get("files"), dict) else {}
    rel = files.get("repository") if files else None
    if not isinstance(rel, str):
        raise RepositoryError(f"{display_path(hwfw_yaml)} names no repository file",
                              hint="add `files: {repository: repository.yaml}` to hwfw.yaml")
    settings_data = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    roots = settings_data.get("allowed_roots") if settings_data else None
    policy = PathPolicy(root, tuple(r for r in roots if isinstance(r, str)) if isinstance(roots, list) else ())
    leaves = policy.outside(rel)
    if leaves is not None:  # the file would be rewritten wherever the link points
        raise RepositoryError(f"{display_path(hwfw_yaml)}: files.repository: {leaves}", hint=EXPECTED_INSIDE)
    configured = settings_data.get("cache_dir") if settings_data else None
    configured_path = None
    if isinstance(configured, str):
        p = Path(os.path.expanduser(configured))
        configured_path = p if p.is_absolute() else root / p
    settings = Settings(state_path=root / ".hwfw/state.json", runtime_dir=root / ".hwfw", cache_dir=configured_path)
    return WorkspaceFiles(root, root / rel, resolve_cache_dir(settings, cache_dir))


@dataclass
class AddResult:
    entry: dict[str, Any]
    object_path: Path
    warnings: list[str] = field(default_factory=list)


def default_source(file: Path, root: Path) -> str:
    """The file's path relative to the workspace root when inside it, else absolute."""
    resolved = file.resolve()
    try:
        return str(resolved.relative_to(root.resolve()))
    except ValueError:
        return str(resolved)


def add_image(root: Path, file: Path, *, vendor: str, component: str, version: str,
              models: Iterable[str], source: str | None = None, entry_id: str | None = None,
              activation: str | None = None, critical: bool = False, scheme: str | None = None,
              description: str | None = None, cache_dir: Path | None = None,
              extra: Mapping[str, Any] | None = None) -> AddResult:
    """Hash `file`, append a well-formed entry for it, and copy it into the cache."""
    ws = locate(root, cache_dir=cache_dir)
    if not file.is_file():
        raise RepositoryError(f"no such file: {file}")
    digest, size = hash_file(file)
    repo = RepositoryFile(ws.repository)
    entry_id = entry_id or make_id(vendor, component, version)
    if entry_id in repo.ids():
        raise RepositoryError(f"{display_path(ws.repository)} already has an image with id {entry_id!r}",
                              hint="pass --id with another id")
    warnings: list[str] = []
    for existing in repo.images:
        if isinstance(existing, Mapping) and existing.get("sha256") == digest:
            warnings.append(f"the same file is already listed as {existing.get('id')!r}")
    source = source or default_source(file, ws.root)
    entry: dict[str, Any] = {"id": entry_id, "vendor": vendor, "component": component, "version": version,
                             "scheme": scheme, "models": list(models), "source": source, "sha256": digest,
                             "size": size, "activation": activation, "critical": True if critical else None,
                             "description": description, **(extra or {})}
    if source.strip().lower().startswith("http://"):
        entry["allow_http"] = True
        warnings.append(f"image {entry_id!r} has a plain http:// source; wrote `allow_http: true` "
                        f"(the sha256 still guards its integrity, but prefer https://)")
    resolve_location(source, ws.root, allow_http=bool(entry.get("allow_http")), what=f"image {entry_id!r}")
    repo.append(entry)
    repo.save(ws.root)
    path = store_local_file(ws.cache(), file, entry_id=entry_id, expected=digest)
    return AddResult({k: v for k, v in entry.items() if v is not None}, path, warnings)


@dataclass
class ImportReport:
    """Outcome of a catalog import: entries added, ids already present, items skipped."""

    repository: Path
    added: list[dict[str, Any]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def import_catalog(root: Path, reader_name: str, catalog: Path, *, models: Sequence[str],
                   base_url: str | None = None, include: Sequence[str] | None = None,
                   dry_run: bool = False) -> ImportReport:
    """Read a vendor catalog and append its entries for `models` to the repository file.

    Idempotent: an entry whose id is present with the same sha256 is left alone; one
    whose id is taken by another image gets the catalog's release id appended.
    """
    from hwfw.repository.catalogs import Skipped, get_reader

    if not models:
        raise RepositoryError("name at least one model to import (--models R750 ...)",
                              hint="a vendor catalog covers hundreds of models; import only yours")
    if not catalog.is_file():
        raise RepositoryError(f"no such catalog file: {catalog}")
    ws = locate(root)
    found = get_reader(reader_name).read(catalog, models=models, base_url=base_url, include=include)
    repo = RepositoryFile(ws.repository)
    existing = {str(e.get("id")): str(e.get("sha256")) for e in repo.images if isinstance(e, Mapping)}
    report = ImportReport(ws.repository, skipped=list(found.skipped), notes=list(found.notes))
    for entry in found.entries:
        eid = entry["id"]
        if eid in existing and existing[eid] != entry["sha256"]:
            eid = f"{eid}-{found.disambiguators.get(eid, 'alt')}"
        if eid in existing:
            if existing[eid] == entry["sha256"]:
                report.unchanged.append(eid)
            else:
                report.skipped.append(Skipped(eid, "id already used by another image", entry.get("source")))
            continue
        entry = {**entry, "id": eid}
        repo.append(entry)
        existing[eid] = entry["sha256"]
        report.added.append({k: v for k, v in entry.items() if v is not None})
    if report.added and not dry_run:
        repo.save(ws.root)
    return report
