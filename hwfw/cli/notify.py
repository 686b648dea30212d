"""`hwfw notify test [--to NAME]`: send a test message to the notification targets."""

from __future__ import annotations

import click
from rich.markup import escape

from hwfw.api import open_workspace
from hwfw.cli import cli
from hwfw.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    app_context,
    emit_json,
    examples,
    format_option,
    run,
    workspace_argument,
)


@examples("hwfw notify test examples/lab", "hwfw notify test -C fleet --to ops-chat")
@cli.group("notify")
def notify() -> None:
    """Notifications (settings.notifications): try the targets."""


@examples("hwfw notify test examples/lab", "hwfw notify test -C fleet --to ops-chat --format json")
@notify.command("test")
@workspace_argument
@format_option()
@click.option("--to", "target", metavar="NAME", help="Only the notification target of this name (default: every "
              "target).")
# --target (the spelling) stays accepted, hidden: visible, --target selects hosts by glob everywhere
@click.option("--target", "target_alias", metavar="NAME", hidden=True)
def notify_test(output_format: str, target: str | None, target_alias: str | None) -> None:
    """Send one test message to each target (one attempt, within its timeout).

    Targets are shown by their privacy URL (no secret). Exit 0 when every target took
    the message, 1 otherwise (each failure is also an audit log entry)."""
    ws = open_workspace(app_context().workspace_dir)
    target = target or target_alias
    results = run(lambda _cancel: ws.notify_test(target))
    if output_format == "json":
        emit_json({"results": results})
    else:
        err = app_context().err
        for r in results:
            if r["ok"]:
                err.print(f"[green]sent[/green] {escape(r['target'])} ({escape(r['url'])})", highlight=False)
            else:
                err.print(f"[red]failed[/red] {escape(r['target'])} ({escape(r['url'])}): {escape(r['error'])}",
                          highlight=False)
    raise click.exceptions.Exit(EXIT_OK if all(r["ok"] for r in results) else EXIT_ERROR)
