"""`hwfw state list|show|force-unlock|migrate|pull|push`: read what hwfw recorded,
release a stuck lock, move state between backends, repair it by hand.

Every command works on the backend `settings.backend` names (local files or PostgreSQL).

The workspace is `-C DIR` before or after the command, or the last positional
argument: `hwfw state list DIR`, `hwfw state show HOST DIR`, `hwfw state
force-unlock LOCK_ID DIR`. `state show` with a single argument reads it as HOST (a name
or a glob); to show every host of another workspace, use `-C DIR` or `'*' DIR`.
"""

from __future__ import annotations

import sys
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
          "hwfw state force-unlock LOCK_ID -C examples/lab",
          "hwfw state pull -C examples/lab > state.json")
@cli.group("state")
def state() -> None:
    """Inspect the state; release a stuck lock; migrate, pull and push it."""


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
        for line in _section_lines(view.host_sections(h)):
            out.print(f"  {escape(line)}")
    if view.lock is not None:
        out.print(f"[yellow]locked:[/yellow] {escape(view.lock.describe())}")


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _section_lines(sections: dict[str, Any]) -> list[str]:
    """BIOS settings, post-configuration validation and watchdog records, one line each."""
    lines = []
    bios = sections.get("bios_settings")
    if bios:
        rejected = ", ".join(f"{r.get('attribute') or ','.join(r.get('attributes') or ())} [{r.get('message_id')}]"
                             for r in bios.get("rejected") or ())
        lines.append(f"bios-settings {bios.get('status')}: {_values(bios.get('attributes') or {})}"
                     + (f" (job {bios['job']})" if bios.get("job") else "")
                     + (f"; rejected {rejected}" if rejected else "")
                     + f"; run id {bios.get('run_id')}, updated at {bios.get('updated_at')}")
    check = sections.get("validation")
    if check:
        lines.append(f"validation {'ok' if check.get('ok') else 'failed'} (run id {check.get('run_id')}, "
                     f"{check.get('at')}): power {check.get('power_state')}, POST "
                     f"{'complete' if check.get('post_complete') else 'not complete'}, health {check.get('health')}, "
                     f"{len(check.get('firmware') or {})} firmware version(s), {len(check.get('settings') or {})} "
                     "BIOS setting(s) read back" + "".join(f"; {p}" for p in check.get("problems") or ()))
    dog = sections.get("watchdog")
    if dog:
        what = "fired" if dog.get("fired") else ("armed, did not fire" if dog.get("armed") else "not armed")
        lines.append(f"watchdog {what} ({dog.get('reset')}, run id {dog.get('run_id')}, {dog.get('at')})"
                     + (f": {dog['problem']}" if dog.get("problem") else ""))
    return lines


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
              help="Also break a lock whose holder cannot be seen from here: a holder on another host "
                   "(shared filesystem), or, on PostgreSQL, end a live holder's database session (a hung holder).")
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


@examples("hwfw state migrate --to postgres -C examples/lab",
          "hwfw state migrate examples/lab --to local")
@state.command("migrate")
@workspace_argument
@click.option("--to", "to", type=click.Choice(["postgres", "local"]), required=True,
              help="Where the state goes: postgres (from the local files) or local (back to them).")
def state_migrate(to: str) -> None:
    """Move the state and the intent and audit logs between the local files and the
    PostgreSQL database of settings.backend (dsn_env or dsn_file), without loss
    (lineage and serial kept).

    Refused when the destination holds state of another lineage. Then set
    settings.backend.type to the destination."""
    app = app_context()
    ws = open_workspace(app.workspace_dir)
    moved = run(lambda _cancel: ws.state.migrate(to))
    what = f"state lineage {moved.lineage} serial {moved.serial}, " if moved.lineage else ""
    app.err.print(escape(f"Migrated {what}{moved.records.get('intents', 0)} intent record(s) and "
                         f"{moved.records.get('audit', 0)} audit entry(ies) from {moved.source} to "
                         f"{moved.destination}."))
    if moved.configured != to:
        app.err.print(f"Now set settings.backend.type to {to} in hwfw.yaml.", markup=False)


@examples("hwfw state pull -C examples/lab > state.json",
          "hwfw state pull examples/lab")
@state.command("pull")
@workspace_argument
def state_pull() -> None:
    """Write the stored state document to stdout (`hwfw state pull > state.json`)."""
    ws = open_workspace(app_context().workspace_dir)
    data = run(lambda _cancel: ws.state.pull())
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@examples("hwfw state push state.json -C examples/lab",
          "hwfw state push state.json examples/lab --force")
@state.command("push")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@workspace_argument
@click.option("--force", is_flag=True, help="Replace the state even if its lineage or serial differs.")
def state_push(path: Path, force: bool) -> None:
    """Replace the stored state by PATH (a document from `hwfw state pull`, repaired).

    PATH must carry the stored lineage and serial (nobody wrote since the pull); it is
    stored with serial + 1, so plans saved before are stale."""
    app = app_context()
    ws = open_workspace(app.workspace_dir)
    stored = run(lambda _cancel: ws.state.push(path, force=force))
    app.err.print(escape(f"Pushed {path}: state lineage {stored['lineage']} is now at serial {stored['serial']}."))
