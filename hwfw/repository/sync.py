"""`hwfw repo sync`: bring every image a workspace needs into the cache, concurrently.

One failed image never stops the others; the report lists every outcome and the
command exits 1 if any failed. A second sync downloads nothing.
"""

from __future__ import annotations

import asyncio
import fnmatch
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hwfw import versions
from hwfw.clock import Clock, SystemClock
from hwfw.config.model import RepositoryEntry, Workspace
from hwfw.errors import HwfwError
from hwfw.events import EventSink
from hwfw.repository import events as ev
from hwfw.repository.cache import Cache
from hwfw.repository.events import SyncEvents
from hwfw.repository.fetch import ChecksumMismatch, FetchOptions, ImageFetcher, make_client, make_ssl_context
from hwfw.repository.signature import fetch_signature, verify_signature
from hwfw.repository.sources import resolve_source

# 8 transfers: 200 small images at 50 ms per request sync in ~1-1.5 s (4 needed ~3.5 s).
DEFAULT_JOBS = 8


def _same_version(a: str, b: str, scheme: str | None) -> bool:
    if a.strip() == b.strip():
        return True
    try:
        return versions.parse(a, scheme) == versions.parse(b, scheme)
    except (ValueError, TypeError):
        return False


def _models_overlap(selected: tuple[str, ...], supported: tuple[str, ...]) -> bool:
    if not selected:
        return True
    return any(fnmatch.fnmatchcase(s, p) or fnmatch.fnmatchcase(p, s) for s in selected for p in supported)


def referenced_entries(workspace: Workspace) -> list[RepositoryEntry]:
    """The images the baselines use, in repository order.

    A component naming `image` references that entry. A component without one
    references every entry the planner could pick for it: same kind, the baseline's
    vendor (if it selects one), the same version, and a model the baseline selects.
    """
    wanted: set[str] = set()
    repo = workspace.repository
    for baseline in workspace.baselines:
        sel = baseline.select
        for comp in baseline.components:
            if comp.image:
                if repo.get(comp.image) is not None:
                    wanted.add(comp.image)
                continue
            for e in repo.entries:
                if (e.component == comp.kind and (not sel.vendor or e.vendor == sel.vendor)
                        and _same_version(e.version, comp.version, e.scheme or comp.scheme)
                        and _models_overlap(sel.models, e.models)):
                    wanted.add(e.id)
    return [e for e in repo.entries if e.id in wanted]


@dataclass(frozen=True, slots=True)
class EntryResult:
    """One image's outcome: "downloaded", "already-cached" or "failed" (with the error)."""

    id: str
    sha256: str
    status: str
    size: int | None = None
    path: Path | None = None
    error: HwfwError | None = None


@dataclass
class SyncReport:
    results: list[EntryResult] = field(default_factory=list)

    def with_status(self, status: str) -> list[EntryResult]:
        return [r for r in self.results if r.status == status]

    @property
    def failed(self) -> list[EntryResult]:
        return self.with_status("failed")

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> dict[str, int]:
        return {"images": len(self.results), "downloaded": len(self.with_status("downloaded")),
                "already_cached": len(self.with_status("already-cached")), "failed": len(self.failed)}


async def sync_entries(workspace: Workspace, entries: list[RepositoryEntry], *, cache: Cache,
                       jobs: int = DEFAULT_JOBS, events: EventSink | None = None,
                       options: FetchOptions | None = None, clock: Clock | None = None,
                       run_id: str | None = None) -> SyncReport:
    """Fetch `entries` into `cache`, at most `jobs` at a time; never raises for one image.

    Progress goes to `events` (hwfw/repository/events.py), stamped with `run_id`
    (a fresh one when None)."""
    clock = clock or SystemClock()
    report = SyncEvents(events, clock, run_id or uuid.uuid4().hex[:12])
    options = options or FetchOptions()
    jobs = max(1, jobs)
    # `jobs` transfers at once; up to as many more images finishing (fsync, rename,
    # signature) or waiting for a lock, so a sync of thousands never opens thousands of files.
    fetcher = ImageFetcher(cache, workspace.root, options=options, events=report, clock=clock,
                           download_slots=asyncio.Semaphore(jobs))
    remote = any(_is_remote(e, workspace) for e in entries)
    client = make_client(make_ssl_context(workspace.settings.ca_bundle), options,
                         connections=jobs) if remote else None
    gate = asyncio.Semaphore(2 * jobs)

    async def one(entry: RepositoryEntry) -> EntryResult:
        async with gate:
            try:
                outcome = await fetcher.obtain(entry, client)
                if entry.signature:
                    if client is not None:
                        await fetch_signature(entry, workspace, cache, client)
                    await asyncio.to_thread(verify_signature, entry, outcome.path, workspace, cache=cache)
            except HwfwError as exc:
                _report_failure(report, entry, exc)
                return EntryResult(entry.id, entry.sha256, "failed", error=exc)
            except OSError as exc:  # disk full, permissions: report, keep going
                err = HwfwError(f"image {entry.id!r}: {exc}")
                _report_failure(report, entry, err)
                return EntryResult(entry.id, entry.sha256, "failed", error=err)
            return EntryResult(entry.id, entry.sha256, outcome.status, outcome.size, outcome.path)

    try:
        results = await asyncio.gather(*(one(e) for e in entries))
    finally:
        if client is not None:
            await client.aclose()
    return SyncReport(list(results))


def _is_remote(entry: RepositoryEntry, workspace: Workspace) -> bool:
    try:
        if resolve_source(entry, workspace.root).is_remote:
            return True
    except HwfwError:
        return False
    sig = entry.signature or ""
    return sig.startswith(("https://", "http://"))


def _report_failure(report: SyncEvents, entry: RepositoryEntry, exc: HwfwError) -> None:
    if isinstance(exc, ChecksumMismatch):
        report.emit(ev.FAILED, entry.id, entry.sha256, bytes=exc.size, error=exc.message, expected=exc.expected,
                    actual=exc.actual, quarantine=str(exc.quarantine), source=exc.source)
    else:
        report.emit(ev.FAILED, entry.id, entry.sha256, error=exc.message)
