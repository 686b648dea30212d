"""`hwfw state list|show|force-unlock|migrate|pull|push`: read what hwfw recorded,
release a stuck lock, move state between backends, repair it by hand.

Every command works on the backend `settings.backend` names (local files or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

import click
from rich.markup import escape

from hwfw.cli import cli
from hwfw.cli.common import EXIT_ERROR, EXIT_OK, app_context, emit_json, emit_text, format_option, workspace_argument
from hwfw.cli.inputs import load
from hwfw.config.model import Settings
from hwfw.errors import StateError
from hwfw.state.backend import StateBackend, open_backend
from hwfw.state.lock import LockInfo
from hwfw.state.model import State
from hwfw.state.store import state_to_json
from hwfw.state.transfer import migrate, pull, push

T = TypeVar("T")

STATUS_STYLE = {"ok": "green", "pending-activation": "cyan", "failed": "red", "rolled-back": "magenta",
                "in-progress": "yellow"}


def on_backend(settings: Settings, body: Callable[[StateBackend], Awaitable[T]]) -> T:
    """Run `body` on the workspace's state backend, opened and closed around it."""
    async def main() -> T:
        async with open_backend(settings) as backend:
            return await body(backend)

    return asyncio.run(main())


async def _state_and_lock(backend: StateBackend) -> tuple[State, LockInfo | None]:
    return await backend.load(), await backend.lock_info()


@cli.group("state")
def state() -> None:
    """Inspect the state; release a stuck lock; migrate, pull and push it."""


@state.command("list")
@workspace_argument
@format_option()
def state_list(output_format: str) -> None:
    """One line per recorded component: HOST/KEY VERSION STATUS."""
    app = app_context()
    st = on_backend(load(app.workspace).settings, lambda b: b.load())
    rows = [(h, k, r) for h, comps in sorted(st.hosts.items()) for k, r in sorted(comps.items())]
    if output_format == "json":
        emit_json([{"host": h, "component": k, **r.to_json()} for h, k, r in rows])
        return
    width = max((len(f"{h}/{k}") for h, k, _ in rows), default=0)
    emit_text("\n".join(f"{f'{h}/{k}'.ljust(width)}  {r.version}  {r.status}" for h, k, r in rows)
              if rows else "(no records)")


@state.command("show")
@format_option()
@click.argument("host", required=False)
def state_show(output_format: str, host: str | None) -> None:
    """Records (version, status, image, run, task) and checkpoints, of HOST or every host.

    The workspace is -C DIR (default: the current directory)."""
    app = app_context()
    ws = load(app.workspace)
    st, lock = on_backend(ws.settings, _state_and_lock)
    if host is not None and host not in st.hosts and host not in (st.checkpoints.get("hosts") or {}):
        app.err.print(f"[red]Error:[/red] the state has no host {escape(host)}")
        raise click.exceptions.Exit(EXIT_ERROR)
    doc = state_to_json(st)
    if host is not None:
        doc = {"lineage": st.lineage, "serial": st.serial, "host": host, "components": doc["hosts"].get(host, {}),
               "checkpoint": (st.checkpoints.get("hosts") or {}).get(host)}
    if output_format == "json":
        emit_json(doc)
        raise click.exceptions.Exit(EXIT_OK)
    out = app.out
    out.print(f"[bold]state[/bold] lineage {st.lineage or '(none yet)'}, serial {st.serial}")
    hosts = [host] if host else sorted(st.hosts)
    for h in hosts:
        out.print(f"[bold]{escape(h)}[/bold]")
        for key, rec in sorted(st.hosts.get(h, {}).items()):
            style = STATUS_STYLE.get(rec.status, "")
            extra = _details(rec.to_json())
            out.print(f"  {escape(key)}  {escape(rec.version)}  [{style}]{rec.status}[/{style}]"
                      + (f"  [dim]{escape(extra)}[/dim]" if extra else ""))
        cp = (st.checkpoints.get("hosts") or {}).get(h)
        if cp:
            comps = ", ".join(f"{k} {v.get('version')}" for k, v in sorted(cp.get("components", {}).items()))
            out.print(f"  [dim]checkpoint {cp.get('status')} (run {cp.get('run_id')}, {cp.get('created')}, "
                      f"power {cp.get('power_state')}): {escape(comps)}[/dim]")
    if lock is not None:
        out.print(f"[yellow]locked:[/yellow] {escape(lock.describe())}")


def _details(rec: dict[str, Any]) -> str:
    parts = []
    if rec.get("previous_version"):
        parts.append(f"from {rec['previous_version']}")
    for k in ("image_id", "run_id", "updated_at", "task_uri", "activation", "error"):
        if rec.get(k):
            parts.append(f"{k.replace('_', ' ')} {rec[k]}")
    return ", ".join(parts)


@state.command("force-unlock")
@click.argument("lock_id")
@click.option("--force", is_flag=True,
              help="Also break a lock whose holder cannot be seen from here: a holder on another host "
                   "(shared filesystem), or, on PostgreSQL, end a live holder's database session (a hung holder).")
def state_force_unlock(lock_id: str, force: bool) -> None:
    """Remove the workspace lock LOCK_ID left by a process that cannot release it.

    The id is printed by the command that found the workspace locked; it must match,
    so a lock taken since then is never broken by mistake. A lock whose holder is
    running on this host is never removed (it goes away when that process exits); a lock
    still held from another host (a shared filesystem) needs --force. The workspace is -C DIR."""
    app = app_context()
    ws = load(app.workspace)
    info = on_backend(ws.settings, lambda b: b.force_unlock(lock_id, force=force))
    app.err.print(f"Removed the lock: {escape(info.describe())}")


@state.command("migrate")
@click.option("--to", "to", type=click.Choice(["postgres", "local"]), required=True,
              help="Where the state goes: postgres (from the local files) or local (back to them).")
def state_migrate(to: str) -> None:
    """Move the state and the intent and audit logs between the local files and the
    PostgreSQL database of settings.backend (dsn_env or dsn_file), without loss
    (lineage and serial kept).

    Refused when the destination holds state of another lineage. Then set
    settings.backend.type to the destination. The workspace is -C DIR."""
    app = app_context()
    settings = load(app.workspace).settings
    if not (settings.backend.dsn_env or settings.backend.dsn_file):
        raise StateError("settings.backend names no PostgreSQL database to migrate to or from",
                         hint="add dsn_env: HWFW_PG_DSN (or dsn_file: PATH) to settings.backend in hwfw.yaml; "
                              "the type may stay local until the migration is done")
    source = "local" if to == "postgres" else "postgres"

    async def main() -> tuple[str, str, Any]:
        async with open_backend(settings, kind=source) as src, open_backend(settings, kind=to) as dst:
            return src.describe(), dst.describe(), await migrate(src, dst)

    src, dst, moved = asyncio.run(main())
    what = f"state lineage {moved.lineage} serial {moved.serial}, " if moved.lineage else ""
    app.err.print(escape(f"Migrated {what}{moved.records.get('intents', 0)} intent record(s) and "
                         f"{moved.records.get('audit', 0)} audit entry(ies) from {src} to {dst}."))
    if settings.backend.type != to:
        app.err.print(f"Now set settings.backend.type to {to} in hwfw.yaml.", markup=False)


@state.command("pull")
def state_pull() -> None:
    """Write the stored state document to stdout (`hwfw state pull > state.json`)."""
    app = app_context()
    data = on_backend(load(app.workspace).settings, pull)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@state.command("push")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace the state even if its lineage or serial differs.")
def state_push(path: Path, force: bool) -> None:
    """Replace the stored state by PATH (a document from `hwfw state pull`, repaired).

    PATH must carry the stored lineage and serial (nobody wrote since the pull); it is
    stored with serial + 1, so plans saved before are stale."""
    app = app_context()
    data = path.read_bytes()
    stored = on_backend(load(app.workspace).settings, lambda b: push(b, data, f"file {path}", force=force))
    app.err.print(escape(f"Pushed {path}: state lineage {stored['lineage']} is now at serial {stored['serial']}."))
