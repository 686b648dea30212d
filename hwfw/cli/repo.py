"""`hwfw repo ...`: fetch firmware images into the shared cache and look after it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    app_context,
    emit_json,
    format_option,
    plural,
    stderr_console,
    stdout_console,
    warn,
    workspace_argument,
)
from hwfw.config import display_path
from hwfw.config.model import ACTIVATIONS, Workspace
from hwfw.connect import check_workspace, load_workspace
from hwfw.errors import RepositoryError
from hwfw.events import JsonLinesSink
from hwfw.render.sync import SyncLogLines, SyncProgressBars, human_bytes, short_digest
from hwfw.repository.add import add_image, import_catalog, locate
from hwfw.repository.cache import Cache, resolve_cache_dir
from hwfw.repository.catalogs import readers
from hwfw.repository.fetch import FetchOptions
from hwfw.repository.maintenance import collect_garbage, verify_cache
from hwfw.repository.sync import DEFAULT_JOBS, referenced_entries, sync_entries
from hwfw.vendor_registry import VENDOR_NAMES
from hwfw.versions import SCHEMES


@cli.group()
def repo() -> None:
    """Firmware images: fetch them into the cache, list, verify, add, import, gc.

    The cache is content-addressed (CACHE/sha256/<digest>) and shared by every
    workspace that uses the same cache directory: settings.cache_dir, overridden by
    $HWFW_CACHE, default ~/.cache/hwfw.
    """


def _cache(ws: Workspace) -> Cache:
    return Cache(resolve_cache_dir(ws.settings))


# ---------------------------------------------------------------- sync


@repo.command()
@workspace_argument
@click.option("--all", "all_entries", is_flag=True,
              help="Fetch every repository entry, not only those the baselines reference.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=DEFAULT_JOBS, show_default=True,
              help="Images downloaded at once.")
@format_option()
def sync(all_entries: bool, jobs: int, output_format: str) -> None:
    """Fetch the images the workspace's baselines reference into the cache.

    Each image is streamed to a partial file while hashed, then moved into the cache
    only if its size and sha256 match; a mismatch goes to the cache's quarantine.
    Interrupted downloads resume (HTTP Range). Already cached images are not fetched
    again. With --format json, one JSON event per line on stdout. Exit 1 if any
    image failed.
    """
    app = app_context()
    ws = load_workspace(app.workspace)
    entries = list(ws.repository.entries) if all_entries else referenced_entries(ws)
    cache = _cache(ws)
    err = stderr_console()
    if not entries:
        err.print("Nothing to sync: no baseline references an image (use --all for every entry).")
        if output_format == "json":
            emit_summary({"images": 0, "downloaded": 0, "already_cached": 0, "failed": 0})
        return
    options = FetchOptions(retries=ws.settings.retries, connect_timeout=ws.settings.timing.connect_timeout,
                           read_timeout=ws.settings.timing.request_timeout)
    if output_format == "json":
        lines = JsonLinesSink(sys.stdout, separators=(",", ":"), ensure_ascii=True)
        report = asyncio.run(sync_entries(ws, entries, cache=cache, jobs=jobs, events=lines, options=options))
    elif sys.stderr.isatty():
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                   TransferSpeedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err) as progress:
            report = asyncio.run(sync_entries(ws, entries, cache=cache, jobs=jobs,
                                              events=SyncProgressBars(progress), options=options))
    else:
        report = asyncio.run(sync_entries(ws, entries, cache=cache, jobs=jobs, events=SyncLogLines(sys.stderr),
                                          options=options))
    counts = report.summary()
    if output_format == "json":
        emit_summary(counts)
    for r in report.failed:
        assert r.error is not None
        err.print(f"[red]Error:[/red] {escape(str(r.error))}")
    line = (f"{plural(counts['images'], 'image')} in {display_path(cache.root)}: {counts['downloaded']} downloaded, "
            f"{counts['already_cached']} already cached, {counts['failed']} failed")
    err.print(f"[red]{line}[/red]" if counts["failed"] else line)
    if not report.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


def emit_summary(counts: dict[str, int]) -> None:
    """The last JSON line of a sync: how many images went which way."""
    sys.stdout.write(json.dumps({"event": "summary", **counts}, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- list


@repo.command("list")
@workspace_argument
@format_option()
def list_(output_format: str) -> None:
    """List the repository's images and whether each is in the cache."""
    ws = load_workspace(app_context().workspace)
    cache = _cache(ws)
    used = {e.id for e in referenced_entries(ws)}
    rows: list[dict[str, Any]] = []
    for e in ws.repository.entries:
        obj = cache.lookup(e.sha256)
        cached = obj is not None and (e.size is None or obj.size == e.size)
        rows.append({"id": e.id, "vendor": e.vendor, "component": e.component, "version": e.version,
                     "models": list(e.models), "size": e.size if e.size is not None else (obj.size if obj else None),
                     "sha256": e.sha256, "source": e.source, "cached": cached, "critical": e.critical,
                     "referenced": e.id in used})
    if output_format == "json":
        emit_json(rows)
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("ID", "VENDOR", "COMPONENT", "VERSION", "MODELS", "SIZE", "CACHED", "CRITICAL"):
        table.add_column(col, justify="right" if col == "SIZE" else "left", no_wrap=col != "MODELS")
    for r in rows:
        table.add_row(escape(r["id"]), r["vendor"], r["component"], escape(r["version"]),
                      escape(", ".join(r["models"])), human_bytes(r["size"]) if r["size"] is not None else "-",
                      "[green]yes[/green]" if r["cached"] else "[yellow]no[/yellow]",
                      "[red]yes[/red]" if r["critical"] else "")
    out = stdout_console()
    # Piped into a file or `grep`, rich would squeeze the table to 80 columns: print it whole.
    (out if out.is_terminal else Console(highlight=False, width=250, no_color=True)).print(table)
    missing = sum(1 for r in rows if not r["cached"])
    stderr_console().print(f"{plural(len(rows), 'image')}, {missing} not cached ({display_path(cache.root)})")


# ---------------------------------------------------------------- verify


@repo.command()
@workspace_argument
@click.option("--workspace-only", is_flag=True, help="Check only objects this workspace's repository lists.")
@click.option("--quarantine", "move", is_flag=True, help="Move corrupt objects to the cache's quarantine.")
@format_option()
def verify(workspace_only: bool, move: bool, output_format: str) -> None:
    """Re-hash cache objects and report any whose bytes no longer match their digest.

    Exit 1 if any object is corrupt. With --quarantine, corrupt objects are moved
    out of the cache (the next `hwfw repo sync` fetches them again).
    """
    app = app_context()
    ws, _ = check_workspace(app.workspace)
    if ws is None and workspace_only:
        load_workspace(app.workspace)  # raises with every problem
    cache = _cache(ws) if ws is not None else locate(app.workspace).cache()
    names: dict[str, tuple[str, ...]] = {}
    for e in ws.repository.entries if ws is not None else ():
        names[e.sha256] = names.get(e.sha256, ()) + (e.id,)
    report = verify_cache(cache, only=set(names) if workspace_only else None, quarantine=move,
                          entries_by_digest=names)
    if output_format == "json":
        emit_json({"cache": str(cache.root), "checked": report.checked, "bytes": report.bytes,
                   "corrupt": [{"sha256": c.sha256, "actual": c.actual, "size": c.size, "path": str(c.path),
                                "entries": list(c.entries),
                                "quarantined": str(c.quarantined) if c.quarantined else None, "note": c.note}
                               for c in report.corrupt],
                   "missing": report.missing, "stray": [str(p) for p in report.stray], "ok": report.ok})
    err = stderr_console()
    for c in report.corrupt:
        used = f" (used by {', '.join(c.entries)})" if c.entries else ""
        where = f"; moved to {c.quarantined}" if c.quarantined else (f"; {c.note}" if c.note else "")
        err.print(f"[red]corrupt:[/red] sha256/{c.sha256}{escape(used)}: content hashes to {c.actual} "
                  f"({c.size} bytes){escape(where)}")
    for p in report.stray:
        warn(f"unexpected file in the object store (not named by a digest): {escape(str(p))}")
    if report.missing:
        err.print(f"{plural(len(report.missing), 'image')} of this workspace not cached (run hwfw repo sync)")
    summary = (f"checked {plural(report.checked, 'object')} ({human_bytes(report.bytes)}) in "
               f"{display_path(cache.root)}: {len(report.corrupt)} corrupt")
    err.print(f"[red]{summary}[/red]" if report.corrupt else f"[green]{summary}[/green]")
    if report.corrupt and not move:
        err.print("  hint: hwfw repo verify --quarantine, then hwfw repo sync")
    if not report.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


# ---------------------------------------------------------------- gc


@repo.command()
@workspace_argument
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@format_option()
def gc(dry_run: bool, output_format: str) -> None:
    """Remove cache objects that no entry of this workspace's repository lists.

    CAUTION: a cache shared by several workspaces (the default ~/.cache/hwfw is)
    also holds their images; gc keeps only this workspace's and removes the others'.
    Run it with --dry-run first, or give each workspace its own settings.cache_dir.
    """
    ws = load_workspace(app_context().workspace)  # never gc from a repository that did not load
    cache = _cache(ws)
    keep = {e.sha256 for e in ws.repository.entries}
    if not keep and not dry_run:
        raise RepositoryError(
            f"{display_path(ws.files['repository'])} lists no image: gc would empty the whole cache "
            f"{display_path(cache.root)}", hint="run with --dry-run to see what it holds, or remove the folder")
    err = stderr_console()
    err.print(f"[bold yellow]note:[/bold yellow] gc keeps only the {plural(len(keep), 'image')} listed by "
              f"{display_path(ws.files['repository'])}; objects in {display_path(cache.root)} that other "
              f"workspaces sharing this cache still use are removed too.")
    report = collect_garbage(cache, keep, dry_run=dry_run)
    if output_format == "json":
        emit_json({"cache": str(cache.root), "dry_run": dry_run, "kept": report.kept,
                   "removed": [{"sha256": o.sha256, "size": o.size} for o in report.removed],
                   "busy": report.busy, "partials_removed": [str(p) for p in report.partials_removed],
                   "freed": report.freed})
    verb = "would remove" if dry_run else "removed"
    for o in report.removed:
        err.print(f"{verb} sha256/{o.sha256} ({human_bytes(o.size)})")
    for d in report.busy:
        err.print(f"[yellow]skipped[/yellow] sha256/{d}: in use by another hwfw process")
    err.print(f"{verb} {plural(len(report.removed), 'object')} ({human_bytes(report.freed)}), "
              f"{plural(len(report.partials_removed), 'partial download')}; kept {report.kept}")


# ---------------------------------------------------------------- add


@repo.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@workspace_argument
@click.option("--vendor", required=True, type=click.Choice(VENDOR_NAMES))
@click.option("--component", required=True, help="Component kind: bmc, bios, nic, raid, cpld, ...")
@click.option("--version", "version_", required=True, help="The firmware version the image installs.")
@click.option("-m", "--models", multiple=True, required=True, help="A model (glob) it fits; repeat for more.")
@click.option("--source", help="Where sync fetches it (URL or path); default: FILE relative to the workspace.")
@click.option("--id", "entry_id", help="Entry id (default: VENDOR-COMPONENT-VERSION).")
@click.option("--activation", type=click.Choice(ACTIVATIONS), help="What makes the new version run.")
@click.option("--critical", is_flag=True, help="A security or critical fix.")
@click.option("--scheme", type=click.Choice(SCHEMES), help="Version scheme, when auto-detection is wrong.")
@click.option("--description")
@click.option("--signature", help="Detached OpenPGP signature of the image (path or URL).")
@click.option("--public-key", help="OpenPGP public key file that signed it (relative to the workspace).")
@format_option()
def add(file: Path, vendor: str, component: str, version_: str, models: tuple[str, ...], source: str | None,
        entry_id: str | None, activation: str | None, critical: bool, scheme: str | None,
        description: str | None, signature: str | None, public_key: str | None, output_format: str) -> None:
    """Add FILE to the repository: compute its sha256 and size, append an entry, cache it.

    The repository file keeps its comments and order. The new entry must pass
    `hwfw validate`, else the file is left unchanged.
    """
    app = app_context()
    extra = {k: v for k, v in (("signature", signature), ("public_key", public_key)) if v}
    result = add_image(app.workspace, file, vendor=vendor, component=component, version=version_,
                       models=models, source=source, entry_id=entry_id, activation=activation,
                       critical=critical, scheme=scheme, description=description, extra=extra)
    for w in result.warnings:
        warn(escape(w))
    if output_format == "json":
        emit_json({"entry": result.entry, "cached": str(result.object_path)})
    e = result.entry
    stderr_console().print(f"[green]Added[/green] {escape(e['id'])} (sha256 {short_digest(e['sha256'])}…, "
                           f"{human_bytes(e['size'])}) to {display_path(locate(app.workspace).repository)}; "
                           f"cached.")


# ---------------------------------------------------------------- import


@repo.group("import")
def import_() -> None:
    """Add entries from a vendor catalog (one sub-command per catalog format)."""


def _import_command(reader_name: str, summary: str) -> None:
    @import_.command(reader_name, help=f"Import entries for some models from a {summary}.\n\n"
                     "sha256 is mandatory: packages the catalog lists with only MD5/SHA-1 are "
                     "reported and skipped. Re-importing the same catalog adds nothing.")
    @click.argument("catalog", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @workspace_argument
    @click.option("-m", "--models", multiple=True, required=True,
                  help="Model to import for: 'PowerEdge R750', 'R750' or a systemID; repeat for more.")
    @click.option("--base-url", help="URL the packages are served from (default: the catalog's baseLocation).")
    @click.option("--include", multiple=True, help="Package types to import (Dell default: BIOS, FRMW).")
    @click.option("--dry-run", is_flag=True, help="Show what would be added; change nothing.")
    @format_option()
    def command(catalog: Path, models: tuple[str, ...], base_url: str | None, include: tuple[str, ...],
                dry_run: bool, output_format: str) -> None:
        app = app_context()
        report = import_catalog(app.workspace, reader_name, catalog, models=models, base_url=base_url,
                                include=include or None, dry_run=dry_run)
        err = stderr_console()
        for s in report.skipped:
            warn(escape(f"skipped {s.name!r}" + (f" ({s.path})" if s.path else "") + f": {s.reason}"))
        for n in report.notes:
            err.print(f"note: {escape(n)}")
        if output_format == "json":
            emit_json({"repository": str(report.repository), "dry_run": dry_run, "added": report.added,
                       "unchanged": report.unchanged,
                       "skipped": [{"name": s.name, "reason": s.reason, "path": s.path} for s in report.skipped],
                       "notes": report.notes})
        verb = "would add" if dry_run else "added"
        for e in report.added:
            err.print(f"{verb} {escape(e['id'])} ({e['component']} {escape(e['version'])})")
        err.print(f"{verb} {plural(len(report.added), 'entry', 'entries')} to {display_path(report.repository)}, "
                  f"{len(report.unchanged)} already present, {len(report.skipped)} skipped")
        if report.added and not dry_run:
            err.print(f"  next: hwfw repo sync {display_path(app.workspace) or '.'} --all")


for _reader in readers().values():
    _import_command(_reader.name, _reader.summary)

