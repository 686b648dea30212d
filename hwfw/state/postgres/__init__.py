"""The PostgreSQL state backend (settings.backend.type: postgres); see backend.py."""

from hwfw.state.postgres.backend import PostgresBackend

__all__ = ["PostgresBackend"]
