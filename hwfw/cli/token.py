"""`hwfw token create|list|revoke`: API tokens for `hwfw serve`.

`create` prints the token alone on stdout, once; only its SHA-256 digest is stored (in
the server's store: `.hwfw/server.db`, or the PostgreSQL database of settings.backend).
Roles: viewer (reads), operator (plans, syncs, starts approved runs, cancels, resumes),
approver (approves or rejects plans).
"""

from __future__ import annotations

import click

from hwfw.api.service import ROLES, create_api_token, list_api_tokens, local_principal, revoke_api_token
from hwfw.cli import cli
from hwfw.cli.common import app_context, emit_json, emit_text, examples, format_option, run, workspace_argument


@examples("hwfw token create examples/lab --role operator --name ci-deploy",
          "hwfw token list -C examples/lab",
          "hwfw token revoke TOKEN_ID -C examples/lab")
@cli.group("token")
def token() -> None:
    """API tokens for hwfw serve (the token is shown once; only its digest is kept)."""


@examples("hwfw token create examples/lab --role viewer --name dashboard",
          "export HWFW_TOKEN=$(hwfw token create -C fleet --role approver --name alice)")
@token.command("create")
@workspace_argument
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="viewer: read; operator: plan, sync, start approved runs, cancel; approver: approve plans.")
@click.option("--name", required=True, help="Who or what holds it (recorded in the audit trail), e.g. alice.")
def token_create(role: str, name: str) -> None:
    """Make a token; print it alone on stdout (it is not shown again)."""
    path = app_context().workspace_dir
    text, _record = run(lambda _cancel: create_api_token(path, name=name, role=role,
                                                         created_by=local_principal().name))
    emit_text(text)


@examples("hwfw token list examples/lab", "hwfw token list -C examples/lab --format json")
@token.command("list")
@workspace_argument
@format_option()
def token_list(output_format: str) -> None:
    """The tokens (id, name, role, created, revoked); never the tokens themselves."""
    rows = run(lambda _cancel: list_api_tokens(app_context().workspace_dir))
    if output_format == "json":
        emit_json([{k: v for k, v in r.to_json().items() if k != "digest"} for r in rows])
        return
    emit_text("\n".join(f"{r.token_id}  {r.role:<8}  {r.name}  created {r.created} by {r.created_by}"
                        + (f"  REVOKED {r.revoked}" if r.revoked else "") for r in rows) or "(no tokens)")


@examples("hwfw token revoke 3f2a9c1d examples/lab", "hwfw token revoke 3f2a9c1d -C fleet")
@token.command("revoke")
@click.argument("token_id")
@workspace_argument
def token_revoke(token_id: str) -> None:
    """Revoke a token: the server refuses it within seconds."""
    record = run(lambda _cancel: revoke_api_token(app_context().workspace_dir, token_id,
                                                  revoked_by=local_principal().name))
    emit_text(f"revoked {record.token_id} ({record.name}, {record.role})")
