"""`hwfw state list|show|force-unlock`: read what hwfw recorded, and release a stuck lock."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from hwfw.cli import cli
from hwfw.cli.common import EXIT_ERROR, EXIT_OK, app_context, emit_json, emit_text, format_option, workspace_argument
from hwfw.cli.inputs import load
from hwfw.state.lock import force_unlock, read_lock_info
from hwfw.state.store import StateStore, state_to_json

STATUS_STYLE = {"ok": "green", "pending-activation": "cyan", "failed": "red", "rolled-back": "magenta",
                "in-progress": "yellow"}


@cli.group("state")
def state() -> None:
    """Inspect the state file; release a lock left by a dead process."""


@state.command("list")
@workspace_argument
@format_option()
def state_list(output_format: str) -> None:
    """One line per recorded component: HOST/KEY VERSION STATUS."""
    app = app_context()
    st = StateStore(load(app.workspace).settings.state_path).load()
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
    st = StateStore(ws.settings.state_path).load()
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
    lock = read_lock_info(ws.settings.runtime_dir / "lock")
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
              help="Also remove a lock still held from another host, whose holder cannot be seen from here.")
def state_force_unlock(lock_id: str, force: bool) -> None:
    """Remove the workspace lock LOCK_ID left by a process that cannot release it.

    The id is printed by the command that found the workspace locked; it must match,
    so a lock taken since then is never broken by mistake. A lock whose holder is
    running on this host is never removed (it goes away when that process exits); a lock
    still held from another host (a shared filesystem) needs --force. The workspace is -C DIR."""
    app = app_context()
    ws = load(app.workspace)
    info = force_unlock(ws.settings.runtime_dir, lock_id, force=force)
    app.err.print(f"Removed the lock: {escape(info.describe())}")
