"""`hwfw repo ...`: fetch firmware images into the shared cache and look after it."""

from __future__ import annotations

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

from hwfw.api import (
    ACTIVATIONS,
    DEFAULT_SYNC_PARALLELISM,
    JsonLinesSink,
    SyncResult,
    Workspace,
    catalog_readers,
    display_path,
    open_workspace,
)
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    app_context,
    deprecated_alias,
    emit_json,
    examples,
    format_option,
    parallelism_option,
    plural,
    run,
    stderr_console,
    stdout_console,
    warn,
    workspace_argument,
)
from hwfw.render.sync import SyncLogLines, SyncProgressBars, human_bytes, short_digest
from hwfw.vendor_registry import VENDOR_NAMES
from hwfw.versions import SCHEMES


@examples("hwfw repo sync examples/lab",
          "hwfw repo list -C examples/lab",
          "hwfw repo add images/bios.bin -C examples/lab --vendor dell --component bios --version 1.13.0 "
          "-m 'PowerEdge R750'")
@cli.group()
def repo() -> None:
    """Firmware images: fetch them into the cache, list, verify, add, import, gc.

    The cache is content-addressed (CACHE/sha256/<digest>) and shared by every
    workspace that uses the same cache directory: settings.cache_dir, overridden by
    $HWFW_CACHE, default ~/.cache/hwfw.
    """


def _workspace() -> Workspace:
    return open_workspace(app_context().workspace_dir)


# ---------------------------------------------------------------- sync


@examples("hwfw repo sync examples/lab",
          "hwfw repo sync -C examples/lab --all -j 16 --format json")
@repo.command()
@workspace_argument
@click.option("--all", "all_entries", is_flag=True,
              help="Fetch every repository entry, not only those the baselines reference.")
@parallelism_option("Images downloaded at once.", default=DEFAULT_SYNC_PARALLELISM)
@deprecated_alias("--jobs", "-j/--parallelism", "parallelism", type=click.IntRange(1, 1024))
@format_option()
def sync(all_entries: bool, parallelism: int, output_format: str) -> None:
    """Fetch the images the workspace's baselines reference into the cache.

    Each image is streamed to a partial file while hashed, then moved into the cache
    only if its size and sha256 match; a mismatch goes to the cache's quarantine.
    Interrupted downloads resume (HTTP Range). Already cached images are not fetched
    again. With --format json, one JSON event per line on stdout. Exit 1 if any
    image failed.
    """
    ws = _workspace()
    err = stderr_console()
    if output_format == "json":
        lines = JsonLinesSink(sys.stdout, separators=(",", ":"), ensure_ascii=True)
        result = _sync(ws, all_entries, parallelism, lines)
    elif sys.stderr.isatty():
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                   TransferSpeedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=err) as progress:
            result = _sync(ws, all_entries, parallelism, SyncProgressBars(progress))
    else:
        result = _sync(ws, all_entries, parallelism, SyncLogLines(sys.stderr))
    counts = result.summary()
    if result.report is None:
        err.print("Nothing to sync: no baseline references an image (use --all for every entry).")
        if output_format == "json":
            emit_summary(counts)
        return
    if output_format == "json":
        emit_summary(counts)
    for r in result.report.failed:
        assert r.error is not None
        err.print(f"[red]Error:[/red] {escape(str(r.error))}")
    line = (f"{plural(counts['images'], 'image')} in {display_path(result.cache)}: {counts['downloaded']} "
            f"downloaded, {counts['already_cached']} already cached, {counts['failed']} failed")
    err.print(f"[red]{line}[/red]" if counts["failed"] else line)
    if not result.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


def _sync(ws: Workspace, all_entries: bool, parallelism: int, events: Any) -> SyncResult:
    return run(lambda cancel: ws.sync_repository(all_images=all_entries, parallelism=parallelism, on_event=events,
                                                 cancel=cancel))


def emit_summary(counts: dict[str, int]) -> None:
    """The last JSON line of a sync: how many images went which way."""
    sys.stdout.write(json.dumps({"event": "summary", **counts}, sort_keys=True, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------- list


@examples("hwfw repo list examples/lab",
          "hwfw repo list -C examples/lab --format json")
@repo.command("list")
@workspace_argument
@format_option()
def list_(output_format: str) -> None:
    """List the repository's images and whether each is in the cache."""
    ws = _workspace()
    rows = run(lambda _cancel: ws.repository.images())
    cache_root = run(lambda _cancel: ws.repository.cache_root())
    if output_format == "json":
        emit_json([r.to_json() for r in rows])
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("ID", "VENDOR", "COMPONENT", "VERSION", "MODELS", "SIZE", "CACHED", "CRITICAL"):
        table.add_column(col, justify="right" if col == "SIZE" else "left", no_wrap=col != "MODELS")
    for r in rows:
        table.add_row(escape(r.id), r.vendor, r.component, escape(r.version),
                      escape(", ".join(r.models)), human_bytes(r.size) if r.size is not None else "-",
                      "[green]yes[/green]" if r.cached else "[yellow]no[/yellow]",
                      "[red]yes[/red]" if r.critical else "")
    out = stdout_console()
    # Piped into a file or `grep`, rich would squeeze the table to 80 columns: print it whole.
    (out if out.is_terminal else Console(highlight=False, width=250, no_color=True)).print(table)
    missing = sum(1 for r in rows if not r.cached)
    stderr_console().print(f"{plural(len(rows), 'image')}, {missing} not cached ({display_path(cache_root)})")


# ---------------------------------------------------------------- verify


@examples("hwfw repo verify examples/lab",
          "hwfw repo verify -C examples/lab --workspace-only --quarantine")
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
    ws = _workspace()
    result = run(lambda _cancel: ws.repository.verify(workspace_only=workspace_only, quarantine=move))
    report, cache_root = result.report, result.cache
    if output_format == "json":
        emit_json({"cache": str(cache_root), "checked": report.checked, "bytes": report.bytes,
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
               f"{display_path(cache_root)}: {len(report.corrupt)} corrupt")
    err.print(f"[red]{summary}[/red]" if report.corrupt else f"[green]{summary}[/green]")
    if report.corrupt and not move:
        err.print(f"  hint: hwfw repo verify --quarantine {ws.display}, then hwfw repo sync {ws.display}")
    if not report.ok:
        raise click.exceptions.Exit(EXIT_ERROR)


# ---------------------------------------------------------------- gc


@examples("hwfw repo gc examples/lab --dry-run",
          "hwfw repo gc -C examples/lab")
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
    ws = _workspace()
    repository_file = display_path(ws.repository.repository_file())
    result, kept_images = run(lambda _cancel: ws.repository.gc(dry_run=dry_run))
    report, cache_root = result.report, result.cache
    err = stderr_console()
    err.print(f"[bold yellow]note:[/bold yellow] gc keeps only the {plural(kept_images, 'image')} listed by "
              f"{repository_file}; objects in {display_path(cache_root)} that other "
              f"workspaces sharing this cache still use are removed too.")
    if output_format == "json":
        emit_json({"cache": str(cache_root), "dry_run": dry_run, "kept": report.kept,
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


@examples("hwfw repo add images/bios.bin -C examples/lab --vendor dell --component bios --version 1.13.0 "
          "-m 'PowerEdge R750'",
          "hwfw repo add bmc.bin examples/lab --vendor generic --component bmc --version 2.16.0 -m 'Contoso *' "
          "--source https://mirror.example/bmc.bin --critical")
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
    ws = _workspace()
    result = run(lambda _cancel: ws.repository.add(
        file, vendor=vendor, component=component, version=version_, models=models, source=source,
        entry_id=entry_id, activation=activation, critical=critical, scheme=scheme, description=description,
        signature=signature, public_key=public_key))
    for w in result.warnings:
        warn(escape(w))
    if output_format == "json":
        emit_json({"entry": result.entry, "cached": str(result.object_path)})
    e = result.entry
    stderr_console().print(f"[green]Added[/green] {escape(e['id'])} (sha256 {short_digest(e['sha256'])}…, "
                           f"{human_bytes(e['size'])}) to {display_path(ws.repository.repository_file())}; "
                           f"cached.")


# ---------------------------------------------------------------- import


@examples("hwfw repo import dell-catalog Catalog.xml -C examples/lab -m R750 --dry-run")
@repo.group("import")
def import_() -> None:
    """Add entries from a vendor catalog (one sub-command per catalog format)."""


def _import_command(reader_name: str, summary: str) -> None:
    @examples(f"hwfw repo import {reader_name} Catalog.xml -C examples/lab -m R750 --dry-run",
              f"hwfw repo import {reader_name} Catalog.xml examples/lab -m 'PowerEdge R750' -m R650")
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
        ws = _workspace()
        report = run(lambda _cancel: ws.repository.import_catalog(
            reader_name, catalog, models=models, base_url=base_url, include=include or None, dry_run=dry_run))
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
            err.print(f"  next: hwfw repo sync {ws.display} --all")


for _name, _summary in catalog_readers().items():
    _import_command(_name, _summary)

