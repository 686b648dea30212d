"""`hwfw state list|show|force-unlock`: read what hwfw recorded, and release a stuck lock.

The workspace is `-C DIR` before or after the command, or the last positional
argument: `hwfw state list DIR`, `hwfw state show HOST DIR`, `hwfw state
force-unlock LOCK_ID DIR`. `state show` with a single argument reads it as HOST (a name
or a glob); to show every host of another workspace, use `-C DIR` or `'*' DIR`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from hwfw.api import StateView, open_workspace
from hwfw.cli import cli
from hwfw.cli.common import (
    app_context,
    emit_json,
    emit_text,
    examples,
    format_option,
    run,
    workspace_argument,
    workspace_option,
)
from hwfw.errors import HwfwError

STATUS_STYLE = {"ok": "green", "pending-activation": "cyan", "failed": "red", "rolled-back": "magenta",
                "in-progress": "yellow"}


@examples("hwfw state list -C examples/lab",
          "hwfw state show lab-dell-01 examples/lab",
          "hwfw state force-unlock LOCK_ID -C examples/lab")
@cli.group("state")
def state() -> None:
    """Inspect the state; release a lock left by a dead process."""


@examples("hwfw state list examples/lab",
          "hwfw state list -C examples/lab --format json")
@state.command("list")
@workspace_argument
@format_option()
def state_list(output_format: str) -> None:
    """One line per recorded component: HOST/KEY VERSION STATUS."""
    ws = open_workspace(app_context().workspace_dir)
    rows = run(lambda _cancel: ws.state.list())
    if output_format == "json":
        emit_json([r.to_json() for r in rows])
        return
    width = max((len(f"{r.host}/{r.component}") for r in rows), default=0)
    emit_text("\n".join(f"{f'{r.host}/{r.component}'.ljust(width)}  {r.record.version}  {r.record.status}"
                        for r in rows) if rows else "(no records)")


@examples("hwfw state show -C examples/lab",
          "hwfw state show lab-dell-01 examples/lab",
          "hwfw state show 'lab-hpe-*' -C examples/lab --format json",
          "hwfw state show '*' examples/lab")
@state.command("show")
@workspace_option
@format_option()
@click.argument("host", required=False)
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def state_show(output_format: str, host: str | None, directory: Path | None) -> None:
    """Records (version, status, image, run, task) and checkpoints, of HOST or every host.

    HOST is a host name or a glob ('*' is every host); DIRECTORY the workspace (or -C DIR)."""
    app = app_context()
    app.give_workspace("the DIRECTORY argument", directory)
    try:
        ws = open_workspace(app.workspace_dir)
        view = run(lambda _cancel: ws.state.show(None if host == "*" else host))
    except HwfwError as exc:
        # One argument is always HOST; say so when it names a workspace instead.
        if host is not None and directory is None and (Path(host) / "hwfw.yaml").is_file():
            raise HwfwError(exc.message, hint=f"{host} is a workspace; a single argument is HOST. To show every "
                                              f"host of it: hwfw state show -C {host} (or: hwfw state show "
                                              f"'*' {host})") from None
        raise
    if output_format == "json":
        emit_json(view.to_json())
        return
    _show_text(view, app.out)


def _show_text(view: StateView, out: Any) -> None:
    st = view.state
    out.print(f"[bold]state[/bold] lineage {st.lineage or '(none yet)'}, serial {st.serial}")
    for h in view.hosts:
        out.print(f"[bold]{escape(h)}[/bold]")
        for key, rec in sorted(view.records(h).items()):
            style = STATUS_STYLE.get(rec.status, "")
            extra = _details(rec.to_json())
            out.print(f"  {escape(key)}  {escape(rec.version)}  [{style}]{rec.status}[/{style}]"
                      + (f"  [dim]{escape(extra)}[/dim]" if extra else ""))
        cp = view.checkpoint(h)
        if cp:
            comps = ", ".join(f"{k} {v.get('version')}" for k, v in sorted(cp.get("components", {}).items()))
            out.print(f"  [dim]checkpoint {cp.get('status')} (run {cp.get('run_id')}, {cp.get('created')}, "
                      f"power {cp.get('power_state')}): {escape(comps)}[/dim]")
    if view.lock is not None:
        out.print(f"[yellow]locked:[/yellow] {escape(view.lock.describe())}")


def _details(rec: dict[str, Any]) -> str:
    parts = []
    if rec.get("previous_version"):
        parts.append(f"from {rec['previous_version']}")
    for k in ("image_id", "run_id", "updated_at", "task_uri", "activation", "error"):
        if rec.get(k):
            parts.append(f"{k.replace('_', ' ')} {rec[k]}")
    return ", ".join(parts)


@examples("hwfw state force-unlock 3f2a9c0d41b7 -C examples/lab",
          "hwfw state force-unlock 3f2a9c0d41b7 examples/lab --force")
@state.command("force-unlock")
@click.argument("lock_id")
@workspace_argument
@click.option("--force", is_flag=True,
              help="Also remove a lock still held from another host, whose holder cannot be seen from here.")
def state_force_unlock(lock_id: str, force: bool) -> None:
    """Remove the workspace lock LOCK_ID left by a process that cannot release it.

    The id is printed by the command that found the workspace locked; it must match,
    so a lock taken since then is never broken by mistake. A lock whose holder is
    running on this host is never removed (it goes away when that process exits); a lock
    still held from another host (a shared filesystem) needs --force."""
    app = app_context()
    ws = open_workspace(app.workspace_dir)
    info = run(lambda _cancel: ws.state.force_unlock(lock_id, force=force))
    app.err.print(f"Removed the lock: {escape(info.describe())}")
