"""`workspace.repository`: the firmware images a workspace lists and the shared cache.

Sync (fetch what the baselines reference), list (with cache status), verify and gc the
cache, add an image file, import entries from a vendor catalog. Adding and importing
edit the repository file and work on a workspace that does not load yet (that is how
a first image gets in); the others need it to load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hwfw.cancel import CancelToken
from hwfw.clock import Clock
from hwfw.config.loader import display_path
from hwfw.config.model import Workspace as Config
from hwfw.errors import RepositoryError

from .runs import EventTarget, cancellable, event_sink, new_run_id

# The fetch stack (httpx, TLS) is imported by the methods that need it.
if TYPE_CHECKING:
    from hwfw.repository.add import AddResult, ImportReport
    from hwfw.repository.cache import Cache
    from hwfw.repository.sync import SyncReport

__all__ = ["DEFAULT_SYNC_PARALLELISM", "ImageRow", "RepositoryAccess", "SyncResult", "catalog_readers"]

# hwfw.repository.sync.DEFAULT_JOBS (tests/api keeps them equal): 8 transfers at once.
DEFAULT_SYNC_PARALLELISM = 8


def catalog_readers() -> dict[str, str]:
    """Catalog format name -> one-line summary, for `hwfw repo import <name>`."""
    from hwfw.repository.catalogs import readers

    return {name: r.summary for name, r in sorted(readers().items())}


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One repository entry and whether the cache holds it."""

    id: str
    vendor: str
    component: str
    version: str
    models: tuple[str, ...]
    size: int | None
    sha256: str
    source: str
    cached: bool
    critical: bool
    referenced: bool

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "vendor": self.vendor, "component": self.component, "version": self.version,
                "models": list(self.models), "size": self.size, "sha256": self.sha256, "source": self.source,
                "cached": self.cached, "critical": self.critical, "referenced": self.referenced}


@dataclass
class SyncResult:
    """A sync run: its id, the cache it filled, and every image's outcome (None when
    there was nothing to sync)."""

    run_id: str
    cache: Path
    report: SyncReport | None = None

    @property
    def ok(self) -> bool:
        return self.report is None or self.report.ok

    def summary(self) -> dict[str, int]:
        if self.report is None:
            return {"images": 0, "downloaded": 0, "already_cached": 0, "failed": 0}
        return self.report.summary()


@dataclass(frozen=True)
class CacheReport:
    """`verify` or `gc` on one cache: the cache's root and the report."""

    cache: Path
    report: Any


class RepositoryAccess:
    """See the module docstring. Made by `Workspace.repository`."""

    def __init__(self, root: Path, load: Callable[[], Config], clock: Clock | None) -> None:
        self.root = root
        self._load = load
        self._clock = clock

    def _cache(self, config: Config) -> Cache:
        from hwfw.repository.cache import Cache, resolve_cache_dir

        return Cache(resolve_cache_dir(config.settings))

    async def sync(self, *, all_images: bool = False, parallelism: int = DEFAULT_SYNC_PARALLELISM,
                   on_event: EventTarget | None = None, cancel: CancelToken | None = None,
                   run_id: str | None = None) -> SyncResult:
        """Fetch the images the baselines reference (every entry with `all_images`) into
        the cache, `parallelism` at a time; events as in hwfw/repository/events.py."""
        from hwfw.repository.fetch import FetchOptions
        from hwfw.repository.sync import referenced_entries, sync_entries

        config = self._load()
        entries = list(config.repository.entries) if all_images else referenced_entries(config)
        cache = self._cache(config)
        result = SyncResult(run_id or new_run_id(), cache.root)
        if not entries:
            return result
        options = FetchOptions(retries=config.settings.retries, connect_timeout=config.settings.timing.connect_timeout,
                               read_timeout=config.settings.timing.request_timeout)

        async def body() -> SyncReport:
            return await sync_entries(config, entries, cache=cache, jobs=parallelism, events=event_sink(on_event),
                                      options=options, clock=self._clock, run_id=result.run_id)

        result.report = await cancellable(body, cancel, "repository sync")
        return result

    async def images(self) -> list[ImageRow]:
        """Every repository entry, whether it is cached and whether a baseline uses it."""
        from hwfw.repository.sync import referenced_entries

        config = self._load()
        cache = self._cache(config)
        used = {e.id for e in referenced_entries(config)}
        rows = []
        for e in config.repository.entries:
            obj = cache.lookup(e.sha256)
            cached = obj is not None and (e.size is None or obj.size == e.size)
            rows.append(ImageRow(e.id, e.vendor, e.component, e.version, tuple(e.models),
                                 e.size if e.size is not None else (obj.size if obj else None), e.sha256, e.source,
                                 cached, e.critical, e.id in used))
        return rows

    async def cache_root(self) -> Path:
        return self._cache(self._load()).root

    async def verify(self, *, workspace_only: bool = False, quarantine: bool = False) -> CacheReport:
        """Re-hash the cache's objects (only this workspace's with `workspace_only`);
        `quarantine` moves corrupt ones aside. Works when the workspace does not load."""
        from hwfw.connect import check_workspace
        from hwfw.repository.add import locate
        from hwfw.repository.maintenance import verify_cache

        ws, _ = await asyncio.to_thread(check_workspace, self.root)
        if ws is None and workspace_only:
            self._load()  # raises with every problem
        cache = self._cache(ws) if ws is not None else locate(self.root).cache()
        names: dict[str, tuple[str, ...]] = {}
        for e in ws.repository.entries if ws is not None else ():
            names[e.sha256] = names.get(e.sha256, ()) + (e.id,)
        report = await asyncio.to_thread(
            verify_cache, cache, only=set(names) if workspace_only else None, quarantine=quarantine,
            entries_by_digest=names)
        return CacheReport(cache.root, report)

    async def gc(self, *, dry_run: bool = False) -> tuple[CacheReport, int]:
        """Remove cache objects this workspace's repository does not list; returns the
        report and how many images the repository lists (what is kept)."""
        from hwfw.repository.maintenance import collect_garbage

        config = self._load()  # never gc from a repository that did not load
        cache = self._cache(config)
        keep = {e.sha256 for e in config.repository.entries}
        if not keep and not dry_run:
            raise RepositoryError(
                f"{display_path(config.files['repository'])} lists no image: gc would empty the whole cache "
                f"{display_path(cache.root)}", hint="run with --dry-run to see what it holds, or remove the folder")
        report = await asyncio.to_thread(collect_garbage, cache, keep, dry_run=dry_run)
        return CacheReport(cache.root, report), len(keep)

    async def add(self, file: Path, *, vendor: str, component: str, version: str, models: Sequence[str],
                  source: str | None = None, entry_id: str | None = None, activation: str | None = None,
                  critical: bool = False, scheme: str | None = None, description: str | None = None,
                  signature: str | None = None, public_key: str | None = None) -> AddResult:
        """Hash `file`, append an entry for it to the repository file, cache it."""
        from hwfw.repository.add import add_image

        extra = {k: v for k, v in (("signature", signature), ("public_key", public_key)) if v}
        return await asyncio.to_thread(
            add_image, self.root, file, vendor=vendor, component=component, version=version, models=models,
            source=source, entry_id=entry_id, activation=activation, critical=critical, scheme=scheme,
            description=description, extra=extra)

    async def import_catalog(self, reader: str, catalog: Path, *, models: Sequence[str], base_url: str | None = None,
                             include: Sequence[str] | None = None, dry_run: bool = False) -> ImportReport:
        """Append a vendor catalog's entries for `models` (idempotent)."""
        from hwfw.repository.add import import_catalog

        return await asyncio.to_thread(import_catalog, self.root, reader, catalog, models=models, base_url=base_url,
                                       include=include, dry_run=dry_run)

    def repository_file(self) -> Path:
        """The repository file (from hwfw.yaml alone: works on a workspace that does not load)."""
        from hwfw.repository.add import locate

        return locate(self.root).repository
