"""What a command line needs of the server's store without running the server: API
tokens (create, list, revoke) and the server's settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hwfw.clock import utc_now_iso
from hwfw.errors import NotFoundError
from hwfw.state.serverstore import AuditRecord, TokenRecord, open_server_store

from ..workspace import open_workspace
from .tokens import create_token

if TYPE_CHECKING:
    from hwfw.config.model import ServerSettings

__all__ = ["create_api_token", "list_api_tokens", "revoke_api_token", "server_settings"]


def server_settings(path: str | Path) -> ServerSettings:
    """settings.server of the workspace at `path` (which must load)."""
    return open_workspace(path).load().settings.server


async def create_api_token(path: str | Path, *, name: str, role: str, created_by: str) -> tuple[str, TokenRecord]:
    """A new token for the server of the workspace at `path`: (the token, shown once; its record)."""
    settings = open_workspace(path).load().settings
    store = open_server_store(settings)
    try:
        text, record = await create_token(store, name=name, role=role, created_by=created_by)
        await store.add_audit(AuditRecord(utc_now_iso(), created_by, "token-created", record.token_id,
                                          {"name": name, "role": role}))
        return text, record
    finally:
        await store.aclose()


async def list_api_tokens(path: str | Path) -> list[TokenRecord]:
    store = open_server_store(open_workspace(path).load().settings)
    try:
        return await store.list_tokens()
    finally:
        await store.aclose()


async def revoke_api_token(path: str | Path, token_id: str, *, revoked_by: str) -> TokenRecord:
    store = open_server_store(open_workspace(path).load().settings)
    try:
        record = await store.revoke_token(token_id, utc_now_iso())
        if record is None:
            raise NotFoundError(f"no token {token_id}", hint="hwfw token list shows the tokens")
        await store.add_audit(AuditRecord(utc_now_iso(), revoked_by, "token-revoked", token_id, {"name": record.name}))
        return record
    finally:
        await store.aclose()
